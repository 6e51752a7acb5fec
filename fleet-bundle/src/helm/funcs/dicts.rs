//! Sprig's dictionary functions, with Go's reference semantics: `set`, `unset`,
//! `merge` and `mergeOverwrite` change the map they are given, as in Helm.
//!
//! `merge`/`mergeOverwrite` follow mergo (which Sprig uses): nested maps merge
//! recursively in place, `merge` only fills keys that are missing or hold an empty value,
//! `mergeOverwrite` replaces scalars and lists (a nil source value included) but still
//! merges maps key by key.

use std::collections::BTreeMap;

use minijinja::Value;

use super::{stored, strval, Args, Func, FuncError};
use crate::helm::template::value::{
    as_list, as_map, deep_copy, kind, new_map, truth, type_name, GoMap, Kind,
};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "dict" => |a| {
            let mut m = BTreeMap::new();
            for pair in a.vals.chunks(2) {
                let key = strval(&pair[0]);
                m.insert(key, pair.get(1).map_or_else(|| Value::from(""), stored));
            }
            Ok(new_map(m))
        },
        "get" => |a| {
            a.arity(2)?;
            let m = a.map(0)?;
            Ok(m.get(a.str(1)?).unwrap_or_else(|| Value::from("")))
        },
        "set" => |a| {
            a.arity(3)?;
            let m = a.map(0)?;
            m.set(a.string(1)?, stored(a.get(2)));
            Ok(a.get(0).clone())
        },
        "unset" => |a| {
            a.arity(2)?;
            let m = a.map(0)?;
            m.lock().remove(a.str(1)?);
            Ok(a.get(0).clone())
        },
        "hasKey" => |a| {
            a.arity(2)?;
            let m = a.map(0)?;
            let has = m.lock().contains_key(a.str(1)?);
            Ok(Value::from(has))
        },
        "pluck" => |a| {
            a.at_least(1)?;
            let key = a.str(0)?;
            let mut out = Vec::new();
            for i in 1..a.len() {
                if let Some(v) = a.map(i)?.get(key) {
                    out.push(v);
                }
            }
            Ok(Value::from(out))
        },
        "keys" => |a| {
            let mut out = Vec::new();
            for i in 0..a.len() {
                out.extend(a.map(i)?.lock().keys().map(|k| Value::from(k.as_str())));
            }
            Ok(Value::from(out))
        },
        "values" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                a.map(0)?.lock().values().cloned().collect::<Vec<_>>(),
            ))
        },
        "pick" => |a| {
            a.at_least(1)?;
            let m = a.map(0)?.snapshot();
            let keys = a.strings_from(1)?;
            Ok(new_map(
                m.into_iter().filter(|(k, _)| keys.contains(k)).collect(),
            ))
        },
        "omit" => |a| {
            a.at_least(1)?;
            let m = a.map(0)?.snapshot();
            let keys = a.strings_from(1)?;
            Ok(new_map(
                m.into_iter().filter(|(k, _)| !keys.contains(k)).collect(),
            ))
        },
        "merge" | "mustMerge" => |a| merge_all(a, false),
        "mergeOverwrite" | "mustMergeOverwrite" => |a| merge_all(a, true),
        "deepCopy" | "mustDeepCopy" => |a| {
            a.arity(1)?;
            Ok(deep_copy(a.get(0)))
        },
        "dig" => dig,
        _ => return None,
    })
}

fn merge_all(a: &Args, overwrite: bool) -> Result<Value, FuncError> {
    a.at_least(1)?;
    let dst = a.map(0)?;
    // `...map[string]interface{}`: Go's argument checks, so "no value" is a nil map
    // and a nil read out of a map is refused.
    for i in 1..a.len() {
        let src = a.map(i)?;
        merge_into(&dst, &src, overwrite);
    }
    Ok(a.get(0).clone())
}

/// mergo's emptiness: zero values and empty collections.
fn is_empty(v: &Value) -> bool {
    !truth(v)
}

/// Merges `src` into `dst` in place.
pub fn merge_into(dst: &GoMap, src: &GoMap, overwrite: bool) {
    if std::ptr::eq(dst, src) {
        return;
    }
    for (k, s) in src.snapshot() {
        let d = dst.get(&k);
        match kind(&s) {
            Kind::Nil | Kind::Invalid => {
                if overwrite {
                    dst.set(k, s);
                }
            }
            Kind::Map => {
                let dm = d.as_ref().and_then(as_map);
                if let (Some(dm), Some(sm)) = (&dm, as_map(&s)) {
                    merge_into(dm, &sm, overwrite);
                    if !dm.is_empty() {
                        continue;
                    }
                }
                match &d {
                    Some(dv) if !is_empty(dv) && !overwrite => {}
                    Some(dv) if dm.is_some() && !is_empty(dv) => {}
                    _ => dst.set(k, s),
                }
            }
            Kind::Slice => {
                if overwrite || d.as_ref().is_none_or(is_empty) {
                    dst.set(k, s);
                }
            }
            _ => {
                if overwrite || d.as_ref().is_none_or(is_empty) {
                    dst.set(k, s);
                }
            }
        }
    }
}

fn dig(a: &Args) -> Result<Value, FuncError> {
    if a.len() < 3 {
        return Err(FuncError::Call("dig needs at least three arguments".into()));
    }
    let n = a.len();
    let mut cur = a.map(n - 1).map_err(|_| {
        FuncError::Call(format!(
            "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
            type_name(a.get(n - 1))
        ))
    })?;
    let default = a.get(n - 2).clone();
    let keys: Vec<String> = (0..n - 2)
        .map(|i| {
            a.get(i).as_str().map(str::to_string).ok_or_else(|| {
                FuncError::Call(format!(
                    "interface conversion: interface {{}} is {}, not string",
                    type_name(a.get(i))
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    for (i, k) in keys.iter().enumerate() {
        let Some(step) = cur.get(k) else {
            return Ok(default);
        };
        if i == keys.len() - 1 {
            return Ok(step);
        }
        cur = as_map(&step).ok_or_else(|| {
            FuncError::Call(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                type_name(&step)
            ))
        })?;
    }
    Ok(default)
}

/// Unused by templates directly; lists of maps are merged by callers through this.
pub fn list_of_maps(v: &Value) -> Vec<std::sync::Arc<GoMap>> {
    as_list(v)
        .unwrap_or_default()
        .iter()
        .filter_map(as_map)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::template::value::{fmt_v, from_json};
    use serde_json::json;

    fn call(name: &str, vals: &[Value]) -> Result<Value, FuncError> {
        lookup(name).unwrap()(&Args { name, vals })
    }

    #[test]
    fn set_changes_the_map_everyone_holds() {
        let m = from_json(&json!({"a": 1.0}));
        call("set", &[m.clone(), Value::from("b"), Value::from(2)]).unwrap();
        assert_eq!(fmt_v(&m), "map[a:1 b:2]");
        call("unset", &[m.clone(), Value::from("a")]).unwrap();
        assert_eq!(fmt_v(&m), "map[b:2]");
    }

    #[test]
    fn merge_fills_only_missing_or_empty_keys() {
        let dst = from_json(&json!({"a": "keep", "e": "", "n": {"x": 1.0}}));
        let src =
            from_json(&json!({"a": "new", "e": "filled", "b": true, "n": {"x": 2.0, "y": 3.0}}));
        call("merge", &[dst.clone(), src]).unwrap();
        assert_eq!(fmt_v(&dst), "map[a:keep b:true e:filled n:map[x:1 y:3]]");
    }

    #[test]
    fn merge_overwrite_replaces_scalars_and_lists() {
        let dst = from_json(&json!({"a": "old", "k": true, "l": [1], "n": {"x": 1.0, "z": 0.0}}));
        let src = from_json(&json!({"a": "new", "k": false, "l": [2, 3], "n": {"x": 2.0}}));
        call("mergeOverwrite", &[dst.clone(), src]).unwrap();
        assert_eq!(fmt_v(&dst), "map[a:new k:false l:[2 3] n:map[x:2 z:0]]");
    }

    #[test]
    fn dig_walks_and_defaults() {
        let m = from_json(&json!({"a": {"b": "c"}}));
        assert_eq!(
            call(
                "dig",
                &[
                    Value::from("a"),
                    Value::from("b"),
                    Value::from("d"),
                    m.clone()
                ]
            )
            .unwrap(),
            Value::from("c")
        );
        assert_eq!(
            call(
                "dig",
                &[Value::from("a"), Value::from("x"), Value::from("d"), m]
            )
            .unwrap(),
            Value::from("d")
        );
    }

    #[test]
    fn dict_pick_omit() {
        let d = call(
            "dict",
            &[Value::from("a"), Value::from(1), Value::from("b")],
        )
        .unwrap();
        assert_eq!(fmt_v(&d), "map[a:1 b:]");
        assert_eq!(
            fmt_v(&call("omit", &[d.clone(), Value::from("a")]).unwrap()),
            "map[b:]"
        );
        assert_eq!(
            fmt_v(&call("pick", &[d, Value::from("a")]).unwrap()),
            "map[a:1]"
        );
    }
}
