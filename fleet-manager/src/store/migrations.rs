//! The schema, as ordered migrations per dialect. Append only: a released migration is
//! never edited, a change is a new entry.

use super::Dialect;

/// One schema step: its version and its statements for each dialect.
pub struct Migration {
    pub version: i64,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

impl Migration {
    pub fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
    version: 1,
    sqlite: "
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE objects (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  generation INTEGER NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (kind, namespace, name));
CREATE TABLE secrets (namespace TEXT NOT NULL, name TEXT NOT NULL, sealed BLOB NOT NULL,
  updated_at INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE clusters (namespace TEXT NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL,
  credential_hash TEXT NOT NULL, agent_version TEXT NOT NULL, last_seen INTEGER NOT NULL,
  created_at INTEGER NOT NULL, rev INTEGER NOT NULL, deleted INTEGER NOT NULL,
  PRIMARY KEY (namespace, name));
CREATE INDEX clusters_rev ON clusters (rev);
CREATE TABLE registration_tokens (hash TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL,
  labels TEXT NOT NULL, expires_at INTEGER NOT NULL, max_uses INTEGER NOT NULL, uses INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE admin_tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
  created_at INTEGER NOT NULL, revoked INTEGER NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL);
CREATE TABLE contents (digest TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE bundles (namespace TEXT NOT NULL, name TEXT NOT NULL, gitrepo TEXT NOT NULL, spec TEXT NOT NULL,
  labels TEXT NOT NULL, content_digest TEXT NOT NULL, commit_id TEXT NOT NULL, error TEXT NOT NULL,
  rollout TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE bundle_status (cluster_namespace TEXT NOT NULL, cluster TEXT NOT NULL,
  bundle_namespace TEXT NOT NULL, bundle TEXT NOT NULL, deployment_id TEXT NOT NULL, state TEXT NOT NULL,
  report TEXT NOT NULL, sequence INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (cluster_namespace, cluster, bundle_namespace, bundle));
CREATE INDEX bundle_status_bundle ON bundle_status (bundle_namespace, bundle);
",
    postgres: "
CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE objects (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  generation BIGINT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL, updated_at BIGINT NOT NULL,
  PRIMARY KEY (kind, namespace, name));
CREATE TABLE secrets (namespace TEXT NOT NULL, name TEXT NOT NULL, sealed BYTEA NOT NULL,
  updated_at BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE clusters (namespace TEXT NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL,
  credential_hash TEXT NOT NULL, agent_version TEXT NOT NULL, last_seen BIGINT NOT NULL,
  created_at BIGINT NOT NULL, rev BIGINT NOT NULL, deleted BIGINT NOT NULL,
  PRIMARY KEY (namespace, name));
CREATE INDEX clusters_rev ON clusters (rev);
CREATE TABLE registration_tokens (hash TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, namespace TEXT NOT NULL,
  labels TEXT NOT NULL, expires_at BIGINT NOT NULL, max_uses BIGINT NOT NULL, uses BIGINT NOT NULL,
  created_at BIGINT NOT NULL);
CREATE TABLE admin_tokens (name TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
  created_at BIGINT NOT NULL, revoked BIGINT NOT NULL);
CREATE TABLE audit (id BIGSERIAL PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT NOT NULL);
CREATE TABLE contents (digest TEXT PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE bundles (namespace TEXT NOT NULL, name TEXT NOT NULL, gitrepo TEXT NOT NULL, spec TEXT NOT NULL,
  labels TEXT NOT NULL, content_digest TEXT NOT NULL, commit_id TEXT NOT NULL, error TEXT NOT NULL,
  rollout TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (namespace, name));
CREATE TABLE bundle_status (cluster_namespace TEXT NOT NULL, cluster TEXT NOT NULL,
  bundle_namespace TEXT NOT NULL, bundle TEXT NOT NULL, deployment_id TEXT NOT NULL, state TEXT NOT NULL,
  report TEXT NOT NULL, sequence BIGINT NOT NULL, updated_at BIGINT NOT NULL,
  PRIMARY KEY (cluster_namespace, cluster, bundle_namespace, bundle));
CREATE INDEX bundle_status_bundle ON bundle_status (bundle_namespace, bundle);
",
},
    // Cluster rows get their own counter: registrations and label changes must not look
    // like bundle or group changes to replicas (which would reload everything).
    Migration {
        version: 2,
        sqlite: "INSERT INTO meta (key, value) VALUES ('cluster_revision', (SELECT value FROM meta WHERE key = 'revision'));",
        postgres: "INSERT INTO meta (key, value) VALUES ('cluster_revision', (SELECT value FROM meta WHERE key = 'revision'));",
    },
    // The dashboard lists the clusters with reports stored since its last look (reports
    // written through other replicas); without this it scans every report each time.
    Migration {
        version: 3,
        sqlite: "CREATE INDEX bundle_status_updated ON bundle_status (updated_at);",
        postgres: "CREATE INDEX bundle_status_updated ON bundle_status (updated_at);",
    },
    // The sequence of the newest status report stored for a cluster: a poll names the
    // report its agent had acknowledged, and a manager whose store lacks it asks again.
    Migration {
        version: 4,
        sqlite: "ALTER TABLE clusters ADD COLUMN reported_sequence INTEGER NOT NULL DEFAULT 0;",
        postgres: "ALTER TABLE clusters ADD COLUMN reported_sequence BIGINT NOT NULL DEFAULT 0;",
    },
    // A join token (`fleet-manager cluster join NAME`) registers that one cluster name.
    Migration {
        version: 5,
        sqlite: "ALTER TABLE registration_tokens ADD COLUMN cluster_name TEXT NOT NULL DEFAULT '';",
        postgres: "ALTER TABLE registration_tokens ADD COLUMN cluster_name TEXT NOT NULL DEFAULT '';",
    },
];
