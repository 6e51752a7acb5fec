//! A kubeconform-style check of rendered manifests against a Kubernetes API server (the
//! double in tests): every document must be of a kind the server's OpenAPI serves, in the
//! scope it serves it (a namespaced kind needs its namespace path), must decode strictly
//! into its Kubernetes API type (wrong types fail, and so does every field the type does
//! not have, at any depth), and must pass the server's own admission on a dry-run create
//! with `fieldValidation=Strict` (names, labels, structural rules, CRD schemas).
//!
//! The double serves OpenAPI paths and GVKs but no component schemas for built-in kinds,
//! so their schemas come from `k8s-openapi`, the Rust types generated from the Kubernetes
//! OpenAPI document of the same release line.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A connection to the API server whose OpenAPI and admission judge the manifests.
pub struct SchemaCheck {
    http: reqwest::Client,
    url: String,
    token: String,
    /// (apiVersion, kind, namespaced) served by the OpenAPI document.
    served: BTreeSet<(String, String, bool)>,
}

/// One problem of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `Kind/name` of the document.
    pub object: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.object, self.message)
    }
}

impl SchemaCheck {
    /// Reads the server's `/openapi/v3` and every group version's document.
    pub async fn connect(url: &str, token: &str, ca_pem: Option<&str>) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes())?);
        }
        let mut check = SchemaCheck {
            http: builder.build()?,
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            served: BTreeSet::new(),
        };
        let root = check.get("/openapi/v3").await?;
        let paths = root["paths"]
            .as_object()
            .context("/openapi/v3 has no paths")?;
        for entry in paths.values() {
            let relative = entry["serverRelativeURL"]
                .as_str()
                .context("an /openapi/v3 entry has no serverRelativeURL")?;
            let doc = check.get(relative).await?;
            for (path, item) in doc["paths"].as_object().into_iter().flatten() {
                let namespaced = path.contains("/namespaces/{namespace}/");
                for op in item.as_object().into_iter().flatten().map(|(_, op)| op) {
                    let gvk = &op["x-kubernetes-group-version-kind"];
                    let (Some(group), Some(version), Some(kind)) = (
                        gvk["group"].as_str(),
                        gvk["version"].as_str(),
                        gvk["kind"].as_str(),
                    ) else {
                        continue;
                    };
                    let api_version = if group.is_empty() {
                        version.to_string()
                    } else {
                        format!("{group}/{version}")
                    };
                    check
                        .served
                        .insert((api_version, kind.to_string(), namespaced));
                }
            }
        }
        Ok(check)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("GET {path}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("GET {path}: not JSON"))
    }

    /// Whether the server's OpenAPI serves `kind` of `api_version` (in either scope).
    pub fn serves(&self, api_version: &str, kind: &str) -> bool {
        self.scope(api_version, kind).is_some()
    }

    fn scope(&self, api_version: &str, kind: &str) -> Option<bool> {
        [true, false].into_iter().find(|namespaced| {
            self.served
                .contains(&(api_version.to_string(), kind.to_string(), *namespaced))
        })
    }

    /// Checks every document of a YAML stream (`---` separated; empty documents are
    /// skipped). Documents without a namespace are checked in `default_namespace`.
    pub async fn check_stream(
        &self,
        stream: &str,
        default_namespace: &str,
    ) -> anyhow::Result<Vec<Violation>> {
        let mut violations = Vec::new();
        for doc in documents(stream)? {
            violations.extend(self.check(&doc, default_namespace).await?);
        }
        Ok(violations)
    }

    /// Checks one object.
    pub async fn check(
        &self,
        doc: &Value,
        default_namespace: &str,
    ) -> anyhow::Result<Vec<Violation>> {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let object = format!("{kind}/{name}");
        let violation = |message: String| Violation {
            object: object.clone(),
            message,
        };
        if api_version.is_empty() || kind.is_empty() {
            return Ok(vec![violation("has no apiVersion or kind".into())]);
        }
        let Some(namespaced) = self.scope(api_version, kind) else {
            return Ok(vec![violation(format!(
                "no schema: the server's OpenAPI serves no {kind} in {api_version}"
            ))]);
        };
        let mut found = Vec::new();
        let has_namespace = doc.pointer("/metadata/namespace").is_some();
        if !namespaced && has_namespace {
            found.push(violation(format!(
                "{kind} is cluster-scoped but the document names a namespace"
            )));
        }
        match strict_decode(doc) {
            Some(Err(e)) => found.push(violation(e)),
            Some(Ok(())) => {}
            None if is_builtin_group(api_version) => found.push(violation(format!(
                "no Kubernetes API type known for {kind} in {api_version}"
            ))),
            // A custom resource: the server validates it against its CRD's schema below.
            None => {}
        }
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(default_namespace);
        if let Err(e) = self
            .dry_run_create(doc, namespaced.then_some(namespace))
            .await
        {
            found.push(violation(format!("the server refuses it: {e}")));
        }
        Ok(found)
    }

    async fn dry_run_create(&self, doc: &Value, namespace: Option<&str>) -> anyhow::Result<()> {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let prefix = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let discovery = self.get(&prefix).await?;
        let plural = discovery["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["kind"] == kind && !r["name"].as_str().unwrap_or("/").contains('/'))
            .and_then(|r| r["name"].as_str())
            .with_context(|| format!("discovery of {api_version} lists no {kind}"))?
            .to_string();
        let path = match namespace {
            Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}"),
            None => format!("{prefix}/{plural}"),
        };
        let resp = self
            .http
            .post(format!(
                "{}{path}?dryRun=All&fieldValidation=Strict",
                self.url
            ))
            .bearer_auth(&self.token)
            .json(doc)
            .send()
            .await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        bail!(
            "{status}: {}",
            body["message"].as_str().unwrap_or("no message")
        )
    }
}

/// Groups whose kinds are Kubernetes' own (a kind there must have a known type).
fn is_builtin_group(api_version: &str) -> bool {
    match api_version.split_once('/') {
        None => true,
        Some((group, _)) => !group.contains('.') || group.ends_with(".k8s.io"),
    }
}

/// The documents of a YAML stream as JSON values.
pub fn documents(stream: &str) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(stream) {
        let value: Value = serde::Deserialize::deserialize(de).context("a document is not YAML")?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Decodes `doc` into its Kubernetes API type: `None` for kinds without one here.
fn strict_decode(doc: &Value) -> Option<Result<(), String>> {
    use k8s_openapi::api::{apps, core, networking, policy, rbac};
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    macro_rules! typed {
        ($($t:ty),* $(,)?) => {
            $(
                if api_version == <$t as k8s_openapi::Resource>::API_VERSION
                    && kind == <$t as k8s_openapi::Resource>::KIND
                {
                    return Some(round_trip::<$t>(doc));
                }
            )*
        };
    }
    typed!(
        core::v1::ConfigMap,
        core::v1::Namespace,
        core::v1::PersistentVolumeClaim,
        core::v1::Secret,
        core::v1::Service,
        core::v1::ServiceAccount,
        apps::v1::DaemonSet,
        apps::v1::Deployment,
        apps::v1::StatefulSet,
        networking::v1::Ingress,
        networking::v1::NetworkPolicy,
        policy::v1::PodDisruptionBudget,
        rbac::v1::ClusterRole,
        rbac::v1::ClusterRoleBinding,
        rbac::v1::Role,
        rbac::v1::RoleBinding,
        k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    );
    None
}

/// Decodes into `T` and encodes again: a decoding error is a type error, and a field of
/// the input missing from the output is one `T` does not have.
fn round_trip<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(doc.clone()).map_err(|e| format!("invalid: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("cannot encode: {e}"))?;
    let mut unknown = Vec::new();
    unknown_fields(doc, &back, String::new(), &mut unknown);
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!("unknown fields: {}", unknown.join(", ")))
    }
}

fn unknown_fields(input: &Value, decoded: &Value, path: String, out: &mut Vec<String>) {
    match (input, decoded) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    None if v.is_null() => {}
                    None => out.push(p),
                    Some(w) => unknown_fields(v, w, p, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                unknown_fields(v, w, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_the_type_lacks_is_named_with_its_path() {
        let doc = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "c", "image": "i", "imagePolicy": "Always"}]}}}});
        let err = strict_decode(&doc).unwrap().unwrap_err();
        assert!(
            err.contains("spec.template.spec.containers[0].imagePolicy"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_type_is_invalid() {
        let doc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": "eighty"}]}});
        assert!(strict_decode(&doc)
            .unwrap()
            .unwrap_err()
            .starts_with("invalid"));
    }

    #[test]
    fn a_valid_object_and_nulls_pass() {
        let doc = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": null}, "data": {"a": "b"}});
        assert_eq!(strict_decode(&doc), Some(Ok(())));
        let custom = json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate"});
        assert_eq!(strict_decode(&custom), None);
        assert!(!is_builtin_group("cert-manager.io/v1"));
        assert!(is_builtin_group("rbac.authorization.k8s.io/v1"));
        assert!(is_builtin_group("apps/v1"));
    }
}
