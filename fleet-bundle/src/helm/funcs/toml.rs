//! Helm's `toToml`, shaped like the BurntSushi encoder Helm uses: plain keys first,
//! then tables (`[a.b]`, nested tables indented by two spaces), keys sorted.

use minijinja::Value;

use super::printf::go_quote;
use super::{Args, Func};
use crate::helm::template::value::to_json;

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "mustToToml" => |a: &Args| {
            a.arity(1)?;
            match to_json(a.get(0)) {
                Ok(serde_json::Value::Object(o)) => {
                    let mut out = String::new();
                    table(&mut out, &o, &[], 0);
                    Ok(Value::from(out))
                }
                Ok(_) => Err(super::FuncError::Call(
                    "toml: top-level values must be Go maps or structs".into(),
                )),
                Err(e) => Err(super::FuncError::Call(e.to_string())),
            }
        },
        "toToml" => |a: &Args| {
            a.arity(1)?;
            Ok(Value::from(match to_json(a.get(0)) {
                Ok(serde_json::Value::Object(o)) => {
                    let mut out = String::new();
                    table(&mut out, &o, &[], 0);
                    out
                }
                Ok(_) => "toml: top-level values must be Go maps or structs".to_string(),
                Err(e) => e.to_string(),
            }))
        },
        _ => return None,
    })
}

fn is_table(v: &serde_json::Value) -> bool {
    matches!(v, serde_json::Value::Object(_))
}

fn is_table_array(v: &serde_json::Value) -> bool {
    matches!(v, serde_json::Value::Array(a) if !a.is_empty() && a.iter().all(is_table))
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        go_quote(k)
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                let s = format!("{f}");
                if s.contains(['.', 'e', 'E']) || !f.is_finite() {
                    s
                } else {
                    format!("{s}.0")
                }
            } else {
                n.to_string()
            }
        }
        serde_json::Value::String(s) => go_quote(s),
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(scalar).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), scalar(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A blank line before a table header, except at the start or right after another
/// header (the encoder writes nothing between a table and its first sub-table).
fn header_gap(out: &mut String) {
    let last = out.trim_end_matches('\n').rsplit('\n').next().unwrap_or("");
    if !out.is_empty() && !last.trim_start().starts_with('[') {
        out.push('\n');
    }
}

fn table(
    out: &mut String,
    o: &serde_json::Map<String, serde_json::Value>,
    path: &[String],
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort();
    for k in &keys {
        let v = &o[k.as_str()];
        if v.is_null() || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&format!("{indent}{} = {}\n", key(k), scalar(v)));
    }
    for k in &keys {
        let v = &o[k.as_str()];
        let mut sub = path.to_vec();
        sub.push(key(k));
        let sub_indent = "  ".repeat(depth);
        match v {
            serde_json::Value::Object(m) => {
                header_gap(out);
                out.push_str(&format!("{sub_indent}[{}]\n", sub.join(".")));
                table(out, m, &sub, depth + 1);
            }
            serde_json::Value::Array(a) if is_table_array(v) => {
                for item in a {
                    if let serde_json::Value::Object(m) = item {
                        header_gap(out);
                        out.push_str(&format!("{sub_indent}[[{}]]\n", sub.join(".")));
                        table(out, m, &sub, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::template::value::from_json;

    #[test]
    fn nested_tables_and_arrays_of_tables() {
        // Expectation from helm 4.1.4.
        let v = from_json(&serde_json::json!({"a": {"b": {"c": 1}}, "l": [1, 2], "t": [{"x": 1}]}));
        let out = lookup("toToml").unwrap()(&Args {
            name: "toToml",
            vals: &[v],
        })
        .unwrap();
        assert_eq!(
            out,
            Value::from("l = [1, 2]\n\n[a]\n  [a.b]\n    c = 1\n\n[[t]]\n  x = 1\n")
        );
    }

    #[test]
    fn keys_then_tables() {
        let v = from_json(&serde_json::json!({"b": {"c": 1, "d": "x"}, "a": 1.5, "e": true}));
        let out = lookup("toToml").unwrap()(&Args {
            name: "toToml",
            vals: &[v],
        })
        .unwrap();
        assert_eq!(
            out,
            Value::from("a = 1.5\ne = true\n\n[b]\n  c = 1\n  d = \"x\"\n")
        );
    }
}
