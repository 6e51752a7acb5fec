//! Sprig's date functions (`now`, `date`, `dateInZone`, `toDate`, `ago`, `duration`,
//! `unixEpoch`, `dateModify`, `htmlDate`) with Go's reference-time layouts
//! (`2006-01-02T15:04:05Z07:00`).
//!
//! Zones: `UTC` and `Local` are known; Sprig falls back to UTC when a zone name does not
//! load, and without a zone database here every other name does the same.

use chrono::{
    DateTime, Datelike, FixedOffset, Local, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use minijinja::Value;

use super::{Func, FuncError};
use crate::helm::template::value::{as_float, as_int, kind, new_struct, GoFields, Kind};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "now" => |a| {
            a.arity(0)?;
            Ok(new_struct(GoTime(Local::now().fixed_offset())))
        },
        "date" => |a| {
            a.arity(2)?;
            Ok(Value::from(format(
                a.str(0)?,
                &in_zone(&to_time(a.get(1)), "Local"),
            )))
        },
        "dateInZone" | "date_in_zone" => |a| {
            a.arity(3)?;
            Ok(Value::from(format(
                a.str(0)?,
                &in_zone(&to_time(a.get(1)), a.str(2)?),
            )))
        },
        "htmlDate" => |a| {
            a.arity(1)?;
            Ok(Value::from(format(
                "2006-01-02",
                &in_zone(&to_time(a.get(0)), "Local"),
            )))
        },
        "htmlDateInZone" => |a| {
            a.arity(2)?;
            Ok(Value::from(format(
                "2006-01-02",
                &in_zone(&to_time(a.get(0)), a.str(1)?),
            )))
        },
        "unixEpoch" => |a| {
            a.arity(1)?;
            Ok(Value::from(to_time(a.get(0)).timestamp().to_string()))
        },
        "toDate" => |a| {
            a.arity(2)?;
            Ok(new_struct(GoTime(
                parse(a.str(0)?, a.str(1)?).unwrap_or_else(zero_time),
            )))
        },
        "mustToDate" => |a| {
            a.arity(2)?;
            let (layout, text) = (a.str(0)?, a.str(1)?);
            parse(layout, text)
                .map(|t| new_struct(GoTime(t)))
                .ok_or_else(|| {
                    FuncError::Call(format!("parsing time {text:?} as {layout:?}: cannot parse"))
                })
        },
        "ago" => |a| {
            a.arity(1)?;
            let secs = (Utc::now().timestamp_millis() - to_time(a.get(0)).timestamp_millis() + 500)
                .div_euclid(1000);
            Ok(Value::from(go_duration(secs.saturating_mul(1_000_000_000))))
        },
        "duration" => |a| {
            a.arity(1)?;
            // Sprig only reads strings and int64s here; anything else is 0.
            let v = a.get(0);
            let secs = match kind(v) {
                Kind::String => v.as_str().unwrap_or("").parse::<i64>().unwrap_or(0),
                Kind::Int64 => as_int(v).unwrap_or(0),
                _ => 0,
            };
            Ok(Value::from(go_duration(secs.saturating_mul(1_000_000_000))))
        },
        "durationRound" => |a| {
            a.arity(1)?;
            let v = a.get(0);
            let nanos: i64 = if let Some(t) =
                v.downcast_object_ref::<crate::helm::template::value::GoStruct>()
            {
                match t.0.to_json() {
                    serde_json::Value::String(s) => DateTime::parse_from_rfc3339(&s)
                        .map(|d| {
                            (Utc::now().timestamp_nanos_opt().unwrap_or(0))
                                - d.timestamp_nanos_opt().unwrap_or(0)
                        })
                        .unwrap_or(0),
                    _ => 0,
                }
            } else {
                match kind(v) {
                    Kind::String => parse_duration(v.as_str().unwrap_or("")).unwrap_or(0),
                    Kind::Int64 => as_int(v).unwrap_or(0),
                    _ => 0,
                }
            };
            Ok(Value::from(duration_round(nanos)))
        },
        "dateModify" | "mustDateModify" => |a| {
            a.arity(2)?;
            let nanos = parse_duration(a.str(0)?).ok_or_else(|| {
                FuncError::Call(format!(
                    "time: invalid duration {:?}",
                    a.str(0).unwrap_or("")
                ))
            })?;
            let t = to_time(a.get(1)) + chrono::Duration::nanoseconds(nanos);
            Ok(new_struct(GoTime(t)))
        },
        _ => return None,
    })
}

fn zero_time() -> DateTime<FixedOffset> {
    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0)
        .single()
        .map_or_else(|| Utc::now().fixed_offset(), |t| t.fixed_offset())
}

/// A Go `time.Time`.
#[derive(Debug)]
pub struct GoTime(pub DateTime<FixedOffset>);

impl GoFields for GoTime {
    fn type_name(&self) -> &'static str {
        "time.Time"
    }

    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let t = &self.0;
        Some(Ok(match name {
            "Year" => Value::from(t.year()),
            "Month" => Value::from(t.month()),
            "Day" => Value::from(t.day()),
            "Hour" => Value::from(t.hour()),
            "Minute" => Value::from(t.minute()),
            "Second" => Value::from(t.second()),
            "Unix" => Value::from(t.timestamp()),
            "UnixNano" => Value::from(t.timestamp_nanos_opt().unwrap_or(0)),
            "UTC" => new_struct(GoTime(t.with_timezone(&Utc).fixed_offset())),
            "Format" => match args.first().and_then(Value::as_str) {
                Some(layout) => Value::from(format(layout, t)),
                None => return Some(Err("wrong number of args for Format: want 1 got 0".into())),
            },
            _ => return None,
        }))
    }

    fn display(&self) -> String {
        format("2006-01-02 15:04:05.999999999 -0700 MST", &self.0)
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::String(format("2006-01-02T15:04:05.999999999Z07:00", &self.0))
    }
}

/// Sprig's `toDate`-less date arguments: a time, or Unix seconds.
fn to_time(v: &Value) -> DateTime<FixedOffset> {
    if let Some(t) = v.downcast_object_ref::<crate::helm::template::value::GoStruct>() {
        if let serde_json::Value::String(s) = t.0.to_json() {
            if let Ok(d) = DateTime::parse_from_rfc3339(&s) {
                return d;
            }
        }
    }
    let secs = match kind(v) {
        Kind::Int | Kind::Int64 => as_int(v).unwrap_or(0),
        Kind::Float => as_float(v).unwrap_or(0.0) as i64,
        _ => return Local::now().fixed_offset(),
    };
    Utc.timestamp_opt(secs, 0)
        .single()
        .map_or_else(zero_time, |t| t.fixed_offset())
}

fn in_zone(t: &DateTime<FixedOffset>, zone: &str) -> DateTime<FixedOffset> {
    match zone {
        "Local" => t.with_timezone(&Local).fixed_offset(),
        _ => t.with_timezone(&Utc).fixed_offset(),
    }
}

fn zone_name(t: &DateTime<FixedOffset>) -> String {
    let secs = t.offset().fix().local_minus_utc();
    if secs == 0 {
        "UTC".into()
    } else {
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.abs();
        if a % 3600 == 0 {
            format!("{sign}{:02}", a / 3600)
        } else {
            format!("{sign}{:02}{:02}", a / 3600, (a % 3600) / 60)
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One element of a Go layout.
#[derive(Debug, Clone, PartialEq)]
enum Chunk {
    Lit(String),
    Year4,
    Year2,
    MonthLong,
    MonthShort,
    Month2,
    Month1,
    DayLong,
    DayShort,
    Day2,
    DayPad,
    Day1,
    YearDay,
    Hour24,
    Hour12Pad,
    Hour12,
    Min2,
    Min1,
    Sec2,
    Sec1,
    PmUpper,
    PmLower,
    ZoneName,
    /// `-0700`, `-07:00`, `-07`; with `Z` when UTC prints `Z`.
    Offset {
        colon: bool,
        minutes: bool,
        z: bool,
    },
    /// `.000` (fixed) or `.999` (trimmed) with n digits.
    Frac {
        digits: usize,
        trim: bool,
    },
}

fn layout_chunks(layout: &str) -> Vec<Chunk> {
    const TABLE: &[(&str, Chunk)] = &[
        ("January", Chunk::MonthLong),
        ("Jan", Chunk::MonthShort),
        ("Monday", Chunk::DayLong),
        ("Mon", Chunk::DayShort),
        ("MST", Chunk::ZoneName),
        ("2006", Chunk::Year4),
        (
            "Z07:00",
            Chunk::Offset {
                colon: true,
                minutes: true,
                z: true,
            },
        ),
        (
            "Z0700",
            Chunk::Offset {
                colon: false,
                minutes: true,
                z: true,
            },
        ),
        (
            "Z07",
            Chunk::Offset {
                colon: false,
                minutes: false,
                z: true,
            },
        ),
        (
            "-07:00",
            Chunk::Offset {
                colon: true,
                minutes: true,
                z: false,
            },
        ),
        (
            "-0700",
            Chunk::Offset {
                colon: false,
                minutes: true,
                z: false,
            },
        ),
        (
            "-07",
            Chunk::Offset {
                colon: false,
                minutes: false,
                z: false,
            },
        ),
        ("002", Chunk::YearDay),
        ("01", Chunk::Month2),
        ("02", Chunk::Day2),
        ("_2", Chunk::DayPad),
        ("03", Chunk::Hour12Pad),
        ("04", Chunk::Min2),
        ("05", Chunk::Sec2),
        ("06", Chunk::Year2),
        ("15", Chunk::Hour24),
        ("PM", Chunk::PmUpper),
        ("pm", Chunk::PmLower),
        ("1", Chunk::Month1),
        ("2", Chunk::Day1),
        ("3", Chunk::Hour12),
        ("4", Chunk::Min1),
        ("5", Chunk::Sec1),
    ];
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        // Fractional seconds: `.0+` or `.9+` (also with a comma) after a digit run.
        if rest.starts_with(['.', ',']) {
            let digits: String = rest[1..]
                .chars()
                .take_while(|c| ['0', '9'].contains(c))
                .collect();
            let uniform = digits.chars().all(|c| digits.starts_with(c));
            let next_is_digit = rest[1 + digits.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit());
            if !digits.is_empty() && uniform && !next_is_digit {
                if !lit.is_empty() {
                    out.push(Chunk::Lit(std::mem::take(&mut lit)));
                }
                out.push(Chunk::Frac {
                    digits: digits.len(),
                    trim: digits.starts_with('9'),
                });
                rest = &rest[1 + digits.len()..];
                continue;
            }
        }
        for (pat, chunk) in TABLE {
            if rest.starts_with(pat) {
                // `Jan`/`Mon` inside words like "January" are handled by the longer
                // entries first; Go also refuses `Mon` followed by a lower-case letter.
                if matches!(chunk, Chunk::DayShort | Chunk::MonthShort)
                    && rest[pat.len()..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_lowercase())
                {
                    continue;
                }
                if !lit.is_empty() {
                    out.push(Chunk::Lit(std::mem::take(&mut lit)));
                }
                out.push(chunk.clone());
                rest = &rest[pat.len()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        out.push(Chunk::Lit(lit));
    }
    out
}

/// Go's `Time.Format`.
pub fn format(layout: &str, t: &DateTime<FixedOffset>) -> String {
    let mut s = String::new();
    for c in layout_chunks(layout) {
        match c {
            Chunk::Lit(l) => s.push_str(&l),
            Chunk::Year4 => s.push_str(&format!("{:04}", t.year())),
            Chunk::Year2 => s.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            Chunk::MonthLong => s.push_str(MONTHS[t.month0() as usize]),
            Chunk::MonthShort => s.push_str(&MONTHS[t.month0() as usize][..3]),
            Chunk::Month2 => s.push_str(&format!("{:02}", t.month())),
            Chunk::Month1 => s.push_str(&t.month().to_string()),
            Chunk::DayLong => s.push_str(DAYS[t.weekday().num_days_from_monday() as usize]),
            Chunk::DayShort => s.push_str(&DAYS[t.weekday().num_days_from_monday() as usize][..3]),
            Chunk::Day2 => s.push_str(&format!("{:02}", t.day())),
            Chunk::DayPad => s.push_str(&format!("{:>2}", t.day())),
            Chunk::Day1 => s.push_str(&t.day().to_string()),
            Chunk::YearDay => s.push_str(&format!("{:03}", t.ordinal())),
            Chunk::Hour24 => s.push_str(&format!("{:02}", t.hour())),
            Chunk::Hour12Pad => s.push_str(&format!("{:02}", hour12(t.hour()))),
            Chunk::Hour12 => s.push_str(&hour12(t.hour()).to_string()),
            Chunk::Min2 => s.push_str(&format!("{:02}", t.minute())),
            Chunk::Min1 => s.push_str(&t.minute().to_string()),
            Chunk::Sec2 => s.push_str(&format!("{:02}", t.second())),
            Chunk::Sec1 => s.push_str(&t.second().to_string()),
            Chunk::PmUpper => s.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Chunk::PmLower => s.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            Chunk::ZoneName => s.push_str(&zone_name(t)),
            Chunk::Offset { colon, minutes, z } => {
                let secs = t.offset().fix().local_minus_utc();
                if z && secs == 0 {
                    s.push('Z');
                } else {
                    let a = secs.abs();
                    s.push(if secs < 0 { '-' } else { '+' });
                    s.push_str(&format!("{:02}", a / 3600));
                    if minutes {
                        if colon {
                            s.push(':');
                        }
                        s.push_str(&format!("{:02}", (a % 3600) / 60));
                    }
                }
            }
            Chunk::Frac { digits, trim } => {
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let mut f = nanos[..digits.min(9)].to_string();
                if trim {
                    f = f.trim_end_matches('0').to_string();
                    if !f.is_empty() {
                        s.push('.');
                        s.push_str(&f);
                    }
                } else {
                    s.push('.');
                    s.push_str(&f);
                }
            }
        }
    }
    s
}

fn hour12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}

/// Go's `time.ParseInLocation(layout, text, time.Local)` for the common layouts.
fn parse(layout: &str, text: &str) -> Option<DateTime<FixedOffset>> {
    let mut fmt = String::new();
    let mut has_offset = false;
    for c in layout_chunks(layout) {
        match c {
            Chunk::Lit(l) => fmt.push_str(&l.replace('%', "%%")),
            Chunk::Year4 => fmt.push_str("%Y"),
            Chunk::Year2 => fmt.push_str("%y"),
            Chunk::MonthLong => fmt.push_str("%B"),
            Chunk::MonthShort => fmt.push_str("%b"),
            Chunk::Month2 | Chunk::Month1 => fmt.push_str("%m"),
            Chunk::DayLong => fmt.push_str("%A"),
            Chunk::DayShort => fmt.push_str("%a"),
            Chunk::Day2 | Chunk::Day1 | Chunk::DayPad => fmt.push_str("%d"),
            Chunk::YearDay => fmt.push_str("%j"),
            Chunk::Hour24 => fmt.push_str("%H"),
            Chunk::Hour12Pad | Chunk::Hour12 => fmt.push_str("%I"),
            Chunk::Min2 | Chunk::Min1 => fmt.push_str("%M"),
            Chunk::Sec2 | Chunk::Sec1 => fmt.push_str("%S"),
            Chunk::PmUpper | Chunk::PmLower => fmt.push_str("%p"),
            Chunk::ZoneName => fmt.push_str("%Z"),
            Chunk::Offset { colon, .. } => {
                has_offset = true;
                fmt.push_str(if colon { "%:z" } else { "%z" });
            }
            Chunk::Frac { .. } => fmt.push_str("%.f"),
        }
    }
    let text = if has_offset && text.ends_with('Z') {
        format!("{}+00:00", &text[..text.len() - 1])
    } else {
        text.to_string()
    };
    if has_offset {
        return DateTime::parse_from_str(&text, &fmt.replace("%z", "%:z").replace("%:%:z", "%:z"))
            .ok()
            .or_else(|| DateTime::parse_from_str(&text, &fmt).ok());
    }
    if let Ok(n) = NaiveDateTime::parse_from_str(&text, &fmt) {
        return Local
            .from_local_datetime(&n)
            .single()
            .map(|t| t.fixed_offset());
    }
    chrono::NaiveDate::parse_from_str(&text, &fmt)
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|n| Local.from_local_datetime(&n).single())
        .map(|t| t.fixed_offset())
}

/// Go's `time.Duration.String()` for a count of nanoseconds.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let neg = nanos < 0;
    let n = nanos.unsigned_abs();
    let mut s = String::new();
    if n < 1_000_000_000 {
        let (unit, div) = if n < 1_000 {
            ("ns", 1)
        } else if n < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        s.push_str(&trim_frac(n as f64 / div as f64));
        s.push_str(unit);
    } else {
        let h = n / 3_600_000_000_000;
        let m = (n / 60_000_000_000) % 60;
        let sec = (n % 60_000_000_000) as f64 / 1e9;
        if h > 0 {
            s.push_str(&format!("{h}h{m}m"));
        } else if m > 0 {
            s.push_str(&format!("{m}m"));
        }
        s.push_str(&trim_frac(sec));
        s.push('s');
    }
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

fn trim_frac(f: f64) -> String {
    let s = format!("{f:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Sprig's `durationRound`: the largest whole unit (`2h`, `3mo`, `1y`).
fn duration_round(nanos: i64) -> String {
    let u = nanos.unsigned_abs();
    const SECOND: u64 = 1_000_000_000;
    const MINUTE: u64 = 60 * SECOND;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const MONTH: u64 = 30 * DAY;
    const YEAR: u64 = 365 * DAY;
    for (unit, name) in [
        (YEAR, "y"),
        (MONTH, "mo"),
        (DAY, "d"),
        (HOUR, "h"),
        (MINUTE, "m"),
        (SECOND, "s"),
    ] {
        if u > unit {
            return format!("{}{name}", u / unit);
        }
    }
    "0s".into()
}

/// Go's `time.ParseDuration` (`1h30m`, `-2.5s`, `300ms`).
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * mult;
    }
    Some(if neg { -(total as i64) } else { total as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2024-03-05T07:08:09.120+02:00").unwrap()
    }

    #[test]
    fn go_layouts() {
        assert_eq!(
            format("2006-01-02T15:04:05Z07:00", &t()),
            "2024-03-05T07:08:09+02:00"
        );
        assert_eq!(
            format("Jan 2, 2006 at 3:04pm (MST)", &t()),
            "Mar 5, 2024 at 7:08am (+02)"
        );
        assert_eq!(
            format("2006-01-02 15:04:05.000", &t()),
            "2024-03-05 07:08:09.120"
        );
        assert_eq!(format("Monday 02/01/06 .999", &t()), "Tuesday 05/03/24 .12");
    }

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(90 * 1_000_000_000), "1m30s");
        assert_eq!(go_duration(3600 * 1_000_000_000), "1h0m0s");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("-1.5s"), Some(-1_500_000_000));
        assert_eq!(parse_duration("x"), None);
        // helm 4.1.4: durationRound "2h10m" → 2h.
        assert_eq!(duration_round(parse_duration("2h10m").unwrap()), "2h");
        assert_eq!(duration_round(0), "0s");
    }

    #[test]
    fn to_date_parses() {
        let d = parse("2006-01-02", "2024-03-05").unwrap();
        assert_eq!(d.day(), 5);
        assert!(parse("2006-01-02", "nope").is_none());
    }
}
