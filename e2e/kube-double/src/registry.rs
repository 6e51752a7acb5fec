//! The kinds the double serves: a table of built-in resources plus those of established CRDs.
//!
//! Every request is resolved here first, so discovery, OpenAPI, routing and Table output all
//! agree on one list of resources.

use serde_json::Value;

/// How a resource is served: its names, scope and subresources.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, empty for the core group.
    pub group: String,
    /// Served version.
    pub version: String,
    /// Kind of the objects.
    pub kind: String,
    /// Plural resource name, as in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// `kubectl get` short names.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Whether `/status` is a separate subresource (then status is ignored on the main resource).
    pub status_subresource: bool,
    /// Whether `/scale` is served.
    pub scale_subresource: bool,
    /// The structural schema of a custom resource (`openAPIV3Schema`), for validation and pruning.
    pub schema: Option<Value>,
    /// `additionalPrinterColumns` of a custom resource.
    pub printer_columns: Vec<Value>,
    /// Whether this comes from a CRD.
    pub custom: bool,
}

impl ResourceType {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether objects are only answered, never stored (access reviews).
    pub fn is_review(&self) -> bool {
        self.group == "authorization.k8s.io"
    }

    /// The verbs the resource supports, in the order kube-apiserver lists them.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.is_review() {
            return vec!["create"];
        }
        if self.kind == "Namespace" {
            return vec![
                "create", "delete", "get", "list", "patch", "update", "watch",
            ];
        }
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// Whether objects of this kind carry `metadata.generation`.
    pub fn has_generation(&self) -> bool {
        self.custom
            || matches!(
                self.kind.as_str(),
                "Deployment"
                    | "StatefulSet"
                    | "DaemonSet"
                    | "ReplicaSet"
                    | "Job"
                    | "CronJob"
                    | "Ingress"
                    | "NetworkPolicy"
                    | "HorizontalPodAutoscaler"
                    | "PodDisruptionBudget"
                    | "CustomResourceDefinition"
                    | "StorageClass"
                    | "PriorityClass"
                    | "Service"
                    | "PersistentVolumeClaim"
                    | "Pod"
            )
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
}

// One row of the built-in table per call keeps the table readable as a table.
#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short,
        all,
        status,
        scale,
    }
}

/// The built-in resources, in discovery order: group, version, kind, plural, namespaced,
/// short names, in category `all`, status subresource, scale subresource.
#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    b("", "v1", "ConfigMap", "configmaps", true, &["cm"], false, false, false),
    b("", "v1", "Endpoints", "endpoints", true, &["ep"], false, false, false),
    b("", "v1", "Event", "events", true, &["ev"], false, false, false),
    b("", "v1", "LimitRange", "limitranges", true, &["limits"], false, false, false),
    b("", "v1", "Namespace", "namespaces", false, &["ns"], false, true, false),
    b("", "v1", "Node", "nodes", false, &["no"], false, true, false),
    b("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], false, true, false),
    b("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"], false, true, false),
    b("", "v1", "Pod", "pods", true, &["po"], true, true, false),
    b("", "v1", "PodTemplate", "podtemplates", true, &[], false, false, false),
    b("", "v1", "ReplicationController", "replicationcontrollers", true, &["rc"], true, true, true),
    b("", "v1", "ResourceQuota", "resourcequotas", true, &["quota"], false, true, false),
    b("", "v1", "Secret", "secrets", true, &[], false, false, false),
    b("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false, false, false),
    b("", "v1", "Service", "services", true, &["svc"], true, true, false),
    b("apps", "v1", "ControllerRevision", "controllerrevisions", true, &[], false, false, false),
    b("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], true, true, false),
    b("apps", "v1", "Deployment", "deployments", true, &["deploy"], true, true, true),
    b("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], true, true, true),
    b("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], true, true, true),
    b("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true, true, false),
    b("batch", "v1", "CronJob", "cronjobs", true, &["cj"], true, true, false),
    b("batch", "v1", "Job", "jobs", true, &[], true, true, false),
    b("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, &[], false, false, false),
    b("networking.k8s.io", "v1", "Ingress", "ingresses", true, &["ing"], false, true, false),
    b("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, &["netpol"], false, false, false),
    b("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], false, true, false),
    b("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &[], false, false, false),
    b("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, &["sc"], false, false, false),
    b("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, &["crd", "crds"], false, true, false),
    b("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, &["pc"], false, false, false),
    b("coordination.k8s.io", "v1", "Lease", "leases", true, &[], false, false, false),
    b("events.k8s.io", "v1", "Event", "events", true, &["ev"], false, false, false),
    b("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, &[], false, false, false),
    b("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, &[], false, false, false),
    b("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false, &[], false, false, false),
];

/// All served resources: built-ins first, then established CRDs in creation order.
#[derive(Debug, Clone)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    /// Only the built-in kinds.
    pub fn builtin() -> Self {
        let types = BUILTINS
            .iter()
            .map(|b| ResourceType {
                group: b.group.into(),
                version: b.version.into(),
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: if b.all { vec!["all".into()] } else { vec![] },
                status_subresource: b.status,
                scale_subresource: b.scale,
                schema: None,
                printer_columns: vec![],
                custom: false,
            })
            .collect();
        Self { types }
    }

    /// Built-ins plus the served versions of the given established CRDs.
    pub fn with_crds<'a>(crds: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut reg = Self::builtin();
        for crd in crds {
            reg.types.extend(resource_types_of_crd(crd));
        }
        reg
    }

    /// Every served resource.
    pub fn all(&self) -> &[ResourceType] {
        &self.types
    }

    /// The resource `plural` in `group/version`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
    }

    /// The preferred resource serving `kind` in `group`.
    pub fn find_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    /// Whether any resource is served at `group/version`.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.group == group && t.version == version)
    }

    /// The groups with their versions, preferred version first, in registry order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    /// Resources of one group version.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<&ResourceType> {
        self.types
            .iter()
            .filter(|t| t.group == group && t.version == version)
            .collect()
    }
}

/// Whether a CRD object carries `Established=True`.
pub fn crd_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Established")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// The resources a CRD serves, one per served version.
pub fn resource_types_of_crd(crd: &Value) -> Vec<ResourceType> {
    let group = str_at(crd, "/spec/group");
    let kind = str_at(crd, "/spec/names/kind");
    let plural = str_at(crd, "/spec/names/plural");
    let singular = match str_at(crd, "/spec/names/singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let namespaced = str_at(crd, "/spec/scope") != "Cluster";
    let strings = |ptr: &str| -> Vec<String> {
        crd.pointer(ptr)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let short_names = strings("/spec/names/shortNames");
    let categories = strings("/spec/names/categories");
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(false))
        .map(|v| ResourceType {
            group: group.into(),
            version: str_at(v, "/name").into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: singular.clone(),
            namespaced,
            short_names: short_names.clone(),
            categories: categories.clone(),
            status_subresource: v.pointer("/subresources/status").is_some(),
            scale_subresource: v.pointer("/subresources/scale").is_some(),
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            printer_columns: v
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            custom: true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_versions_that_are_not_served_are_left_out() {
        let crd = json!({"spec": {"group": "example.com", "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "subresources": {"status": {}}},
                         {"name": "v0", "served": false}]}});
        let reg = Registry::with_crds([&crd]);
        let w = reg.find("example.com", "v1", "widgets").expect("served");
        assert!(!w.namespaced);
        assert!(w.status_subresource);
        assert_eq!(w.singular, "widget");
        assert!(reg.find("example.com", "v0", "widgets").is_none());
    }

    #[test]
    fn preferred_version_comes_first() {
        let crd = json!({"spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v2", "served": true}, {"name": "v1", "served": true}]}});
        let reg = Registry::with_crds([&crd]);
        let groups = reg.groups();
        let example = groups
            .iter()
            .find(|(g, _)| g == "example.com")
            .expect("group");
        assert_eq!(example.1, vec!["v2", "v1"]);
    }
}
