//! Go's `fmt.Sprintf` over template values: verbs, flags, width, precision, and Go's
//! in-band error marks (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA ...)`).

use minijinja::Value;

use crate::helm::template::value::{
    as_complex, as_float, as_int, as_list, as_map, fmt_v, format_float_g, kind, type_name, Kind,
};

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut argi = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_num(&mut chars, args, &mut argi);
        if chars.peek().is_some_and(|(_, c)| *c == '.') {
            chars.next();
            spec.prec = Some(read_num(&mut chars, args, &mut argi).unwrap_or(0));
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        if verb == 'v' {
            // `%+v` and `%#v` select struct-field and Go syntax, not a sign or prefix.
            spec.plus = false;
            spec.sharp = false;
        }
        format_one(&mut out, verb, spec, arg);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[argi..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("{}={}", type_name(a), fmt_v(a)));
        }
        out.push(')');
    }
    out
}

fn read_num(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    args: &[Value],
    argi: &mut usize,
) -> Option<usize> {
    if chars.peek().is_some_and(|(_, c)| *c == '*') {
        chars.next();
        let v = args.get(*argi).and_then(as_int);
        *argi += 1;
        return v.map(|n| n.unsigned_abs() as usize);
    }
    let mut n: Option<usize> = None;
    while let Some(&(_, d)) = chars.peek() {
        let Some(digit) = d.to_digit(10) else { break };
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(digit as usize),
        );
        chars.next();
    }
    n
}

fn bad(out: &mut String, verb: char, arg: &Value) {
    if matches!(kind(arg), Kind::Invalid | Kind::Nil) {
        out.push_str(&format!("%!{verb}(<nil>)"));
    } else {
        out.push_str(&format!("%!{verb}({}={})", type_name(arg), fmt_v(arg)));
    }
}

fn pad(out: &mut String, s: &str, spec: Spec, numeric: bool) {
    let len = s.chars().count();
    let width = spec.width.unwrap_or(0);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        let (sign, digits) = match s.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (Some(c), &s[1..]),
            _ => (None, s),
        };
        if let Some(c) = sign {
            out.push(c);
        }
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn format_one(out: &mut String, verb: char, spec: Spec, arg: &Value) {
    if verb == 'T' {
        pad(out, &type_name(arg), spec, false);
        return;
    }
    match kind(arg) {
        Kind::Slice => {
            if matches!(
                verb,
                'v' | 's' | 'd' | 'q' | 'x' | 'X' | 'f' | 'g' | 'e' | 't' | 'o' | 'b' | 'c'
            ) {
                out.push('[');
                for (i, item) in as_list(arg).unwrap_or_default().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    format_one(out, verb, spec, item);
                }
                out.push(']');
            } else {
                bad(out, verb, arg);
            }
        }
        Kind::Map => {
            out.push_str("map[");
            if let Some(m) = as_map(arg) {
                for (i, (k, item)) in m.snapshot().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    format_one(out, verb, spec, &Value::from(k.as_str()));
                    out.push(':');
                    format_one(out, verb, spec, item);
                }
            }
            out.push(']');
        }
        Kind::Invalid | Kind::Nil => match verb {
            'v' => pad(out, "<nil>", spec, false),
            _ => bad(out, verb, arg),
        },
        Kind::Bool => match verb {
            'v' | 't' => pad(
                out,
                if arg.is_true() { "true" } else { "false" },
                spec,
                false,
            ),
            _ => bad(out, verb, arg),
        },
        Kind::Int | Kind::Int64 => format_int(out, verb, spec, as_int(arg).unwrap_or(0), arg),
        Kind::Float => format_float(out, verb, spec, as_float(arg).unwrap_or(0.0), arg),
        Kind::String | Kind::Bytes => {
            let s = if kind(arg) == Kind::Bytes {
                String::from_utf8_lossy(arg.as_bytes().unwrap_or(&[])).into_owned()
            } else {
                arg.as_str().unwrap_or("").to_string()
            };
            match verb {
                'v' | 's' => {
                    let s = match spec.prec {
                        Some(p) => s.chars().take(p).collect(),
                        None => s,
                    };
                    pad(out, &s, spec, false);
                }
                'q' => {
                    let q = if spec.sharp && !s.contains('`') {
                        format!("`{s}`")
                    } else {
                        go_quote(&s)
                    };
                    pad(out, &q, spec, false);
                }
                'x' | 'X' => {
                    let mut h = String::new();
                    for (i, b) in s.bytes().enumerate() {
                        if spec.space && i > 0 {
                            h.push(' ');
                        }
                        if verb == 'x' {
                            h.push_str(&format!("{b:02x}"));
                        } else {
                            h.push_str(&format!("{b:02X}"));
                        }
                    }
                    pad(out, &h, spec, false);
                }
                _ => bad(out, verb, arg),
            }
        }
        Kind::Struct => match (verb, as_complex(arg)) {
            // Go's `fmtComplex`: both parts in the verb, the imaginary one signed.
            ('v' | 'b' | 'g' | 'G' | 'x' | 'X' | 'f' | 'F' | 'e' | 'E', Some((re, im))) => {
                out.push('(');
                format_float(out, verb, spec, re, arg);
                format_float(out, verb, Spec { plus: true, ..spec }, im, arg);
                out.push_str("i)");
            }
            (_, Some(_)) => bad(out, verb, arg),
            ('v' | 's', None) => pad(out, &fmt_v(arg), spec, false),
            _ => bad(out, verb, arg),
        },
    }
}

fn sign_prefix(spec: Spec, negative: bool) -> &'static str {
    if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    }
}

fn format_int(out: &mut String, verb: char, spec: Spec, n: i64, arg: &Value) {
    let neg = n < 0;
    let abs = n.unsigned_abs();
    let body = match verb {
        'v' | 'd' => abs.to_string(),
        'x' => format!("{}{abs:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{abs:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{abs:o}", if spec.sharp { "0" } else { "" }),
        'O' => format!("0o{abs:o}"),
        'b' => format!("{abs:b}"),
        'c' => {
            let c = char::from_u32(n as u32).unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), spec, false);
            return;
        }
        'q' => {
            let c = char::from_u32(n as u32).unwrap_or('\u{FFFD}');
            let q = if c == '\'' {
                "'\\''".to_string()
            } else {
                format!("'{}'", go_escape_char(c, '\''))
            };
            pad(out, &q, spec, false);
            return;
        }
        'U' => {
            pad(out, &format!("U+{:04X}", n), spec, false);
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => {
            bad(out, verb, arg);
            return;
        }
        _ => {
            bad(out, verb, arg);
            return;
        }
    };
    let body = match spec.prec {
        Some(p) if body.len() < p => format!("{}{body}", "0".repeat(p - body.len())),
        _ => body,
    };
    let s = format!("{}{body}", sign_prefix(spec, neg));
    let mut spec = spec;
    if spec.prec.is_some() {
        spec.zero = false;
    }
    pad(out, &s, spec, true);
}

fn format_float(out: &mut String, verb: char, spec: Spec, f: f64, arg: &Value) {
    if f.is_nan() || f.is_infinite() {
        let s = if f.is_nan() {
            "NaN".to_string()
        } else if f > 0.0 {
            format!("{}Inf", if spec.plus { "+" } else { "" })
        } else {
            "-Inf".into()
        };
        pad(
            out,
            &s,
            Spec {
                zero: false,
                ..spec
            },
            false,
        );
        return;
    }
    let neg = f.is_sign_negative() && f != 0.0 || (f == 0.0 && f.is_sign_negative());
    let a = f.abs();
    let body = match verb {
        'v' | 'g' | 'G' => {
            let s = match spec.prec {
                None => format_float_g(a),
                Some(p) => format_g_prec(a, p.max(1)),
            };
            if verb == 'G' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), a),
        'e' | 'E' => {
            let s = format_e(a, spec.prec.unwrap_or(6));
            if verb == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        _ => {
            bad(out, verb, arg);
            return;
        }
    };
    let s = format!("{}{body}", sign_prefix(spec, neg));
    pad(out, &s, spec, true);
}

/// `%.{prec}e`: mantissa with `prec` decimals, exponent with at least two digits.
pub fn format_e(a: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, a);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    format!(
        "{m}e{}{:02}",
        if exp < 0 { '-' } else { '+' },
        exp.unsigned_abs()
    )
}

/// `%.{prec}g`: `prec` significant digits, trailing zeros removed.
fn format_g_prec(a: f64, prec: usize) -> String {
    if a == 0.0 {
        return "0".into();
    }
    let e = format!("{:.*e}", prec - 1, a);
    let (m, ex) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = ex.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!(
            "{m}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        )
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        let s = format!("{:.*}", decimals, a);
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// `strconv.Quote`: double-quoted with Go escapes.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        out.push_str(&go_escape_char(c, '"'));
    }
    out.push('"');
    out
}

fn go_escape_char(c: char, quote: char) -> String {
    match c {
        '\x07' => "\\a".into(),
        '\x08' => "\\b".into(),
        '\x0c' => "\\f".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\x0b' => "\\v".into(),
        '\\' => "\\\\".into(),
        c if c == quote => format!("\\{c}"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02x}", c as u32),
        c if is_go_printable(c) => c.to_string(),
        c if (c as u32) < 0x10000 => format!("\\u{:04x}", c as u32),
        c => format!("\\U{:08x}", c as u32),
    }
}

/// Close to Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space.
pub(crate) fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    !matches!(c as u32, 0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb | 0xe000..=0xf8ff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(f: &str, args: &[Value]) -> String {
        sprintf(f, args)
    }

    #[test]
    fn verbs_follow_go() {
        assert_eq!(p("%s-%d", &[Value::from("a"), Value::from(3)]), "a-3");
        assert_eq!(p("%v", &[Value::from(1_000_000.0)]), "1e+06");
        assert_eq!(p("%d", &[Value::from(1.5)]), "%!d(float64=1.5)");
        assert_eq!(p("%s", &[Value::from(2)]), "%!s(int=2)");
        assert_eq!(p("%q", &[Value::from("a\"b\n")]), "\"a\\\"b\\n\"");
        assert_eq!(
            p(
                "%5.2f|%-4d|%04d",
                &[Value::from(2.71849), Value::from(7), Value::from(-7)]
            ),
            " 2.72|7   |-007"
        );
        assert_eq!(
            p("%x %X", &[Value::from(255), Value::from("hi")]),
            "ff 6869"
        );
        assert_eq!(
            p(
                "%t %T %T",
                &[Value::from(true), Value::from(1.0), Value::from("s")]
            ),
            "true float64 string"
        );
        assert_eq!(p("%s %s", &[Value::from("a")]), "a %!s(MISSING)");
        assert_eq!(
            p("%s", &[Value::from("a"), Value::from(1)]),
            "a%!(EXTRA int=1)"
        );
        assert_eq!(
            p(
                "%e %g %.3g",
                &[
                    Value::from(1234.5),
                    Value::from(0.00001),
                    Value::from(2.71849)
                ]
            ),
            "1.234500e+03 1e-05 2.72"
        );
        assert_eq!(p("100%%", &[]), "100%");
        assert_eq!(
            p("%v", &[Value::from(vec![Value::from(1), Value::from("a")])]),
            "[1 a]"
        );
        assert_eq!(p("%s", &[Value::from(())]), "%!s(<nil>)");
        assert_eq!(p("%v", &[Value::from(())]), "<nil>");
    }
}
