//! Sprig's regular-expression functions over RE2 syntax (Rust's `regex` accepts the
//! same language and the same `$1`/`${name}` replacement templates as Go).
//!
//! Compiled expressions are cached per render thread: charts call these in loops.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use minijinja::Value;
use regex::Regex;

use super::{Func, FuncError};

const CACHE_LIMIT: usize = 512;

thread_local! {
    static CACHE: RefCell<HashMap<String, Arc<Regex>>> = RefCell::new(HashMap::new());
}

/// Compiles (or reuses) an expression; the error is Go's wording.
pub fn compile(expr: &str) -> Result<Arc<Regex>, FuncError> {
    if let Some(r) = CACHE.with(|c| c.borrow().get(expr).cloned()) {
        return Ok(r);
    }
    let r = Arc::new(Regex::new(&go_to_rust(expr)).map_err(|e| {
        FuncError::Call(format!(
            "error parsing regexp: {}: `{expr}`",
            first_line(&e.to_string())
        ))
    })?);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(expr.to_string(), r.clone());
    });
    Ok(r)
}

/// The ASCII set RE2 gives a Perl class escape (`\d`, `\w`, `\s`), and whether the
/// escape is the negated one. Rust's `regex` reads these escapes as Unicode classes,
/// which match more than Go's (Arabic-Indic digits, `\v`) and take about a million
/// instructions each to compile.
fn perl_class(e: char) -> Option<(&'static str, bool)> {
    Some(match e {
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        's' => ("\\t\\n\\f\\r ", false),
        'S' => ("\\t\\n\\f\\r ", true),
        _ => return None,
    })
}

/// Rewrites the RE2 spellings Go reads differently from Rust's parser: a `-` next to a
/// class escape inside brackets (`[\\w-.]`) is a literal dash in Go (Rust refuses it),
/// and `\d`, `\w`, `\s` and their negations are ASCII sets (see [`perl_class`]).
fn go_to_rust(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() + 4);
    let mut in_class = false;
    let mut class_start = false;
    let mut prev_was_class_escape = false;
    let is_class_escape = |e: char| matches!(e, 'w' | 'W' | 'd' | 'D' | 's' | 'S');
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            match (perl_class(chars[i + 1]), in_class) {
                (Some((set, false)), true) => out.push_str(set),
                // Rust's classes nest: `[^x]` inside brackets is a union member.
                (Some((set, negated)), _) => {
                    out.push_str(if negated { "[^" } else { "[" });
                    out.push_str(set);
                    out.push(']');
                }
                (None, _) => {
                    out.push(c);
                    out.push(chars[i + 1]);
                }
            }
            prev_was_class_escape = in_class && is_class_escape(chars[i + 1]);
            class_start = false;
            i += 2;
            continue;
        }
        if in_class {
            if c == ']' && !class_start {
                in_class = false;
            } else if c == '-' {
                let next_is_class_escape = chars.get(i + 1) == Some(&'\\')
                    && chars.get(i + 2).is_some_and(|e| is_class_escape(*e));
                if prev_was_class_escape || next_is_class_escape {
                    out.push_str("\\-");
                    prev_was_class_escape = false;
                    i += 1;
                    continue;
                }
            }
            class_start = false;
        } else if c == '[' {
            in_class = true;
            class_start = true;
            out.push(c);
            if chars.get(i + 1) == Some(&'^') {
                out.push('^');
                i += 1;
            }
            prev_was_class_escape = false;
            i += 1;
            continue;
        }
        prev_was_class_escape = false;
        out.push(c);
        i += 1;
    }
    out
}

fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim_start_matches("error: ")
}

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        // Sprig's non-must regexMatch answers false for a bad expression.
        "regexMatch" => |a| {
            a.arity(2)?;
            let s = a.str(1)?;
            Ok(Value::from(
                compile(a.str(0)?).map(|r| r.is_match(s)).unwrap_or(false),
            ))
        },
        "mustRegexMatch" => |a| {
            a.arity(2)?;
            Ok(Value::from(compile(a.str(0)?)?.is_match(a.str(1)?)))
        },
        "regexFind" | "mustRegexFind" => |a| {
            a.arity(2)?;
            let r = compile(a.str(0)?)?;
            Ok(Value::from(r.find(a.str(1)?).map_or("", |m| m.as_str())))
        },
        "regexFindAll" | "mustRegexFindAll" => |a| {
            a.arity(3)?;
            let r = compile(a.str(0)?)?;
            let n = a.int(2)?;
            let it = r.find_iter(a.str(1)?).map(|m| Value::from(m.as_str()));
            let v: Vec<Value> = if n < 0 {
                it.collect()
            } else {
                it.take(n as usize).collect()
            };
            Ok(Value::from(v))
        },
        "regexReplaceAll" | "mustRegexReplaceAll" => |a| {
            a.arity(3)?;
            let r = compile(a.str(0)?)?;
            Ok(Value::from(
                r.replace_all(a.str(1)?, a.str(2)?).into_owned(),
            ))
        },
        "regexReplaceAllLiteral" | "mustRegexReplaceAllLiteral" => |a| {
            a.arity(3)?;
            let r = compile(a.str(0)?)?;
            Ok(Value::from(
                r.replace_all(a.str(1)?, regex::NoExpand(a.str(2)?))
                    .into_owned(),
            ))
        },
        "regexSplit" | "mustRegexSplit" => |a| {
            a.arity(3)?;
            let r = compile(a.str(0)?)?;
            let (s, n) = (a.str(1)?, a.int(2)?);
            if n == 0 {
                return Ok(Value::from(()));
            }
            if s.is_empty() && !a.str(0)?.is_empty() {
                return Ok(Value::from(vec![Value::from("")]));
            }
            let v: Vec<Value> = if n < 0 {
                r.split(s).map(Value::from).collect()
            } else {
                r.splitn(s, n as usize).map(Value::from).collect()
            };
            Ok(Value::from(v))
        },
        "regexQuoteMeta" => |a| {
            a.arity(1)?;
            Ok(Value::from(regex::escape(a.str(0)?)))
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::funcs::Args;
    use crate::helm::template::value::fmt_v;

    fn call(name: &str, vals: &[Value]) -> Result<Value, FuncError> {
        lookup(name).unwrap()(&Args { name, vals })
    }

    #[test]
    fn perl_classes_are_ascii_like_go() {
        assert_eq!(go_to_rust(r"\d+\W"), r"[0-9]+[^0-9A-Za-z_]");
        assert_eq!(go_to_rust(r"[\w-.]"), r"[0-9A-Za-z_\-.]");
        assert_eq!(go_to_rust(r"[^\S\d]"), r"[^[^\t\n\f\r ]0-9]");
        assert_eq!(go_to_rust(r"\\d"), r"\\d");
        let m = |re: &str, s: &str| compile(re).map(|r| r.is_match(s)).unwrap_or(false);
        assert!(m(r"^\d$", "7"));
        assert!(!m(r"^\d$", "\u{663}"));
        assert!(!m(r"^\w$", "é"));
        assert!(m(r"^\W$", "é"));
        assert!(!m(r"^\s$", "\u{b}"));
        assert!(m(r"^\S$", "\u{b}"));
        assert!(m(r"^[\w-.]+$", "a-b.c_1"));
        assert!(m(r"^[^\d]+$", "ab"));
    }

    #[test]
    fn go_style_replacements() {
        let v = call(
            "regexReplaceAll",
            &[
                Value::from("a(x*)b"),
                Value::from("-ab-axxb-"),
                Value::from("${1}W"),
            ],
        )
        .unwrap();
        assert_eq!(v, Value::from("-W-xxW-"));
        let v = call(
            "regexReplaceAllLiteral",
            &[
                Value::from("a(x*)b"),
                Value::from("-ab-"),
                Value::from("$1"),
            ],
        )
        .unwrap();
        assert_eq!(v, Value::from("-$1-"));
    }

    #[test]
    fn match_find_split() {
        assert_eq!(go_to_rust(r"^[\w-\.]+$"), r"^[0-9A-Za-z_\-\.]+$");
        assert_eq!(
            call(
                "regexMatch",
                &[Value::from(r"^[\w-\.]+$"), Value::from("my-master.1")]
            )
            .unwrap(),
            Value::from(true)
        );
        assert_eq!(
            call("regexMatch", &[Value::from("^v[0-9]+"), Value::from("v12")]).unwrap(),
            Value::from(true)
        );
        assert_eq!(
            call("regexMatch", &[Value::from("("), Value::from("x")]).unwrap(),
            Value::from(false)
        );
        assert!(call("mustRegexMatch", &[Value::from("("), Value::from("x")]).is_err());
        assert_eq!(
            call(
                "regexFind",
                &[Value::from("[0-9]+"), Value::from("ab12cd34")]
            )
            .unwrap(),
            Value::from("12")
        );
        assert_eq!(
            fmt_v(
                &call(
                    "regexSplit",
                    &[Value::from("z+"), Value::from("pizza"), Value::from(-1)]
                )
                .unwrap()
            ),
            "[pi a]"
        );
    }
}
