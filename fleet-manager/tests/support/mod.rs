//! Test harness: a manager started in-process (or as a child process), HTTP helpers for
//! the admin and agent APIs, and a work tree to push Fleet repos from. The real servers
//! the tests start (git daemon, git http-backend behind nginx with basic auth, sshd,
//! PostgreSQL) come from the `test-servers` crate, shared with the whole-system tests.
#![allow(dead_code)] // Each test binary uses a different part of the harness.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use fleet_bundle::deployment::{
    BundleDeploymentStatus, BundleState, DesiredState, RegisterResponse, StatusReport,
};
use fleet_manager::server::{self, Running, ServeOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};
use test_servers::WorkTree;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> String {
    test_servers::process::run(cmd).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Polls `f` every 100 ms until it returns `Some`, up to `secs` seconds; panics with
/// `what` and the last observation otherwise.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        match f().await {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}; last observation: {last}");
}

/// A work tree in a temp dir whose commits are pushed to a served bare repository, with
/// chainable edits for test bodies.
pub struct WorkRepo {
    tree: WorkTree,
    _dir: tempfile::TempDir,
}

impl WorkRepo {
    /// A new work tree on branch `main` pushing to `remote` (a local path or URL).
    pub fn new(remote: &str) -> WorkRepo {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = WorkTree::init(dir.path(), remote).expect("work tree");
        WorkRepo { tree, _dir: dir }
    }

    pub fn write(&self, path: &str, content: &str) -> &Self {
        let full = self.tree.dir().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
        self
    }

    pub fn remove(&self, path: &str) -> &Self {
        let _ = std::fs::remove_dir_all(self.tree.dir().join(path));
        let _ = std::fs::remove_file(self.tree.dir().join(path));
        self
    }

    /// Sets a `git config` value in the work tree (signing keys, `commit.gpgsign`).
    pub fn config(&self, key: &str, value: &str) -> &Self {
        run(Command::new("git")
            .args(["config", key, value])
            .current_dir(self.tree.dir()));
        self
    }

    /// Commits everything and pushes `main`; returns the commit id.
    pub fn commit_and_push(&self, message: &str) -> String {
        self.tree.commit_and_push(message).expect("commit and push")
    }
}

/// A manager running in this process with SQLite (or `database`), fast reload.
pub async fn start_manager(database: Option<String>) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().to_path_buf(),
    );
    opts.database = database;
    opts.admin_token = Some(ADMIN_TOKEN.into());
    opts.webhook_secret = Some(WEBHOOK_SECRET.into());
    opts.reload_interval = Duration::from_millis(200);
    opts.leader_retry = Duration::from_millis(300);
    let running = server::start(opts).await.expect("manager starts");
    (running, dir)
}

/// HTTP client of a manager.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
    pub token: String,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Api {
        Api {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            token: ADMIN_TOKEN.into(),
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: token.to_string(),
            ..self.clone()
        }
    }

    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.raw(reqwest::Method::GET, path, None).await;
        assert!(s.is_success(), "GET {path}: {s} {v}");
        v
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self
            .raw(reqwest::Method::POST, path, Some(body.to_string()))
            .await;
        assert!(s.is_success(), "POST {path}: {s} {v}");
        v
    }

    pub async fn apply(&self, yaml: &str) -> Value {
        let (s, v) = self
            .raw(
                reqwest::Method::POST,
                "/api/v1/apply",
                Some(yaml.to_string()),
            )
            .await;
        assert!(s.is_success(), "apply: {s} {v}");
        v
    }

    /// A registration token for `namespace` with `labels`.
    pub async fn registration_token(&self, namespace: &str, labels: Value) -> String {
        let v = self
            .post(
                "/api/v1/tokens",
                json!({"namespace": namespace, "ttl": "1h", "labels": labels}),
            )
            .await;
        v["token"].as_str().expect("token").to_string()
    }

    /// Registers a cluster and returns its agent client.
    pub async fn register(&self, namespace: &str, name: &str, labels: Value) -> Agent {
        let token = self.registration_token(namespace, json!({})).await;
        let labels: BTreeMap<String, String> = serde_json::from_value(labels).expect("labels");
        let resp = self
            .http
            .post(format!("{}/agent/v1/register", self.base))
            .bearer_auth(&token)
            .json(&json!({"clusterName": name, "labels": labels, "agentVersion": "test"}))
            .send()
            .await
            .expect("register");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let r: RegisterResponse = resp.json().await.expect("register json");
        Agent {
            base: self.base.clone(),
            http: self.http.clone(),
            name: r.cluster_name,
            namespace: r.namespace,
            credential: r.credential,
            sequence: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }
}

/// An agent: the cluster credential and the agent API calls.
#[derive(Clone)]
pub struct Agent {
    pub base: String,
    pub http: reqwest::Client,
    pub name: String,
    pub namespace: String,
    pub credential: String,
    pub sequence: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Agent {
    /// `GET /agent/v1/desired`: (status, etag, state).
    pub async fn desired(
        &self,
        etag: Option<&str>,
        wait: u64,
    ) -> (StatusCode, String, Option<DesiredState>) {
        let mut req = self
            .http
            .get(format!("{}/agent/v1/desired?wait={wait}", self.base))
            .bearer_auth(&self.credential);
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        let resp = req.send().await.expect("desired");
        let status = resp.status();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = if status == StatusCode::OK {
            Some(resp.json().await.expect("desired json"))
        } else {
            None
        };
        (status, etag, body)
    }

    /// The desired state now.
    pub async fn state(&self) -> DesiredState {
        let (s, _, d) = self.desired(None, 0).await;
        assert_eq!(s, StatusCode::OK);
        d.expect("state")
    }

    /// Bundle names in the desired state, sorted.
    pub async fn bundles(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .state()
            .await
            .deployments
            .into_iter()
            .map(|d| d.bundle)
            .collect();
        v.sort();
        v
    }

    pub async fn content(&self, digest: &str) -> (StatusCode, Vec<u8>) {
        let resp = self
            .http
            .get(format!("{}/agent/v1/content/{digest}", self.base))
            .bearer_auth(&self.credential)
            .send()
            .await
            .expect("content");
        let s = resp.status();
        (s, resp.bytes().await.expect("bytes").to_vec())
    }

    /// Reports `state` for every desired deployment (applied = desired).
    pub async fn report_all(&self, state: BundleState) -> StatusCode {
        let bundles = self.entries_all(state).await;
        self.report(bundles).await
    }

    /// A report entry in `state` for every desired deployment (applied = desired), each
    /// under a new sequence.
    pub async fn entries_all(&self, state: BundleState) -> Vec<BundleDeploymentStatus> {
        self.state()
            .await
            .deployments
            .iter()
            .map(|d| self.entry(&d.bundle, &d.deployment_id, state))
            .collect()
    }

    pub fn entry(
        &self,
        bundle: &str,
        deployment_id: &str,
        state: BundleState,
    ) -> BundleDeploymentStatus {
        BundleDeploymentStatus {
            bundle: bundle.to_string(),
            namespace: self.namespace.clone(),
            deployment_id: deployment_id.to_string(),
            applied_deployment_id: deployment_id.to_string(),
            state,
            message: String::new(),
            non_ready: vec![],
            modified: vec![],
            release: String::new(),
            sequence: self
                .sequence
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        }
    }

    pub async fn report(&self, bundles: Vec<BundleDeploymentStatus>) -> StatusCode {
        let sequence = bundles.iter().map(|b| b.sequence).max().unwrap_or_default();
        let report = StatusReport {
            agent_version: "test".into(),
            bundles,
            sequence,
        };
        self.http
            .post(format!("{}/agent/v1/status", self.base))
            .bearer_auth(&self.credential)
            .json(&report)
            .send()
            .await
            .expect("status")
            .status()
    }
}

/// A GitRepo manifest.
pub fn gitrepo(name: &str, namespace: &str, repo: &str, extra: &str) -> String {
    format!(
        "apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  repo: {repo}\n  branch: main\n  pollingInterval: 1s\n{extra}"
    )
}

/// A plain config map manifest for bundle content.
pub fn configmap(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n"
    )
}
