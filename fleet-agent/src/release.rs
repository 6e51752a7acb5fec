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
/// Labels naming the bundle that wrote a record. Helm keeps a record's custom labels as the
/// release's labels and carries them over to the revisions it writes (`helm upgrade`,
/// `helm rollback`), so a release stays marked as one bundle's.
pub const BUNDLE_NAMESPACE_LABEL: &str = "fleet.cattle.io/bundle-namespace";
pub const BUNDLE_NAME_LABEL: &str = "fleet.cattle.io/bundle-name";
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
///
/// Decoding accepts every shape Helm 3 and 4 write: any key may be absent or `null`
/// (`"files": null`, `"values": null`, no `first_deployed` in Helm 4 when zero...), and the
/// keys this type does not name (`rollback_revision`, chart `keywords`, `dependencies`...)
/// are kept in `extra` so that rewriting a record Helm wrote (to mark it superseded) loses
/// nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    pub info: Info,
    pub chart: Chart,
    /// User-supplied values; Helm omits the key when there are none.
    #[serde(default, skip_serializing_if = "is_empty_values")]
    pub config: Value,
    #[serde(default, deserialize_with = "null_default")]
    pub manifest: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub hooks: Vec<HookRecord>,
    #[serde(default, deserialize_with = "null_default")]
    pub version: u32,
    #[serde(default, deserialize_with = "null_default")]
    pub namespace: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub apply_method: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// `null` (as Go writes a nil slice, map or pointer) read as the type's default.
fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A Go `time.Time`: absent, `null` or `""` (Helm 4 omits zero times) read as the zero time.
fn go_time<'de, D>(deserializer: D) -> Result<DateTime<Utc>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(optional_go_time(deserializer)?.unwrap_or_else(zero_time))
}

fn optional_go_time<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(serde::de::Error::custom),
    }
}

fn is_empty_values(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|m| m.is_empty())
}

/// `info` of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    #[serde(default = "zero_time", deserialize_with = "go_time")]
    pub first_deployed: DateTime<Utc>,
    #[serde(default = "zero_time", deserialize_with = "go_time")]
    pub last_deployed: DateTime<Utc>,
    #[serde(
        default,
        deserialize_with = "optional_go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    #[serde(default = "unknown_status", deserialize_with = "status_or_unknown")]
    pub status: ReleaseStatus,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub notes: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

fn unknown_status() -> ReleaseStatus {
    ReleaseStatus::Unknown
}

/// A status this agent does not know (a newer Helm's) reads as `unknown`, not as an
/// unreadable record.
fn status_or_unknown<'de, D>(deserializer: D) -> Result<ReleaseStatus, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    Ok(serde_json::from_value(Value::String(text)).unwrap_or(ReleaseStatus::Unknown))
}

/// The chart part of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: ChartMetadata,
    #[serde(default)]
    pub lock: Value,
    #[serde(default, deserialize_with = "null_default")]
    pub templates: Vec<ChartFile>,
    #[serde(default)]
    pub values: Value,
    #[serde(default)]
    pub schema: Value,
    #[serde(default = "zero_time", deserialize_with = "go_time")]
    pub schemamodtime: DateTime<Utc>,
    #[serde(default, deserialize_with = "null_default")]
    pub files: Vec<ChartFile>,
    #[serde(default = "zero_time", deserialize_with = "go_time")]
    pub modtime: DateTime<Utc>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
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
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub version: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    #[serde(default, deserialize_with = "null_default")]
    pub api_version: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub app_version: String,
    #[serde(
        default,
        rename = "type",
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A file of a chart: its path and base64 data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartFile {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub data: String,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// A hook as Helm records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRecord {
    #[serde(default, deserialize_with = "null_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_default")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub path: String,
    #[serde(default, deserialize_with = "null_default")]
    pub manifest: String,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub events: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub last_run: HookExecution,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "fleet_bundle::bundle::is_zero"
    )]
    pub weight: i64,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub delete_policies: Vec<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// The last run of a hook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookExecution {
    #[serde(
        default,
        deserialize_with = "optional_go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        deserialize_with = "optional_go_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_default")]
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
            extra: Default::default(),
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
            extra: Default::default(),
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

/// The readable revisions of a release, oldest first, and the highest revision number
/// among all its records (readable or not).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub releases: Vec<Release>,
    pub last_revision: u32,
    /// The bundle (namespace, name) of the oldest record carrying the bundle labels: the
    /// bundle that owns this release name.
    pub owner: Option<(String, String)>,
}

/// A digest of what a revision deploys: chart name and version and the user values.
pub fn digest(release: &Release) -> String {
    let text = serde_json::json!([
        release.chart.metadata.name,
        release.chart.metadata.version,
        if is_empty_values(&release.config) {
            Value::Null
        } else {
            release.config.clone()
        },
    ])
    .to_string();
    crate::cache::sha256_hex(text.as_bytes())
}

/// The bundle a record's labels name.
fn record_owner(
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<(String, String)> {
    let labels = labels?;
    Some((
        labels.get(BUNDLE_NAMESPACE_LABEL)?.clone(),
        labels.get(BUNDLE_NAME_LABEL)?.clone(),
    ))
}

impl History {
    /// The newest readable revision.
    pub fn latest(&self) -> Option<&Release> {
        self.releases.last()
    }
}

/// The revision a record's Secret names, from its `version` label or else its name's
/// `.v<N>` suffix; 0 when neither says.
fn record_revision(
    secret_name: &str,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> u32 {
    labels
        .and_then(|l| l.get("version"))
        .and_then(|v| v.parse().ok())
        .or_else(|| {
            secret_name
                .rsplit_once(".v")
                .and_then(|(_, n)| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The release records of one namespace.
#[derive(Clone)]
pub struct ReleaseStore {
    api: Api<Secret>,
    namespace: String,
}

/// The bundle (namespace, name) a record is written for.
pub type Owner<'a> = (&'a str, &'a str);

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
    /// a warning (someone else's garbage must not stop the agent), but their revision
    /// numbers still count in [`History::last_revision`], so none is ever written over.
    pub async fn history(&self, name: &str) -> Result<History, ReleaseError> {
        let params = ListParams::default().labels(&format!("owner=helm,name={name}"));
        let list = crate::transient::retry("list releases", || self.api.list(&params))
            .await
            .map_err(|source| ReleaseError::List {
                name: name.to_string(),
                namespace: self.namespace.clone(),
                source,
            })?;
        let mut history = History::default();
        let mut oldest_owned = u32::MAX;
        for secret in list.items {
            let secret_name = secret.metadata.name.clone().unwrap_or_default();
            let revision = record_revision(&secret_name, secret.metadata.labels.as_ref());
            history.last_revision = history.last_revision.max(revision);
            if let Some(owner) = record_owner(secret.metadata.labels.as_ref()) {
                if revision < oldest_owned {
                    oldest_owned = revision;
                    history.owner = Some(owner);
                }
            }
            let Some(data) = secret.data.as_ref().and_then(|d| d.get("release")) else {
                continue;
            };
            match decode(&secret_name, &data.0) {
                Ok(release) if release.name == name => history.releases.push(release),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "skipping unreadable release record"),
            }
        }
        history.releases.sort_by_key(|r| r.version);
        if let Some(last) = history.releases.last() {
            history.last_revision = history.last_revision.max(last.version);
        }
        Ok(history)
    }

    /// Writes `release` as a new revision after `history`: the first free revision number
    /// from `history.last_revision + 1` on. The Secret is created, never replaced, so a
    /// record someone wrote meanwhile (a person's `helm upgrade`) is kept and the next
    /// number taken. Sets `release.version` to the revision written.
    pub async fn create_revision(
        &self,
        release: &mut Release,
        history: &History,
        owner: Owner<'_>,
    ) -> Result<(), ReleaseError> {
        release.version = history.last_revision + 1;
        loop {
            let name = secret_name(&release.name, release.version);
            let secret = self.secret(release, Some(owner))?;
            let post = PostParams::default();
            match crate::transient::retry("create release", || self.api.create(&post, &secret))
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tracing::info!(secret = %name, "release revision already exists; taking the next one");
                    release.version += 1;
                }
                Err(source) => {
                    return Err(ReleaseError::Write {
                        secret: name,
                        namespace: self.namespace.clone(),
                        source,
                    })
                }
            }
        }
    }

    fn secret(&self, release: &Release, owner: Option<Owner<'_>>) -> Result<Secret, ReleaseError> {
        let encoded = encode(release)?;
        let mut secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name(&release.name, release.version),
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
        }))
        .map_err(|e| ReleaseError::Encode {
            name: release.name.clone(),
            reason: e.to_string(),
        })?;
        if let (Some((namespace, bundle)), Some(labels)) = (owner, secret.metadata.labels.as_mut())
        {
            labels.insert(BUNDLE_NAMESPACE_LABEL.into(), namespace.into());
            labels.insert(BUNDLE_NAME_LABEL.into(), bundle.into());
        }
        Ok(secret)
    }

    /// Rewrites the record of `release`'s revision (a status change of a revision already
    /// written: pending to deployed or failed, deployed to superseded), creating it again
    /// if it was deleted meanwhile. New revisions go through [`Self::create_revision`].
    pub async fn update(&self, release: &Release) -> Result<(), ReleaseError> {
        let name = secret_name(&release.name, release.version);
        // A merge patch keeps the labels the record has (its bundle's, or Helm's custom ones).
        let secret = self.secret(release, None)?;
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
        let history = self.history(&current.name).await?.releases;
        for mut old in history
            .iter()
            .filter(|r| r.version != current.version)
            .cloned()
        {
            if old.info.status == ReleaseStatus::Deployed {
                old.info.status = ReleaseStatus::Superseded;
                self.update(&old).await?;
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
        for release in self.history(name).await?.releases {
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
                extra: Default::default(),
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
                extra: Default::default(),
            },
            config,
            manifest: "---\n# Source: demo/templates/a.yaml\nkind: ConfigMap\n".into(),
            hooks: vec![],
            version,
            namespace: "fleet-system".into(),
            apply_method: "ssa".into(),
            extra: Default::default(),
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

    fn gzip_b64(json: &Value) -> String {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json.to_string().as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
    }

    /// The shape Helm 4 writes for a chart without files, values, schema or lock, after a
    /// rollback: nil slices and maps as `null`, zero times left out, keys we do not model.
    fn helm4_rollback_record() -> Value {
        json!({
            "name": "web",
            "info": {
                "last_deployed": "2026-12-07T10:00:00.5Z",
                "description": "Rollback to 1",
                "status": "deployed",
                "rollback_revision": 1
            },
            "chart": {
                "metadata": {"name": "web", "version": "1.2.0", "apiVersion": "v2",
                             "keywords": ["a"], "maintainers": [{"name": "m"}]},
                "lock": null,
                "templates": null,
                "values": null,
                "schema": null,
                "schemamodtime": "0001-01-01T00:00:00Z",
                "files": null
            },
            "manifest": "---\n# Source: web/templates/cm.yaml\nkind: ConfigMap\n",
            "hooks": [{"name": "h", "kind": "Job", "path": "web/templates/h.yaml",
                       "manifest": "kind: Job", "events": null,
                       "last_run": {"started_at": "", "phase": ""},
                       "output_log_policies": ["hook-failed"]}],
            "version": 3,
            "namespace": "fleet-system",
            "apply_method": "csa"
        })
    }

    #[test]
    fn decodes_what_helm_4_writes_with_nulls_and_omitted_times() {
        let encoded = gzip_b64(&helm4_rollback_record());
        let release = decode("sh.helm.release.v1.web.v3", encoded.as_bytes()).unwrap();
        assert_eq!(release.version, 3);
        assert_eq!(release.info.status, ReleaseStatus::Deployed);
        assert_eq!(release.info.first_deployed, zero_time());
        assert!(release.chart.files.is_empty() && release.chart.templates.is_empty());
        assert!(release.config.is_null() && release.chart.values.is_null());
        assert_eq!(release.hooks[0].last_run.started_at, None);
        assert_eq!(release.info.extra["rollback_revision"], 1);
    }

    #[test]
    fn rewriting_a_helm_record_keeps_the_fields_we_do_not_model() {
        let encoded = gzip_b64(&helm4_rollback_record());
        let mut release = decode("s", encoded.as_bytes()).unwrap();
        release.info.status = ReleaseStatus::Superseded;
        let v = serde_json::to_value(&release).unwrap();
        assert_eq!(v["info"]["rollback_revision"], 1);
        assert_eq!(v["chart"]["metadata"]["keywords"], json!(["a"]));
        assert_eq!(v["hooks"][0]["output_log_policies"], json!(["hook-failed"]));
        assert_eq!(v["info"]["status"], "superseded");
    }

    #[test]
    fn an_unknown_status_is_not_an_unreadable_record() {
        let mut record = helm4_rollback_record();
        record["info"]["status"] = json!("pending-something-new");
        let release = decode("s", gzip_b64(&record).as_bytes()).unwrap();
        assert_eq!(release.info.status, ReleaseStatus::Unknown);
    }

    #[test]
    fn record_revision_reads_label_then_name() {
        let labels: std::collections::BTreeMap<String, String> =
            [("version".to_string(), "7".to_string())].into();
        assert_eq!(record_revision("sh.helm.release.v1.a.v2", Some(&labels)), 7);
        assert_eq!(record_revision("sh.helm.release.v1.a.v12", None), 12);
        assert_eq!(record_revision("garbage", None), 0);
    }

    #[test]
    fn secret_names_follow_helm() {
        assert_eq!(secret_name("demo", 2), "sh.helm.release.v1.demo.v2");
    }
}
