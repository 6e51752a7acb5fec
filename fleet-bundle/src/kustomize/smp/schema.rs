//! Merge keys and strategies of list fields, as the Kubernetes OpenAPI schema declares
//! them (`x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy`).
//!
//! Built-in kinds use the table below, written from the Kubernetes API types. Lists of a
//! built-in kind that are not in the table are atomic: a patch replaces them. Custom kinds
//! use a schema given with `openapi:` when it names the field; without one their lists
//! are replaced too (kustomize infers no keys, checked against `kubectl kustomize`).

use crate::kustomize::openapi::Schema;
use crate::kustomize::resource::Gvk;

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

/// The strategy for the list at `path` (field names from the resource root) of a resource
/// of kind `gvk`.
pub fn list_strategy(gvk: &Gvk, path: &[String], schema: &Schema) -> ListStrategy {
    let field = path.last().map(String::as_str).unwrap_or("");
    if is_builtin_group(&gvk.group) {
        return builtin_strategy(gvk, path, field);
    }
    match schema.merge_key(field) {
        Some(key) => ListStrategy::MergeByKey(key.to_string()),
        None => ListStrategy::Replace,
    }
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
            list_strategy(&dep, &p("spec.template.spec.containers"), &s),
            ListStrategy::MergeByKey("name".into())
        );
        assert_eq!(
            list_strategy(&dep, &p("spec.template.spec.containers.ports"), &s),
            ListStrategy::MergeByKey("containerPort".into())
        );
        assert_eq!(
            list_strategy(&dep, &p("spec.template.spec.tolerations"), &s),
            ListStrategy::Replace
        );
        // A custom kind without a schema: lists are replaced, whatever their elements.
        let widget = Gvk::from_api_version("example.com/v1", "Widget");
        assert_eq!(
            list_strategy(&widget, &p("spec.items"), &s),
            ListStrategy::Replace
        );
        let svc = Gvk::from_api_version("v1", "Service");
        assert_eq!(
            list_strategy(&svc, &p("spec.ports"), &s),
            ListStrategy::MergeByKey("port".into())
        );
    }
}
