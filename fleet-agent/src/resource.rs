//! Identity of a Kubernetes object inside a rendered bundle, and the accessors the agent
//! needs on untyped (`serde_json::Value`) objects.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which object: the key the agent uses to diff, prune, report and match watch events.
///
/// `namespace` is empty for cluster-scoped objects (and for namespaced objects before the
/// default namespace was filled in).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceId {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
}

impl ResourceId {
    /// Reads the identity of `obj`; `None` when `apiVersion`, `kind` or `metadata.name` is
    /// missing, which the caller turns into an error naming the offending document.
    pub fn of(obj: &Value) -> Option<ResourceId> {
        let api_version = obj.get("apiVersion")?.as_str()?.to_string();
        let kind = obj.get("kind")?.as_str()?.to_string();
        let name = obj.pointer("/metadata/name")?.as_str()?.to_string();
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return None;
        }
        let namespace = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Some(ResourceId {
            api_version,
            kind,
            namespace,
            name,
        })
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or("")
    }

    /// The version part of `apiVersion`.
    pub fn version(&self) -> &str {
        self.api_version
            .rsplit_once('/')
            .map(|(_, v)| v)
            .unwrap_or(&self.api_version)
    }

    /// `kube`'s group/version/kind for discovery.
    pub fn gvk(&self) -> kube::core::GroupVersionKind {
        kube::core::GroupVersionKind::gvk(self.group(), self.version(), &self.kind)
    }

    /// Group and kind, without the version: what identifies the same object across API
    /// versions (an `apps/v1` and an `apps/v1beta2` Deployment of one name are one object).
    pub fn group_kind(&self) -> (String, String) {
        (self.group().to_string(), self.kind.clone())
    }
}

impl ResourceId {
    /// `(group, kind, namespace, name)`: the identity of the object whatever API version
    /// it is read or written through.
    pub fn versionless(&self) -> (String, String, String, String) {
        (
            self.group().to_string(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Sets `metadata.<field>.<key> = value` on an object, creating the maps as needed.
pub fn set_metadata_entry(obj: &mut Value, field: &str, key: &str, value: &str) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let metadata = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if !metadata.is_object() {
        *metadata = Value::Object(Default::default());
    }
    if let Some(metadata) = metadata.as_object_mut() {
        let map = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(Default::default()));
        if !map.is_object() {
            *map = Value::Object(Default::default());
        }
        if let Some(map) = map.as_object_mut() {
            map.insert(key.to_string(), Value::String(value.to_string()));
        }
    }
}

/// Reads `metadata.annotations.<key>`.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// Reads `metadata.labels.<key>`.
pub fn label<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get("labels")?.get(key)?.as_str()
}

/// Sets `metadata.namespace`.
pub fn set_namespace(obj: &mut Value, namespace: &str) {
    if let Some(metadata) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.insert("namespace".into(), Value::String(namespace.to_string()));
    }
}

/// Removes `metadata.namespace` (cluster-scoped objects must not carry one).
pub fn clear_namespace(obj: &mut Value) {
    if let Some(metadata) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("namespace");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_identity_and_group() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"}});
        let id = ResourceId::of(&obj).unwrap();
        assert_eq!(id.group(), "apps");
        assert_eq!(id.version(), "v1");
        assert_eq!(id.to_string(), "Deployment shop/web");
        let core = ResourceId::of(&json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop"}}))
        .unwrap();
        assert_eq!(core.group(), "");
        assert_eq!(core.version(), "v1");
        assert_eq!(core.to_string(), "Namespace shop");
    }

    #[test]
    fn versions_of_one_object_share_an_identity() {
        let v1 = ResourceId::of(
            &json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"}}),
        )
        .unwrap();
        let v2 = ResourceId::of(
            &json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"}}),
        )
        .unwrap();
        assert_ne!(v1, v2);
        assert_eq!(v1.versionless(), v2.versionless());
    }

    #[test]
    fn incomplete_objects_have_no_identity() {
        assert!(ResourceId::of(&json!({"kind": "ConfigMap", "metadata": {"name": "a"}})).is_none());
        assert!(
            ResourceId::of(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}))
                .is_none()
        );
        assert!(ResourceId::of(&json!("text")).is_none());
    }

    #[test]
    fn metadata_entries_are_created() {
        let mut obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        set_metadata_entry(&mut obj, "labels", "k", "v");
        set_metadata_entry(&mut obj, "annotations", "a", "b");
        assert_eq!(label(&obj, "k"), Some("v"));
        assert_eq!(annotation(&obj, "a"), Some("b"));
        set_namespace(&mut obj, "x");
        assert_eq!(ResourceId::of(&obj).unwrap().namespace, "x");
        clear_namespace(&mut obj);
        assert_eq!(ResourceId::of(&obj).unwrap().namespace, "");
    }
}
