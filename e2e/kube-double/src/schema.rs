//! Validation and pruning of custom resources against their CRD's structural schema.
//!
//! Unknown fields are dropped (pruning) unless `x-kubernetes-preserve-unknown-fields`, and
//! type, enum, required and bound violations become 422 causes worded like the API server's.

use serde_json::{Map, Value};

use crate::api_status::Cause;

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(schema: &Value, v: &Value) -> bool {
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return matches!(json_type(v), "integer" | "string");
    }
    match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some("number") => matches!(json_type(v), "integer" | "number"),
        Some(t) => json_type(v) == t,
    }
}

/// Validate `object` against `schema` (the `openAPIV3Schema`) and prune unknown fields in
/// place. Returns the causes of every violation and the paths of the pruned (unknown)
/// fields, which `fieldValidation=Strict` turns into an error.
pub fn validate_prune_report(schema: &Value, object: &mut Value) -> (Vec<Cause>, Vec<String>) {
    let mut causes = Vec::new();
    let mut pruned = Vec::new();
    let Some(root) = object.as_object_mut() else {
        return (causes, pruned);
    };
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    let props = schema.get("properties").and_then(Value::as_object);
    let keys: Vec<String> = root.keys().cloned().collect();
    for k in keys {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        match props.and_then(|p| p.get(&k)) {
            Some(sub) => {
                if let Some(v) = root.get_mut(&k) {
                    check(sub, v, &k, &mut causes, &mut pruned);
                }
            }
            None if preserve => {}
            None => {
                root.shift_remove(&k);
                pruned.push(k.clone());
            }
        }
    }
    required(schema, root, "", &mut causes);
    (causes, pruned)
}

fn required(schema: &Value, map: &Map<String, Value>, path: &str, causes: &mut Vec<Cause>) {
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                let field = if path.is_empty() {
                    r.to_string()
                } else {
                    format!("{path}.{r}")
                };
                causes.push(Cause::required(&field, ""));
            }
        }
    }
}

fn check(
    schema: &Value,
    v: &mut Value,
    path: &str,
    causes: &mut Vec<Cause>,
    pruned: &mut Vec<String>,
) {
    if v.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if !type_ok(schema, v) {
        let want = schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let got = json_type(v);
        causes.push(Cause::type_invalid(
            path,
            got,
            &format!(
                "{path} in body must be of type {want}: {}",
                crate::api_status::go_quote(got)
            ),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            let shown = match &*v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let allowed: Vec<String> = allowed
                .iter()
                .map(|a| {
                    a.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| a.to_string())
                })
                .collect();
            causes.push(Cause::not_supported(path, &shown, &allowed));
        }
    }
    bounds(schema, v, path, causes);
    match v {
        Value::Object(map) => {
            if schema
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                == Some(true)
            {
                // apiVersion, kind and metadata of embedded objects are always kept.
            }
            let preserve = schema
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                == Some(true);
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let child_path = format!("{path}.{k}");
                let embedded_meta = schema
                    .get("x-kubernetes-embedded-resource")
                    .and_then(Value::as_bool)
                    == Some(true)
                    && matches!(k.as_str(), "apiVersion" | "kind" | "metadata");
                match (props.and_then(|p| p.get(&k)), additional) {
                    (Some(sub), _) | (None, Some(sub)) => {
                        if let Some(child) = map.get_mut(&k) {
                            check(sub, child, &child_path, causes, pruned);
                        }
                    }
                    (None, None)
                        if preserve
                            || embedded_meta
                            || (props.is_none() && schema.get("type").is_none()) => {}
                    (None, None) => {
                        map.shift_remove(&k);
                        pruned.push(child_path);
                    }
                }
            }
            required(schema, map, path, causes);
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), causes, pruned);
                }
            }
        }
        _ => {}
    }
}

fn bounds(schema: &Value, v: &Value, path: &str, causes: &mut Vec<Cause>) {
    let shown = v.to_string();
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            causes.push(Cause::invalid(
                path,
                &shown,
                &format!("{path} in body should be greater than or equal to {min}"),
            ));
        }
    }
    if let (Some(max), Some(n)) = (schema.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if n > max {
            causes.push(Cause::invalid(
                path,
                &shown,
                &format!("{path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let (Some(pattern), Some(s)) = (schema.get("pattern").and_then(Value::as_str), v.as_str()) {
        if let Ok(re) = regex::Regex::new(pattern) {
            if !re.is_match(s) {
                causes.push(Cause::invalid(
                    path,
                    s,
                    &format!("{path} in body should match '{pattern}'"),
                ));
            }
        }
    }
    if let (Some(max), Some(s)) = (schema.get("maxLength").and_then(Value::as_u64), v.as_str()) {
        if s.chars().count() as u64 > max {
            causes.push(Cause {
                reason: "FieldValueTooLong".into(),
                message: format!("Too long: may not be longer than {max}"),
                field: path.into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn widget_schema() -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {
            "size": {"type": "integer", "minimum": 1}, "color": {"type": "string", "enum": ["red", "blue"]},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}})
    }

    #[test]
    fn pruned_fields_are_reported_for_strict_validation() {
        let mut w = json!({"spec": {"size": 3, "unknown": 1}});
        let (causes, pruned) = validate_prune_report(&widget_schema(), &mut w);
        assert!(causes.is_empty());
        assert_eq!(pruned, ["spec.unknown"]);
    }

    #[test]
    fn unknown_fields_are_pruned() {
        let mut w = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 3, "unknown": 1, "extra": {"free": true}}, "top": 1});
        assert!(validate_prune_report(&widget_schema(), &mut w).0.is_empty());
        assert_eq!(w["spec"], json!({"size": 3, "extra": {"free": true}}));
        assert!(w.get("top").is_none());
    }

    #[test]
    fn wrong_type_is_worded_as_recorded() {
        let mut w = json!({"spec": {"size": "big"}});
        let causes = validate_prune_report(&widget_schema(), &mut w).0;
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.size");
        assert_eq!(causes[0].reason, "FieldValueTypeInvalid");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
        );
    }

    #[test]
    fn enum_required_and_minimum() {
        let mut w = json!({"spec": {"color": "green"}});
        let causes = validate_prune_report(&widget_schema(), &mut w).0;
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["spec.color", "spec.size"]);
        let mut w = json!({"spec": {"size": 0}});
        assert_eq!(validate_prune_report(&widget_schema(), &mut w).0.len(), 1);
    }
}
