//! Sprig's string functions (`trim`, `quote`, `indent`, `trunc`, `split`, case changes...).

use std::collections::BTreeMap;

use minijinja::Value;

use super::{strval, Args, Func, FuncError};
use crate::helm::template::value::{as_list, kind, new_map, Kind};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "trim" => |a| s1(a, |s| s.trim().to_string()),
        "trimAll" => |a| {
            a.arity(2)?;
            let cut: Vec<char> = a.str(0)?.chars().collect();
            Ok(Value::from(a.str(1)?.trim_matches(|c| cut.contains(&c))))
        },
        // Sprig's deprecated spelling, arguments as `trimAll`.
        "trimall" => |a| {
            a.arity(2)?;
            let cut: Vec<char> = a.str(0)?.chars().collect();
            Ok(Value::from(a.str(1)?.trim_matches(|c| cut.contains(&c))))
        },
        "trimSuffix" => |a| {
            a.arity(2)?;
            let (suf, s) = (a.str(0)?, a.str(1)?);
            Ok(Value::from(s.strip_suffix(suf).unwrap_or(s)))
        },
        "trimPrefix" => |a| {
            a.arity(2)?;
            let (pre, s) = (a.str(0)?, a.str(1)?);
            Ok(Value::from(s.strip_prefix(pre).unwrap_or(s)))
        },
        "upper" => |a| s1(a, |s| s.to_uppercase()),
        "lower" => |a| s1(a, |s| s.to_lowercase()),
        "title" => |a| s1(a, title),
        "untitle" => |a| s1(a, untitle),
        "repeat" => repeat,
        "substr" => substr,
        "nospace" => |a| s1(a, |s| s.chars().filter(|c| !c.is_whitespace()).collect()),
        "trunc" => trunc,
        "abbrev" => abbrev,
        "abbrevboth" => abbrevboth,
        "initials" => |a| {
            s1(a, |s| {
                s.split_whitespace()
                    .filter_map(|w| w.chars().next())
                    .collect()
            })
        },
        "wrap" => |a| {
            a.arity(2)?;
            Ok(Value::from(wrap(
                a.str(1)?,
                a.int(0)?.max(1) as usize,
                "\n",
            )))
        },
        "wrapWith" => |a| {
            a.arity(3)?;
            Ok(Value::from(wrap(
                a.str(2)?,
                a.int(0)?.max(1) as usize,
                a.str(1)?,
            )))
        },
        "contains" => |a| {
            a.arity(2)?;
            Ok(Value::from(a.str(1)?.contains(a.str(0)?)))
        },
        "hasPrefix" => |a| {
            a.arity(2)?;
            Ok(Value::from(a.str(1)?.starts_with(a.str(0)?)))
        },
        "hasSuffix" => |a| {
            a.arity(2)?;
            Ok(Value::from(a.str(1)?.ends_with(a.str(0)?)))
        },
        "quote" => quote,
        "squote" => squote,
        "cat" => cat,
        "indent" => |a| {
            a.arity(2)?;
            Ok(Value::from(indent(a.int(0)?, a.str(1)?)))
        },
        "nindent" => |a| {
            a.arity(2)?;
            Ok(Value::from(format!("\n{}", indent(a.int(0)?, a.str(1)?))))
        },
        "replace" => |a| {
            a.arity(3)?;
            Ok(Value::from(a.str(2)?.replace(a.str(0)?, a.str(1)?)))
        },
        "plural" => |a| {
            a.arity(3)?;
            Ok(Value::from(if a.int(2)? == 1 {
                a.string(0)?
            } else {
                a.string(1)?
            }))
        },
        "snakecase" => |a| s1(a, |s| delimited(s, '_')),
        "kebabcase" => |a| s1(a, |s| delimited(s, '-')),
        "camelcase" => |a| s1(a, camelcase),
        "swapcase" => |a| s1(a, swapcase),
        "toString" => |a| {
            a.arity(1)?;
            Ok(Value::from(strval(a.get(0))))
        },
        "toStrings" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                strslice(a.get(0))
                    .into_iter()
                    .map(Value::from)
                    .collect::<Vec<_>>(),
            ))
        },
        "split" => |a| {
            a.arity(2)?;
            let parts: Vec<&str> = a.str(1)?.split(a.str(0)?).collect();
            Ok(indexed_map(&parts))
        },
        "splitn" => |a| {
            a.arity(3)?;
            let n = a.int(1)?;
            let (sep, s) = (a.str(0)?, a.str(2)?);
            let parts: Vec<&str> = if n < 0 {
                s.split(sep).collect()
            } else {
                s.splitn(n as usize, sep).collect()
            };
            Ok(indexed_map(&parts))
        },
        "splitList" => |a| {
            a.arity(2)?;
            let (sep, s) = (a.str(0)?, a.str(1)?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::from(c.to_string())).collect()
            } else {
                s.split(sep).map(Value::from).collect()
            };
            Ok(Value::from(parts))
        },
        "join" => |a| {
            a.arity(2)?;
            Ok(Value::from(strslice(a.get(1)).join(a.str(0)?)))
        },
        "sortAlpha" => |a| {
            a.arity(1)?;
            let mut v = strslice(a.get(0));
            v.sort();
            Ok(Value::from(
                v.into_iter().map(Value::from).collect::<Vec<_>>(),
            ))
        },
        _ => return None,
    })
}

fn s1(a: &Args, f: impl Fn(&str) -> String) -> Result<Value, FuncError> {
    a.arity(1)?;
    Ok(Value::from(f(a.str(0)?)))
}

/// Sprig's `strslice`: a list as strings (nils dropped), a scalar as a one-item list.
pub fn strslice(v: &Value) -> Vec<String> {
    match kind(v) {
        Kind::Slice => as_list(v)
            .unwrap_or_default()
            .iter()
            .filter(|x| !matches!(kind(x), Kind::Invalid | Kind::Nil))
            .map(strval)
            .collect(),
        Kind::Invalid | Kind::Nil => Vec::new(),
        _ => vec![strval(v)],
    }
}

fn indexed_map(parts: &[&str]) -> Value {
    let m: BTreeMap<String, Value> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("_{i}"), Value::from(*p)))
        .collect();
    new_map(m)
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

fn repeat(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    let n = a.int(0)?;
    let s = a.str(1)?;
    if n < 0 {
        return Err(FuncError::Call("strings: negative Repeat count".into()));
    }
    let total = (n as u128) * (s.len() as u128);
    if total > (64u128 << 20) {
        return Err(FuncError::Call(format!(
            "repeat would make {total} bytes, over the 64 MiB limit"
        )));
    }
    Ok(Value::from(s.repeat(n as usize)))
}

fn byte_slice(s: &str, start: usize, end: usize) -> String {
    String::from_utf8_lossy(&s.as_bytes()[start..end]).into_owned()
}

fn substr(a: &Args) -> Result<Value, FuncError> {
    a.arity(3)?;
    let (start, end, s) = (a.int(0)?, a.int(1)?, a.str(2)?);
    let len = s.len() as i64;
    let out = if start < 0 {
        if end < 0 || end > len {
            return Err(FuncError::Call(format!(
                "runtime error: slice bounds out of range [:{end}] with length {len}"
            )));
        }
        byte_slice(s, 0, end as usize)
    } else if end < 0 || end > len {
        if start > len {
            return Err(FuncError::Call(format!(
                "runtime error: slice bounds out of range [{start}:{len}]"
            )));
        }
        byte_slice(s, start as usize, len as usize)
    } else {
        if start > end {
            return Err(FuncError::Call(format!(
                "runtime error: slice bounds out of range [{start}:{end}]"
            )));
        }
        byte_slice(s, start as usize, end as usize)
    };
    Ok(Value::from(out))
}

fn trunc(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    let (c, s) = (a.int(0)?, a.str(1)?);
    let len = s.len() as i64;
    let out = if c < 0 && len + c > 0 {
        byte_slice(s, (len + c) as usize, len as usize)
    } else if c >= 0 && len > c {
        byte_slice(s, 0, c as usize)
    } else {
        s.to_string()
    };
    Ok(Value::from(out))
}

fn abbrev(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    let (width, s) = (a.int(0)?, a.str(1)?);
    if width < 4 {
        return Ok(Value::from(s));
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() as i64 <= width {
        return Ok(Value::from(s));
    }
    let keep: String = chars[..(width - 3) as usize].iter().collect();
    Ok(Value::from(format!("{keep}...")))
}

fn abbrevboth(a: &Args) -> Result<Value, FuncError> {
    a.arity(3)?;
    let (left, right, s) = (a.int(0)?, a.int(1)?, a.str(2)?);
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len() as i64;
    if right < 4 || len <= right {
        return Ok(Value::from(s));
    }
    let mut offset = left.clamp(0, len);
    if len - offset < right - 3 {
        offset = len - (right - 3);
    }
    if offset <= 4 {
        let keep: String = chars[..(right - 3) as usize].iter().collect();
        return Ok(Value::from(format!("{keep}...")));
    }
    if right < 7 {
        return Ok(Value::from(s));
    }
    if offset + right - 3 < len {
        let rest: String = chars[offset as usize..].iter().collect();
        let inner = abbrev(&Args {
            name: "abbrev",
            vals: &[Value::from(right - 3), Value::from(rest)],
        })?;
        return Ok(Value::from(format!("...{}", inner.as_str().unwrap_or(""))));
    }
    let tail: String = chars[(len - (right - 3)) as usize..].iter().collect();
    Ok(Value::from(format!("...{tail}")))
}

/// Go's `strings.Title`: upper-cases letters that follow a separator.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let sep = is_separator(prev);
            prev = c;
            if sep {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphanumeric() {
        return false;
    }
    c.is_whitespace()
}

fn untitle(s: &str) -> String {
    let mut prev_space = true;
    s.chars()
        .map(|c| {
            let out = if prev_space {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                c
            };
            prev_space = c.is_whitespace();
            out
        })
        .collect()
}

fn swapcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                c.to_lowercase().next().unwrap_or(c)
            } else if c.is_lowercase() {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

/// xstrings' `ToSnakeCase`/`ToKebabCase`: words split at case changes and separators.
fn delimited(s: &str, delim: char) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if !out.is_empty()
                && !out.ends_with(delim)
                && (prev_lower || (prev_upper && next_lower))
            {
                out.push(delim);
            }
            out.extend(c.to_lowercase());
        } else if c == '_' || c == '-' || c == ' ' || c == '.' {
            if !out.is_empty() && !out.ends_with(delim) {
                out.push(delim);
            }
        } else {
            out.push(c);
        }
    }
    out.trim_end_matches(delim).to_string()
}

/// xstrings' `ToCamelCase`: `foo_bar` → `FooBar`.
fn camelcase(s: &str) -> String {
    // xstrings 1.5's ToPascalCase: `_`, `-` and white space join words; joiners before
    // the first word, and all but the last of a run, are kept. Each word starts
    // upper-case; a word that started upper-case has the rest of its leading capitals
    // lower-cased (`HTTP_SERVER` is `HttpServer`, `xML` is `XML`).
    let joiner = |c: char| c == '_' || c == '-' || c.is_whitespace();
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut prev = loop {
        match chars.next() {
            // only joiners: Go writes the last one once more
            None => {
                out.extend(s.chars().last());
                return out;
            }
            Some(c) if joiner(c) => out.push(c),
            Some(c) => break c,
        }
    };
    let mut capitals = prev.is_uppercase();
    prev = upper(prev);
    for c in chars {
        if joiner(c) && joiner(prev) {
            out.push(prev);
            prev = c;
            continue;
        }
        if joiner(prev) {
            capitals = c.is_uppercase();
            prev = upper(c);
            continue;
        }
        out.push(prev);
        prev = if capitals && c.is_uppercase() {
            lower(c)
        } else {
            capitals = false;
            c
        };
    }
    out.push(prev);
    out
}

fn upper(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// goutils' `WrapCustom` without long-word wrapping, as Sprig calls it.
fn wrap(s: &str, width: usize, nl: &str) -> String {
    let mut lines = Vec::new();
    for line in s.split('\n') {
        let mut cur = String::new();
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            if cur.is_empty() {
                cur.push_str(word);
            } else if cur.chars().count() + 1 + word.chars().count() <= width {
                cur.push(' ');
                cur.push_str(word);
            } else {
                lines.push(std::mem::take(&mut cur));
                cur.push_str(word);
            }
        }
        lines.push(cur);
    }
    lines.join(nl)
}

fn quote(a: &Args) -> Result<Value, FuncError> {
    let parts: Vec<String> = a
        .vals
        .iter()
        .filter(|v| !matches!(kind(v), Kind::Invalid | Kind::Nil))
        .map(|v| super::printf::go_quote(&strval(v)))
        .collect();
    Ok(Value::from(parts.join(" ")))
}

fn squote(a: &Args) -> Result<Value, FuncError> {
    let parts: Vec<String> = a
        .vals
        .iter()
        .filter(|v| !matches!(kind(v), Kind::Invalid | Kind::Nil))
        .map(|v| format!("'{}'", strval(v)))
        .collect();
    Ok(Value::from(parts.join(" ")))
}

fn cat(a: &Args) -> Result<Value, FuncError> {
    let parts: Vec<String> = a
        .vals
        .iter()
        .filter(|v| !matches!(kind(v), Kind::Invalid | Kind::Nil))
        .map(crate::helm::template::value::fmt_v)
        .collect();
    Ok(Value::from(parts.join(" ").trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, vals: &[Value]) -> Result<Value, FuncError> {
        lookup(name).unwrap()(&Args { name, vals })
    }

    #[test]
    fn trunc_and_trims_follow_sprig() {
        assert_eq!(
            call("trunc", &[Value::from(3), Value::from("abcdef")]).unwrap(),
            Value::from("abc")
        );
        assert_eq!(
            call("trunc", &[Value::from(-2), Value::from("abcdef")]).unwrap(),
            Value::from("ef")
        );
        assert_eq!(
            call("trimSuffix", &[Value::from("-"), Value::from("a-")]).unwrap(),
            Value::from("a")
        );
        assert_eq!(
            call("trimAll", &[Value::from("$"), Value::from("$5.00$")]).unwrap(),
            Value::from("5.00")
        );
    }

    #[test]
    fn wrong_argument_types_are_worded_like_go() {
        assert_eq!(
            call("trunc", &[Value::from(1.5), Value::from("x")]).unwrap_err(),
            FuncError::Type {
                index: 0,
                msg: "wrong type for value; expected int; got float64".into()
            }
        );
        assert_eq!(
            call("upper", &[Value::from(())]).unwrap_err(),
            FuncError::Type {
                index: 0,
                msg: "wrong type for value; expected string; got interface {}".into()
            }
        );
    }

    #[test]
    fn quoting_skips_nils_and_escapes() {
        assert_eq!(
            call(
                "quote",
                &[Value::from("a\"b"), Value::from(()), Value::from(1.5)]
            )
            .unwrap(),
            Value::from("\"a\\\"b\" \"1.5\"")
        );
        assert_eq!(
            call("squote", &[Value::from("x")]).unwrap(),
            Value::from("'x'")
        );
    }

    #[test]
    fn indent_and_case() {
        assert_eq!(
            call("nindent", &[Value::from(2), Value::from("a\nb")]).unwrap(),
            Value::from("\n  a\n  b")
        );
        assert_eq!(
            call("title", &[Value::from("hello wORLD-x")]).unwrap(),
            Value::from("Hello WORLD-X")
        );
        assert_eq!(
            call("camelcase", &[Value::from("http_server")]).unwrap(),
            Value::from("HttpServer")
        );
        assert_eq!(
            call("snakecase", &[Value::from("FirstName")]).unwrap(),
            Value::from("first_name")
        );
        assert_eq!(
            call(
                "substr",
                &[Value::from(1), Value::from(3), Value::from("hello")]
            )
            .unwrap(),
            Value::from("el")
        );
    }

    #[test]
    fn split_and_join() {
        let m = call("split", &[Value::from("$"), Value::from("a$b")]).unwrap();
        assert_eq!(crate::helm::template::value::fmt_v(&m), "map[_0:a _1:b]");
        let l = Value::from(vec![Value::from("a"), Value::from(()), Value::from(2)]);
        assert_eq!(
            call("join", &[Value::from("-"), l]).unwrap(),
            Value::from("a-2")
        );
    }

    #[test]
    fn camelcase_keeps_leading_and_doubled_joiners_and_lowers_leading_capitals() {
        for (input, want) in [
            ("_foo__bar_baz", "_Foo_BarBaz"),
            ("__a", "__A"),
            ("_", "__"),
            ("a__", "A__"),
            ("HTTP_SERVER", "HttpServer"),
            ("xML_http", "XMLHttp"),
            ("AB1C", "Ab1C"),
            ("some words-here", "SomeWordsHere"),
            ("", ""),
        ] {
            assert_eq!(camelcase(input), want, "camelcase {input:?}");
        }
    }
}
