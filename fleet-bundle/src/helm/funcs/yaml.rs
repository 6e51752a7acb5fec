//! Helm's YAML functions: `toYaml` (through [`super::goyaml`], byte-identical to
//! Helm), `fromYaml` and `fromYamlArray` (numbers as `float64`, errors reported in the
//! result rather than failing the render, as Helm does).

use std::collections::BTreeMap;

use minijinja::Value;

use super::goyaml::to_yaml;
use super::json::floats;
use super::{Func, FuncError};
use crate::helm::template::value::{new_map, to_json};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "toYaml" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                to_json(a.get(0)).map(|j| to_yaml(&j)).unwrap_or_default(),
            ))
        },
        "toYamlPretty" => |a| {
            a.arity(1)?;
            Ok(Value::from(
                to_json(a.get(0))
                    .map(|j| super::goyaml::to_yaml_pretty(&j))
                    .unwrap_or_default(),
            ))
        },
        "mustToYaml" => |a| {
            a.arity(1)?;
            let j = to_json(a.get(0)).map_err(|e| FuncError::Call(e.to_string()))?;
            Ok(Value::from(to_yaml(&j)))
        },
        "fromYaml" => |a| {
            a.arity(1)?;
            Ok(match parse(a.str(0)?) {
                Ok(v @ serde_json::Value::Object(_)) => floats(&v),
                Ok(serde_json::Value::Null) => new_map(BTreeMap::new()),
                Ok(other) => error_map(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                    kind_word(&other)
                )),
                Err(e) => error_map(e),
            })
        },
        "fromYamlArray" => |a| {
            a.arity(1)?;
            Ok(match parse(a.str(0)?) {
                Ok(v @ serde_json::Value::Array(_)) => floats(&v),
                Ok(serde_json::Value::Null) => Value::from(Vec::<Value>::new()),
                Ok(other) => Value::from(vec![Value::from(format!(
                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
                    kind_word(&other)
                ))]),
                Err(e) => Value::from(vec![Value::from(e)]),
            })
        },
        _ => return None,
    })
}

fn kind_word(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Null => "null",
    }
}

fn error_map(msg: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Error".to_string(), Value::from(msg));
    new_map(m)
}

/// Parses the first YAML document as `sigs.k8s.io/yaml.Unmarshal` does: YAML 1.1
/// scalars (go-yaml v2), keys as strings (the JSON step), through the chart loader's
/// reader in [`crate::helm::yaml11`].
pub fn parse(text: &str) -> Result<serde_json::Value, String> {
    crate::helm::yaml11::parse_first(text)
        .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::funcs::Args;
    use crate::helm::template::value::{as_map, fmt_v, from_json};

    fn call(name: &str, vals: &[Value]) -> Value {
        lookup(name).unwrap()(&Args { name, vals }).unwrap()
    }

    #[test]
    fn to_yaml_drops_the_final_newline() {
        let v = from_json(&serde_json::json!({"a": {"b": [1.0, "x"]}}));
        assert_eq!(call("toYaml", &[v]), Value::from("a:\n  b:\n  - 1\n  - x"));
        assert_eq!(call("toYaml", &[Value::from(())]), Value::from("null"));
    }

    #[test]
    fn from_yaml_reports_errors_in_the_map() {
        let v = call("fromYaml", &[Value::from("a: 1\nb: [x]")]);
        assert_eq!(fmt_v(&v), "map[a:1 b:[x]]");
        let bad = call("fromYaml", &[Value::from("a: [")]);
        assert!(as_map(&bad).unwrap().get("Error").is_some());
        let first = call("fromYaml", &[Value::from("---\na: yes\n---\nb: 2\n")]);
        assert_eq!(fmt_v(&first), "map[a:true]");
        let arr = call("fromYamlArray", &[Value::from("- 1\n- b")]);
        assert_eq!(fmt_v(&arr), "[1 b]");
    }
}
