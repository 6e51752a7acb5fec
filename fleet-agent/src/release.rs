//! Helm release records: every BundleDeployment is a Helm release whose revisions the agent
//! writes in Helm's own storage format, so `helm ls`, `history`, `get` and `status` show
//! what the agent deployed.
//!
//! A record is a Secret `sh.helm.release.v1.<name>.v<revision>` of type
//! `helm.sh/release.v1` labelled `owner=helm,name,status,version,modifiedAt`, whose
//! `release` key holds base64(gzip(JSON release)) (and the Secret API base64-encodes that
//! once more on the wire).

use std::collections::BTreeMap;
use std::io::{Read, Write};

use base64::Engine;
use chrono::{DateTime, Utc};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Client;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::apply::hooks::Hook;

/// The Secret type of Helm release records.
pub const SECRET_TYPE: &str = "helm.sh/release.v1";
/// How many revisions are kept when the bundle does not say (`helm.maxHistory`).
pub const DEFAULT_HISTORY_LIMIT: usize = 10;

/// Errors of release records.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("listing release records of {name} in {namespace} failed: {source}")]
    List {
        name: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing release record {secret} in {namespace} failed: {source}")]
    Write {
        secret: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("deleting release record {secret} in {namespace} failed: {source}")]
    Delete {
        secret: String,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot encode release {name}: {reason}")]
    Encode { name: String, reason: String },
    #[error("release record {secret} is unreadable: {reason}")]
    Decode { secret: String, reason: String },
}

/// A release's status as Helm spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    Unknown,
    Deployed,
    Uninstalled,
    Superseded,
    Failed,
    Uninstalling,
    PendingInstall,
    PendingUpgrade,
    PendingRollback,
}

impl ReleaseStatus {
    /// Helm's spelling, also used as the `status` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Unknown => "unknown",
            ReleaseStatus::Deployed => "deployed",
            ReleaseStatus::Uninstalled => "uninstalled",
            ReleaseStatus::Superseded => "superseded",
            ReleaseStatus::Failed => "failed",
            ReleaseStatus::Uninstalling => "uninstalling",
            ReleaseStatus::PendingInstall => "pending-install",
            ReleaseStatus::PendingUpgrade => "pending-upgrade",
            ReleaseStatus::PendingRollback => "pending-rollback",
        }
    }
}

/// Helm's release, field for field as Helm serialises it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub name: String,
    pub info: Info,
    pub chart: Chart,
    /// User-supplied values; Helm omits the key when there are none.
    #[serde(default, skip_serializing_if = "is_empty_values")]
    pub config: Value,
    #[serde(default)]
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookRecord>,
    pub version: u32,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub apply_method: String,
}

fn is_empty_values(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|m| m.is_empty())
}

/// `info` of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub first_deployed: DateTime<Utc>,
    pub last_deployed: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<DateTime<Utc>>,
    #[serde(default)]
    pub description: String,
    pub status: ReleaseStatus,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
}

/// The chart part of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub metadata: ChartMetadata,
    #[serde(default)]
    pub lock: Value,
    #[serde(default)]
    pub templates: Vec<ChartFile>,
    #[serde(default)]
    pub values: Value,
    #[serde(default)]
    pub schema: Value,
    #[serde(default = "zero_time")]
    pub schemamodtime: DateTime<Utc>,
    #[serde(default)]
    pub files: Vec<ChartFile>,
    #[serde(default = "zero_time")]
    pub modtime: DateTime<Utc>,
}

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`), which Helm writes for unset times.
pub fn zero_time() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `Chart.yaml` as recorded in a release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMetadata {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_version: String,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
}

/// A file of a chart: its path and base64 data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartFile {
    pub name: String,
    pub data: String,
}

/// A hook as Helm records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRecord {
    pub name: String,
    pub kind: String,
    pub path: String,
    pub manifest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    pub last_run: HookExecution,
    #[serde(default, skip_serializing_if = "fleet_bundle::bundle::is_zero")]
    pub weight: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
}

/// The last run of a hook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookExecution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub phase: String,
}

impl HookRecord {
    /// The record of `hook`.
    pub fn of(hook: &Hook) -> HookRecord {
        HookRecord {
            name: hook.id.name.clone(),
            kind: hook.id.kind.clone(),
            path: hook.path.clone(),
            manifest: hook.manifest.clone(),
            events: hook.events.iter().map(|e| e.as_str().to_string()).collect(),
            last_run: HookExecution {
                started_at: hook.last_run.started_at,
                completed_at: hook.last_run.completed_at,
                phase: hook.last_run.phase.clone(),
            },
            weight: hook.weight,
            delete_policies: hook
                .delete_policies
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
        }
    }
}

/// The name of the Secret holding `revision` of release `name`.
pub fn secret_name(name: &str, revision: u32) -> String {
    format!("sh.helm.release.v1.{name}.v{revision}")
}

/// Helm's manifest text: each document as `---\n# Source: <path>\n<yaml>`, joined by
/// newlines, in the order given (install order).
pub fn manifest_text(documents: &[(String, Value)]) -> String {
    let mut out = String::new();
    for (path, obj) in documents {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str("---\n# Source: ");
        out.push_str(path);
        out.push('\n');
        out.push_str(to_yaml(obj).trim_end_matches('\n'));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn to_yaml(obj: &Value) -> String {
    serde_yaml::to_string(obj).unwrap_or_else(|_| obj.to_string())
}

/// Chart templates for a release of rendered documents: one template per source file with
/// its rendered text, `{{` escaped so that re-rendering it (e.g. `helm rollback`) yields
/// the same text.
pub fn templates_for<'a>(
    documents: impl IntoIterator<Item = (&'a str, &'a Value)>,
    chart_name: &str,
) -> Vec<ChartFile> {
    let mut by_path: BTreeMap<String, String> = BTreeMap::new();
    for (path, obj) in documents {
        let name = path
            .strip_prefix(&format!("{chart_name}/"))
            .unwrap_or(path)
            .to_string();
        let text = by_path.entry(name).or_default();
        if !text.is_empty() {
            text.push_str("---\n");
        }
        text.push_str(&to_yaml(obj));
    }
    by_path
        .into_iter()
        .map(|(name, text)| ChartFile {
            name,
            data: base64::engine::general_purpose::STANDARD
                .encode(text.replace("{{", "{{\"{{\"}}")),
        })
        .collect()
}

/// Encodes a release as Helm stores it: base64(gzip(json)).
pub fn encode(release: &Release) -> Result<String, ReleaseError> {
    let json = serde_json::to_vec(release).map_err(|e| ReleaseError::Encode {
        name: release.name.clone(),
        reason: e.to_string(),
    })?;
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json)
        .and_then(|_| gz.finish())
        .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
        .map_err(|e| ReleaseError::Encode {
            name: release.name.clone(),
            reason: e.to_string(),
        })
}

/// Decodes what [`encode`] (or Helm) wrote; plain JSON without gzip is accepted as Helm
/// accepts it.
pub fn decode(secret: &str, data: &[u8]) -> Result<Release, ReleaseError> {
    let fail = |reason: String| ReleaseError::Decode {
        secret: secret.to_string(),
        reason,
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| fail(format!("not base64: {e}")))?;
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            // A release record is small; refuse a decompression bomb planted in the namespace.
            .take(64 * 1024 * 1024)
            .read_to_end(&mut out)
            .map_err(|e| fail(format!("not gzip: {e}")))?;
        out
    } else {
        raw
    };
    serde_json::from_slice(&json).map_err(|e| fail(format!("not a release: {e}")))
}

/// The release records of one namespace.
#[derive(Clone)]
pub struct ReleaseStore {
    api: Api<Secret>,
    namespace: String,
}

impl ReleaseStore {
    /// Records in `namespace` (normally `fleet-system`).
    pub fn new(client: Client, namespace: &str) -> ReleaseStore {
        ReleaseStore {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
        }
    }

    /// The namespace holding the records.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Every revision of release `name`, oldest first. Unreadable records are skipped with
    /// a warning (someone else's garbage must not stop the agent).
    pub async fn history(&self, name: &str) -> Result<Vec<Release>, ReleaseError> {
        let params = ListParams::default().labels(&format!("owner=helm,name={name}"));
        let list = crate::transient::retry("list releases", || self.api.list(&params))
            .await
            .map_err(|source| ReleaseError::List {
                name: name.to_string(),
                namespace: self.namespace.clone(),
                source,
            })?;
        let mut releases = Vec::new();
        for secret in list.items {
            let secret_name = secret.metadata.name.clone().unwrap_or_default();
            let Some(data) = secret.data.as_ref().and_then(|d| d.get("release")) else {
                continue;
            };
            match decode(&secret_name, &data.0) {
                Ok(release) if release.name == name => releases.push(release),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "skipping unreadable release record"),
            }
        }
        releases.sort_by_key(|r| r.version);
        Ok(releases)
    }

    /// Writes (creates or replaces) the record of `release`.
    pub async fn write(&self, release: &Release) -> Result<(), ReleaseError> {
        let name = secret_name(&release.name, release.version);
        let encoded = encode(release)?;
        let secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {
                    "modifiedAt": Utc::now().timestamp().to_string(),
                    "name": release.name,
                    "owner": "helm",
                    "status": release.info.status.as_str(),
                    "version": release.version.to_string(),
                },
            },
            "type": SECRET_TYPE,
            "data": {"release": ByteString(encoded.into_bytes())},
        });
        let write_err = |source| ReleaseError::Write {
            secret: name.clone(),
            namespace: self.namespace.clone(),
            source,
        };
        match crate::transient::retry("get release", || self.api.get_opt(&name))
            .await
            .map_err(write_err)?
        {
            None => {
                let post = PostParams::default();
                let secret: Secret =
                    serde_json::from_value(secret).map_err(|e| ReleaseError::Encode {
                        name: release.name.clone(),
                        reason: e.to_string(),
                    })?;
                crate::transient::retry("create release", || self.api.create(&post, &secret))
                    .await
                    .map_err(write_err)?;
            }
            Some(_) => {
                let params = PatchParams::default();
                let patch = Patch::Merge(&secret);
                crate::transient::retry("update release", || {
                    self.api.patch(&name, &params, &patch)
                })
                .await
                .map_err(write_err)?;
            }
        }
        Ok(())
    }

    /// Marks every other deployed revision superseded and deletes the oldest revisions
    /// beyond `limit`, never the newest.
    pub async fn supersede_and_trim(
        &self,
        current: &Release,
        limit: usize,
    ) -> Result<(), ReleaseError> {
        let history = self.history(&current.name).await?;
        for mut old in history
            .iter()
            .filter(|r| r.version != current.version)
            .cloned()
        {
            if old.info.status == ReleaseStatus::Deployed {
                old.info.status = ReleaseStatus::Superseded;
                self.write(&old).await?;
            }
        }
        let limit = limit.max(1);
        if history.len() > limit {
            for old in history
                .iter()
                .filter(|r| r.version != current.version)
                .take(history.len() - limit)
            {
                self.delete(&old.name, old.version).await?;
            }
        }
        Ok(())
    }

    /// Deletes one revision's record.
    pub async fn delete(&self, name: &str, revision: u32) -> Result<(), ReleaseError> {
        let secret = secret_name(name, revision);
        let params = DeleteParams::default();
        match crate::transient::retry("delete release", || self.api.delete(&secret, &params)).await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(source) => Err(ReleaseError::Delete {
                secret,
                namespace: self.namespace.clone(),
                source,
            }),
        }
    }

    /// Deletes every record of release `name` (what `helm uninstall` does).
    pub async fn delete_all(&self, name: &str) -> Result<(), ReleaseError> {
        for release in self.history(name).await? {
            self.delete(name, release.version).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: u32, status: ReleaseStatus, config: Value) -> Release {
        let t = DateTime::parse_from_rfc3339("2026-11-23T23:43:19.286049901Z")
            .unwrap()
            .with_timezone(&Utc);
        Release {
            name: "demo".into(),
            info: Info {
                first_deployed: t,
                last_deployed: t,
                deleted: None,
                description: "Install complete".into(),
                status,
                notes: String::new(),
            },
            chart: Chart {
                metadata: ChartMetadata {
                    name: "demo".into(),
                    version: "0.1.0".into(),
                    api_version: "v2".into(),
                    ..Default::default()
                },
                lock: Value::Null,
                templates: vec![],
                values: json!({}),
                schema: Value::Null,
                schemamodtime: zero_time(),
                files: vec![],
                modtime: t,
            },
            config,
            manifest: "---\n# Source: demo/templates/a.yaml\nkind: ConfigMap\n".into(),
            hooks: vec![],
            version,
            namespace: "fleet-system".into(),
            apply_method: "ssa".into(),
        }
    }

    #[test]
    fn encodes_the_shape_helm_stores() {
        let release = sample(1, ReleaseStatus::Deployed, Value::Null);
        let encoded = encode(&release).unwrap();
        let gz = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut json = String::new();
        GzDecoder::new(gz.as_slice())
            .read_to_string(&mut json)
            .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        // No user values: Helm leaves out `config`, as in the recorded v1 of the transcript.
        assert_eq!(
            keys,
            [
                "name",
                "info",
                "chart",
                "manifest",
                "version",
                "namespace",
                "apply_method"
            ]
        );
        assert_eq!(v["info"]["status"], "deployed");
        assert_eq!(
            v["info"]["first_deployed"],
            "2026-11-23T23:43:19.286049901Z"
        );
        assert_eq!(v["chart"]["schemamodtime"], "0001-01-01T00:00:00Z");
        assert_eq!(v["chart"]["metadata"]["apiVersion"], "v2");
        let chart_keys: Vec<&str> = v["chart"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            chart_keys,
            [
                "metadata",
                "lock",
                "templates",
                "values",
                "schema",
                "schemamodtime",
                "files",
                "modtime"
            ]
        );
        assert_eq!(decode("s", encoded.as_bytes()).unwrap(), release);
    }

    #[test]
    fn config_is_kept_when_given() {
        let release = sample(2, ReleaseStatus::Superseded, json!({"replicaCount": 2}));
        let v = serde_json::to_value(&release).unwrap();
        assert_eq!(v["config"], json!({"replicaCount": 2}));
        assert_eq!(v["info"]["status"], "superseded");
    }

    #[test]
    fn decode_rejects_garbage_clearly() {
        let err = decode("sh.helm.release.v1.x.v1", b"!!!").unwrap_err();
        assert!(err.to_string().contains("sh.helm.release.v1.x.v1"), "{err}");
    }

    #[test]
    fn manifest_looks_like_helms() {
        let docs = vec![
            (
                "demo/templates/sa.yaml".to_string(),
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "demo"}}),
            ),
            (
                "demo/templates/svc.yaml".to_string(),
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "demo"}}),
            ),
        ];
        let text = manifest_text(&docs);
        assert!(text.starts_with(
            "---\n# Source: demo/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\n"
        ));
        assert!(text.contains("name: demo\n---\n# Source: demo/templates/svc.yaml\n"));
        assert!(text.ends_with("name: demo\n"));
        let templates = templates_for(docs.iter().map(|(p, o)| (p.as_str(), o)), "demo");
        assert_eq!(templates[0].name, "templates/sa.yaml");
    }

    #[test]
    fn templates_escape_go_template_actions() {
        let docs = [(
            "t.yaml".to_string(),
            json!({"data": {"x": "{{ .Values.y }}"}}),
        )];
        let t = templates_for(docs.iter().map(|(p, o)| (p.as_str(), o)), "c");
        let text = String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(&t[0].data)
                .unwrap(),
        )
        .unwrap();
        assert!(text.contains("{{\"{{\"}} .Values.y }}"), "{text}");
    }

    #[test]
    fn secret_names_follow_helm() {
        assert_eq!(secret_name("demo", 2), "sh.helm.release.v1.demo.v2");
    }
}
