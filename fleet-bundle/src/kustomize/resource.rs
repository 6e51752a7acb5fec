//! One Kubernetes resource in a build: its data, its identity, and the names it had.
//!
//! kustomize identifies a resource by group/version/kind, name and namespace (a [`ResId`]).
//! Transformers rename resources (prefix, suffix, namespace, hash); the earlier ids are kept
//! so that references written against the old names can be rewritten at the end.

use std::cmp::Ordering;

use super::value::{Mapping, Value};

/// Group, version and kind of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Gvk {
    /// API group, empty for the core group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
}

impl Gvk {
    /// Splits an `apiVersion` into group and version.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), api_version.to_string()),
        };
        Gvk {
            group,
            version,
            kind: kind.to_string(),
        }
    }

    /// Whether `selector` (empty fields are wildcards) selects this gvk.
    pub fn is_selected_by(&self, group: &str, version: &str, kind: &str) -> bool {
        (group.is_empty() || group == self.group)
            && (version.is_empty() || version == self.version)
            && (kind.is_empty() || kind == self.kind)
    }

    /// Whether resources of this kind live outside namespaces.
    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped_kind(&self.kind)
    }

    fn legacy_sort_string(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}_{}_{}",
            or(&self.group, "~G"),
            or(&self.version, "~V"),
            or(&self.kind, "~K")
        )
    }

    fn display_string(&self) -> String {
        let or = |s: &str, d: &str| {
            if s.is_empty() {
                d.to_string()
            } else {
                s.to_string()
            }
        };
        format!(
            "{}.{}.{}",
            or(&self.kind, "[noKind]"),
            or(&self.version, "[noVer]"),
            or(&self.group, "[noGrp]")
        )
    }
}

/// Kinds of the Kubernetes API that are not namespaced.
fn is_cluster_scoped_kind(kind: &str) -> bool {
    matches!(
        kind,
        "APIService"
            | "CertificateSigningRequest"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ComponentStatus"
            | "CSIDriver"
            | "CSINode"
            | "CustomResourceDefinition"
            | "FlowSchema"
            | "IngressClass"
            | "MutatingWebhookConfiguration"
            | "Namespace"
            | "Node"
            | "PersistentVolume"
            | "PodSecurityPolicy"
            | "PriorityClass"
            | "PriorityLevelConfiguration"
            | "RuntimeClass"
            | "SelfSubjectAccessReview"
            | "SelfSubjectRulesReview"
            | "StorageClass"
            | "SubjectAccessReview"
            | "TokenReview"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "ValidatingWebhookConfiguration"
            | "VolumeAttachment"
    )
}

/// The identity of a resource in a build.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ResId {
    /// Group, version, kind.
    pub gvk: Gvk,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (empty when unset).
    pub namespace: String,
}

impl ResId {
    /// The namespace as Kubernetes would use it: `default` when unset, none when
    /// cluster-scoped.
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            "_non_namespaceable_"
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// Whether both ids live in the same namespace.
    pub fn same_namespace(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    /// Whether the ids differ only where one of them leaves a field unset.
    pub fn matches_loosely(&self, other: &ResId) -> bool {
        self.name == other.name && self.same_namespace(other) && {
            let (a, b) = (&self.gvk, &other.gvk);
            a.kind == b.kind
                && (a.group.is_empty() || b.group.is_empty() || a.group == b.group)
                && (a.version.is_empty() || b.version.is_empty() || a.version == b.version)
        }
    }

    fn legacy_sort_string(&self) -> String {
        format!(
            "{}|{}|{}",
            format_args!(
                "{}_{}_{}",
                if self.gvk.kind.is_empty() {
                    "~K"
                } else {
                    &self.gvk.kind
                },
                if self.gvk.version.is_empty() {
                    "~V"
                } else {
                    &self.gvk.version
                },
                if self.gvk.group.is_empty() {
                    "~G"
                } else {
                    &self.gvk.group
                }
            ),
            if self.namespace.is_empty() {
                "~X"
            } else {
                &self.namespace
            },
            if self.name.is_empty() {
                "~N"
            } else {
                &self.name
            }
        )
    }
}

impl std::fmt::Display for ResId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        };
        write!(f, "{}/{}.{}", self.gvk.display_string(), self.name, ns)
    }
}

/// kustomize's legacy output order: kinds Kubernetes needs first (namespaces, CRDs,
/// service accounts, RBAC, config) come first, webhooks last, the rest by gvk, namespace
/// and name.
pub fn legacy_order(a: &ResId, b: &ResId, first: &[String], last: &[String]) -> Ordering {
    let rank = |kind: &str| -> i64 {
        if let Some(i) = first.iter().position(|k| k == kind) {
            return i as i64 - first.len() as i64;
        }
        if let Some(i) = last.iter().position(|k| k == kind) {
            return 1 + i as i64;
        }
        0
    };
    if a.gvk != b.gvk {
        let (ra, rb) = (rank(&a.gvk.kind), rank(&b.gvk.kind));
        if ra != rb {
            return ra.cmp(&rb);
        }
        let (sa, sb) = (a.gvk.legacy_sort_string(), b.gvk.legacy_sort_string());
        if a.gvk.kind == "Namespace"
            && b.gvk.kind == "Namespace"
            && (a.gvk.group.is_empty() || b.gvk.group.is_empty())
        {
            return sb.cmp(&sa);
        }
        return sa.cmp(&sb);
    }
    a.legacy_sort_string().cmp(&b.legacy_sort_string())
}

/// The kinds the legacy order puts first.
pub const DEFAULT_ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

/// The kinds the legacy order puts last.
pub const DEFAULT_ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// What a generator asks to do when a resource of the same id already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    /// Not generated, or generated to be new: a clash is an error.
    #[default]
    Create,
    /// Replace the existing resource's data.
    Replace,
    /// Merge into the existing resource's data.
    Merge,
}

/// A resource of a build.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The object itself.
    pub value: Value,
    /// Every id the resource had before its current one, oldest first.
    pub previous_ids: Vec<ResId>,
    /// Name prefixes applied, innermost first.
    pub prefixes: Vec<String>,
    /// Name suffixes applied, innermost first.
    pub suffixes: Vec<String>,
    /// Whether the hash suffix is to be appended at the end of the build.
    pub needs_hash: bool,
    /// How a generated resource combines with an existing one.
    pub behavior: Behavior,
    /// Whether a generator set `disableNameSuffixHash` explicitly.
    pub hash_option_explicit: bool,
    /// Where it came from (a file, or a generator of a kustomization), for errors.
    pub origin: String,
}

impl Resource {
    /// A resource read from `origin`.
    pub fn new(value: Value, origin: impl Into<String>) -> Resource {
        Resource {
            value,
            previous_ids: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            behavior: Behavior::Create,
            hash_option_explicit: false,
            origin: origin.into(),
        }
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.value.get_str(&["kind"]).unwrap_or("")
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.value.get_str(&["metadata", "name"]).unwrap_or("")
    }

    /// `metadata.namespace`.
    pub fn namespace(&self) -> &str {
        self.value.get_str(&["metadata", "namespace"]).unwrap_or("")
    }

    /// Group, version and kind.
    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(
            self.value.get_str(&["apiVersion"]).unwrap_or(""),
            self.kind(),
        )
    }

    /// The current id.
    pub fn id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }

    /// The id the resource had when it was read or generated.
    pub fn original_id(&self) -> ResId {
        self.previous_ids
            .first()
            .cloned()
            .unwrap_or_else(|| self.id())
    }

    /// Remembers the current id before a rename.
    pub fn store_previous_id(&mut self) {
        let id = self.id();
        self.previous_ids.push(id);
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        if let Some(meta) = self.value.ensure_map_path(&["metadata"]) {
            meta.insert("name".into(), Value::String(name.to_string()));
        }
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: &str) {
        if let Some(meta) = self.value.ensure_map_path(&["metadata"]) {
            meta.insert("namespace".into(), Value::String(namespace.to_string()));
        }
    }

    /// `metadata.labels` as strings.
    pub fn labels(&self) -> Vec<(String, String)> {
        string_pairs(self.value.get_path(&["metadata", "labels"]))
    }

    /// `metadata.annotations` as strings.
    pub fn annotations(&self) -> Vec<(String, String)> {
        string_pairs(self.value.get_path(&["metadata", "annotations"]))
    }

    /// The metadata map, created when missing.
    pub fn metadata_mut(&mut self) -> Option<&mut Mapping> {
        self.value.ensure_map_path(&["metadata"])
    }
}

fn string_pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.scalar_text().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, name: &str) -> ResId {
        ResId {
            gvk: Gvk::from_api_version("v1", kind),
            name: name.into(),
            namespace: String::new(),
        }
    }

    #[test]
    fn legacy_order_puts_namespaces_first_and_webhooks_last() {
        let first: Vec<String> = DEFAULT_ORDER_FIRST.iter().map(|s| s.to_string()).collect();
        let last: Vec<String> = DEFAULT_ORDER_LAST.iter().map(|s| s.to_string()).collect();
        let mut ids = [
            id("ValidatingWebhookConfiguration", "w"),
            id("Pod", "p"),
            id("Service", "b"),
            id("Service", "a"),
            id("Namespace", "n"),
        ];
        ids.sort_by(|a, b| legacy_order(a, b, &first, &last));
        let kinds: Vec<String> = ids
            .iter()
            .map(|i| format!("{}/{}", i.gvk.kind, i.name))
            .collect();
        assert_eq!(
            kinds,
            vec![
                "Namespace/n",
                "Service/a",
                "Service/b",
                "Pod/p",
                "ValidatingWebhookConfiguration/w"
            ]
        );
    }

    #[test]
    fn api_version_splits_into_group_and_version() {
        let g = Gvk::from_api_version("apps/v1", "Deployment");
        assert_eq!((g.group.as_str(), g.version.as_str()), ("apps", "v1"));
        let g = Gvk::from_api_version("v1", "Service");
        assert_eq!((g.group.as_str(), g.version.as_str()), ("", "v1"));
    }
}
