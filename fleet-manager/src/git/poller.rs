//! The leader's Git loop: which GitRepos are due, one fetch per remote however many
//! GitRepos share it, bounded concurrency, exponential backoff on failure with the error
//! on every affected GitRepo's status, and a sync for each GitRepo whose commit (or
//! generation) changed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tracing::Instrument;

use super::credentials::GitAuth;
use super::fetch::{self, CheckoutLimits, Want};
use crate::manager::Manager;
use crate::resources::{self, GitRepoSpec, Kind};

/// Fleet's default polling interval.
const DEFAULT_POLLING: Duration = Duration::from_secs(15);
/// Longest wait between retries of a failing remote.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A GitRepo as the poller sees it.
#[derive(Debug, Clone)]
struct RepoRef {
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
    spec: GitRepoSpec,
    generation: i64,
    status: serde_json::Value,
}

impl RepoRef {
    fn want(&self) -> Want {
        if !self.spec.revision.is_empty() {
            Want::Revision(self.spec.revision.clone())
        } else if !self.spec.branch.is_empty() {
            Want::Branch(self.spec.branch.clone())
        } else {
            // Fleet's default branch.
            Want::Branch("master".into())
        }
    }

    fn interval(&self) -> Duration {
        self.spec
            .polling_interval
            .as_deref()
            .and_then(|s| resources::parse_duration(s).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_POLLING)
    }

    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Remotes share a fetch when their URL, credentials and TLS settings are the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FetchKey {
    url: String,
    secret: String,
    insecure: bool,
    ca_bundle: String,
}

#[derive(Debug, Default)]
struct RemoteState {
    last_fetch: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
}

/// The poller's memory between rounds (leader-local: a new leader starts fresh, which
/// only costs one early fetch).
#[derive(Default)]
pub struct Poller {
    remotes: HashMap<FetchKey, RemoteState>,
}

/// Runs the poller until the process ends; it works only while this replica leads.
pub async fn run(manager: Arc<Manager>) {
    let mut poller = Poller::default();
    loop {
        let (all, wanted) = manager.git_wake.take();
        if manager.is_leader() {
            if let Err(e) = poller.round(&manager, all, &wanted).await {
                tracing::warn!(error = %e, "git poll round failed");
            }
        }
        tokio::select! {
            _ = manager.git_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

impl Poller {
    /// One round: fetch every due remote (or the ones asked for), then sync.
    pub async fn round(
        &mut self,
        manager: &Arc<Manager>,
        force_all: bool,
        wanted: &std::collections::HashSet<String>,
    ) -> Result<(), crate::store::StoreError> {
        let objects = manager
            .store
            .list_objects(Kind::GitRepo.as_str(), None)
            .await?;
        let mut groups: BTreeMap<FetchKey, Vec<RepoRef>> = BTreeMap::new();
        for o in objects {
            let Some(spec) = o
                .spec
                .get("spec")
                .and_then(|s| serde_json::from_value::<GitRepoSpec>(s.clone()).ok())
            else {
                continue;
            };
            let labels = o
                .spec
                .get("labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default();
            let r = RepoRef {
                namespace: o.namespace,
                name: o.name,
                labels,
                spec,
                generation: o.generation,
                status: o.status,
            };
            let key = FetchKey {
                url: r.spec.repo.clone(),
                secret: if r.spec.client_secret_name.is_empty() {
                    String::new()
                } else {
                    format!("{}/{}", r.namespace, r.spec.client_secret_name)
                },
                insecure: r.spec.insecure_skip_tls_verify,
                ca_bundle: r.spec.ca_bundle.clone(),
            };
            groups.entry(key).or_default().push(r);
        }
        let now = Instant::now();
        let semaphore = Arc::new(Semaphore::new(manager.config.git_concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for (key, repos) in groups {
            let state = self.remotes.entry(key.clone()).or_default();
            let asked = force_all || repos.iter().any(|r| wanted.contains(&r.key()));
            let changed = repos.iter().any(|r| {
                r.status.get("observedGeneration").and_then(|g| g.as_i64()) != Some(r.generation)
            });
            let interval = repos
                .iter()
                .map(RepoRef::interval)
                .min()
                .unwrap_or(DEFAULT_POLLING);
            let polling = repos.iter().any(|r| !r.spec.disable_polling);
            let due_by_time = polling
                && state
                    .last_fetch
                    .is_none_or(|t| now.duration_since(t) >= interval);
            let in_backoff = state.retry_at.is_some_and(|t| now < t);
            // Backoff holds everything back, even a webhook: a failing remote is retried
            // on its schedule, and its error stays visible on the GitRepo meanwhile.
            if in_backoff || !(changed || asked || due_by_time) {
                continue;
            }
            let manager = manager.clone();
            let semaphore = semaphore.clone();
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                let result = fetch_and_sync(&manager, &key, &repos).await;
                (key, result)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let Ok((key, result)) = joined else { continue };
            let state = self.remotes.entry(key).or_default();
            state.last_fetch = Some(Instant::now());
            match result {
                Ok(()) => {
                    state.failures = 0;
                    state.retry_at = None;
                }
                Err(()) => {
                    state.failures += 1;
                    let backoff =
                        Duration::from_secs(1u64 << state.failures.min(9)).min(MAX_BACKOFF);
                    state.retry_at = Some(Instant::now() + backoff);
                }
            }
        }
        Ok(())
    }
}

/// Fetches one remote for all its GitRepos and syncs each one whose commit or generation
/// changed. Errors are written to the GitRepo statuses; `Err(())` asks for backoff.
async fn fetch_and_sync(
    manager: &Arc<Manager>,
    key: &FetchKey,
    repos: &[RepoRef],
) -> Result<(), ()> {
    let span = tracing::info_span!("git_fetch", url = %fetch::display_url(&key.url), gitrepos = repos.len());
    fetch_and_sync_inner(manager, key, repos)
        .instrument(span)
        .await
}

async fn fetch_and_sync_inner(
    manager: &Arc<Manager>,
    key: &FetchKey,
    repos: &[RepoRef],
) -> Result<(), ()> {
    let started = Instant::now();
    let secret = match secret_for(manager, key).await {
        Ok(s) => s,
        Err(message) => {
            fail_all(manager, repos, &message).await;
            return Err(());
        }
    };
    let ca_bundle = if key.ca_bundle.trim().is_empty() {
        None
    } else {
        match super::credentials::ca_bundle_pem(&key.ca_bundle) {
            Ok(pem) => Some(pem),
            Err(message) => {
                fail_all(manager, repos, &message).await;
                return Err(());
            }
        }
    };
    let auth = GitAuth {
        secret,
        insecure_skip_tls_verify: key.insecure,
        ca_bundle,
    };
    let wants: Vec<Want> = repos.iter().map(RepoRef::want).collect();
    let cache_dir = manager.config.data_dir.join("git");
    let url = key.url.clone();
    let auth_c = auth.clone();
    let fetched =
        tokio::task::spawn_blocking(move || fetch::fetch(&cache_dir, &url, &auth_c, &wants)).await;
    let path = match fetched {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            manager
                .metrics
                .git_sync_errors
                .with_label_values(&["fetch"])
                .inc();
            manager
                .metrics
                .git_sync_seconds
                .with_label_values(&["error"])
                .observe(started.elapsed().as_secs_f64());
            tracing::warn!(error = %e, "git fetch failed");
            fail_all(manager, repos, &e.to_string()).await;
            return Err(());
        }
        Err(e) => {
            fail_all(manager, repos, &format!("fetch task failed: {e}")).await;
            return Err(());
        }
    };
    // The fetch worked: a GitRepo whose commit cannot be resolved or scanned (a path not
    // committed yet, a broken chart) says so on its own status and is tried again on its
    // next poll; it does not back off the remote, which the other GitRepos share.
    let mut ok = true;
    for r in repos {
        if let Err(failure) = sync_repo(manager, &path, &key.url, r).await {
            ok = false;
            let stage = if matches!(failure, Failure::Scan(_)) {
                "scan"
            } else {
                "fetch"
            };
            manager
                .metrics
                .git_sync_errors
                .with_label_values(&[stage])
                .inc();
            tracing::warn!(gitrepo = %r.key(), error = %failure, "git sync failed");
            set_status(manager, r, None, Some(&failure), None).await;
        }
    }
    manager
        .metrics
        .git_sync_seconds
        .with_label_values(&[if ok { "ok" } else { "error" }])
        .observe(started.elapsed().as_secs_f64());
    Ok(())
}

/// Why one GitRepo could not be brought to its commit, as its status records it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Failure {
    /// The remote could not be fetched (it backs off): `status.fetchError`.
    #[error("{0}")]
    Remote(String),
    /// The GitRepo's branch or revision is not on the fetched remote:
    /// `status.fetchError`.
    #[error("{0}")]
    Ref(String),
    /// The commit was fetched but could not be checked out or turned into bundles:
    /// `status.scanError`.
    #[error("{0}")]
    Scan(String),
}

async fn sync_repo(
    manager: &Arc<Manager>,
    path: &std::path::Path,
    url: &str,
    r: &RepoRef,
) -> Result<(), Failure> {
    let want = r.want();
    let (p, u, w) = (path.to_path_buf(), url.to_string(), want.clone());
    let commit = tokio::task::spawn_blocking(move || fetch::resolve(&p, &u, &w))
        .await
        .map_err(|e| Failure::Ref(e.to_string()))?
        .map_err(|e| Failure::Ref(e.to_string()))?;
    scan_commit(manager, path, r, commit)
        .await
        .map_err(Failure::Scan)
}

/// Checks out `commit` and syncs its bundles, unless the GitRepo already stands there
/// (same commit, same generation, no error left to retry).
async fn scan_commit(
    manager: &Arc<Manager>,
    path: &std::path::Path,
    r: &RepoRef,
    commit: git2::Oid,
) -> Result<(), String> {
    let commit_s = commit.to_string();
    let same_commit = r.status.get("commit").and_then(|c| c.as_str()) == Some(commit_s.as_str());
    let same_generation =
        r.status.get("observedGeneration").and_then(|g| g.as_i64()) == Some(r.generation);
    let failed = ["fetchError", "scanError"]
        .iter()
        .any(|k| r.status.get(*k).is_some_and(|v| !v.is_null()));
    if same_commit && same_generation && !failed {
        set_status(manager, r, Some(&commit_s), None, None).await;
        return Ok(());
    }
    if let Some(verify) = r.spec.verify.clone() {
        let p = path.to_path_buf();
        let signer = tokio::task::spawn_blocking(move || {
            let repo = git2::Repository::open(&p)
                .map_err(|e| format!("cannot open the fetched repository: {}", e.message()))?;
            super::signature::verify_commit(&repo, commit, &verify).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        tracing::info!(gitrepo = %r.key(), commit = %commit_s, signer = %signer, "commit signature verified");
    }
    let dir =
        tempfile::tempdir().map_err(|e| format!("cannot create a checkout directory: {e}"))?;
    let (p, d) = (path.to_path_buf(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || fetch::checkout(&p, commit, &d, CheckoutLimits::default()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let helm_credentials = if r.spec.helm_secret_name.is_empty() {
        None
    } else {
        Some(
            open_secret(
                manager,
                &r.namespace,
                &r.spec.helm_secret_name,
                "helmSecretName",
            )
            .await?,
        )
    };
    let request = super::sync::SyncRequest {
        namespace: &r.namespace,
        name: &r.name,
        labels: &r.labels,
        spec: &r.spec,
        commit: &commit_s,
        checkout: dir.path().to_path_buf(),
        helm_credentials,
    };
    let outcome = super::sync::sync_commit(manager, request)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(gitrepo = %r.key(), commit = %commit_s, bundles = outcome.bundles.len(), errors = outcome.errors.len(), "synced");
    set_status(manager, r, Some(&commit_s), None, Some(&outcome)).await;
    Ok(())
}

async fn secret_for(
    manager: &Manager,
    key: &FetchKey,
) -> Result<Option<resources::SecretData>, String> {
    let Some((ns, name)) = key.secret.split_once('/') else {
        return Ok(None);
    };
    open_secret(manager, ns, name, "clientSecretName")
        .await
        .map(Some)
}

/// Opens a sealed secret for a fetch or a scan; errors name the field and never the
/// content.
async fn open_secret(
    manager: &Manager,
    ns: &str,
    name: &str,
    field: &str,
) -> Result<resources::SecretData, String> {
    let sealed = manager
        .store
        .get_secret(ns, name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!("{field} {name:?} not found in {ns}: apply a v1 Secret with the credentials")
        })?;
    manager
        .secrets
        .open(ns, name, &sealed)
        .map_err(|e| e.to_string())
}

async fn fail_all(manager: &Manager, repos: &[RepoRef], message: &str) {
    let failure = Failure::Remote(message.to_string());
    for r in repos {
        set_status(manager, r, None, Some(&failure), None).await;
    }
}

/// Writes the GitRepo status: commit, observed generation, last fetch, fetch or scan
/// error and the bundle errors of the last sync.
async fn set_status(
    manager: &Manager,
    r: &RepoRef,
    commit: Option<&str>,
    error: Option<&Failure>,
    outcome: Option<&super::sync::SyncOutcome>,
) {
    let mut status = match manager
        .store
        .get_object(Kind::GitRepo.as_str(), &r.namespace, &r.name)
        .await
    {
        Ok(Some(o)) => o.status,
        _ => return,
    };
    if !status.is_object() {
        status = serde_json::json!({});
    }
    let now = crate::store::now();
    if let Some(obj) = status.as_object_mut() {
        obj.insert("lastFetched".into(), now.into());
        obj.remove("fetchError");
        obj.remove("scanError");
        match error {
            Some(Failure::Remote(e)) => {
                obj.insert("fetchError".into(), e.as_str().into());
            }
            // This generation was looked at: the next poll tries again (the error keeps
            // the commit from counting as synced), not every round.
            Some(Failure::Ref(e)) => {
                obj.insert("fetchError".into(), e.as_str().into());
                obj.insert("observedGeneration".into(), r.generation.into());
            }
            Some(Failure::Scan(e)) => {
                obj.insert("scanError".into(), e.as_str().into());
                obj.insert("observedGeneration".into(), r.generation.into());
            }
            None => {
                obj.insert("observedGeneration".into(), r.generation.into());
            }
        }
        if let Some(c) = commit {
            obj.insert("commit".into(), c.into());
        }
        if let Some(o) = outcome {
            obj.insert("bundles".into(), serde_json::json!(o.bundles));
            obj.insert("bundleErrors".into(), serde_json::json!(o.errors));
            obj.insert("warnings".into(), serde_json::json!(o.warnings));
        }
    }
    if let Err(e) = manager
        .store
        .set_object_status(Kind::GitRepo.as_str(), &r.namespace, &r.name, &status)
        .await
    {
        tracing::warn!(error = %e, gitrepo = %r.key(), "cannot write GitRepo status");
    }
}
