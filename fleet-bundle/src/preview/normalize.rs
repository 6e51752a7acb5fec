//! Kubernetes-aware noise removal: what two renders of one object must agree on to be the
//! same change for the cluster. Applied to both sides before they are compared and printed.
//!
//! Rules (each has a test below):
//! - key order and YAML formatting never matter: objects are printed with sorted keys;
//! - `null` map values are dropped (the apply does not send them);
//! - empty `metadata.labels` / `metadata.annotations` equal absent ones;
//! - server-owned fields are dropped: `status`, `metadata.creationTimestamp`,
//!   `resourceVersion`, `uid`, `generation`, `managedFields`, `selfLink`;
//! - a namespaced object without a namespace gets the deployment's namespace (where the
//!   apply puts it); cluster-scoped kinds never carry one;
//! - numbers equal as numbers (`1.0` is `1`);
//! - Secret `data` / `stringData` values are replaced by a short digest, so a preview shows
//!   that a secret changed without printing it.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// Kinds the API server keeps outside namespaces (the built-in ones charts ship).
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Metadata fields the server sets; a manifest carrying them does not send them usefully.
const SERVER_METADATA: &[&str] = &[
    "creationTimestamp",
    "resourceVersion",
    "uid",
    "generation",
    "managedFields",
    "selfLink",
];

/// Whether objects of `kind` live outside namespaces.
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// `object` as the apply would send it, with the noise rules of this module applied.
pub fn normalize(object: &Value, default_namespace: &str) -> Value {
    let mut out = canonical(object);
    let kind = out
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(map) = out.as_object_mut() else {
        return out;
    };
    map.remove("status");
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = metadata.as_object_mut() {
        for field in SERVER_METADATA {
            meta.remove(*field);
        }
        for field in ["labels", "annotations"] {
            if meta
                .get(field)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
            {
                meta.remove(field);
            }
        }
        if is_cluster_scoped(&kind) {
            meta.remove("namespace");
        } else if meta
            .get("namespace")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            meta.insert(
                "namespace".into(),
                Value::String(default_namespace.to_string()),
            );
        }
    }
    if kind == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(data)) = map.get_mut(field) {
                for value in data.values_mut() {
                    *value = Value::String(redacted(value));
                }
            }
        }
    }
    out
}

/// Sorted keys, nulls in maps dropped, integral floats made integers, at every level.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().filter(|k| !map[*k].is_null()).collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), canonical(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Value::from(f as i64)
            }
            _ => value.clone(),
        },
        other => other.clone(),
    }
}

/// A secret value shown as a digest prefix: changes stay visible, content does not.
fn redacted(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let digest = Sha256::digest(text.as_bytes());
    format!("<redacted sha256:{}>", &hex::encode(digest)[..12])
}

/// The normalised object as YAML, the text the unified diff compares.
pub fn to_yaml(normalized: &Value) -> String {
    serde_yaml::to_string(normalized).unwrap_or_else(|e| format!("# unprintable object: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(v: Value) -> Value {
        normalize(&v, "apps")
    }

    #[test]
    fn key_order_does_not_matter() {
        let a = json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "c"}, "data": {"b": "1", "a": "2"}});
        let b = json!({"data": {"a": "2", "b": "1"}, "metadata": {"name": "c"}, "apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(to_yaml(&norm(a)), to_yaml(&norm(b)));
    }

    #[test]
    fn nulls_and_empty_metadata_maps_are_dropped() {
        let a = json!({"kind": "ConfigMap", "metadata": {"name": "c", "labels": {}, "annotations": null, "creationTimestamp": null}, "data": {"x": null, "y": "1"}});
        let b = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"y": "1"}});
        assert_eq!(norm(a), norm(b));
    }

    #[test]
    fn empty_maps_outside_metadata_stay() {
        let a = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumes": [{"name": "v", "emptyDir": {}}]}});
        let b =
            json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"volumes": [{"name": "v"}]}});
        assert_ne!(norm(a), norm(b));
    }

    #[test]
    fn server_owned_fields_are_dropped() {
        let a = json!({"kind": "Deployment", "metadata": {"name": "d", "uid": "1", "resourceVersion": "7", "generation": 3}, "status": {"replicas": 1}});
        let b = json!({"kind": "Deployment", "metadata": {"name": "d"}});
        assert_eq!(norm(a), norm(b));
    }

    #[test]
    fn missing_namespace_is_the_deployment_namespace_except_cluster_scoped() {
        let a = json!({"kind": "Service", "metadata": {"name": "s"}});
        let b = json!({"kind": "Service", "metadata": {"name": "s", "namespace": "apps"}});
        assert_eq!(norm(a), norm(b));
        let other = json!({"kind": "Service", "metadata": {"name": "s", "namespace": "web"}});
        assert_ne!(
            norm(other),
            norm(json!({"kind": "Service", "metadata": {"name": "s"}}))
        );
        let ns = norm(json!({"kind": "ClusterRole", "metadata": {"name": "r", "namespace": "x"}}));
        assert!(ns["metadata"].get("namespace").is_none());
    }

    #[test]
    fn integral_floats_equal_integers_but_strings_do_not() {
        let a = json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 2.0}});
        let b = json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 2}});
        let c = json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": "2"}});
        assert_eq!(norm(a.clone()), norm(b));
        assert_ne!(norm(a), norm(c));
    }

    #[test]
    fn secret_values_are_redacted_but_changes_show() {
        let a = norm(
            json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "aHVudGVyMg=="}}),
        );
        let b =
            norm(json!({"kind": "Secret", "metadata": {"name": "s"}, "data": {"pw": "b3RoZXI="}}));
        let text = to_yaml(&a);
        assert!(!text.contains("aHVudGVyMg=="), "{text}");
        assert!(text.contains("<redacted sha256:"), "{text}");
        assert_ne!(a, b);
    }
}
