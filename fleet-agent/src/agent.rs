//! The agent's run loop: three cooperating tasks on one small runtime.
//!
//! - the **puller** registers once, long-polls the desired state with its ETag, fetches
//!   missing content by digest and keeps both in the state dir;
//! - the **reconciler** applies and checks bundles when the desired state changes, when a
//!   watched object changes, on a periodic resync and when a failed deploy is due a retry;
//!   it works from the state dir, so it holds the line while the manager is unreachable;
//! - the **reporter** sends the status book whenever it changed, when a poll's answer
//!   says the manager lacks it, and as an hourly heartbeat, retrying with backoff, so
//!   reports missed while offline arrive (newest per bundle) on reconnect.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleet_bundle::deployment::{BundleState, DesiredState, RegisterRequest};
use kube::Client;
use tokio::sync::Notify;

use crate::apply::Applier;
use crate::backoff::Backoff;
use crate::cache::{CacheError, StateDir, StoredCredential, StoredDesired};
use crate::client::{ClientError, ManagerClient, Poll, PollAnswer};
use crate::metrics::{Metrics, MetricsError};
use crate::poll_wait::PollWait;
use crate::reconcile::{ReconcileSettings, Reconciler};
use crate::release::ReleaseStore;
use crate::status::{SharedStatus, AGENT_VERSION};
use crate::watch::{DirtyBundles, Watches};

/// Errors that stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("state directory: {0}")]
    State(#[from] CacheError),
    #[error("manager client: {0}")]
    Client(#[from] ClientError),
    #[error("metrics: {0}")]
    Metrics(#[from] MetricsError),
}

/// Everything the agent is started with.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub manager_url: String,
    /// Registration token, used only until a credential is stored.
    pub registration_token: String,
    pub cluster_name: String,
    pub labels: BTreeMap<String, String>,
    pub state_dir: PathBuf,
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for a manager that requires mTLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub metrics_addr: Option<SocketAddr>,
    /// Namespace of the Helm release records.
    pub release_namespace: String,
    /// How long one long-poll waits for a change.
    pub poll_wait: Duration,
    /// Full re-check of every bundle even without watch events.
    pub resync_interval: Duration,
    /// Status report at least this often.
    pub heartbeat_interval: Duration,
    /// Backoff for calls to the manager.
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub allowed_namespaces: Vec<String>,
    pub allow_cluster_scoped: bool,
    pub crd_timeout: Duration,
    pub hook_timeout: Duration,
}

impl AgentConfig {
    /// The defaults for an agent of `manager_url` registering with `token`.
    pub fn new(manager_url: &str, token: &str, state_dir: impl Into<PathBuf>) -> AgentConfig {
        AgentConfig {
            manager_url: manager_url.to_string(),
            registration_token: token.to_string(),
            cluster_name: String::new(),
            labels: BTreeMap::new(),
            state_dir: state_dir.into(),
            ca_file: None,
            client_cert: None,
            client_key: None,
            metrics_addr: None,
            release_namespace: "fleet-system".into(),
            poll_wait: Duration::from_secs(600),
            resync_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(3600),
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(60),
            allowed_namespaces: Vec::new(),
            allow_cluster_scoped: false,
            crd_timeout: Duration::from_secs(60),
            hook_timeout: Duration::from_secs(300),
        }
    }
}

/// State shared by the three tasks.
struct Shared {
    status: SharedStatus,
    desired: Mutex<Option<DesiredState>>,
    desired_changed: Notify,
    dirty: Arc<DirtyBundles>,
    metrics: Metrics,
}

impl Shared {
    fn desired(&self) -> Option<DesiredState> {
        match self.desired.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_desired(&self, desired: DesiredState) {
        match self.desired.lock() {
            Ok(mut guard) => *guard = Some(desired),
            Err(poisoned) => *poisoned.into_inner() = Some(desired),
        }
        self.desired_changed.notify_one();
    }
}

/// Runs the agent against the cluster of `kube` until the process is stopped.
///
/// Returns early only when it cannot start (state dir, manager URL, metrics port); once
/// running, every failure is logged, reported and retried.
pub async fn run(config: AgentConfig, kube: Client) -> Result<(), AgentError> {
    let state = StateDir::open(&config.state_dir)?;
    let client = ManagerClient::with_tls(
        &config.manager_url,
        &crate::client::ClientTls {
            ca_file: config.ca_file.clone(),
            client_cert: config.client_cert.clone(),
            client_key: config.client_key.clone(),
        },
    )?;
    let metrics = Metrics::new()?;
    if let Some(addr) = config.metrics_addr {
        let (bound, _task) = metrics.clone().serve(addr).await?;
        tracing::info!(%bound, "serving /metrics and /healthz");
    }
    let shared = Arc::new(Shared {
        status: SharedStatus::default(),
        desired: Mutex::new(None),
        desired_changed: Notify::new(),
        dirty: Arc::new(DirtyBundles::default()),
        metrics,
    });
    let cached = state.desired();
    let etag = cached.as_ref().map(|d| d.etag.clone());
    if let Some(cached) = cached {
        tracing::info!(
            bundles = cached.state.deployments.len(),
            "resuming from the cached desired state"
        );
        shared.set_desired(cached.state);
    }
    tracing::info!(manager = %config.manager_url, version = AGENT_VERSION, "fleet-agent started");
    tokio::select! {
        () = pull(&config, &state, &client, &shared, etag) => {}
        () = report(&config, &client, &shared) => {}
        () = reconcile(&config, &state, kube, &shared) => {}
    }
    Ok(())
}

/// Makes sure the client holds a credential: the stored one, or a new registration.
async fn ensure_registered(
    config: &AgentConfig,
    state: &StateDir,
    client: &ManagerClient,
    backoff: &mut Backoff,
) {
    while !client.has_credential() {
        if let Some(stored) = state
            .credential()
            .filter(|c| c.manager == config.manager_url)
        {
            tracing::info!(cluster = %stored.cluster_name, "using the stored credential");
            client.set_credential(Some(stored.credential));
            return;
        }
        let request = RegisterRequest {
            cluster_name: config.cluster_name.clone(),
            labels: config.labels.clone(),
            agent_version: AGENT_VERSION.to_string(),
        };
        match client.register(&config.registration_token, &request).await {
            Ok(answer) => {
                tracing::info!(cluster = %answer.cluster_name, workspace = %answer.namespace, "registered");
                let stored = StoredCredential {
                    manager: config.manager_url.clone(),
                    cluster_name: answer.cluster_name,
                    namespace: answer.namespace,
                    credential: answer.credential.clone(),
                };
                if let Err(e) = state.save_credential(&stored) {
                    tracing::error!(error = %e, "cannot store the credential; it is kept in memory only");
                }
                client.set_credential(Some(answer.credential));
                backoff.reset();
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "registration failed");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Fetches (and stores) every content blob `desired` needs that the state dir lacks.
/// Returns whether all are present.
async fn fetch_content(
    state: &StateDir,
    client: &ManagerClient,
    desired: &DesiredState,
) -> Result<bool, ClientError> {
    let mut complete = true;
    for deployment in &desired.deployments {
        let digest = &deployment.content_digest;
        if state.has_content(digest) {
            continue;
        }
        match client.content(digest).await {
            Ok(bytes) => {
                if let Err(e) = state.save_content(digest, &bytes) {
                    tracing::error!(error = %e, "cannot store bundle content; will fetch it again");
                    complete = false;
                }
            }
            Err(ClientError::UnknownCredential) => return Err(ClientError::UnknownCredential),
            Err(e) => {
                tracing::warn!(bundle = %deployment.bundle, error = %e, "cannot fetch bundle content");
                complete = false;
            }
        }
    }
    Ok(complete)
}

/// The puller task.
async fn pull(
    config: &AgentConfig,
    state: &StateDir,
    client: &ManagerClient,
    shared: &Shared,
    mut etag: Option<String>,
) {
    let mut backoff = Backoff::new(config.retry_base, config.retry_max);
    let mut wait = PollWait::new(config.poll_wait);
    loop {
        ensure_registered(config, state, client, &mut backoff).await;
        if let Some(desired) = shared.desired() {
            match fetch_content(state, client, &desired).await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::time::sleep(backoff.next_delay()).await;
                    // Let bundles whose content arrived proceed.
                    shared.desired_changed.notify_one();
                }
                Err(_) => {
                    forget_credential(state, client);
                    continue;
                }
            }
        }
        let started = tokio::time::Instant::now();
        let acknowledged = shared.status.lock().acknowledged();
        let answer = client
            .desired(etag.as_deref(), wait.current(), acknowledged)
            .await;
        if let Ok(PollAnswer {
            report_wanted: true,
            ..
        }) = &answer
        {
            tracing::info!("the manager lacks our last status report; sending it again");
            shared.status.changed.notify_one();
        }
        let answer = answer.map(|a| a.poll);
        match &answer {
            Ok(_) => wait.answered(started.elapsed()),
            Err(ClientError::UnknownCredential) => {}
            Err(_) => {
                if wait.failed(started.elapsed()) {
                    tracing::warn!(
                        wait_seconds = wait.current().as_secs(),
                        "long-polls are cut before their wait ends (a proxy's idle timeout?); asking for shorter waits"
                    );
                }
            }
        }
        match answer {
            Ok(Poll::NotModified) => {
                shared.metrics.manager_connected.set(1);
                reconnected(&mut backoff);
            }
            Ok(Poll::Changed {
                state: desired,
                etag: new_etag,
            }) => {
                shared.metrics.manager_connected.set(1);
                reconnected(&mut backoff);
                tracing::info!(bundles = desired.deployments.len(), etag = %new_etag, "new desired state");
                let complete = match fetch_content(state, client, &desired).await {
                    Ok(complete) => complete,
                    Err(_) => {
                        forget_credential(state, client);
                        continue;
                    }
                };
                let stored = StoredDesired {
                    etag: new_etag.clone(),
                    state: desired.clone(),
                };
                if let Err(e) = state.save_desired(&stored) {
                    tracing::error!(error = %e, "cannot cache the desired state; working from memory");
                }
                if complete {
                    let keep: Vec<&str> = desired
                        .deployments
                        .iter()
                        .map(|d| d.content_digest.as_str())
                        .collect();
                    state.retain_content(&keep);
                }
                shared.set_desired(desired);
                etag = Some(new_etag);
            }
            Err(ClientError::UnknownCredential) => forget_credential(state, client),
            Err(e) => {
                shared.metrics.manager_connected.set(0);
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "cannot reach the manager; reconciling from the cache");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// A poll answered: says so once if earlier polls had failed, and resets the backoff.
fn reconnected(backoff: &mut Backoff) {
    if backoff.failures() > 0 {
        tracing::info!(failed_polls = backoff.failures(), "manager reachable again");
    }
    backoff.reset();
}

fn forget_credential(state: &StateDir, client: &ManagerClient) {
    tracing::warn!("the manager does not know our credential; registering again");
    state.remove_credential();
    client.set_credential(None);
}

/// The reporter task.
async fn report(config: &AgentConfig, client: &ManagerClient, shared: &Shared) {
    let mut backoff = Backoff::new(config.retry_base, config.retry_max);
    loop {
        tokio::select! {
            () = shared.status.changed.notified() => {}
            () = tokio::time::sleep(fleet_bundle::deployment::spread(config.heartbeat_interval)) => {}
        }
        loop {
            if !client.has_credential() {
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
            let (report, sequence) = shared.status.lock().report();
            match client.report(&report).await {
                Ok(()) => {
                    shared.status.lock().acknowledge(sequence);
                    shared.metrics.manager_connected.set(1);
                    shared
                        .metrics
                        .last_report
                        .set(chrono::Utc::now().timestamp());
                    backoff.reset();
                    tracing::debug!(bundles = report.bundles.len(), "status reported");
                    break;
                }
                Err(e) => {
                    if !matches!(e, ClientError::UnknownCredential) {
                        shared.metrics.manager_connected.set(0);
                    }
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?delay, "status report not delivered; it stays queued");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// The reconciler task.
async fn reconcile(config: &AgentConfig, state: &StateDir, kube: Client, shared: &Shared) {
    let settings = ReconcileSettings {
        release_namespace: config.release_namespace.clone(),
        allowed_namespaces: config.allowed_namespaces.clone(),
        allow_cluster_scoped: config.allow_cluster_scoped,
        hook_timeout: config.hook_timeout,
        retry_base: config.retry_base.max(Duration::from_secs(1)),
        retry_max: config.retry_max.max(Duration::from_secs(1)),
    };
    let mut reconciler = Reconciler::new(
        Applier::new(kube.clone(), config.crd_timeout),
        ReleaseStore::new(kube.clone(), &config.release_namespace),
        state.clone(),
        settings,
    )
    .with_metrics(shared.metrics.clone());
    let mut watches = Watches::new(kube, shared.dirty.clone());
    let far = Duration::from_secs(365 * 24 * 3600);
    loop {
        let retry_at = reconciler
            .next_retry()
            .unwrap_or_else(|| tokio::time::Instant::now() + far);
        let full = tokio::select! {
            () = shared.desired_changed.notified() => true,
            () = shared.dirty.notify.notified() => {
                // Let a burst of watch events (a rollout, our own apply) settle into one pass.
                tokio::time::sleep(Duration::from_millis(100)).await;
                false
            }
            () = tokio::time::sleep(config.resync_interval) => true,
            () = tokio::time::sleep_until(retry_at) => true,
        };
        let Some(desired) = shared.desired() else {
            continue;
        };
        let dirty = shared.dirty.take();
        let only = (!full).then_some(&dirty);
        let timer = shared.metrics.reconcile_seconds.start_timer();
        reconciler.reconcile(&desired, only, &shared.status).await;
        timer.observe_duration();
        for resource in reconciler.take_new_kinds() {
            watches.ensure(&resource);
        }
        let counts = shared.status.lock().counts();
        for state in BundleState::ALL {
            shared
                .metrics
                .bundles
                .with_label_values(&[state.as_str()])
                .set(i64::try_from(counts.get(&state).copied().unwrap_or(0)).unwrap_or(i64::MAX));
        }
    }
}
