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

/// Parses one YAML document into JSON's shape (keys as strings), as
/// `sigs.k8s.io/yaml` converts YAML to JSON before decoding.
pub fn parse(text: &str) -> Result<serde_json::Value, String> {
    let y: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
    Ok(to_json_shape(y))
}

fn to_json_shape(y: serde_yaml::Value) -> serde_json::Value {
    match y {
        serde_yaml::Value::Null => serde_json::Value::Null,
        serde_yaml::Value::Bool(b) => serde_json::Value::Bool(b),
        serde_yaml::Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        serde_yaml::Value::String(s) => serde_json::Value::String(s),
        serde_yaml::Value::Sequence(s) => {
            serde_json::Value::Array(s.into_iter().map(to_json_shape).collect())
        }
        serde_yaml::Value::Mapping(m) => {
            let mut o = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Null => "null".to_string(),
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim_end()
                        .to_string(),
                };
                o.insert(key, to_json_shape(v));
            }
            serde_json::Value::Object(o)
        }
        serde_yaml::Value::Tagged(t) => to_json_shape(t.value),
    }
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
        let arr = call("fromYamlArray", &[Value::from("- 1\n- b")]);
        assert_eq!(fmt_v(&arr), "[1 b]");
    }
}
