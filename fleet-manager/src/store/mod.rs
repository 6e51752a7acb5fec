//! Persistent state of the manager behind one interface, with SQLite and PostgreSQL backends.
//!
//! The domain operations ([`Store`]) are written once over a tiny SQL surface
//! ([`Database`]: execute, query, migrate) that each backend implements. Both backends
//! accept the same statements (`$1` placeholders, `ON CONFLICT`, `RETURNING`), so a query
//! lives in exactly one place and behaves the same on both; only the schema differs
//! ([`migrations`]).
//!
//! What is stored, and why this shape:
//! - `objects`: the resources users apply (GitRepo, ClusterGroup) as their JSON spec;
//! - `secrets`: credentials, sealed by [`crate::secrets`] before they get here;
//! - `clusters`, `registration_tokens`, `admin_tokens` (hashes only), `audit`;
//! - `bundles` (spec without resources) and `contents` (resources, once per sha256);
//! - `bundle_status`: the only table with one row per (cluster, bundle).
//!
//! Every change that affects targeting bumps a global revision, which replicas poll to
//! reload their in-memory index.

mod migrations;
pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A value bound to or read from a statement; the only types the schema uses.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}

/// One result row, columns in the order of the `SELECT`.
#[derive(Debug, Clone)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn text(&self, i: usize) -> String {
        match self.0.get(i) {
            Some(Value::Text(s)) => s.clone(),
            Some(Value::Int(n)) => n.to_string(),
            _ => String::new(),
        }
    }
    fn int(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(Value::Int(n)) => *n,
            Some(Value::Text(s)) => s.parse().unwrap_or(0),
            _ => 0,
        }
    }
    fn blob(&self, i: usize) -> Vec<u8> {
        match self.0.get(i) {
            Some(Value::Blob(b)) => b.clone(),
            Some(Value::Text(s)) => s.clone().into_bytes(),
            _ => Vec::new(),
        }
    }
    fn json<T: serde::de::DeserializeOwned + Default>(&self, i: usize) -> Result<T, StoreError> {
        let text = self.text(i);
        if text.is_empty() {
            return Ok(T::default());
        }
        serde_json::from_str(&text).map_err(|source| StoreError::Decode {
            what: "stored JSON column",
            source,
        })
    }
}

/// Errors of the store; the message names the operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {context}: {source}")]
    Sqlite {
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("postgres: {context}: {source}")]
    Postgres {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot decode {what}: {source}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "unsupported database URL {0:?}: use sqlite:///path/to/file.db or postgres://user@host/db"
    )]
    UnsupportedUrl(String),
    #[error("database task failed: {0}")]
    Task(String),
}

/// Which SQL dialect a backend speaks, for the few places the schema differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The SQL surface a backend offers. Statements use `$1..$n` placeholders in order.
#[async_trait]
pub trait Database: Send + Sync {
    fn dialect(&self) -> Dialect;
    /// Runs one statement and returns the number of rows it changed.
    async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<u64, StoreError>;
    /// Runs one statement and returns its rows.
    async fn query(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, StoreError>;
    /// Applies every migration not applied yet, each in its own transaction, safely when
    /// several replicas start at once.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Runs statements in one transaction; returns the rows each changed.
    async fn transaction(
        &self,
        statements: Vec<(&'static str, Vec<Value>)>,
    ) -> Result<Vec<u64>, StoreError>;
}

/// Current time as unix seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A stored user resource (GitRepo, ClusterGroup).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub generation: i64,
    pub spec: serde_json::Value,
    pub status: serde_json::Value,
    pub updated_at: i64,
}

/// A registered cluster.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ClusterRecord {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Hex sha256 of the cluster's credential; never leaves the manager.
    #[serde(skip)]
    pub credential_hash: String,
    pub agent_version: String,
    pub last_seen: i64,
    pub created_at: i64,
    /// Revision at which this row last changed; `deleted` rows are tombstones kept so
    /// replicas notice removals.
    #[serde(skip)]
    pub rev: i64,
    #[serde(skip)]
    pub deleted: bool,
    /// The sequence of the newest status report stored for the cluster (0: none); a
    /// registration starts it again.
    #[serde(skip)]
    pub reported_sequence: i64,
}

/// A registration token (its hash; the token itself is shown once).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegistrationToken {
    pub id: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub expires_at: i64,
    pub max_uses: i64,
    pub uses: i64,
    /// The one cluster name it registers (a join token); empty: any name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
}

/// A named admin token (its hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdminTokenRecord {
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub revoked: bool,
}

/// One audit entry: who did what to which object, when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
}

/// A bundle as stored: spec without its resources, which live in `contents` by digest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BundleRecord {
    pub namespace: String,
    pub name: String,
    pub gitrepo: String,
    pub spec: fleet_bundle::bundle::BundleSpec,
    pub labels: BTreeMap<String, String>,
    pub content_digest: String,
    pub commit: String,
    /// Why the latest commit's version of this bundle could not be built; the previous
    /// good spec and content stay in place meanwhile.
    pub error: String,
    /// Rollout progress, owned by the leader (see [`crate::rollout`]).
    pub rollout: Option<crate::rollout::RolloutState>,
}

/// The stored report of one bundle on one cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusRecord {
    pub cluster_namespace: String,
    pub cluster: String,
    pub bundle_namespace: String,
    pub bundle: String,
    pub deployment_id: String,
    pub state: String,
    pub report: fleet_bundle::deployment::BundleDeploymentStatus,
    pub sequence: i64,
    pub updated_at: i64,
}

/// The clusters of recent reports, one row per report: deduplicated by the caller, since
/// with `DISTINCT` SQLite's planner walks the primary key (every report: tens of
/// milliseconds at 10,000 clusters, every few seconds) instead of the `updated_at` index
/// (the few recent ones). A test checks the plan.
const REPORTED_SINCE: &str =
    "SELECT cluster_namespace, cluster FROM bundle_status WHERE updated_at >= $1";

/// The store: the manager's domain operations over a [`Database`].
#[derive(Clone)]
pub struct Store {
    db: Arc<dyn Database>,
}

impl Store {
    /// Opens the store at `url` (`sqlite:///path`, `sqlite::memory:` or `postgres://…`) and
    /// migrates it.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let db: Arc<dyn Database> = if let Some(path) = url.strip_prefix("sqlite://") {
            Arc::new(sqlite::Sqlite::open(path)?)
        } else if url == "sqlite::memory:" {
            Arc::new(sqlite::Sqlite::open(":memory:")?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(postgres::Postgres::connect(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        db.migrate().await?;
        Ok(Store { db })
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// The global revision: bumps whenever objects or bundles change (clusters have
    /// their own revision, see [`Store::clusters_since`]).
    pub async fn revision(&self) -> Result<i64, StoreError> {
        let rows = self
            .db
            .query("SELECT value FROM meta WHERE key = 'revision'", vec![])
            .await?;
        Ok(rows.first().map(|r| r.int(0)).unwrap_or(0))
    }

    /// Bumps and returns the global revision.
    pub async fn bump_revision(&self) -> Result<i64, StoreError> {
        let rows = self
            .db
            .query(
                "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value",
                vec![],
            )
            .await?;
        Ok(rows.first().map(|r| r.int(0)).unwrap_or(0))
    }

    /// Runs a write of cluster rows that takes the next cluster revision, in one
    /// transaction with the bump. The bump locks the counter row until commit, so rows
    /// commit in revision order and a reader that has seen revision N never misses a
    /// lower one committed later (which two separate statements would allow).
    async fn cluster_write(
        &self,
        sql: &'static str,
        params: Vec<Value>,
    ) -> Result<u64, StoreError> {
        let changed = self
            .db
            .transaction(vec![
                (
                    "UPDATE meta SET value = value + 1 WHERE key = 'cluster_revision'",
                    vec![],
                ),
                (sql, params),
            ])
            .await?;
        Ok(changed.get(1).copied().unwrap_or(0))
    }

    // ---- objects ----

    /// Creates or replaces an object; the generation increases when the spec changes.
    pub async fn put_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        spec: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let spec_text = spec.to_string();
        let rows = self
            .db
            .query(
                "INSERT INTO objects (kind, namespace, name, generation, spec, status, updated_at) \
                 VALUES ($1, $2, $3, 1, $4, '{}', $5) \
                 ON CONFLICT (kind, namespace, name) DO UPDATE SET \
                   generation = CASE WHEN objects.spec = excluded.spec THEN objects.generation ELSE objects.generation + 1 END, \
                   spec = excluded.spec, updated_at = excluded.updated_at \
                 RETURNING generation",
                vec![kind.into(), namespace.into(), name.into(), spec_text.into(), now().into()],
            )
            .await?;
        self.bump_revision().await?;
        Ok(rows.first().map(|r| r.int(0)).unwrap_or(1))
    }

    pub async fn get_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT kind, namespace, name, generation, spec, status, updated_at FROM objects \
                 WHERE kind = $1 AND namespace = $2 AND name = $3",
                vec![kind.into(), namespace.into(), name.into()],
            )
            .await?;
        rows.first().map(object_from_row).transpose()
    }

    /// Objects of a kind, optionally in one namespace, ordered by namespace and name.
    pub async fn list_objects(
        &self,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT kind, namespace, name, generation, spec, status, updated_at FROM objects \
                 WHERE kind = $1 AND ($2 = '' OR namespace = $2) ORDER BY namespace, name",
                vec![kind.into(), namespace.unwrap_or("").into()],
            )
            .await?;
        rows.iter().map(object_from_row).collect()
    }

    /// Deletes an object; true when it existed.
    pub async fn delete_object(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "DELETE FROM objects WHERE kind = $1 AND namespace = $2 AND name = $3",
                vec![kind.into(), namespace.into(), name.into()],
            )
            .await?;
        self.bump_revision().await?;
        Ok(n > 0)
    }

    /// Replaces an object's status (no revision bump: status never affects targeting).
    pub async fn set_object_status(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        status: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE objects SET status = $4 WHERE kind = $1 AND namespace = $2 AND name = $3",
                vec![
                    kind.into(),
                    namespace.into(),
                    name.into(),
                    status.to_string().into(),
                ],
            )
            .await?;
        Ok(())
    }

    // ---- secrets ----

    /// Stores a sealed secret (see [`crate::secrets`]); the store never sees plaintext.
    pub async fn put_secret(
        &self,
        namespace: &str,
        name: &str,
        sealed: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO secrets (namespace, name, sealed, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (namespace, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                vec![namespace.into(), name.into(), sealed.into(), now().into()],
            )
            .await?;
        Ok(())
    }

    pub async fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT sealed FROM secrets WHERE namespace = $1 AND name = $2",
                vec![namespace.into(), name.into()],
            )
            .await?;
        Ok(rows.first().map(|r| r.blob(0)))
    }

    /// Names of the secrets (never their content), as (namespace, name, updated_at).
    pub async fn list_secrets(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT namespace, name, updated_at FROM secrets WHERE ($1 = '' OR namespace = $1) ORDER BY namespace, name",
                vec![namespace.unwrap_or("").into()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.text(0), r.text(1), r.int(2)))
            .collect())
    }

    pub async fn delete_secret(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "DELETE FROM secrets WHERE namespace = $1 AND name = $2",
                vec![namespace.into(), name.into()],
            )
            .await?;
        Ok(n > 0)
    }

    // ---- clusters ----

    /// Registers a cluster (or re-registers it with a new credential and labels).
    pub async fn upsert_cluster(&self, c: &ClusterRecord) -> Result<(), StoreError> {
        self.cluster_write(
            "INSERT INTO clusters (namespace, name, labels, credential_hash, agent_version, last_seen, created_at, rev, deleted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT value FROM meta WHERE key = 'cluster_revision'), 0) \
             ON CONFLICT (namespace, name) DO UPDATE SET labels = excluded.labels, \
               credential_hash = excluded.credential_hash, agent_version = excluded.agent_version, \
               last_seen = excluded.last_seen, rev = excluded.rev, deleted = 0, reported_sequence = 0",
            vec![
                c.namespace.as_str().into(),
                c.name.as_str().into(),
                json_text(&c.labels).into(),
                c.credential_hash.as_str().into(),
                c.agent_version.as_str().into(),
                c.last_seen.into(),
                c.created_at.into(),
            ],
        )
        .await?;
        Ok(())
    }

    /// Clusters changed after revision `since` (tombstones included), for index reloads.
    pub async fn clusters_since(&self, since: i64) -> Result<Vec<ClusterRecord>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT namespace, name, labels, credential_hash, agent_version, last_seen, created_at, rev, deleted, reported_sequence \
                 FROM clusters WHERE rev > $1 ORDER BY rev",
                vec![since.into()],
            )
            .await?;
        rows.iter().map(cluster_from_row).collect()
    }

    pub async fn get_cluster(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ClusterRecord>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT namespace, name, labels, credential_hash, agent_version, last_seen, created_at, rev, deleted, reported_sequence \
                 FROM clusters WHERE namespace = $1 AND name = $2 AND deleted = 0",
                vec![namespace.into(), name.into()],
            )
            .await?;
        rows.first().map(cluster_from_row).transpose()
    }

    /// Sets a cluster's labels; false when the cluster does not exist.
    pub async fn set_cluster_labels(
        &self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<bool, StoreError> {
        let n = self
            .cluster_write(
                "UPDATE clusters SET labels = $3, rev = (SELECT value FROM meta WHERE key = 'cluster_revision') \
                 WHERE namespace = $1 AND name = $2 AND deleted = 0",
                vec![namespace.into(), name.into(), json_text(labels).into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Replaces a cluster's credential hash (rotation); false when the cluster does not exist.
    pub async fn set_cluster_credential(
        &self,
        namespace: &str,
        name: &str,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .cluster_write(
                "UPDATE clusters SET credential_hash = $3, rev = (SELECT value FROM meta WHERE key = 'cluster_revision') \
                 WHERE namespace = $1 AND name = $2 AND deleted = 0",
                vec![namespace.into(), name.into(), hash.into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Removes a cluster (a tombstone, so replicas see it) and its status rows.
    pub async fn remove_cluster(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .cluster_write(
                "UPDATE clusters SET deleted = 1, rev = (SELECT value FROM meta WHERE key = 'cluster_revision'), credential_hash = '' \
                 WHERE namespace = $1 AND name = $2 AND deleted = 0",
                vec![namespace.into(), name.into()],
            )
            .await?;
        self.db
            .execute(
                "DELETE FROM bundle_status WHERE cluster_namespace = $1 AND cluster = $2",
                vec![namespace.into(), name.into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// Records heartbeats (last seen, agent version) without bumping the revision.
    pub async fn touch_cluster(
        &self,
        namespace: &str,
        name: &str,
        at: i64,
        agent_version: &str,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "UPDATE clusters SET last_seen = $3, agent_version = CASE WHEN $4 = '' THEN agent_version ELSE $4 END \
                 WHERE namespace = $1 AND name = $2",
                vec![namespace.into(), name.into(), at.into(), agent_version.into()],
            )
            .await?;
        Ok(())
    }

    /// Last-seen times of many clusters in one transaction (heartbeat flushes); a time
    /// never moves backwards.
    pub async fn touch_clusters(&self, rows: &[(&str, &str, i64)]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let statements = rows
            .iter()
            .map(|(ns, name, at)| {
                (
                    "UPDATE clusters SET last_seen = $3 WHERE namespace = $1 AND name = $2 AND last_seen < $3",
                    vec![(*ns).into(), (*name).into(), (*at).into()],
                )
            })
            .collect();
        self.db.transaction(statements).await?;
        Ok(())
    }

    // ---- registration tokens ----

    pub async fn create_registration_token(
        &self,
        hash: &str,
        t: &RegistrationToken,
    ) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO registration_tokens (hash, id, namespace, labels, expires_at, max_uses, uses, created_at, cluster_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
                vec![
                    hash.into(),
                    t.id.as_str().into(),
                    t.namespace.as_str().into(),
                    json_text(&t.labels).into(),
                    t.expires_at.into(),
                    t.max_uses.into(),
                    now().into(),
                    t.cluster_name.as_str().into(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Uses a registration token once, atomically: `None` when unknown, expired or used up.
    pub async fn consume_registration_token(
        &self,
        hash: &str,
    ) -> Result<Option<RegistrationToken>, StoreError> {
        let rows = self
            .db
            .query(
                "UPDATE registration_tokens SET uses = uses + 1 \
                 WHERE hash = $1 AND expires_at > $2 AND (max_uses = 0 OR uses < max_uses) \
                 RETURNING id, namespace, labels, expires_at, max_uses, uses, cluster_name",
                vec![hash.into(), now().into()],
            )
            .await?;
        rows.first().map(token_from_row).transpose()
    }

    /// A registration token that is still usable, without using it: `None` when unknown,
    /// expired or used up.
    pub async fn usable_registration_token(
        &self,
        hash: &str,
    ) -> Result<Option<RegistrationToken>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, namespace, labels, expires_at, max_uses, uses, cluster_name FROM registration_tokens \
                 WHERE hash = $1 AND expires_at > $2 AND (max_uses = 0 OR uses < max_uses)",
                vec![hash.into(), now().into()],
            )
            .await?;
        rows.first().map(token_from_row).transpose()
    }

    pub async fn list_registration_tokens(&self) -> Result<Vec<RegistrationToken>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT id, namespace, labels, expires_at, max_uses, uses, cluster_name FROM registration_tokens ORDER BY created_at",
                vec![],
            )
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    pub async fn delete_registration_token(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .execute(
                "DELETE FROM registration_tokens WHERE id = $1",
                vec![id.into()],
            )
            .await?
            > 0)
    }

    // ---- admin tokens and audit ----

    pub async fn create_admin_token(
        &self,
        name: &str,
        hash: &str,
        role: &str,
    ) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "INSERT INTO admin_tokens (name, hash, role, created_at, revoked) VALUES ($1, $2, $3, $4, 0) \
                 ON CONFLICT (name) DO NOTHING",
                vec![name.into(), hash.into(), role.into(), now().into()],
            )
            .await?;
        Ok(n > 0)
    }

    /// The (name, role) of the live admin token with this hash.
    pub async fn find_admin_token(
        &self,
        hash: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT name, role FROM admin_tokens WHERE hash = $1 AND revoked = 0",
                vec![hash.into()],
            )
            .await?;
        Ok(rows.first().map(|r| (r.text(0), r.text(1))))
    }

    pub async fn list_admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT name, role, created_at, revoked FROM admin_tokens ORDER BY name",
                vec![],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AdminTokenRecord {
                name: r.text(0),
                role: r.text(1),
                created_at: r.int(2),
                revoked: r.int(3) != 0,
            })
            .collect())
    }

    pub async fn revoke_admin_token(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .db
            .execute(
                "UPDATE admin_tokens SET revoked = 1, hash = 'revoked:' || name WHERE name = $1 AND revoked = 0",
                vec![name.into()],
            )
            .await?
            > 0)
    }

    pub async fn audit(&self, actor: &str, action: &str, target: &str) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO audit (at, actor, action, target) VALUES ($1, $2, $3, $4)",
                vec![now().into(), actor.into(), action.into(), target.into()],
            )
            .await?;
        Ok(())
    }

    /// The latest `limit` audit entries, newest first.
    pub async fn list_audit(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT at, actor, action, target FROM audit ORDER BY id DESC LIMIT $1",
                vec![limit.into()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                at: r.int(0),
                actor: r.text(1),
                action: r.text(2),
                target: r.text(3),
            })
            .collect())
    }

    // ---- bundles and contents ----

    /// Stores content once by digest; a second put of the same digest is a no-op.
    pub async fn put_content(&self, digest: &str, data: Vec<u8>) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO contents (digest, data) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
                vec![digest.into(), data.into()],
            )
            .await?;
        Ok(())
    }

    pub async fn get_content(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT data FROM contents WHERE digest = $1",
                vec![digest.into()],
            )
            .await?;
        Ok(rows.first().map(|r| r.blob(0)))
    }

    /// Creates or replaces a bundle (spec, content digest, commit, error, rollout).
    pub async fn put_bundle(&self, b: &BundleRecord) -> Result<(), StoreError> {
        self.db
            .execute(
                "INSERT INTO bundles (namespace, name, gitrepo, spec, labels, content_digest, commit_id, error, rollout, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (namespace, name) DO UPDATE SET gitrepo = excluded.gitrepo, spec = excluded.spec, \
                   labels = excluded.labels, content_digest = excluded.content_digest, commit_id = excluded.commit_id, \
                   error = excluded.error, rollout = excluded.rollout, updated_at = excluded.updated_at",
                vec![
                    b.namespace.as_str().into(),
                    b.name.as_str().into(),
                    b.gitrepo.as_str().into(),
                    json_text(&b.spec).into(),
                    json_text(&b.labels).into(),
                    b.content_digest.as_str().into(),
                    b.commit.as_str().into(),
                    b.error.as_str().into(),
                    json_text(&b.rollout).into(),
                    now().into(),
                ],
            )
            .await?;
        self.bump_revision().await?;
        Ok(())
    }

    /// Every bundle, optionally of one namespace, ordered by namespace and name.
    pub async fn list_bundles(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<BundleRecord>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT namespace, name, gitrepo, spec, labels, content_digest, commit_id, error, rollout FROM bundles \
                 WHERE ($1 = '' OR namespace = $1) ORDER BY namespace, name",
                vec![namespace.unwrap_or("").into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(BundleRecord {
                    namespace: r.text(0),
                    name: r.text(1),
                    gitrepo: r.text(2),
                    spec: r.json(3)?,
                    labels: r.json(4)?,
                    content_digest: r.text(5),
                    commit: r.text(6),
                    error: r.text(7),
                    rollout: r.json(8)?,
                })
            })
            .collect()
    }

    /// Deletes a bundle and its status rows.
    pub async fn delete_bundle(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .db
            .execute(
                "DELETE FROM bundles WHERE namespace = $1 AND name = $2",
                vec![namespace.into(), name.into()],
            )
            .await?;
        self.db
            .execute(
                "DELETE FROM bundle_status WHERE bundle_namespace = $1 AND bundle = $2",
                vec![namespace.into(), name.into()],
            )
            .await?;
        self.bump_revision().await?;
        Ok(n > 0)
    }

    // ---- status ----

    pub async fn get_status(
        &self,
        cluster_namespace: &str,
        cluster: &str,
        bundle_namespace: &str,
        bundle: &str,
    ) -> Result<Option<StatusRecord>, StoreError> {
        let rows = self
            .db
            .query(
                &format!("{STATUS_SELECT} WHERE cluster_namespace = $1 AND cluster = $2 AND bundle_namespace = $3 AND bundle = $4"),
                vec![cluster_namespace.into(), cluster.into(), bundle_namespace.into(), bundle.into()],
            )
            .await?;
        rows.first().map(status_from_row).transpose()
    }

    /// Writes a report unless the stored one has the same or a higher sequence for the
    /// same deploymentID; returns whether it was written. See [`Self::put_statuses`].
    pub async fn put_status(&self, s: &StatusRecord) -> Result<bool, StoreError> {
        Ok(self
            .put_statuses(std::slice::from_ref(s))
            .await?
            .first()
            .copied()
            .unwrap_or(false))
    }

    /// Writes one agent report: its bundle states (see [`Self::put_statuses`]) and, when
    /// `sequence` is above the cluster's stored one, that sequence, in one transaction.
    /// Returns per record whether it was written.
    pub async fn put_report(
        &self,
        cluster_namespace: &str,
        cluster: &str,
        sequence: i64,
        records: &[StatusRecord],
    ) -> Result<Vec<bool>, StoreError> {
        let mut statements = status_statements(records);
        if sequence > 0 {
            statements.push((
                "UPDATE clusters SET reported_sequence = $3 \
                 WHERE namespace = $1 AND name = $2 AND reported_sequence < $3",
                vec![cluster_namespace.into(), cluster.into(), sequence.into()],
            ));
        }
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let mut changed = self.db.transaction(statements).await?;
        changed.truncate(records.len());
        Ok(changed.into_iter().map(|n| n > 0).collect())
    }

    /// Writes one agent report's bundle states in one transaction; returns per record
    /// whether it was written.
    ///
    /// A record is skipped when the stored one is for the same deploymentID with the same
    /// or a higher sequence: an out-of-order delivery, or a heartbeat re-sending what is
    /// stored (an agent gives every change a new sequence). So an idle fleet's heartbeats
    /// write no rows and wake nothing that watches reports; the cluster's liveness is its
    /// last-seen time, kept apart.
    pub async fn put_statuses(&self, records: &[StatusRecord]) -> Result<Vec<bool>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let changed = self.db.transaction(status_statements(records)).await?;
        Ok(changed.into_iter().map(|n| n > 0).collect())
    }

    /// The clusters with a report stored at or after `since` (unix seconds), as
    /// (namespace, name): how the dashboard notices reports written through another
    /// replica without re-reading every report.
    pub async fn clusters_reported_since(
        &self,
        since: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.db.query(REPORTED_SINCE, vec![since.into()]).await?;
        let mut clusters: Vec<(String, String)> =
            rows.into_iter().map(|r| (r.text(0), r.text(1))).collect();
        clusters.sort_unstable();
        clusters.dedup();
        Ok(clusters)
    }

    /// Every report of one bundle (for rollouts and the bundle roll-up).
    pub async fn statuses_of_bundle(
        &self,
        namespace: &str,
        bundle: &str,
    ) -> Result<Vec<StatusRecord>, StoreError> {
        let rows = self
            .db
            .query(
                &format!(
                    "{STATUS_SELECT} WHERE bundle_namespace = $1 AND bundle = $2 ORDER BY cluster"
                ),
                vec![namespace.into(), bundle.into()],
            )
            .await?;
        rows.iter().map(status_from_row).collect()
    }

    /// Every report of one cluster.
    pub async fn statuses_of_cluster(
        &self,
        namespace: &str,
        cluster: &str,
    ) -> Result<Vec<StatusRecord>, StoreError> {
        self.statuses_of_clusters(namespace, &[cluster]).await
    }

    /// Every report of several clusters of one workspace, in one query per 500 clusters:
    /// how the dashboard re-reads the clusters that reported since its last look (a query
    /// per cluster queued thousands of round trips behind status writes during a
    /// deployment).
    pub async fn statuses_of_clusters(
        &self,
        namespace: &str,
        clusters: &[&str],
    ) -> Result<Vec<StatusRecord>, StoreError> {
        let mut out = Vec::new();
        for chunk in clusters.chunks(500) {
            let placeholders: Vec<String> =
                (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let mut params: Vec<Value> = Vec::with_capacity(chunk.len() + 1);
            params.push(namespace.into());
            params.extend(chunk.iter().map(|c| Value::from(*c)));
            let rows = self
                .db
                .query(
                    &format!(
                        "{STATUS_SELECT} WHERE cluster_namespace = $1 AND cluster IN ({}) ORDER BY cluster, bundle_namespace, bundle",
                        placeholders.join(", ")
                    ),
                    params,
                )
                .await?;
            for r in &rows {
                out.push(status_from_row(r)?);
            }
        }
        Ok(out)
    }

    /// Counts of reports per (bundle namespace, bundle, state), for roll-ups.
    pub async fn status_counts(&self) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT bundle_namespace, bundle, state, COUNT(*) FROM bundle_status GROUP BY bundle_namespace, bundle, state",
                vec![],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.text(0), r.text(1), r.text(2), r.int(3)))
            .collect())
    }
}

impl Store {
    /// Report counts per bundle, deploymentID and state: (namespace, bundle, deploymentID,
    /// state, count).
    pub async fn status_counts_by_deployment(
        &self,
    ) -> Result<Vec<(String, String, String, String, i64)>, StoreError> {
        let rows = self
            .db
            .query(
                "SELECT bundle_namespace, bundle, deployment_id, state, COUNT(*) FROM bundle_status \
                 GROUP BY bundle_namespace, bundle, deployment_id, state",
                vec![],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.text(0), r.text(1), r.text(2), r.text(3), r.int(4)))
            .collect())
    }
}

const STATUS_SELECT: &str = "SELECT cluster_namespace, cluster, bundle_namespace, bundle, deployment_id, state, report, sequence, updated_at FROM bundle_status";

fn json_text<T: Serialize>(v: &T) -> String {
    // Serializing plain data structures (maps, strings, derive(Serialize)) cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn object_from_row(r: &Row) -> Result<ObjectRecord, StoreError> {
    Ok(ObjectRecord {
        kind: r.text(0),
        namespace: r.text(1),
        name: r.text(2),
        generation: r.int(3),
        spec: r.json(4)?,
        status: r.json(5)?,
        updated_at: r.int(6),
    })
}

/// The upserts of [`Store::put_statuses`]: each skips a stored report for the same
/// deploymentID with the same or a higher sequence.
fn status_statements(records: &[StatusRecord]) -> Vec<(&'static str, Vec<Value>)> {
    records
        .iter()
        .map(|s| {
            (
                "INSERT INTO bundle_status (cluster_namespace, cluster, bundle_namespace, bundle, deployment_id, state, report, sequence, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (cluster_namespace, cluster, bundle_namespace, bundle) DO UPDATE SET \
                   deployment_id = excluded.deployment_id, state = excluded.state, report = excluded.report, \
                   sequence = excluded.sequence, updated_at = excluded.updated_at \
                 WHERE bundle_status.deployment_id <> excluded.deployment_id OR bundle_status.sequence < excluded.sequence",
                vec![
                    s.cluster_namespace.as_str().into(),
                    s.cluster.as_str().into(),
                    s.bundle_namespace.as_str().into(),
                    s.bundle.as_str().into(),
                    s.deployment_id.as_str().into(),
                    s.state.as_str().into(),
                    json_text(&s.report).into(),
                    s.sequence.into(),
                    s.updated_at.into(),
                ],
            )
        })
        .collect()
}

fn cluster_from_row(r: &Row) -> Result<ClusterRecord, StoreError> {
    Ok(ClusterRecord {
        namespace: r.text(0),
        name: r.text(1),
        labels: r.json(2)?,
        credential_hash: r.text(3),
        agent_version: r.text(4),
        last_seen: r.int(5),
        created_at: r.int(6),
        rev: r.int(7),
        deleted: r.int(8) != 0,
        reported_sequence: r.int(9),
    })
}

fn token_from_row(r: &Row) -> Result<RegistrationToken, StoreError> {
    Ok(RegistrationToken {
        id: r.text(0),
        namespace: r.text(1),
        labels: r.json(2)?,
        expires_at: r.int(3),
        max_uses: r.int(4),
        uses: r.int(5),
        cluster_name: r.text(6),
    })
}

fn status_from_row(r: &Row) -> Result<StatusRecord, StoreError> {
    let report = serde_json::from_str(&r.text(6)).map_err(|source| StoreError::Decode {
        what: "a stored status report",
        source,
    })?;
    Ok(StatusRecord {
        cluster_namespace: r.text(0),
        cluster: r.text(1),
        bundle_namespace: r.text(2),
        bundle: r.text(3),
        deployment_id: r.text(4),
        state: r.text(5),
        report,
        sequence: r.int(7),
        updated_at: r.int(8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard lists recent reports every few seconds: that must read the
    /// `updated_at` index, not every report.
    #[tokio::test]
    async fn recent_reports_are_found_through_the_updated_at_index() {
        let store = Store::open("sqlite::memory:").await.expect("store");
        let plan = store
            .db
            .query(
                &format!("EXPLAIN QUERY PLAN {REPORTED_SINCE}"),
                vec![0.into()],
            )
            .await
            .expect("plan");
        let plan: Vec<String> = plan.iter().map(|r| r.text(3)).collect();
        assert!(
            plan.iter()
                .all(|step| step.contains("USING INDEX bundle_status_updated")),
            "{plan:?}"
        );
    }
}
