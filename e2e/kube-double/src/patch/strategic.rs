//! Strategic merge patches for built-in kinds: lists with a merge key merge item by item,
//! and the `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList`
//! directives kubectl emits are honoured.

use serde_json::{Map, Value};

use crate::api_status::ApiError;

/// How a list field merges under a strategic patch.
#[derive(Debug, PartialEq)]
enum Strategy {
    /// Items are maps identified by this key.
    MergeKey(&'static str),
    /// Scalars merged as a set.
    MergePrimitive,
    /// The patch replaces the list.
    Replace,
}

/// The patch strategy of the list at `names` (field names from the root), as the
/// `patchStrategy`/`patchMergeKey` tags of the Kubernetes Go types say.
fn strategy(names: &[String]) -> Strategy {
    let last = names.last().map(String::as_str).unwrap_or_default();
    let parent = if names.len() >= 2 {
        names[names.len() - 2].as_str()
    } else {
        ""
    };
    match last {
        "containers" | "initContainers" | "ephemeralContainers" => Strategy::MergeKey("name"),
        "ports"
            if matches!(
                parent,
                "containers" | "initContainers" | "ephemeralContainers"
            ) =>
        {
            Strategy::MergeKey("containerPort")
        }
        "ports" if parent == "spec" => Strategy::MergeKey("port"),
        "env" | "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates" => {
            Strategy::MergeKey("name")
        }
        "volumeMounts" => Strategy::MergeKey("mountPath"),
        "volumeDevices" => Strategy::MergeKey("devicePath"),
        "hostAliases" => Strategy::MergeKey("ip"),
        "topologySpreadConstraints" => Strategy::MergeKey("topologyKey"),
        "conditions" => Strategy::MergeKey("type"),
        "ownerReferences" => Strategy::MergeKey("uid"),
        "finalizers" => Strategy::MergePrimitive,
        _ => Strategy::Replace,
    }
}

/// Apply a strategic merge patch to `original`.
///
/// # Errors
/// 400 when the body is not a JSON object or a directive is malformed.
pub fn apply(original: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "strategic merge patch must be a JSON object",
        ));
    }
    merge_map(original.as_object(), &patch, &mut Vec::new()).map(Value::Object)
}

fn merge_map(
    original: Option<&Map<String, Value>>,
    patch: &Value,
    names: &mut Vec<String>,
) -> Result<Map<String, Value>, ApiError> {
    let Some(p) = patch.as_object() else {
        return Err(ApiError::bad_request(format!(
            "expected a map at {}",
            names.join(".")
        )));
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut out = p.clone();
            out.shift_remove("$patch");
            return Ok(strip_directives(out));
        }
        Some("delete") => return Ok(Map::new()),
        Some("merge") | None => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unknown patch type: {other} in map: {}",
                Value::Object(p.clone())
            )))
        }
    }
    let mut out = original.cloned().unwrap_or_default();
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (k, v) in p {
        if k == "$patch" {
            continue;
        }
        if k == "$retainKeys" {
            continue;
        }
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            orders.push((field.to_string(), v.as_array().cloned().unwrap_or_default()));
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove = v.as_array().cloned().unwrap_or_default();
            if let Some(Value::Array(items)) = out.get_mut(field) {
                items.retain(|i| !remove.contains(i));
            }
            continue;
        }
        if v.is_null() {
            out.shift_remove(k);
            continue;
        }
        names.push(k.clone());
        let merged = match (out.get(k), v) {
            (orig, Value::Object(_)) => {
                let orig_map = orig.and_then(Value::as_object);
                let m = merge_map(orig_map, v, names)?;
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    names.pop();
                    out.shift_remove(k);
                    continue;
                }
                Value::Object(m)
            }
            (orig, Value::Array(items)) => {
                merge_list(orig.and_then(Value::as_array), items, names)?
            }
            (_, scalar) => scalar.clone(),
        };
        names.pop();
        out.insert(k.clone(), merged);
    }
    for (field, order) in orders {
        names.push(field.clone());
        if let Some(Value::Array(items)) = out.get_mut(&field) {
            reorder(items, &order, &strategy(names));
        }
        names.pop();
    }
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(out)
}

fn strip_directives(mut m: Map<String, Value>) -> Map<String, Value> {
    m.retain(|k, _| !k.starts_with('$'));
    m
}

fn merge_list(
    original: Option<&Vec<Value>>,
    patch: &[Value],
    names: &mut Vec<String>,
) -> Result<Value, ApiError> {
    let orig = original.cloned().unwrap_or_default();
    match strategy(names) {
        Strategy::Replace => Ok(Value::Array(
            patch
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Value::Object(strip_directives(m.clone())),
                    other => other.clone(),
                })
                .collect(),
        )),
        Strategy::MergePrimitive => {
            let mut out: Vec<Value> = patch.to_vec();
            for item in orig {
                if !out.contains(&item) {
                    out.push(item);
                }
            }
            Ok(Value::Array(out))
        }
        Strategy::MergeKey(key) => {
            if patch
                .iter()
                .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
            {
                return Ok(Value::Array(
                    patch
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect(),
                ));
            }
            let mut merged_patch_items = Vec::new();
            let mut remaining = orig.clone();
            for item in patch {
                let Some(id) = item.get(key) else {
                    return Err(ApiError::bad_request(format!(
                        "map: {item} does not contain declared merge key: {key}"
                    )));
                };
                let pos = remaining.iter().position(|o| o.get(key) == Some(id));
                let existing = pos.map(|i| remaining.remove(i));
                if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                    continue;
                }
                let m = merge_map(existing.as_ref().and_then(Value::as_object), item, names)?;
                merged_patch_items.push(Value::Object(m));
            }
            // Patched items come first in patch order, then untouched ones in server order.
            merged_patch_items.extend(remaining);
            Ok(Value::Array(merged_patch_items))
        }
    }
}

fn reorder(items: &mut Vec<Value>, order: &[Value], strategy: &Strategy) {
    let key_of = |v: &Value| -> Value {
        match strategy {
            Strategy::MergeKey(k) => v.get(*k).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&key_of).collect();
    let mut sorted: Vec<Value> = Vec::with_capacity(items.len());
    for w in &wanted {
        if let Some(pos) = items.iter().position(|i| key_of(i) == *w) {
            sorted.push(items.remove(pos));
        }
    }
    sorted.append(items);
    *items = sorted;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}], "args": ["x"]}]}}}})
    }

    #[test]
    fn containers_merge_by_name_and_new_ones_come_first() {
        let out = apply(&deployment(), br#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox"}]}}}}"#).expect("ok");
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["sidecar", "web"]);
    }

    #[test]
    fn nested_env_merges_and_args_replace() {
        let out = apply(&deployment(), br#"{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"2"}],"args":["y"]}]}}}}"#).expect("ok");
        let web = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            web["env"],
            json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}])
        );
        assert_eq!(web["args"], json!(["y"]));
        assert_eq!(web["image"], "nginx");
    }

    #[test]
    fn delete_directive_and_element_order() {
        let two = apply(
            &deployment(),
            br#"{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"i"}]}}}}"#,
        )
        .expect("ok");
        let out = apply(&two, br#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"b"}],"containers":[{"name":"b","image":"j"}]}}}}"#).expect("ok");
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["web", "b"]);
        let out = apply(
            &out,
            br#"{"spec":{"template":{"spec":{"containers":[{"name":"web","$patch":"delete"}]}}}}"#,
        )
        .expect("ok");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }

    #[test]
    fn retain_keys_drops_other_fields() {
        let orig = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
        let out = apply(&orig, br#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}}"#).expect("ok");
        assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
    }
}
