//! The resources users apply, in Fleet's own YAML: `GitRepo` and `ClusterGroup`
//! (`fleet.cattle.io/v1alpha1`), and `v1 Secret` for Git credentials.
//!
//! Unknown fields are accepted and ignored so manifests written for newer Fleet versions
//! still apply; a wrong type or a missing required field is an error naming the document.

use std::collections::BTreeMap;

use base64::Engine;
use fleet_bundle::bundle::{is_false, is_zero, CorrectDrift, API_VERSION};
use fleet_bundle::selector::LabelSelector;
use serde::{Deserialize, Serialize};

/// The workspaces (Fleet namespaces) that always exist.
pub const DEFAULT_WORKSPACE: &str = "fleet-default";
pub const LOCAL_WORKSPACE: &str = "fleet-local";

/// Kinds as stored and addressed in the API (`/api/v1/{plural}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitRepo,
    ClusterGroup,
    Secret,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GitRepo => "GitRepo",
            Kind::ClusterGroup => "ClusterGroup",
            Kind::Secret => "Secret",
        }
    }

    /// Parses a kind as users write it: `GitRepo`, `gitrepos`, `gitrepo`, `clustergroup`…
    pub fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().trim_end_matches('s') {
            "gitrepo" => Some(Kind::GitRepo),
            "clustergroup" => Some(Kind::ClusterGroup),
            "secret" => Some(Kind::Secret),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A GitRepo's `targets` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitTarget {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_group_selector: Option<LabelSelector>,
}

/// `GitRepoSpec`, with Fleet's field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepoSpec {
    pub repo: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<GitTarget>,
    /// Go duration (`15s`, `1m`); Fleet's default is 15 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_interval: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_polling: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub force_sync_generation: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client_secret_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub helm_secret_name: String,
    /// PEM certificates (base64 of PEM, as Fleet's `[]byte` field) trusted for the repo.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_bundle: String,
    #[serde(
        default,
        rename = "insecureSkipTLSVerify",
        skip_serializing_if = "is_false"
    )]
    pub insecure_skip_tls_verify: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target_namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_resources: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_namespace: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_drift: Option<CorrectDrift>,
    /// User-driven bundles (Fleet's `spec.bundles`): each entry is one bundle, replacing
    /// the discovery of `paths`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundles: Vec<BundlePath>,
    /// Only commits signed by these signers are built ([`crate::git::signature`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<crate::git::signature::VerifySpec>,
}

/// A `spec.bundles` entry: the bundle's directory and, optionally, its options file
/// (relative to it) in place of fleet.yaml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundlePath {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub options: String,
}

/// `ClusterGroupSpec`: the clusters of the group's namespace matching `selector`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterGroupSpec {
    #[serde(default)]
    pub selector: Option<LabelSelector>,
}

/// A Git credential, from a `v1 Secret` (`data` base64 or `stringData`): Fleet's
/// `clientSecretName` secrets carry `username`/`password` (basic auth or a token as the
/// password), or `ssh-privatekey` and optionally `known_hosts`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretData {
    #[serde(default)]
    pub r#type: String,
    pub data: BTreeMap<String, String>,
}

/// Redacted: only the keys show, so a secret in a log line or an error leaks nothing.
impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretData")
            .field("type", &self.r#type)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One parsed document of an `apply`.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    GitRepo {
        meta: Metadata,
        spec: Box<GitRepoSpec>,
    },
    ClusterGroup {
        meta: Metadata,
        spec: ClusterGroupSpec,
    },
    Secret {
        meta: Metadata,
        secret: SecretData,
    },
}

impl Resource {
    pub fn kind(&self) -> Kind {
        match self {
            Resource::GitRepo { .. } => Kind::GitRepo,
            Resource::ClusterGroup { .. } => Kind::ClusterGroup,
            Resource::Secret { .. } => Kind::Secret,
        }
    }
    pub fn meta(&self) -> &Metadata {
        match self {
            Resource::GitRepo { meta, .. }
            | Resource::ClusterGroup { meta, .. }
            | Resource::Secret { meta, .. } => meta,
        }
    }
}

/// Why a document cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResourceError {
    #[error("document {index}: not valid YAML/JSON: {message}")]
    Syntax { index: usize, message: String },
    #[error("document {index}: unsupported apiVersion/kind {api_version:?}/{kind:?}: expected {API_VERSION} GitRepo or ClusterGroup, or v1 Secret")]
    UnsupportedKind {
        index: usize,
        api_version: String,
        kind: String,
    },
    #[error("document {index} ({kind} {name:?}): {message}")]
    Invalid {
        index: usize,
        kind: &'static str,
        name: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    spec: Option<serde_json::Value>,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
    #[serde(default)]
    r#type: String,
}

/// Parses every document of a multi-document YAML (or JSON) text. An empty document is
/// skipped; a `List` (`items:`) is flattened as kubectl does.
pub fn parse_documents(text: &str) -> Result<Vec<Resource>, ResourceError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = serde_yaml::Value::deserialize(doc).map_err(|e| ResourceError::Syntax {
            index,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        let json: serde_json::Value =
            serde_json::to_value(&value).map_err(|e| ResourceError::Syntax {
                index,
                message: e.to_string(),
            })?;
        if let Some(items) = json.get("items").and_then(|v| v.as_array()) {
            for item in items {
                out.push(parse_one(index, item.clone())?);
            }
        } else {
            out.push(parse_one(index, json)?);
        }
    }
    Ok(out)
}

/// Parses one object (as JSON) into a resource, defaulting the namespace to
/// `fleet-default` as Fleet's CLI does.
pub fn parse_one(index: usize, json: serde_json::Value) -> Result<Resource, ResourceError> {
    let env: Envelope = serde_json::from_value(json).map_err(|e| ResourceError::Syntax {
        index,
        message: e.to_string(),
    })?;
    let invalid = |kind: &'static str, name: &str, message: String| ResourceError::Invalid {
        index,
        kind,
        name: name.to_string(),
        message,
    };
    let kind = match (env.api_version.as_str(), env.kind.as_str()) {
        (API_VERSION, "GitRepo") => Kind::GitRepo,
        (API_VERSION, "ClusterGroup") => Kind::ClusterGroup,
        ("v1", "Secret") => Kind::Secret,
        _ => {
            return Err(ResourceError::UnsupportedKind {
                index,
                api_version: env.api_version,
                kind: env.kind,
            })
        }
    };
    let mut meta = env
        .metadata
        .ok_or_else(|| invalid(kind.as_str(), "", "metadata.name is required".into()))?;
    validate_name(&meta.name)
        .map_err(|m| invalid(kind.as_str(), &meta.name, format!("metadata.name: {m}")))?;
    if meta.namespace.is_empty() {
        meta.namespace = DEFAULT_WORKSPACE.to_string();
    }
    validate_name(&meta.namespace).map_err(|m| {
        invalid(
            kind.as_str(),
            &meta.name,
            format!("metadata.namespace: {m}"),
        )
    })?;
    match kind {
        Kind::GitRepo => {
            let spec_json = env
                .spec
                .ok_or_else(|| invalid("GitRepo", &meta.name, "spec is required".into()))?;
            let spec: GitRepoSpec = serde_json::from_value(spec_json)
                .map_err(|e| invalid("GitRepo", &meta.name, format!("spec: {e}")))?;
            validate_gitrepo(&spec).map_err(|m| invalid("GitRepo", &meta.name, m))?;
            Ok(Resource::GitRepo {
                meta,
                spec: Box::new(spec),
            })
        }
        Kind::ClusterGroup => {
            let spec: ClusterGroupSpec = match env.spec {
                Some(s) => serde_json::from_value(s)
                    .map_err(|e| invalid("ClusterGroup", &meta.name, format!("spec: {e}")))?,
                None => ClusterGroupSpec::default(),
            };
            Ok(Resource::ClusterGroup { meta, spec })
        }
        Kind::Secret => {
            let mut data = BTreeMap::new();
            for (k, v) in env.data {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .map_err(|e| {
                        invalid("Secret", &meta.name, format!("data.{k} is not base64: {e}"))
                    })?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    invalid("Secret", &meta.name, format!("data.{k} is not UTF-8 text"))
                })?;
                data.insert(k, text);
            }
            data.extend(env.string_data);
            Ok(Resource::Secret {
                meta,
                secret: SecretData {
                    r#type: env.r#type,
                    data,
                },
            })
        }
    }
}

/// Kubernetes object names: DNS-1123 subdomain (lowercase alphanumerics, `-` and `.`,
/// at most 253 characters, starting and ending alphanumeric).
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 253 {
        return Err(format!("{name:?} is longer than 253 characters"));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.chars().all(ok_char) || !name.starts_with(alnum) || !name.ends_with(alnum) {
        return Err(format!(
            "{name:?} is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn validate_gitrepo(spec: &GitRepoSpec) -> Result<(), String> {
    if spec.repo.trim().is_empty() {
        return Err("spec.repo is required".into());
    }
    let scheme_ok = ["https://", "http://", "ssh://", "git://", "file://"]
        .iter()
        .any(|p| spec.repo.starts_with(p))
        || is_scp_like(&spec.repo);
    if !scheme_ok {
        return Err(format!(
            "spec.repo {:?}: expected an https://, http://, ssh://, git:// or file:// URL, or user@host:path",
            spec.repo
        ));
    }
    if !spec.branch.is_empty() && !spec.revision.is_empty() {
        return Err("set spec.branch or spec.revision, not both".into());
    }
    if let Some(interval) = &spec.polling_interval {
        parse_duration(interval).map_err(|e| format!("spec.pollingInterval: {e}"))?;
    }
    for p in &spec.paths {
        if p.split('/').any(|seg| seg == "..") || p.starts_with('/') {
            return Err(format!(
                "spec.paths entry {p:?} must be relative and stay inside the repository"
            ));
        }
    }
    Ok(())
}

/// `git@github.com:org/repo.git` style addresses.
pub fn is_scp_like(repo: &str) -> bool {
    !repo.contains("://")
        && repo
            .split_once(':')
            .is_some_and(|(host, path)| host.contains('@') && !path.is_empty())
}

/// Parses a Go-style duration (`90s`, `1m30s`, `2h`, `500ms`) as `--ttl` and
/// `pollingInterval` are written.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("{s:?} is not a duration like 30s, 5m or 24h"));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("{s:?} is not a duration like 30s, 5m or 24h"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            other => {
                return Err(format!(
                    "{s:?}: unknown unit {other:?} (use ms, s, m, h or d)"
                ))
            }
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_examples_parse() {
        let text = "kind: GitRepo\napiVersion: fleet.cattle.io/v1alpha1\nmetadata:\n  name: multigitrepo-frontend\n  namespace: fleet-local\nspec:\n  repo: https://github.com/0xavi0/fleet-examples\n  branch: multi-gitrepo\n  paths:\n  - single-cluster/multi-gitrepo/frontend\n---\napiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterGroup\nmetadata: {name: prod}\nspec:\n  selector:\n    matchLabels: {env: prod}\n";
        let docs = parse_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        match &docs[0] {
            Resource::GitRepo { meta, spec } => {
                assert_eq!(meta.namespace, "fleet-local");
                assert_eq!(spec.branch, "multi-gitrepo");
                assert_eq!(spec.paths, vec!["single-cluster/multi-gitrepo/frontend"]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(docs[1].meta().namespace, DEFAULT_WORKSPACE);
    }

    #[test]
    fn bad_documents_say_why() {
        let e = parse_documents("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n").unwrap_err();
        assert!(matches!(e, ResourceError::UnsupportedKind { .. }), "{e}");
        let e = parse_documents("apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata: {name: x}\nspec: {repo: ftp://x}\n").unwrap_err();
        assert!(e.to_string().contains("spec.repo"), "{e}");
        let e = parse_documents("apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata: {name: Bad_Name}\nspec: {repo: https://x}\n").unwrap_err();
        assert!(e.to_string().contains("metadata.name"), "{e}");
        let e = parse_documents("apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata: {name: x}\nspec: {repo: https://x, paths: [../etc]}\n").unwrap_err();
        assert!(e.to_string().contains("inside the repository"), "{e}");
        assert!(matches!(
            parse_documents("a: [").unwrap_err(),
            ResourceError::Syntax { .. }
        ));
    }

    #[test]
    fn secrets_decode_base64_data() {
        let docs = parse_documents("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata: {username: dXNlcg==}\nstringData: {password: pw}\n").unwrap();
        match &docs[0] {
            Resource::Secret { secret, .. } => {
                assert_eq!(secret.data["username"], "user");
                assert_eq!(secret.data["password"], "pw");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("24h").unwrap().as_secs(), 86400);
        assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
