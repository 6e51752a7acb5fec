//! Test support: an in-test manager speaking the agent API contract of
//! `fleet_bundle::deployment`, the Kubernetes API double, and an agent running in-process.
#![allow(dead_code)] // each test binary uses a different part of the support module

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet_agent::AgentConfig;
use fleet_bundle::bundle::{BundleDeploymentOptions, BundleResource};
use fleet_bundle::deployment::{
    ApiError, BundleContent, BundleDeployment, BundleDeploymentStatus, DesiredState,
    RegisterRequest, RegisterResponse, StatusReport,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// What the fake manager knows.
#[derive(Default)]
pub struct ManagerState {
    pub registration_token: String,
    pub credentials: Vec<String>,
    pub registrations: usize,
    pub generation: u64,
    pub desired: DesiredState,
    pub content: HashMap<String, Vec<u8>>,
    pub reports: Vec<StatusReport>,
    pub offline: bool,
}

/// A manager double on a free loopback port.
#[derive(Clone)]
pub struct FakeManager {
    pub url: String,
    pub state: Arc<Mutex<ManagerState>>,
    changed: Arc<Notify>,
}

type Shared = (Arc<Mutex<ManagerState>>, Arc<Notify>);

fn api_error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(ApiError {
            code: code.into(),
            message: code.replace('_', " "),
        }),
    )
        .into_response()
}

/// The refusal of a call, `None` when it may proceed.
fn refusal(state: &ManagerState, headers: &HeaderMap) -> Option<Response> {
    if state.offline {
        return Some(api_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if state.credentials.iter().any(|c| c == bearer) {
        None
    } else {
        Some(api_error(StatusCode::UNAUTHORIZED, "unknown_credential"))
    }
}

async fn register(
    State((state, _)): State<Shared>,
    headers: HeaderMap,
    Json(req): Json<RegisterRequest>,
) -> Response {
    let mut s = state.lock().unwrap();
    if s.offline {
        return api_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if bearer != format!("Bearer {}", s.registration_token) {
        return api_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    s.registrations += 1;
    let credential = format!("cred-{}", s.registrations);
    s.credentials.push(credential.clone());
    let name = if req.cluster_name.is_empty() {
        "c1".to_string()
    } else {
        req.cluster_name
    };
    Json(RegisterResponse {
        cluster_name: name,
        namespace: "fleet-default".into(),
        credential,
    })
    .into_response()
}

async fn desired(
    State((state, changed)): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let wait = query
        .get("wait")
        .and_then(|w| w.parse::<u64>().ok())
        .unwrap_or(0)
        .min(5);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let notified = changed.notified();
        {
            let s = state.lock().unwrap();
            if let Some(e) = refusal(&s, &headers) {
                return e;
            }
            let etag = format!("\"{}\"", s.generation);
            let seen =
                headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str());
            if !seen {
                return ([("etag", etag)], Json(s.desired.clone())).into_response();
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return StatusCode::NOT_MODIFIED.into_response();
        }
    }
}

async fn content(
    State((state, _)): State<Shared>,
    headers: HeaderMap,
    UrlPath(digest): UrlPath<String>,
) -> Response {
    let s = state.lock().unwrap();
    if let Some(e) = refusal(&s, &headers) {
        return e;
    }
    match s.content.get(&digest) {
        Some(bytes) => bytes.clone().into_response(),
        None => api_error(StatusCode::NOT_FOUND, "not_found"),
    }
}

async fn status(
    State((state, _)): State<Shared>,
    headers: HeaderMap,
    Json(report): Json<StatusReport>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(e) = refusal(&s, &headers) {
        return e;
    }
    s.reports.push(report);
    StatusCode::NO_CONTENT.into_response()
}

impl FakeManager {
    pub async fn start() -> FakeManager {
        let state = Arc::new(Mutex::new(ManagerState {
            registration_token: "reg-token".into(),
            ..Default::default()
        }));
        let changed = Arc::new(Notify::new());
        let app = Router::new()
            .route("/agent/v1/register", post(register))
            .route("/agent/v1/desired", get(desired))
            .route("/agent/v1/content/{digest}", get(content))
            .route("/agent/v1/status", post(status))
            .with_state((state.clone(), changed.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeManager {
            url,
            state,
            changed,
        }
    }

    /// Stores bundle content and returns its digest.
    pub fn add_content(&self, files: &[(&str, &str)]) -> String {
        let content = BundleContent {
            resources: files
                .iter()
                .map(|(name, text)| BundleResource {
                    name: name.to_string(),
                    content: text.to_string(),
                    encoding: String::new(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&content).unwrap();
        let digest = hex::encode(Sha256::digest(&bytes));
        self.state
            .lock()
            .unwrap()
            .content
            .insert(digest.clone(), bytes);
        digest
    }

    /// Publishes a new desired state.
    pub fn publish(&self, deployments: Vec<BundleDeployment>) {
        {
            let mut s = self.state.lock().unwrap();
            s.generation += 1;
            s.desired = DesiredState {
                cluster_name: "c1".into(),
                deployments,
                ..Default::default()
            };
        }
        self.changed.notify_waiters();
    }

    pub fn set_offline(&self, offline: bool) {
        self.state.lock().unwrap().offline = offline;
        self.changed.notify_waiters();
    }

    /// Forgets every credential (as after a manager reset).
    pub fn forget_credentials(&self) {
        self.state.lock().unwrap().credentials.clear();
        self.changed.notify_waiters();
    }

    /// The newest status the manager received for `bundle`.
    pub fn status_of(&self, bundle: &str) -> Option<BundleDeploymentStatus> {
        let s = self.state.lock().unwrap();
        s.reports
            .iter()
            .rev()
            .find_map(|r| r.bundles.iter().find(|b| b.bundle == bundle).cloned())
    }

    pub fn report_count(&self) -> usize {
        self.state.lock().unwrap().reports.len()
    }
}

/// A BundleDeployment of `bundle` with `digest` and `options`.
pub fn deployment(
    bundle: &str,
    id: &str,
    digest: &str,
    options: BundleDeploymentOptions,
) -> BundleDeployment {
    BundleDeployment {
        bundle: bundle.into(),
        namespace: "fleet-default".into(),
        deployment_id: id.into(),
        content_digest: digest.into(),
        options,
        ..Default::default()
    }
}

/// The Kubernetes API double, the fake manager and a running agent.
pub struct World {
    pub double: kube_double::Handle,
    pub manager: FakeManager,
    pub kube: kube::Client,
    pub state_dir: tempfile::TempDir,
    agent: Option<tokio::task::JoinHandle<()>>,
}

impl World {
    pub async fn start() -> World {
        let double = kube_double::KubeDouble::start(kube_double::Config::default())
            .await
            .unwrap();
        let manager = FakeManager::start().await;
        let kube = fleet_agent::cluster::connect(Some(double.kubeconfig_path()))
            .await
            .unwrap();
        World {
            double,
            manager,
            kube,
            state_dir: tempfile::tempdir().unwrap(),
            agent: None,
        }
    }

    pub fn config(&self) -> AgentConfig {
        let mut config = AgentConfig::new(&self.manager.url, "reg-token", self.state_dir.path());
        config.cluster_name = "c1".into();
        config.poll_wait = Duration::from_secs(2);
        config.resync_interval = Duration::from_secs(2);
        config.heartbeat_interval = Duration::from_secs(1);
        config.retry_base = Duration::from_millis(100);
        config.retry_max = Duration::from_millis(500);
        config.crd_timeout = Duration::from_secs(20);
        config.hook_timeout = Duration::from_secs(20);
        config
    }

    /// Starts the agent in-process with `config`.
    pub async fn start_agent(&mut self, config: AgentConfig) {
        let kube = self.kube.clone();
        self.agent = Some(tokio::spawn(async move {
            if let Err(e) = fleet_agent::run(config, kube).await {
                panic!("agent stopped: {e}");
            }
        }));
    }

    /// Kills the agent (as a crash would: nothing is flushed).
    pub async fn kill_agent(&mut self) {
        if let Some(task) = self.agent.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn kubeconfig(&self) -> &Path {
        self.double.kubeconfig_path()
    }

    /// Runs the real helm against the double.
    pub fn helm(&self, args: &[&str]) -> String {
        let output = std::process::Command::new(helm_bin())
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .expect("run helm");
        assert!(
            output.status.success(),
            "helm {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn helm_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.helm(&all)).unwrap()
    }

    async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> kube::Api<kube::api::DynamicObject> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = kube::discovery::pinned_kind(&self.kube, &gvk)
            .await
            .unwrap();
        if caps.scope == kube::discovery::Scope::Namespaced {
            kube::Api::namespaced_with(self.kube.clone(), namespace, &resource)
        } else {
            kube::Api::all_with(self.kube.clone(), &resource)
        }
    }

    /// A live object as JSON, `None` when absent.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let api = self.api(api_version, kind, namespace).await;
        api.get_opt(name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    /// A JSON merge patch to a live object (what `kubectl edit` would do).
    pub async fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: Value,
    ) {
        let api = self.api(api_version, kind, namespace).await;
        let params = kube::api::PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        };
        api.patch(name, &params, &kube::api::Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// Creates an object as another tool would (no Helm ownership).
    pub async fn create(&self, obj: Value) {
        let api_version = obj["apiVersion"].as_str().unwrap().to_string();
        let kind = obj["kind"].as_str().unwrap().to_string();
        let namespace = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let api = self.api(&api_version, &kind, &namespace).await;
        let object: kube::api::DynamicObject = serde_json::from_value(obj).unwrap();
        api.create(&Default::default(), &object).await.unwrap();
    }

    /// Scales a workload through its scale subresource (what `kubectl scale` does).
    pub async fn scale(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
        replicas: i64,
    ) {
        let api = self.api(api_version, kind, namespace).await;
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        api.patch_scale(name, &Default::default(), &kube::api::Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// Deletes a live object.
    pub async fn delete(&self, api_version: &str, kind: &str, namespace: &str, name: &str) {
        let api = self.api(api_version, kind, namespace).await;
        api.delete(name, &Default::default()).await.unwrap();
    }
}

/// The helm binary: `$HELM_BIN`, else the one `make setup` installs.
pub fn helm_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HELM_BIN") {
        return PathBuf::from(bin);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/helm");
    assert!(
        local.exists(),
        "helm not found: run `make setup` or set HELM_BIN"
    );
    local
}

/// Polls `check` until it returns `Some`, failing with `what` and the last observation
/// after `limit` (a bound on convergence, not a timing assertion).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let last = match check().await {
            Ok(v) => return v,
            Err(observed) => observed,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("{what}: not reached within {limit:?}; last observed: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
