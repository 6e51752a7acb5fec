//! How YAML scalars turn into typed values and back, with go-yaml's rules.
//!
//! Reading follows go-yaml v3 (what kustomize parses with): `yes` stays a string, `0x10` is
//! an integer, `2001-12-14` a timestamp. Printing follows go-yaml v2 (what kustomize prints
//! with, through `sigs.k8s.io/yaml`): a string that v2 would read back as something else
//! (`yes`, `1.0`, `2001-12-14`) must be double-quoted. Numbers print as Go prints them
//! after a JSON round trip.

use super::value::Value;
use crate::helm::yaml11::is_yaml_style_float;

/// Resolves an untagged plain scalar as go-yaml v3 does.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'+' || first == b'-' || first == b'.') {
        return Value::String(text.to_string());
    }
    if first.is_ascii_digit() {
        if let Some(ts) = timestamp_as_json_text(text) {
            return Value::String(ts);
        }
    }
    let plain = text.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return Value::Int(i);
    }
    if let Some(u) = go_parse_uint(&plain) {
        return Value::UInt(u);
    }
    if is_yaml_style_float(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(text.to_string())
}

/// Resolves a scalar with an explicit core-schema tag (`!!str`, `!!int`, ...).
pub fn resolve_tagged(text: &str, suffix: &str) -> Value {
    match suffix {
        "str" => Value::String(text.to_string()),
        "null" => Value::Null,
        "int" | "float" | "bool" => match resolve_plain(text) {
            Value::String(s) => Value::String(s),
            other => other,
        },
        _ => Value::String(text.to_string()),
    }
}

/// Whether go-yaml v2 would read this string back as something other than a string, so
/// that it has to be double-quoted when printed.
pub fn v2_reads_as_non_string(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" | "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N"
        | "no" | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF" | "true" | "True"
        | "TRUE" | "false" | "False" | "FALSE" | ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf"
        | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" => return true,
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => return go_parse_float(s).is_some(),
        b'0'..=b'9' | b'+' | b'-' => {}
        _ => return false,
    }
    let plain = s.replace('_', "");
    if go_parse_int(&plain).is_some() || go_parse_uint(&plain).is_some() {
        return true;
    }
    if is_yaml_style_float(&plain) {
        return true;
    }
    if plain.starts_with("0b") || plain.starts_with("-0b") {
        let digits = plain.trim_start_matches('-').trim_start_matches("0b");
        if !digits.is_empty() && digits.bytes().all(|b| b == b'0' || b == b'1') {
            return true;
        }
    }
    if first.is_ascii_digit() && timestamp_as_json_text(s).is_some() {
        return true;
    }
    is_base60_float(s)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_unsigned_with_prefix(body)?;
    if neg {
        if magnitude <= (i64::MAX as u64) + 1 {
            Some((magnitude as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn go_parse_uint(s: &str) -> Option<u64> {
    parse_unsigned_with_prefix(s)
}

fn parse_unsigned_with_prefix(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let lower = s.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal forms YAML can hold.
fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.trim_start_matches(['+', '-']);
    if body.is_empty() || !body.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`: YAML 1.1 sexagesimal numbers.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let n = i - start;
        if n == 0 || (n == 2 && b[start] > b'5') {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// If `s` is a YAML timestamp, the text Go's JSON encoding of it gives (RFC 3339).
///
/// Only the date-only form is rewritten (it is the one that appears in manifests); full
/// timestamps keep their text, which is how they print in the common `Z` form.
fn timestamp_as_json_text(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let rest = &s[5..];
    let (month, tail) = rest.split_once('-')?;
    let day_len = tail.bytes().take_while(u8::is_ascii_digit).count();
    if month.is_empty() || month.len() > 2 || !month.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if day_len == 0 || day_len > 2 {
        return None;
    }
    let day = &tail[..day_len];
    let after = &tail[day_len..];
    if after.is_empty() {
        let m: u32 = month.parse().ok()?;
        let d: u32 = day.parse().ok()?;
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        return Some(format!("{}-{m:02}-{d:02}T00:00:00Z", &s[..4]));
    }
    let sep = after.as_bytes()[0];
    if matches!(sep, b'T' | b't' | b' ') && after.len() > 5 && after[1..].contains(':') {
        return Some(s.to_string());
    }
    None
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, as go-yaml v2 prints floats.
pub fn go_float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    let sign = if f < 0.0 { "-" } else { "" };
    if !(-4..6).contains(&exp) {
        let mut out = String::from(sign);
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
        return out;
    }
    let dp = exp + 1;
    let mut out = String::from(sign);
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if dp >= nd {
        out.push_str(&digits);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

/// How a float prints after kustomize's JSON round trip: integral values under 1e21 come
/// back as integers, the rest as Go's shortest float text.
pub fn float_after_json(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        if f.abs() < 9.2e18 {
            return format!("{}", f as i64);
        }
        if f > 0.0 && f < 1.8e19 {
            return format!("{}", f as u64);
        }
    }
    go_float_text(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_like_go_yaml_v3() {
        assert_eq!(resolve_plain("yes"), Value::String("yes".into()));
        assert_eq!(resolve_plain("True"), Value::Bool(true));
        assert_eq!(resolve_plain("0x10"), Value::Int(16));
        assert_eq!(resolve_plain("012"), Value::Int(10));
        assert_eq!(resolve_plain("1.0"), Value::Float(1.0));
        assert_eq!(resolve_plain("1e3"), Value::Float(1000.0));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(
            resolve_plain("2001-12-14"),
            Value::String("2001-12-14T00:00:00Z".into())
        );
        assert_eq!(
            resolve_plain("12345678901234567890"),
            Value::UInt(12345678901234567890)
        );
        assert_eq!(resolve_plain("1:20"), Value::String("1:20".into()));
    }

    #[test]
    fn strings_v2_would_misread_are_detected() {
        for s in [
            "yes",
            "n",
            "1.0",
            "0x10",
            "2001-12-14",
            "1:20",
            ".5",
            "0o17",
            "1_000",
            "+1",
            "",
        ] {
            assert!(v2_reads_as_non_string(s), "{s}");
        }
        for s in [".operation", "-", "a,b", "<<", "=x", "1.2.3"] {
            assert!(!v2_reads_as_non_string(s), "{s}");
        }
    }

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float_text(0.5), "0.5");
        assert_eq!(go_float_text(1234567.5), "1.2345675e+06");
        assert_eq!(go_float_text(0.0001), "0.0001");
        assert_eq!(go_float_text(0.00001), "1e-05");
        assert_eq!(float_after_json(1.0), "1");
        assert_eq!(float_after_json(1e20), "1e+20");
    }
}
