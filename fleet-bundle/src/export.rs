//! Printing objects as Fleet's CLI does (`fleet apply -o -`, `fleet test`): each object as
//! YAML with its keys sorted, documents separated by a blank line and `---`.

use serde_json::{Map, Value};

/// `value` with object keys sorted at every level (Go's JSON → YAML order).
pub fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), sorted(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The YAML stream of `objects`, as wrangler's `yaml.Export` prints it.
pub fn to_yaml_stream(objects: &[Value]) -> Result<String, serde_yaml::Error> {
    let mut docs = Vec::with_capacity(objects.len());
    for obj in objects {
        docs.push(serde_yaml::to_string(&sorted(obj))?);
    }
    Ok(docs.join("\n---\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_and_documents_separated_like_fleet() {
        let a = serde_json::json!({"kind": "A", "apiVersion": "v1", "metadata": {"name": "x", "labels": {"b": "1", "a": "2"}}});
        let b = serde_json::json!({"kind": "B"});
        let out = to_yaml_stream(&[a, b]).unwrap();
        assert_eq!(
            out,
            "apiVersion: v1\nkind: A\nmetadata:\n  labels:\n    a: '2'\n    b: '1'\n  name: x\n\n---\nkind: B\n"
        );
        assert_eq!(to_yaml_stream(&[]).unwrap(), "");
    }
}
