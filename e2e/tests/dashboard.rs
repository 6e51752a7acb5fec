//! The dashboard in a real browser: a real `fleet-manager serve` with a Git repository
//! of three bundles and thousands of simulated clusters that speak the agent API
//! (register with a registration token, read their desired state, post status reports),
//! then `e2e/browser/dashboard.test.mjs` drives headless Chromium through it: login,
//! counts against the API, drill-down to a drifted resource's field paths, a live
//! update, a manager restart, screenshots, and the load and filter times at scale
//! (printed, not asserted).
//!
//! Needs `node` with `npm ci --prefix e2e/browser` done and Debian's `chromium`
//! (`scripts/setup.sh` installs both). `FLEET_DASHBOARD_CLUSTERS` sets the fleet size
//! (default 10,000).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e::gitserver::{free_port, GitServer};
use e2e::process::{bin_path, Proc};
use fleet_bundle::deployment::{
    BundleDeployment, BundleDeploymentStatus, BundleState, DesiredState, ModifiedResource,
    RegisterRequest, RegisterResponse, ResourceStatus, StatusReport,
};
use futures::StreamExt;
use serde_json::Value;

const ADMIN_TOKEN: &str = "fleet-admin-e2e-dashboard-token";
const WORKSPACE: &str = "fleet-default";
const BUNDLES: [&str; 3] = ["web", "db", "monitoring"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A Fleet repository with one bundle per directory, each a plain ConfigMap.
fn write_repo(dir: &Path) -> Result<()> {
    for b in BUNDLES {
        let d = dir.join(b);
        std::fs::create_dir_all(&d)?;
        std::fs::write(
            d.join("fleet.yaml"),
            format!("defaultNamespace: {b}\nlabels:\n  app: {b}\n"),
        )?;
        std::fs::write(
            d.join("configmap.yaml"),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {b}-config\ndata:\n  color: blue\n"),
        )?;
    }
    Ok(())
}

/// The manager process, restartable on the same port and data directory.
struct Manager {
    proc: Option<Proc>,
    port: u16,
    data: PathBuf,
    logs: PathBuf,
    starts: usize,
}

impl Manager {
    fn start(port: u16, data: PathBuf, logs: PathBuf) -> Result<Manager> {
        let mut m = Manager {
            proc: None,
            port,
            data,
            logs,
            starts: 0,
        };
        m.restart()?;
        Ok(m)
    }

    fn restart(&mut self) -> Result<()> {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
        self.starts += 1;
        let mut cmd = Command::new(bin_path("fleet-manager")?);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .arg("--data-dir")
            .arg(&self.data)
            .env("FLEET_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn,fleet_manager=info");
        let mut p = Proc::spawn(&format!("manager-{}", self.starts), cmd, &self.logs)?;
        p.wait_for_output("listening on", Duration::from_secs(60))?;
        self.proc = Some(p);
        Ok(())
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A client of the admin and agent APIs.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{path}: {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    async fn register(
        &self,
        token: &str,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<String> {
        let resp = self
            .http
            .post(format!("{}/agent/v1/register", self.base))
            .bearer_auth(token)
            .json(&RegisterRequest {
                cluster_name: name.to_string(),
                labels,
                agent_version: "sim-1.0".into(),
            })
            .send()
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "registering {name}: {}",
            resp.status()
        );
        Ok(resp.json::<RegisterResponse>().await?.credential)
    }

    async fn desired(&self, credential: &str) -> Result<Vec<BundleDeployment>> {
        let resp = self
            .http
            .get(format!("{}/agent/v1/desired", self.base))
            .bearer_auth(credential)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "desired: {}", resp.status());
        Ok(resp.json::<DesiredState>().await?.deployments)
    }

    async fn report(&self, credential: &str, bundles: Vec<BundleDeploymentStatus>) -> Result<()> {
        let resp = self
            .http
            .post(format!("{}/agent/v1/status", self.base))
            .bearer_auth(credential)
            .json(&StatusReport {
                agent_version: "sim-1.0".into(),
                bundles,
                ..StatusReport::default()
            })
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "status: {}", resp.status());
        Ok(())
    }
}

fn cluster_name(i: usize) -> String {
    format!("cluster-{i:05}")
}

fn labels_of(i: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "env".to_string(),
            if i.is_multiple_of(2) { "prod" } else { "dev" }.to_string(),
        ),
        (
            "region".to_string(),
            if i.is_multiple_of(3) { "eu" } else { "us" }.to_string(),
        ),
    ])
}

/// What simulated cluster `i` reports for bundle `d`; `None` reports nothing (the
/// manager then shows WaitApplied).
fn simulated_status(i: usize, d: &BundleDeployment) -> Option<BundleDeploymentStatus> {
    let mut s = BundleDeploymentStatus {
        bundle: d.bundle.clone(),
        namespace: d.namespace.clone(),
        deployment_id: d.deployment_id.clone(),
        applied_deployment_id: d.deployment_id.clone(),
        state: BundleState::Ready,
        message: String::new(),
        non_ready: vec![],
        modified: vec![],
        release: format!("{}-{}", d.bundle, 1),
        sequence: 1,
    };
    // Fleet names a bundle after its GitRepo and path: `apps-web`.
    let short = d.bundle.strip_prefix("apps-").unwrap_or(&d.bundle);
    match (i, short) {
        (1, "web") => {
            s.state = BundleState::ErrApplied;
            s.message =
                "apply failed: admission webhook \"policy.example.org\" denied the request".into();
        }
        (2, "web") => {
            s.state = BundleState::Modified;
            s.message = "1 resource drifted".into();
            s.modified = vec![ModifiedResource {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "web".into(),
                name: "web-config".into(),
                missing: false,
                delete: false,
                paths: vec!["data.color".into(), "metadata.labels.team".into()],
            }];
        }
        (3, "db") => {
            s.state = BundleState::NotReady;
            s.message = "1 resource not ready".into();
            s.non_ready = vec![ResourceStatus {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: "db".into(),
                name: "db-config".into(),
                message: "waiting for the volume".into(),
            }];
        }
        (i, "monitoring") if i % 97 == 5 => return None,
        (i, "db") if i % 125 == 7 => {
            s.state = BundleState::ErrApplied;
            s.message = "quota exceeded".into();
        }
        _ => {}
    }
    Some(s)
}

/// Registers `n` clusters one at a time, then posts their first reports `parallel` at a
/// time; returns the credentials by cluster index.
///
/// Registrations are sequential: concurrent ones can commit out of revision order, and
/// the manager's incremental cluster reload (`clusters_since`) then misses a cluster
/// until its next change (reported to the manager's owner).
async fn populate(api: &Api, token: &str, n: usize, parallel: usize) -> Result<Vec<String>> {
    let started = Instant::now();
    let credentials: Vec<Result<String>> = futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let token = token.to_string();
            async move { api.register(&token, &cluster_name(i), labels_of(i)).await }
        })
        .buffered(1)
        .collect()
        .await;
    let credentials: Vec<String> = credentials.into_iter().collect::<Result<_>>()?;
    println!(
        "dashboard: registered {n} clusters in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let reports: Vec<Result<()>> = futures::stream::iter(credentials.iter().enumerate())
        .map(|(i, cred)| {
            let api = api.clone();
            async move {
                let desired = api.desired(cred).await?;
                anyhow::ensure!(
                    desired.len() == BUNDLES.len(),
                    "{} gets {} bundles",
                    cluster_name(i),
                    desired.len()
                );
                api.report(
                    cred,
                    desired
                        .iter()
                        .filter_map(|d| simulated_status(i, d))
                        .collect(),
                )
                .await
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    reports.into_iter().collect::<Result<Vec<()>>>()?;
    println!(
        "dashboard: {n} clusters reported in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(credentials)
}

/// Kills the browser test's node process if the test fails midway.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium() -> Result<()> {
    let root = workspace_root();
    let browser_dir = root.join("e2e/browser");
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        bail!("playwright-core is not installed: run `npm ci --prefix e2e/browser` (scripts/setup.sh does)");
    }
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).is_file() {
        bail!("{chromium} not found: install Debian's chromium (scripts/setup.sh does) or set CHROMIUM");
    }
    let n: usize = std::env::var("FLEET_DASHBOARD_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    anyhow::ensure!(n >= 200, "FLEET_DASHBOARD_CLUSTERS must be at least 200");
    let artifacts = root.join("e2e/artifacts/dashboard");
    // Fresh logs: the process harness appends, and a stale "listening on" would be read
    // as this run's.
    let _ = std::fs::remove_dir_all(artifacts.join("logs"));
    std::fs::create_dir_all(&artifacts)?;

    let tmp = tempfile::tempdir()?;
    let repo = tmp.path().join("repo-src");
    write_repo(&repo)?;
    let git = GitServer::start(tmp.path(), "fleet-repo", Some(&repo))?;
    let mut manager = Manager::start(
        free_port()?,
        tmp.path().join("data"),
        artifacts.join("logs"),
    )?;
    let api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        base: manager.url(),
    };

    api.admin(
        reqwest::Method::POST,
        "/api/v1/apply",
        Some(format!(
            "apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata:\n  name: apps\n  namespace: {WORKSPACE}\nspec:\n  repo: {}\n  branch: main\n\
             ---\napiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: prod\n  namespace: {WORKSPACE}\nspec:\n  selector:\n    matchLabels:\n      env: prod\n\
             ---\napiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: eu\n  namespace: {WORKSPACE}\nspec:\n  selector:\n    matchLabels:\n      region: eu\n",
            git.url()
        )),
    )
    .await?;
    e2e::wait::until(
        "the GitRepo's bundles",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let api = api.clone();
            async move {
                let v = api
                    .admin(reqwest::Method::GET, "/api/v1/bundles", None)
                    .await?;
                Ok::<_, anyhow::Error>(
                    (v["total"].as_u64() == Some(BUNDLES.len() as u64)).then_some(()),
                )
            }
        },
    )
    .await?;

    let token = api
        .admin(
            reqwest::Method::POST,
            "/api/v1/tokens",
            Some(format!("{{\"namespace\":\"{WORKSPACE}\",\"ttl\":\"1h\"}}")),
        )
        .await?["token"]
        .as_str()
        .context("no registration token")?
        .to_string();
    let credentials = populate(&api, &token, n, 8).await?;

    // The dashboard has caught up once it shows every cluster and report.
    e2e::wait::until(
        "the dashboard picture",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let api = api.clone();
            async move {
                let v = api
                    .admin(reqwest::Method::GET, "/api/v1/dashboard/overview", None)
                    .await?;
                if v["clusters"].as_u64() == Some(n as u64)
                    && v["summary"]["modified"].as_u64() == Some(1)
                {
                    return Ok(Some(()));
                }
                Err(anyhow::anyhow!(
                    "clusters {}, summary {}",
                    v["clusters"],
                    v["summary"]
                ))
            }
        },
    )
    .await?;

    // The live-update cluster: Ready everywhere, changed by the browser test.
    let live = 4;
    let mut node = Command::new("node");
    node.arg("dashboard.test.mjs")
        .current_dir(&browser_dir)
        .env("FLEET_URL", manager.url())
        .env("FLEET_TOKEN", ADMIN_TOKEN)
        .env("FLEET_CLUSTERS", n.to_string())
        .env("FLEET_LIVE_CLUSTER", cluster_name(live))
        .env("FLEET_LIVE_CREDENTIAL", &credentials[live])
        .env("FLEET_ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = KillOnDrop(
        node.spawn()
            .context("starting node (is Node.js installed?)")?,
    );
    let mut stdin = child.0.stdin.take().context("node stdin")?;
    let stdout = BufReader::new(child.0.stdout.take().context("node stdout")?);
    let deadline = Instant::now() + Duration::from_secs(300);
    // The browser test asks for a manager restart by printing `@@restart`.
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    for line in stdout.lines() {
        let line = line?;
        println!("{line}");
        lines
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(line.clone());
        if line.trim() == "@@restart" {
            let started = Instant::now();
            manager.restart()?;
            println!(
                "dashboard: manager restarted in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            writeln!(stdin, "restarted")?;
            stdin.flush()?;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the browser test took longer than 5 minutes"
        );
    }
    let status = child.0.wait()?;
    if !status.success() {
        bail!(
            "the browser test failed ({status}); screenshots and manager logs in {}",
            artifacts.display()
        );
    }
    let out = lines
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .join("\n");
    anyhow::ensure!(
        out.contains("dashboard: all browser checks passed"),
        "the browser test did not finish:\n{out}"
    );
    Ok(())
}
