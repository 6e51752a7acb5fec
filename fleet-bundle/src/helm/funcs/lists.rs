//! Sprig's list functions (`list`, `append`, `uniq`, `has`, `concat`, `until`...).
//!
//! Sprig panics on misuse (a non-list to `first`); Go's template engine turns those
//! panics into `error calling NAME: ...`, which is what these return. The `must*`
//! variants behave the same here.

use minijinja::Value;

use super::{stored, Args, Func, FuncError};
use crate::helm::template::value::{as_int, as_list, deep_equal, kind, truth, type_name, Kind};

/// The most items `until`/`untilStep`/`seq` may produce.
const MAX_RANGE: i64 = 10_000_000;

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "list" | "tuple" => |a| Ok(Value::from(a.vals.iter().map(stored).collect::<Vec<_>>())),
        "append" | "push" | "mustAppend" | "mustPush" => |a| {
            a.arity(2)?;
            let mut l = want_list(a, 0, "push on")?;
            l.push(stored(a.get(1)));
            Ok(Value::from(l))
        },
        "prepend" | "mustPrepend" => |a| {
            a.arity(2)?;
            let mut l = want_list(a, 0, "prepend on")?;
            l.insert(0, stored(a.get(1)));
            Ok(Value::from(l))
        },
        "first" | "mustFirst" => |a| {
            a.arity(1)?;
            Ok(want_list(a, 0, "find first on")?
                .first()
                .cloned()
                .unwrap_or_else(|| Value::from(())))
        },
        "last" | "mustLast" => |a| {
            a.arity(1)?;
            Ok(want_list(a, 0, "find last on")?
                .last()
                .cloned()
                .unwrap_or_else(|| Value::from(())))
        },
        "rest" | "mustRest" => |a| {
            a.arity(1)?;
            let l = want_list(a, 0, "find rest on")?;
            // Sprig returns the empty list it was given: Go prints `[]`.
            Ok(Value::from(l.get(1..).unwrap_or_default().to_vec()))
        },
        "initial" | "mustInitial" => |a| {
            a.arity(1)?;
            let l = want_list(a, 0, "find initial on")?;
            Ok(Value::from(l[..l.len().saturating_sub(1)].to_vec()))
        },
        "reverse" | "mustReverse" => |a| {
            a.arity(1)?;
            let mut l = want_list(a, 0, "find reverse on")?;
            l.reverse();
            Ok(Value::from(l))
        },
        "uniq" | "mustUniq" => |a| {
            a.arity(1)?;
            let l = want_list(a, 0, "find uniq on")?;
            let mut out: Vec<Value> = Vec::new();
            for v in l {
                if !out.iter().any(|x| deep_equal(x, &v)) {
                    out.push(v);
                }
            }
            Ok(Value::from(out))
        },
        "without" | "mustWithout" => |a| {
            a.at_least(1)?;
            let l = want_list(a, 0, "find without on")?;
            let omit = &a.vals[1..];
            Ok(Value::from(
                l.into_iter()
                    .filter(|v| !omit.iter().any(|o| deep_equal(o, v)))
                    .collect::<Vec<_>>(),
            ))
        },
        "has" | "mustHas" => |a| {
            a.arity(2)?;
            let hay = a.get(1);
            if matches!(kind(hay), Kind::Invalid | Kind::Nil) {
                return Ok(Value::from(false));
            }
            let l = want_list(a, 1, "find has on")?;
            Ok(Value::from(l.iter().any(|v| deep_equal(v, a.get(0)))))
        },
        "compact" | "mustCompact" => |a| {
            a.arity(1)?;
            let l = want_list(a, 0, "compact on")?;
            Ok(Value::from(l.into_iter().filter(truth).collect::<Vec<_>>()))
        },
        "concat" => |a| {
            let mut out = Vec::new();
            for (i, v) in a.vals.iter().enumerate() {
                match kind(v) {
                    Kind::Slice => out.extend(as_list(v).unwrap_or_default()),
                    _ => {
                        let _ = i;
                        return Err(FuncError::Call(format!(
                            "Cannot concat type {} as list",
                            type_name(v)
                        )));
                    }
                }
            }
            Ok(Value::from(out))
        },
        "slice" | "mustSlice" => slice,
        "chunk" | "mustChunk" => |a| {
            a.arity(2)?;
            let size = a.int(0)?;
            if size <= 0 {
                return Err(FuncError::Call("chunk size must be positive".into()));
            }
            let l = want_list(a, 1, "chunk")?;
            Ok(Value::from(
                l.chunks(size as usize)
                    .map(|c| Value::from(c.to_vec()))
                    .collect::<Vec<_>>(),
            ))
        },
        "until" => |a| {
            a.arity(1)?;
            let n = a.int(0)?;
            until_step(0, n, if n < 0 { -1 } else { 1 })
        },
        "untilStep" => |a| {
            a.arity(3)?;
            until_step(a.int(0)?, a.int(1)?, a.int(2)?)
        },
        "seq" => seq,
        _ => return None,
    })
}

fn want_list(a: &Args, i: usize, what: &str) -> Result<Vec<Value>, FuncError> {
    let v = a.get(i);
    match kind(v) {
        Kind::Slice => Ok(as_list(v).unwrap_or_default()),
        _ => Err(FuncError::Call(format!(
            "Cannot {what} type {}",
            type_name(v)
        ))),
    }
}

fn until_step(start: i64, stop: i64, step: i64) -> Result<Value, FuncError> {
    let count = if step == 0 { 0 } else { (stop - start) / step };
    if count > MAX_RANGE {
        return Err(FuncError::Call(format!(
            "range of {count} items is over the limit of {MAX_RANGE}"
        )));
    }
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return Ok(Value::from(v));
        }
        let mut i = start;
        while i > stop {
            v.push(Value::from(i));
            i += step;
        }
        return Ok(Value::from(v));
    }
    if step <= 0 {
        return Ok(Value::from(v));
    }
    let mut i = start;
    while i < stop {
        v.push(Value::from(i));
        i += step;
    }
    Ok(Value::from(v))
}

fn slice(a: &Args) -> Result<Value, FuncError> {
    a.at_least(1)?;
    let l = want_list(a, 0, "slice")?;
    let idx: Vec<i64> = a.vals[1..].iter().map(|v| as_int(v).unwrap_or(0)).collect();
    let len = l.len() as i64;
    let (start, end) = match idx.as_slice() {
        [] => (0, len),
        [s] => (*s, len),
        [s, e, ..] => (*s, *e),
    };
    if start < 0 || end > len || start > end {
        return Err(FuncError::Call(format!(
            "runtime error: slice bounds out of range [{start}:{end}] with capacity {len}"
        )));
    }
    Ok(Value::from(l[start as usize..end as usize].to_vec()))
}

/// Sprig's `seq`, like the Unix command: `seq 3`, `seq 2 5`, `seq 0 2 10`.
fn seq(a: &Args) -> Result<Value, FuncError> {
    let nums: Vec<i64> = (0..a.len()).map(|i| a.int(i)).collect::<Result<_, _>>()?;
    let (start, step, end) = match nums.as_slice() {
        [] => return Ok(Value::from("")),
        // without a step Sprig counts toward the end, down if need be
        [e] => (1, if *e < 1 { -1 } else { 1 }, *e),
        [s, e] => (*s, if e < s { -1 } else { 1 }, *e),
        [s, st, e] => (*s, *st, *e),
        _ => return Ok(Value::from("")),
    };
    // Sprig counts down only with a negative step and up only with a positive one.
    if step == 0 || (end < start) != (step < 0) {
        return Ok(Value::from(""));
    }
    let l = until_step(start, end + step.signum(), step)?;
    let parts: Vec<String> = as_list(&l)
        .unwrap_or_default()
        .iter()
        .map(crate::helm::template::value::fmt_v)
        .collect();
    Ok(Value::from(parts.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::template::value::fmt_v;

    fn call(name: &str, vals: &[Value]) -> Result<Value, FuncError> {
        lookup(name).unwrap()(&Args { name, vals })
    }

    fn l(items: &[Value]) -> Value {
        Value::from(items.to_vec())
    }

    #[test]
    fn list_functions_follow_sprig() {
        let x = l(&[Value::from(1), Value::from("a"), Value::from(1)]);
        assert_eq!(
            fmt_v(&call("uniq", std::slice::from_ref(&x)).unwrap()),
            "[1 a]"
        );
        assert_eq!(
            fmt_v(&call("append", &[x.clone(), Value::from(2)]).unwrap()),
            "[1 a 1 2]"
        );
        assert_eq!(
            call("has", &[Value::from("a"), x.clone()]).unwrap(),
            Value::from(true)
        );
        assert_eq!(
            call("has", &[Value::from("a"), Value::from(())]).unwrap(),
            Value::from(false)
        );
        assert_eq!(
            fmt_v(&call("without", &[x.clone(), Value::from(1)]).unwrap()),
            "[a]"
        );
        assert_eq!(fmt_v(&call("until", &[Value::from(3)]).unwrap()), "[0 1 2]");
        assert_eq!(
            fmt_v(
                &call(
                    "untilStep",
                    &[Value::from(0), Value::from(10), Value::from(4)]
                )
                .unwrap()
            ),
            "[0 4 8]"
        );
        assert_eq!(
            fmt_v(
                &call(
                    "compact",
                    &[l(&[Value::from(""), Value::from(0), Value::from("x")])]
                )
                .unwrap()
            ),
            "[x]"
        );
        assert_eq!(
            fmt_v(&call("slice", &[x.clone(), Value::from(1)]).unwrap()),
            "[a 1]"
        );
        assert_eq!(
            call("seq", &[Value::from(3)]).unwrap(),
            Value::from("1 2 3")
        );
    }

    #[test]
    fn misuse_is_an_error_not_a_crash() {
        assert_eq!(
            call("first", &[Value::from("x")]).unwrap_err(),
            FuncError::Call("Cannot find first on type string".into())
        );
        assert!(call("until", &[Value::from(1_000_000_000)]).is_err());
    }

    #[test]
    fn seq_counts_only_in_its_steps_direction_and_empty_initial_is_a_list() {
        let seq = |ns: &[i64]| {
            let vals: Vec<Value> = ns.iter().map(|n| Value::from(*n)).collect();
            call("seq", &vals).unwrap().as_str().unwrap().to_string()
        };
        assert_eq!(seq(&[1, 2, 10]), "1 3 5 7 9");
        assert_eq!(seq(&[10, -3, 1]), "10 7 4 1");
        assert_eq!(seq(&[1, -1, 5]), "");
        assert_eq!(seq(&[5, 1, 1]), "");
        assert_eq!(seq(&[5, 1]), "5 4 3 2 1");
        assert_eq!(seq(&[-2]), "1 0 -1 -2");
        for f in ["initial", "rest"] {
            assert_eq!(
                fmt_v(&call(f, &[l(&[])]).unwrap()),
                "[]",
                "{f} of an empty list"
            );
        }
    }
}
