//! Helm's `.Capabilities`: the Kubernetes version, the API versions `helm template`
//! assumes (Helm 4.1's built-in list plus `--api-versions`), and Helm's own version.

use std::sync::Arc;

use minijinja::Value;

use crate::helm::template::value::{new_struct, GoFields};

/// The API group versions Helm 4.1.4 reports without a cluster, in its order.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "autoscaling/v2beta1",
    "autoscaling/v2beta2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha1",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// Helm's build info as `helm version` prints it.
pub const HELM_VERSION: [(&str, &str); 5] = [
    ("Version", "v4.1.4"),
    ("GitCommit", "05fa37973dc9e42b76e1d2883494c87174b6074f"),
    ("GitTreeState", "clean"),
    ("GoVersion", "go1.25.9"),
    ("KubeClientVersion", "v1.35"),
];

/// `.Capabilities.KubeVersion`.
#[derive(Debug, Clone)]
pub struct KubeVersion {
    /// As given, with `v` (`v1.31.0`, `v1.33.4-gke.1`): `.Version`, `.GitVersion`.
    pub version: String,
    /// `vMAJOR.MINOR.PATCH`: what `String` (and so printing) gives.
    pub normalized: String,
    pub major: String,
    pub minor: String,
}

impl GoFields for KubeVersion {
    fn type_name(&self) -> &'static str {
        "common.KubeVersion"
    }

    fn field(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(Value::from(match name {
            "Version" | "GitVersion" => self.version.as_str(),
            "Major" => self.major.as_str(),
            "Minor" => self.minor.as_str(),
            "String" => self.normalized.as_str(),
            _ => return None,
        })))
    }

    fn display(&self) -> String {
        self.normalized.clone()
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"Version": self.version, "Major": self.major, "Minor": self.minor})
    }
}

/// `.Capabilities.APIVersions` with its `Has` method.
#[derive(Debug, Clone)]
pub struct VersionSet(pub Arc<Vec<String>>);

impl GoFields for VersionSet {
    fn type_name(&self) -> &'static str {
        "common.VersionSet"
    }

    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "Has" {
            return None;
        }
        Some(match args {
            [v] => match v.as_str() {
                Some(s) => Ok(Value::from(self.0.iter().any(|x| x == s))),
                None => Err(format!(
                    "wrong type for value; expected string; got {}",
                    crate::helm::template::value::type_name(v)
                )),
            },
            _ => Err(format!(
                "wrong number of args for Has: want 1 got {}",
                args.len()
            )),
        })
    }

    fn display(&self) -> String {
        format!("[{}]", self.0.join(" "))
    }

    /// `VersionSet` is a Go `[]string`: Sprig's `has`, `len`, `index` and `range` see
    /// its strings.
    fn items(&self) -> Option<Vec<Value>> {
        Some(self.0.iter().map(|s| Value::from(s.as_str())).collect())
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.0
                .iter()
                .map(|s| serde_json::Value::String(s.clone()))
                .collect(),
        )
    }
}

#[derive(Debug)]
struct HelmVersion;

impl GoFields for HelmVersion {
    fn type_name(&self) -> &'static str {
        "version.BuildInfo"
    }

    fn field(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        HELM_VERSION
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| Ok(Value::from(*v)))
    }

    fn display(&self) -> String {
        format!(
            "{{{}}}",
            HELM_VERSION
                .iter()
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
                .join(" ")
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "version": HELM_VERSION[0].1,
            "git_commit": HELM_VERSION[1].1,
            "git_tree_state": HELM_VERSION[2].1,
            "go_version": HELM_VERSION[3].1,
            "kube_client_version": HELM_VERSION[4].1,
        })
    }
}

/// `.Capabilities`.
#[derive(Debug)]
pub struct Capabilities {
    kube: Value,
    apis: Value,
    helm: Value,
}

impl Capabilities {
    pub fn value(kube: KubeVersion, extra_api_versions: &[String]) -> Value {
        let mut apis: Vec<String> = DEFAULT_API_VERSIONS
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        apis.extend(extra_api_versions.iter().cloned());
        new_struct(Capabilities {
            kube: new_struct(kube),
            apis: new_struct(VersionSet(Arc::new(apis))),
            helm: new_struct(HelmVersion),
        })
    }
}

impl GoFields for Capabilities {
    fn type_name(&self) -> &'static str {
        "*common.Capabilities"
    }

    fn field(&self, name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        Some(Ok(match name {
            "KubeVersion" => self.kube.clone(),
            "APIVersions" => self.apis.clone(),
            "HelmVersion" => self.helm.clone(),
            _ => return None,
        }))
    }

    fn display(&self) -> String {
        use crate::helm::template::value::fmt_v;
        format!(
            "&{{{} {} {}}}",
            fmt_v(&self.kube),
            fmt_v(&self.apis),
            fmt_v(&self.helm)
        )
    }

    fn to_json(&self) -> serde_json::Value {
        use crate::helm::template::value::to_json;
        serde_json::json!({
            "KubeVersion": to_json(&self.kube).unwrap_or_default(),
            "APIVersions": to_json(&self.apis).unwrap_or_default(),
            "HelmVersion": to_json(&self.helm).unwrap_or_default(),
        })
    }
}
