//! The manager's shared state and its domain operations: applying resources, registering
//! clusters, accepting status reports, reloading the targeting index from the store, and
//! (on the leader) advancing rollouts.
//!
//! The HTTP layer ([`crate::api`]) only authenticates, decodes and encodes; everything
//! that changes state goes through here, so the API, the Git poller and the tests share
//! one path.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fleet_bundle::deployment::{BundleState, RegisterRequest, RegisterResponse, StatusReport};
use tokio::sync::{Mutex, Notify};

use crate::auth::{self, Caller, Role};
use crate::metrics::Metrics;
use crate::resources::{self, Kind, Resource};
use crate::rollout::{self, RolloutState, TargetInput};
use crate::secrets::SecretBox;
use crate::store::{now, ClusterRecord, RegistrationToken, StatusRecord, Store, StoreError};
use crate::targeting::{GroupEntry, Index};

/// Settings of a running manager.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// sha256 of the bootstrap admin token.
    pub admin_token_hash: String,
    /// Shared secret for Git webhooks (HMAC key / GitLab token); webhooks are refused
    /// without one.
    pub webhook_secret: Option<String>,
    /// A cluster not heard from for this long is offline.
    pub offline_after: Duration,
    /// Longest long-poll an agent may ask for: the agent's default. A parked poll counts
    /// as contact, so this may exceed `offline_after`.
    pub max_wait: Duration,
    /// How often replicas check the store for changes.
    pub reload_interval: Duration,
    /// Bound on concurrent Git fetches.
    pub git_concurrency: usize,
    /// The URL agents reach this manager at (`--public-url`), for the install commands;
    /// `None`: the URL the admin client used.
    pub public_url: Option<String>,
    /// PEM of the CA of this manager's certificate, pinned in installed agents.
    pub agent_ca_pem: Option<String>,
    /// Whether this manager serves HTTPS (the scheme of a URL derived from a request).
    pub tls: bool,
}

impl Config {
    pub fn new(data_dir: PathBuf, admin_token: &str) -> Config {
        Config {
            data_dir,
            admin_token_hash: auth::hash_token(admin_token),
            webhook_secret: None,
            offline_after: Duration::from_secs(300),
            max_wait: Duration::from_secs(600),
            reload_interval: Duration::from_secs(1),
            git_concurrency: 4,
            public_url: None,
            agent_ca_pem: None,
            tls: false,
        }
    }
}

/// Errors of domain operations, mapped to HTTP answers by [`crate::api`].
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("registration token is unknown, expired or used up")]
    InvalidRegistrationToken,
    #[error("{0}")]
    Forbidden(String),
    #[error("cannot seal the secret: {0}")]
    Secret(#[from] crate::secrets::SecretError),
}

/// What `apply` did with one document.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `created`, `configured` or `unchanged`.
    pub result: String,
}

/// A registration token as created (the token itself is only here).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
    pub namespace: String,
    pub expires_at: i64,
    pub max_uses: i64,
}

/// The manager.
pub struct Manager {
    pub store: Store,
    pub index: Index,
    pub secrets: SecretBox,
    pub metrics: Metrics,
    pub config: Config,
    leader: AtomicBool,
    loaded_revision: AtomicI64,
    loaded_cluster_rev: AtomicI64,
    reload_lock: Mutex<()>,
    /// When the last reload finished (ms since the Unix epoch), to bound extra reloads.
    last_reload_ms: AtomicI64,
    /// Wakes the rollout loop (a status report for a rolling bundle, a push).
    pub rollout_wake: Notify,
    /// Wakes the Git poller (webhook, apply of a GitRepo).
    pub git_wake: Arc<crate::git::Triggers>,
    /// Clusters whose stored reports changed since the dashboard last looked.
    status_dirty: std::sync::Mutex<HashSet<(String, String)>>,
    /// Wakes the dashboard's board: a report was stored or a reload changed the index.
    pub board_wake: Arc<Notify>,
    /// Recognises heartbeats that re-send what is stored.
    report_fingerprints: crate::report_memory::ReportFingerprints,
    /// Bundle content served to agents from memory.
    pub contents: crate::content_cache::ContentCache,
}

impl Manager {
    pub fn new(
        store: Store,
        secrets: SecretBox,
        config: Config,
    ) -> Result<Arc<Manager>, prometheus::Error> {
        Ok(Arc::new(Manager {
            store,
            index: Index::new(),
            secrets,
            metrics: Metrics::new()?,
            config,
            leader: AtomicBool::new(false),
            loaded_revision: AtomicI64::new(-1),
            loaded_cluster_rev: AtomicI64::new(0),
            reload_lock: Mutex::new(()),
            last_reload_ms: AtomicI64::new(0),
            rollout_wake: Notify::new(),
            git_wake: Arc::new(crate::git::Triggers::default()),
            status_dirty: std::sync::Mutex::new(HashSet::new()),
            board_wake: Arc::new(Notify::new()),
            report_fingerprints: Default::default(),
            contents: Default::default(),
        }))
    }

    /// The clusters whose reports were stored since the previous call (the dashboard
    /// re-reads exactly those).
    pub fn take_status_dirty(&self) -> HashSet<(String, String)> {
        let mut dirty = match self.status_dirty.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *dirty)
    }

    fn mark_status_dirty(&self, namespace: &str, name: &str) {
        let mut dirty = match self.status_dirty.lock() {
            Ok(d) => d,
            Err(poisoned) => poisoned.into_inner(),
        };
        dirty.insert((namespace.to_string(), name.to_string()));
        drop(dirty);
        self.board_wake.notify_one();
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::SeqCst);
        self.metrics.is_leader.set(i64::from(leader));
    }

    /// Authenticates an admin bearer token: the bootstrap token, or a live named token.
    pub async fn authenticate_admin(&self, token: &str) -> Result<Option<Caller>, StoreError> {
        let hash = auth::hash_token(token);
        if auth::secrets_equal(&hash, &self.config.admin_token_hash) {
            return Ok(Some(Caller {
                name: "admin".into(),
                role: Role::Admin,
            }));
        }
        Ok(self
            .store
            .find_admin_token(&hash)
            .await?
            .and_then(|(name, role)| Role::parse(&role).map(|role| Caller { name, role })))
    }

    /// Records a mutating call in the store and the log.
    pub async fn audit(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
    ) -> Result<(), StoreError> {
        tracing::info!(actor = %caller.name, action, target, "audit");
        self.store.audit(&caller.name, action, target).await
    }

    /// Brings the index up to date with the store: clusters changed since the last load
    /// always (cheap, indexed), groups and bundles when the global revision moved.
    /// Recomputes desired states and wakes long-polls whose answer changed.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let guard = self.reload_lock.lock().await;
        self.reload_locked(guard, Vec::new()).await
    }

    /// [`reload`](Self::reload), making sure `written` (cluster rows this call just wrote)
    /// reach the index.
    ///
    /// A writer takes its cluster revision and then writes its row, so two concurrent
    /// registrations can commit in the other order: a reload may load revision 6 and move
    /// past revision 5 before 5 is written, and the cluster of revision 5 would then stay
    /// unknown (its agent answered 401) until it changed again.
    async fn reload_with(&self, written: Vec<ClusterRecord>) -> Result<(), StoreError> {
        let guard = self.reload_lock.lock().await;
        self.reload_locked(guard, written).await
    }

    async fn reload_locked(
        &self,
        _guard: tokio::sync::MutexGuard<'_, ()>,
        written: Vec<ClusterRecord>,
    ) -> Result<(), StoreError> {
        self.last_reload_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::SeqCst);
        let revision = self.store.revision().await?;
        let since = self.loaded_cluster_rev.load(Ordering::SeqCst);
        let mut clusters = self.store.clusters_since(since).await?;
        for w in written {
            if !clusters
                .iter()
                .any(|c| c.namespace == w.namespace && c.name == w.name)
            {
                clusters.push(w);
            }
        }
        let full = revision != self.loaded_revision.load(Ordering::SeqCst);
        if clusters.is_empty() && !full {
            return Ok(());
        }
        let changes = self.index.apply_cluster_changes(&clusters);
        self.board_wake.notify_one();
        if let Some(max) = clusters.iter().map(|c| c.rev).max() {
            self.loaded_cluster_rev.fetch_max(max, Ordering::SeqCst);
        }
        // Removals free ids that rollouts' promoted sets refer to: rebuild those too.
        let full = full || changes.removed;
        if !full {
            self.index.refresh_after_cluster_changes(&changes);
            self.metrics.clusters.set(self.index.cluster_count() as i64);
            return Ok(());
        }
        let moved = changes.moved;
        if full {
            let groups = self
                .store
                .list_objects(Kind::ClusterGroup.as_str(), None)
                .await?
                .into_iter()
                .filter_map(|o| {
                    let spec: resources::ClusterGroupSpec =
                        serde_json::from_value(o.spec.get("spec")?.clone()).ok()?;
                    let labels = o
                        .spec
                        .get("labels")
                        .and_then(|l| serde_json::from_value(l.clone()).ok())
                        .unwrap_or_default();
                    Some(GroupEntry {
                        workspace: o.namespace,
                        name: o.name,
                        labels,
                        selector: spec.selector,
                    })
                })
                .collect();
            self.index.set_groups(groups);
            self.index.set_bundles(self.store.list_bundles(None).await?);
        }
        let started = std::time::Instant::now();
        let keys = self.index.recompute_all(&moved);
        self.metrics
            .targeting_seconds
            .with_label_values(&["reload"])
            .observe(started.elapsed().as_secs_f64());
        self.metrics.clusters.set(self.index.cluster_count() as i64);
        self.loaded_revision.store(revision, Ordering::SeqCst);
        tracing::debug!(
            revision,
            keys,
            clusters = clusters.len(),
            "targeting reloaded"
        );
        Ok(())
    }

    /// Reloads unless a reload started after `arrived_ms` (ms since the epoch) or less
    /// than 20 ms ago: an unknown credential may belong to a cluster that registered
    /// through another replica a moment ago, while a flood of garbage credentials costs
    /// at most one query per 20 ms, shared by every request waiting.
    pub async fn reload_unless_since(&self, arrived_ms: i64) -> Result<(), StoreError> {
        let guard = self.reload_lock.lock().await;
        let last = self.last_reload_ms.load(Ordering::SeqCst);
        if last >= arrived_ms {
            return Ok(());
        }
        // At most one reload per 20 ms, but never skipped: a reload that began before this
        // request arrived may have missed the cluster it asks about.
        let since_last = chrono::Utc::now().timestamp_millis() - last;
        if since_last < 20 {
            tokio::time::sleep(Duration::from_millis((20 - since_last) as u64)).await;
        }
        self.reload_locked(guard, Vec::new()).await
    }

    /// Applies parsed resources (create or replace), auditing each.
    pub async fn apply(
        &self,
        caller: &Caller,
        docs: Vec<Resource>,
    ) -> Result<Vec<Applied>, ManagerError> {
        let mut out = Vec::new();
        for doc in docs {
            let meta = doc.meta().clone();
            let kind = doc.kind();
            let target = format!("{}/{}/{}", kind.as_str(), meta.namespace, meta.name);
            let result = match doc {
                Resource::GitRepo { meta, spec } => {
                    let json = serde_json::json!({"labels": meta.labels, "spec": spec});
                    self.put_object(kind, &meta.namespace, &meta.name, &json)
                        .await?
                }
                Resource::ClusterGroup { meta, spec } => {
                    // Group labels are kept: clusterGroupSelector matches them.
                    let json = serde_json::json!({"labels": meta.labels, "spec": spec});
                    self.put_object(kind, &meta.namespace, &meta.name, &json)
                        .await?
                }
                Resource::Secret { meta, secret } => {
                    let sealed = self.secrets.seal(&meta.namespace, &meta.name, &secret)?;
                    self.store
                        .put_secret(&meta.namespace, &meta.name, sealed)
                        .await?;
                    "configured".to_string()
                }
            };
            self.audit(caller, "apply", &target).await?;
            out.push(Applied {
                kind: kind.as_str().to_string(),
                namespace: meta.namespace,
                name: meta.name,
                result,
            });
        }
        self.reload().await?;
        self.git_wake.wake_all();
        Ok(out)
    }

    async fn put_object(
        &self,
        kind: Kind,
        ns: &str,
        name: &str,
        spec: &serde_json::Value,
    ) -> Result<String, ManagerError> {
        let before = self.store.get_object(kind.as_str(), ns, name).await?;
        let generation = self.store.put_object(kind.as_str(), ns, name, spec).await?;
        Ok(match before {
            None => "created",
            Some(b) if b.generation == generation => "unchanged",
            Some(_) => "configured",
        }
        .to_string())
    }

    /// Deletes a resource; deleting a GitRepo deletes its bundles.
    pub async fn delete(
        &self,
        caller: &Caller,
        kind: Kind,
        ns: &str,
        name: &str,
    ) -> Result<(), ManagerError> {
        let existed = match kind {
            Kind::Secret => self.store.delete_secret(ns, name).await?,
            _ => self.store.delete_object(kind.as_str(), ns, name).await?,
        };
        if !existed {
            return Err(ManagerError::NotFound(format!(
                "{} {ns}/{name} not found",
                kind.as_str()
            )));
        }
        if kind == Kind::GitRepo {
            for b in self.store.list_bundles(Some(ns)).await? {
                if b.gitrepo == name {
                    self.store.delete_bundle(ns, &b.name).await?;
                }
            }
        }
        self.audit(caller, "delete", &format!("{}/{ns}/{name}", kind.as_str()))
            .await?;
        self.reload().await?;
        Ok(())
    }

    /// Creates a registration token for `namespace` valid for `ttl`, usable `max_uses`
    /// times (0: unlimited), giving registering clusters `labels`.
    pub async fn create_registration_token(
        &self,
        caller: &Caller,
        namespace: &str,
        ttl: Duration,
        max_uses: i64,
        labels: BTreeMap<String, String>,
    ) -> Result<CreatedToken, ManagerError> {
        self.issue_registration_token(caller, namespace, ttl, max_uses, labels, "")
            .await
    }

    /// Creates a join token: a registration token for the one cluster `name` (an agent
    /// asking for another name is refused), valid for `ttl` and any number of
    /// registrations of that cluster until then.
    pub async fn create_join_token(
        &self,
        caller: &Caller,
        namespace: &str,
        name: &str,
        ttl: Duration,
        labels: BTreeMap<String, String>,
    ) -> Result<CreatedToken, ManagerError> {
        resources::validate_name(name)
            .map_err(|m| ManagerError::BadRequest(format!("cluster name: {m}")))?;
        self.issue_registration_token(caller, namespace, ttl, 0, labels, name)
            .await
    }

    async fn issue_registration_token(
        &self,
        caller: &Caller,
        namespace: &str,
        ttl: Duration,
        max_uses: i64,
        labels: BTreeMap<String, String>,
        cluster_name: &str,
    ) -> Result<CreatedToken, ManagerError> {
        resources::validate_name(namespace)
            .map_err(|m| ManagerError::BadRequest(format!("namespace: {m}")))?;
        if ttl.is_zero() {
            return Err(ManagerError::BadRequest(
                "ttl must be positive, e.g. 24h".into(),
            ));
        }
        if max_uses < 0 {
            return Err(ManagerError::BadRequest(
                "maxUses must be 0 (unlimited) or positive".into(),
            ));
        }
        let token = auth::new_token("fleet-reg");
        let id = auth::hash_token(&token)[..12].to_string();
        let t = RegistrationToken {
            id: id.clone(),
            namespace: namespace.to_string(),
            labels,
            expires_at: now() + ttl.as_secs() as i64,
            max_uses,
            uses: 0,
            cluster_name: cluster_name.to_string(),
        };
        self.store
            .create_registration_token(&auth::hash_token(&token), &t)
            .await?;
        self.audit(
            caller,
            "create-registration-token",
            &format!("{namespace}/{id}"),
        )
        .await?;
        Ok(CreatedToken {
            id,
            token,
            namespace: namespace.to_string(),
            expires_at: t.expires_at,
            max_uses,
        })
    }

    /// Registers a cluster with a registration token, returning its new credential.
    pub async fn register(
        &self,
        registration_token: &str,
        req: RegisterRequest,
    ) -> Result<RegisterResponse, ManagerError> {
        let hash = auth::hash_token(registration_token);
        // A join token's cluster name is checked before the token is used.
        let peek = self
            .store
            .usable_registration_token(&hash)
            .await?
            .ok_or(ManagerError::InvalidRegistrationToken)?;
        let mut req = req;
        if !peek.cluster_name.is_empty() {
            let asked = req.cluster_name.trim();
            if !asked.is_empty() && asked != peek.cluster_name {
                return Err(ManagerError::Forbidden(format!(
                    "this registration token joins the cluster {:?} only, not {asked:?}",
                    peek.cluster_name
                )));
            }
            req.cluster_name = peek.cluster_name.clone();
        }
        let token = self
            .store
            .consume_registration_token(&hash)
            .await?
            .ok_or(ManagerError::InvalidRegistrationToken)?;
        let name = if req.cluster_name.trim().is_empty() {
            format!("cluster-{}", &auth::hash_token(&auth::new_token("n"))[..10])
        } else {
            req.cluster_name.trim().to_string()
        };
        resources::validate_name(&name)
            .map_err(|m| ManagerError::BadRequest(format!("clusterName: {m}")))?;
        if req.labels.len() > 64
            || req
                .labels
                .iter()
                .any(|(k, v)| k.len() > 317 || v.len() > 63 || k.is_empty())
        {
            return Err(ManagerError::BadRequest(
                "labels: at most 64, keys 1..317 characters and values at most 63 (Kubernetes limits)".into(),
            ));
        }
        // Token labels win over what the agent claims: the admin decides placement.
        let mut labels = req.labels;
        labels.extend(token.labels);
        let credential = auth::new_token("fleet-agent");
        let record = ClusterRecord {
            namespace: token.namespace.clone(),
            name: name.clone(),
            labels,
            credential_hash: auth::hash_token(&credential),
            agent_version: req.agent_version.chars().take(64).collect(),
            last_seen: now(),
            created_at: now(),
            ..Default::default()
        };
        let existed = self
            .store
            .get_cluster(&token.namespace, &name)
            .await?
            .is_some();
        self.store.upsert_cluster(&record).await?;
        // Read back with its revision, to load it even if a concurrent registration's
        // reload already moved past that revision.
        let written = self.store.get_cluster(&token.namespace, &name).await?;
        tracing::info!(cluster = %name, namespace = %token.namespace, token = %token.id, reregistered = existed, "cluster registered");
        self.store
            .audit(
                &format!("registration-token:{}", token.id),
                "register-cluster",
                &format!("{}/{name}", token.namespace),
            )
            .await?;
        self.reload_with(written.into_iter().collect()).await?;
        Ok(RegisterResponse {
            cluster_name: name,
            namespace: token.namespace,
            credential,
        })
    }

    /// Replaces a cluster's credential, returning the new one (shown once).
    pub async fn rotate_credential(
        &self,
        caller: &Caller,
        ns: &str,
        name: &str,
    ) -> Result<String, ManagerError> {
        let credential = auth::new_token("fleet-agent");
        if !self
            .store
            .set_cluster_credential(ns, name, &auth::hash_token(&credential))
            .await?
        {
            return Err(ManagerError::NotFound(format!(
                "cluster {ns}/{name} not found"
            )));
        }
        self.audit(caller, "rotate-credential", &format!("cluster/{ns}/{name}"))
            .await?;
        self.reload().await?;
        Ok(credential)
    }

    /// Sets and removes labels of a cluster.
    pub async fn label_cluster(
        &self,
        caller: &Caller,
        ns: &str,
        name: &str,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> Result<BTreeMap<String, String>, ManagerError> {
        let mut cluster = self
            .store
            .get_cluster(ns, name)
            .await?
            .ok_or_else(|| ManagerError::NotFound(format!("cluster {ns}/{name} not found")))?;
        for k in &remove {
            cluster.labels.remove(k);
        }
        cluster.labels.extend(set);
        self.store
            .set_cluster_labels(ns, name, &cluster.labels)
            .await?;
        self.audit(caller, "label-cluster", &format!("cluster/{ns}/{name}"))
            .await?;
        self.reload().await?;
        Ok(cluster.labels)
    }

    pub async fn remove_cluster(
        &self,
        caller: &Caller,
        ns: &str,
        name: &str,
    ) -> Result<(), ManagerError> {
        if !self.store.remove_cluster(ns, name).await? {
            return Err(ManagerError::NotFound(format!(
                "cluster {ns}/{name} not found"
            )));
        }
        self.audit(caller, "remove-cluster", &format!("cluster/{ns}/{name}"))
            .await?;
        self.reload().await?;
        Ok(())
    }

    /// Accepts a cluster's status report. A bundle entry is kept only when it is about a
    /// bundle this cluster is targeted with, in its own workspace, and not stale: a report
    /// for another deploymentID than the desired one never replaces a stored report that
    /// already matches the desired one, and within one deploymentID a lower sequence
    /// never replaces a higher one. Returns how many entries were stored.
    pub async fn report_status(
        &self,
        cluster: &crate::targeting::ClusterHandle,
        report: StatusReport,
    ) -> Result<usize, ManagerError> {
        let epoch = self.index.bundle_epoch();
        let Some((_, desired)) = self.index.desired(cluster.id) else {
            return Err(ManagerError::NotFound(
                "cluster no longer registered".into(),
            ));
        };
        let at = now();
        self.index.touch(cluster.id, at);
        // The last-seen time reaches the store through the batched heartbeat flush; a
        // report writes the cluster row only when the agent's version changed.
        let agent_version: String = report.agent_version.chars().take(64).collect();
        if !agent_version.is_empty() && !self.index.has_agent_version(cluster.id, &agent_version) {
            self.store
                .touch_cluster(&cluster.namespace, &cluster.name, at, &agent_version)
                .await?;
            self.index.set_agent_version(cluster.id, &agent_version);
        }
        // A heartbeat re-sending what this replica already stored is answered from memory.
        let fingerprint = self.report_fingerprints.of(epoch, &desired.etag, &report);
        if self.index.last_report(cluster.id) == fingerprint {
            self.metrics.status_unchanged.inc();
            return Ok(0);
        }
        let mut records = Vec::with_capacity(report.bundles.len());
        let mut wake_rollout = false;
        let rolling = self.index.rolling_bundles();
        for b in report.bundles {
            if b.namespace != cluster.namespace {
                continue;
            }
            let current = desired
                .deployment(&b.namespace, &b.bundle)
                .map(|d| d.deployment_id.clone());
            let Some(current) = current else {
                tracing::debug!(cluster = %cluster.name, bundle = %b.bundle, "ignoring status for a bundle not targeted at this cluster");
                continue;
            };
            if b.deployment_id != current {
                if let Some(existing) = self
                    .store
                    .get_status(&cluster.namespace, &cluster.name, &b.namespace, &b.bundle)
                    .await?
                {
                    if existing.deployment_id == current {
                        tracing::debug!(cluster = %cluster.name, bundle = %b.bundle, "ignoring a late report for an older deploymentID");
                        continue;
                    }
                }
            }
            let record = StatusRecord {
                cluster_namespace: cluster.namespace.clone(),
                cluster: cluster.name.clone(),
                bundle_namespace: b.namespace.clone(),
                bundle: b.bundle.clone(),
                deployment_id: b.deployment_id.clone(),
                state: b.state.as_str().to_string(),
                sequence: i64::try_from(b.sequence).unwrap_or(i64::MAX),
                updated_at: at,
                report: b,
            };
            if rolling.contains(&(record.bundle_namespace.clone(), record.bundle.clone())) {
                wake_rollout = true;
            }
            records.push(record);
        }
        let sequence = i64::try_from(report.sequence).unwrap_or(i64::MAX);
        let stored = self
            .store
            .put_report(&cluster.namespace, &cluster.name, sequence, &records)
            .await?
            .into_iter()
            .filter(|&written| written)
            .count();
        self.index.set_last_report(cluster.id, fingerprint);
        self.index.note_report_sequence(cluster.id, report.sequence);
        if wake_rollout {
            self.rollout_wake.notify_one();
        }
        if stored > 0 {
            self.metrics.status_stored.inc();
            self.mark_status_dirty(&cluster.namespace, &cluster.name);
        } else {
            self.metrics.status_unchanged.inc();
        }
        Ok(stored)
    }

    /// Whether to ask the agent of `cluster` for its status again: its poll says the
    /// manager acknowledged report `acknowledged`, and the store holds an older one (a
    /// restored backup, a failover that lost recent commits, a removed cluster that
    /// registered again). Looks in the store only when this replica has not seen that
    /// sequence, and asks at most once per sequence, so a report that cannot be stored
    /// is not asked for in a loop (the agent's hourly heartbeat retries it).
    pub async fn report_wanted(
        &self,
        cluster: &crate::targeting::ClusterHandle,
        acknowledged: u64,
    ) -> bool {
        if acknowledged <= self.index.report_sequence(cluster.id) {
            return false;
        }
        let stored = match self
            .store
            .get_cluster(&cluster.namespace, &cluster.name)
            .await
        {
            Ok(row) => row.map_or(0, |c| u64::try_from(c.reported_sequence).unwrap_or(0)),
            Err(e) => {
                tracing::warn!(cluster = %cluster.name, error = %e, "cannot read the cluster's stored report sequence");
                return false;
            }
        };
        self.index.note_report_sequence(cluster.id, stored);
        if acknowledged <= stored {
            return false;
        }
        tracing::info!(cluster = %cluster.name, acknowledged, stored, "the store lacks the cluster's last acknowledged report; asking for it");
        self.metrics.status_wanted.inc();
        self.index.note_report_sequence(cluster.id, acknowledged);
        true
    }

    /// Leader only: advances every rolling bundle as far as readiness allows and settles
    /// finished rollouts. Returns how many clusters were promoted.
    pub async fn advance_rollouts(&self) -> Result<usize, ManagerError> {
        let mut promoted_total = 0;
        let mut changed = false;
        for record in self.index.bundle_records() {
            let Some(mut state) = record.rollout.clone() else {
                continue;
            };
            let targets = self
                .index
                .targets_of_bundle(&record.namespace, &record.name);
            let statuses: BTreeMap<String, StatusRecord> = self
                .store
                .statuses_of_bundle(&record.namespace, &record.name)
                .await?
                .into_iter()
                .filter(|s| s.cluster_namespace == record.namespace)
                .map(|s| (s.cluster.clone(), s))
                .collect();
            let inputs: Vec<TargetInput> = targets
                .iter()
                .map(|t| TargetInput {
                    name: t.name.clone(),
                    labels: t.labels.clone(),
                    groups: t.groups.clone(),
                    current_id: t.current.deployment.deployment_id.clone(),
                    previous_id: t
                        .previous
                        .as_ref()
                        .map(|p| p.deployment.deployment_id.clone()),
                    promoted: state.promoted.contains(&t.name),
                    status: statuses.get(&t.name).map(|s| {
                        let applied = if s.report.applied_deployment_id.is_empty() {
                            s.deployment_id.clone()
                        } else {
                            s.report.applied_deployment_id.clone()
                        };
                        (applied, parse_state(&s.state))
                    }),
                })
                .collect();
            let group_labels = self.index.group_labels(&record.namespace);
            let plan = match rollout::plan(
                record.spec.rollout_strategy.as_ref(),
                record.spec.paused,
                &inputs,
                &group_labels,
            ) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(bundle = %record.name, error = %e, "cannot plan rollout");
                    continue;
                }
            };
            if plan.promote.is_empty() && !plan.complete {
                continue;
            }
            promoted_total += plan.promote.len();
            state.promoted.extend(plan.promote.iter().cloned());
            let mut updated = record.clone();
            updated.rollout = if plan.complete { None } else { Some(state) };
            tracing::info!(bundle = %record.name, promoted = plan.promote.len(), complete = plan.complete, "rollout advanced");
            self.store.put_bundle(&updated).await?;
            changed = true;
        }
        if changed {
            self.reload().await?;
        }
        Ok(promoted_total)
    }

    /// Writes in-memory last-seen times to the store and updates the online gauge.
    ///
    /// Polls note a cluster's last contact in memory only ([`crate::targeting`]); this
    /// writes those seen after `since` whose time moved by [`Self::heartbeat_granularity`]
    /// past the stored one, in a few batched transactions. So an idle fleet, connected
    /// all the time (a parked poll is contact), costs one row write per cluster per
    /// granularity (100 s at the defaults), not one per poll. What the store
    /// holds may lag the truth by the granularity plus the flush interval, and a crash
    /// loses at most that much of it: only the heartbeat timestamp, never a status, which
    /// is written as it is reported. Online/offline is decided on the in-memory times.
    pub async fn flush_heartbeats(&self, since: i64) -> Result<(), StoreError> {
        let offline_before = now() - self.config.offline_after.as_secs() as i64;
        let online = self.index.cluster_count() - self.index.count_seen_before(offline_before);
        self.metrics.agents_online.set(online as i64);
        let due: Vec<_> = self
            .index
            .heartbeats_due(self.heartbeat_granularity())
            .into_iter()
            .filter(|(_, _, _, seen)| *seen > since)
            .collect();
        for chunk in due.chunks(500) {
            let rows: Vec<(&str, &str, i64)> = chunk
                .iter()
                .map(|(_, ns, name, seen)| (ns.as_str(), name.as_str(), *seen))
                .collect();
            self.store.touch_clusters(&rows).await?;
            for (id, _, _, seen) in chunk {
                self.index.mark_stored(*id, *seen);
            }
        }
        Ok(())
    }

    /// How far a cluster's stored last-seen time may trail the in-memory one before a
    /// flush rewrites it: a third of the offline limit, at most 100 s, so the stored copy
    /// (plus the 10 s flush interval) stays well inside the limit.
    pub fn heartbeat_granularity(&self) -> i64 {
        (self.config.offline_after.as_secs() as i64 / 3).clamp(0, 100)
    }

    /// The rollout state a new version of a bundle starts with, given the stored record
    /// it replaces: previous = what clusters run now; already promoted clusters stay
    /// promoted. `None` when the strategy moves everyone at once.
    pub fn next_rollout(
        &self,
        old: Option<&crate::store::BundleRecord>,
        new: &crate::store::BundleRecord,
    ) -> Option<RolloutState> {
        let old = old?;
        if old.content_digest == new.content_digest && old.spec == new.spec {
            return old.rollout.clone();
        }
        if old.content_digest.is_empty() {
            return None;
        }
        let targets = self
            .index
            .targets_of_bundle(&old.namespace, &old.name)
            .len();
        if rollout::is_immediate(new.spec.rollout_strategy.as_ref(), targets) && !new.spec.paused {
            return None;
        }
        Some(match &old.rollout {
            Some(state) => state.clone(),
            None => RolloutState {
                previous: Some(crate::targeting::BundleVersion {
                    spec: old.spec.clone(),
                    content_digest: old.content_digest.clone(),
                    commit: old.commit.clone(),
                }),
                promoted: Default::default(),
                ..Default::default()
            },
        })
    }
}

/// A stored state name back to the enum (unknown names read as WaitApplied).
pub fn parse_state(s: &str) -> BundleState {
    BundleState::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .unwrap_or(BundleState::WaitApplied)
}
