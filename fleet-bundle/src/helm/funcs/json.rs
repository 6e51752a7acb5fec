//! JSON in and out as Helm does it: `toJson` is Go's `json.Marshal` (sorted keys,
//! `<`, `>`, `&` escaped, Go's float text), `fromJson` decodes every number as `float64`
//! and reports errors in an `Error` key instead of failing.

use std::collections::BTreeMap;

use minijinja::Value;

use super::goyaml::go_json_float;
use super::{Func, FuncError};
use crate::helm::template::value::{from_json, new_map, to_json};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "toJson" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                to_json(a.get(0))
                    .map(|j| encode(&j, true, None))
                    .unwrap_or_default(),
            ))
        },
        "mustToJson" => |a| {
            a.arity(1)?;
            let j = to_json(a.get(0)).map_err(|e| FuncError::Call(e.to_string()))?;
            Ok(Value::from(encode(&j, true, None)))
        },
        "toRawJson" | "mustToRawJson" => |a| {
            a.arity(1)?;
            let j = to_json(a.get(0)).map_err(|e| FuncError::Call(e.to_string()))?;
            Ok(Value::from(encode(&j, false, None)))
        },
        "toPrettyJson" | "mustToPrettyJson" => |a| {
            a.arity(1)?;
            let j = to_json(a.get(0)).map_err(|e| FuncError::Call(e.to_string()))?;
            Ok(Value::from(encode(&j, true, Some("  "))))
        },
        "fromJson" => |a| {
            a.arity(1)?;
            Ok(match serde_json::from_str::<serde_json::Value>(a.str(0)?) {
                Ok(serde_json::Value::Object(o)) => floats(&serde_json::Value::Object(o)),
                Ok(other) => error_map(format!(
                    "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    json_kind(&other)
                )),
                Err(e) => error_map(e.to_string()),
            })
        },
        "mustFromJson" => |a| {
            a.arity(1)?;
            serde_json::from_str::<serde_json::Value>(a.str(0)?)
                .map(|v| floats(&v))
                .map_err(|e| FuncError::Call(e.to_string()))
        },
        "fromJsonArray" => |a| {
            a.arity(1)?;
            Ok(match serde_json::from_str::<serde_json::Value>(a.str(0)?) {
                Ok(v @ serde_json::Value::Array(_)) => floats(&v),
                Ok(other) => Value::from(vec![Value::from(format!(
                    "json: cannot unmarshal {} into Go value of type []interface {{}}",
                    json_kind(&other)
                ))]),
                Err(e) => Value::from(vec![Value::from(e.to_string())]),
            })
        },
        _ => return None,
    })
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

fn error_map(msg: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Error".to_string(), Value::from(msg));
    new_map(m)
}

/// Template values from decoded JSON/YAML, every number a `float64` as Go's
/// `json.Unmarshal` makes it.
pub fn floats(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Number(n) => Value::from(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::Array(a) => Value::from(a.iter().map(floats).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => {
            new_map(o.iter().map(|(k, v)| (k.clone(), floats(v))).collect())
        }
        other => from_json(other),
    }
}

/// Go's `json.Marshal` (or `MarshalIndent` with `indent`).
pub fn encode(v: &serde_json::Value, escape_html: bool, indent: Option<&str>) -> String {
    let mut out = String::new();
    write(&mut out, v, escape_html, indent, 0);
    out
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn write(out: &mut String, v: &serde_json::Value, esc: bool, indent: Option<&str>, depth: usize) {
    match v {
        serde_json::Value::Null => out.push_str("null"),
        serde_json::Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        serde_json::Value::Number(n) => {
            if n.is_f64() {
                out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        serde_json::Value::String(s) => write_str(out, s, esc),
        serde_json::Value::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write(out, item, esc, indent, depth + 1);
            }
            newline(out, indent, depth);
            out.push(']');
        }
        serde_json::Value::Object(o) => {
            if o.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write_str(out, k, esc);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                if let Some(item) = o.get(k.as_str()) {
                    write(out, item, esc, indent, depth + 1);
                }
            }
            newline(out, indent, depth);
            out.push('}');
        }
    }
}

fn write_str(out: &mut String, s: &str, esc: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if esc => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::funcs::Args;
    use crate::helm::template::value::fmt_v;

    fn call(name: &str, vals: &[Value]) -> Value {
        lookup(name).unwrap()(&Args { name, vals }).unwrap()
    }

    #[test]
    fn to_json_is_go_json() {
        let v = from_json(&serde_json::json!({"b": 1.5, "a": "<x&y>", "c": [1, 3.0], "d": 1e21}));
        assert_eq!(
            call("toJson", std::slice::from_ref(&v)),
            Value::from(r#"{"a":"\u003cx\u0026y\u003e","b":1.5,"c":[1,3],"d":1e+21}"#)
        );
        assert_eq!(
            call("toRawJson", &[v]),
            Value::from(r#"{"a":"<x&y>","b":1.5,"c":[1,3],"d":1e+21}"#)
        );
    }

    #[test]
    fn from_json_gives_floats_and_error_keys() {
        let v = call("fromJson", &[Value::from(r#"{"a": 1, "b": [true]}"#)]);
        assert_eq!(fmt_v(&v), "map[a:1 b:[true]]");
        assert_eq!(
            crate::helm::template::value::type_name(
                &crate::helm::template::value::as_map(&v)
                    .unwrap()
                    .get("a")
                    .unwrap()
            ),
            "float64"
        );
        let bad = call("fromJson", &[Value::from("{")]);
        assert!(crate::helm::template::value::as_map(&bad)
            .unwrap()
            .get("Error")
            .is_some());
    }

    #[test]
    fn pretty_json_indents() {
        let v = from_json(&serde_json::json!({"a": [1]}));
        assert_eq!(
            call("toPrettyJson", &[v]),
            Value::from("{\n  \"a\": [\n    1\n  ]\n}")
        );
    }
}
