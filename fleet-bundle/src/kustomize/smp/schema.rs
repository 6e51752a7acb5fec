//! Merge keys and strategies of list fields, as the Kubernetes OpenAPI schema declares
//! them (`x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy`).
//!
//! Built-in kinds use the table below, written from the Kubernetes API types. Lists of a
//! built-in kind that are not in the table are atomic: a patch replaces them. Custom kinds
//! use a schema given with `openapi:` when it names the field, and otherwise kustomize's
//! heuristic: a list of maps that all carry one of the usual key fields merges by it.

use crate::kustomize::openapi::Schema;
use crate::kustomize::resource::Gvk;
use crate::kustomize::value::Value;

/// How a list field combines with a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// Elements are matched by this key and merged.
    MergeByKey(String),
    /// A list of scalars: the patch's values are added.
    MergePrimitives,
    /// The patch's list replaces the original.
    Replace,
}

/// API groups of the built-in Kubernetes kinds.
fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "" | "apps"
            | "batch"
            | "policy"
            | "extensions"
            | "autoscaling"
            | "networking.k8s.io"
            | "rbac.authorization.k8s.io"
            | "storage.k8s.io"
            | "admissionregistration.k8s.io"
            | "apiextensions.k8s.io"
            | "apiregistration.k8s.io"
            | "scheduling.k8s.io"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "node.k8s.io"
            | "certificates.k8s.io"
            | "events.k8s.io"
            | "flowcontrol.apiserver.k8s.io"
    )
}

/// Field names kyaml treats as list keys when there is no schema, in its order.
const ASSOCIATIVE_KEYS: [&str; 6] = [
    "mountPath",
    "devicePath",
    "ip",
    "type",
    "topologyKey",
    "name",
];

/// The strategy for the list at `path` (field names from the resource root) of a resource
/// of kind `gvk`; `original` and `patch` are the two lists.
pub fn list_strategy(
    gvk: &Gvk,
    path: &[String],
    original: &[Value],
    patch: &[Value],
    schema: &Schema,
) -> ListStrategy {
    let field = path.last().map(String::as_str).unwrap_or("");
    if is_builtin_group(&gvk.group) {
        return builtin_strategy(gvk, path, field);
    }
    if let Some(key) = schema.merge_key(field) {
        return ListStrategy::MergeByKey(key.to_string());
    }
    heuristic(original, patch)
}

fn heuristic(original: &[Value], patch: &[Value]) -> ListStrategy {
    let all: Vec<&Value> = original.iter().chain(patch.iter()).collect();
    if all.is_empty() || !all.iter().all(|v| matches!(v, Value::Map(_))) {
        return ListStrategy::Replace;
    }
    for key in ASSOCIATIVE_KEYS {
        if all.iter().all(|v| {
            v.as_map()
                .is_some_and(|m| m.contains_key(key) || m.contains_key("$patch"))
        }) {
            return ListStrategy::MergeByKey(key.to_string());
        }
    }
    ListStrategy::Replace
}

fn builtin_strategy(gvk: &Gvk, path: &[String], field: &str) -> ListStrategy {
    let key = |k: &str| ListStrategy::MergeByKey(k.to_string());
    let parent = if path.len() >= 2 {
        path[path.len() - 2].as_str()
    } else {
        ""
    };
    let in_container = path
        .iter()
        .any(|p| p == "containers" || p == "initContainers" || p == "ephemeralContainers");
    match field {
        "containers" | "initContainers" | "ephemeralContainers" => key("name"),
        "env" if in_container => key("name"),
        "ports" if in_container => key("containerPort"),
        "ports" if gvk.kind == "Service" && parent == "spec" => key("port"),
        "volumeMounts" => key("mountPath"),
        "volumeDevices" => key("devicePath"),
        "resizePolicy" if in_container => key("resourceName"),
        "volumes" if !in_container => key("name"),
        "imagePullSecrets" => key("name"),
        "hostAliases" => key("ip"),
        "topologySpreadConstraints" => key("topologyKey"),
        "resourceClaims" => key("name"),
        "schedulingGates" => key("name"),
        "ownerReferences" if parent == "metadata" => key("uid"),
        "finalizers" if parent == "metadata" => ListStrategy::MergePrimitives,
        "conditions" => key("type"),
        "webhooks" if gvk.group == "admissionregistration.k8s.io" => key("name"),
        _ => ListStrategy::Replace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn builtin_kinds_use_the_api_merge_keys() {
        let dep = Gvk::from_api_version("apps/v1", "Deployment");
        let s = Schema::default();
        assert_eq!(
            list_strategy(&dep, &p("spec.template.spec.containers"), &[], &[], &s),
            ListStrategy::MergeByKey("name".into())
        );
        assert_eq!(
            list_strategy(
                &dep,
                &p("spec.template.spec.containers.ports"),
                &[],
                &[],
                &s
            ),
            ListStrategy::MergeByKey("containerPort".into())
        );
        assert_eq!(
            list_strategy(&dep, &p("spec.template.spec.tolerations"), &[], &[], &s),
            ListStrategy::Replace
        );
        let svc = Gvk::from_api_version("v1", "Service");
        assert_eq!(
            list_strategy(&svc, &p("spec.ports"), &[], &[], &s),
            ListStrategy::MergeByKey("port".into())
        );
    }
}
