//! A whole fleet in one test: a git daemon serving a Fleet repo, a real `fleet-manager`
//! process (SQLite or PostgreSQL), and clusters made of a Kubernetes API double plus a real
//! `fleet-agent` process, optionally behind a [`Link`] that the test can cut.
//!
//! Every piece is the shipped binary or a real server; only the Kubernetes API is a double.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use kube_double::{Config as DoubleConfig, Faults, KubeDouble};
use serde_json::Value;

use crate::gitserver::{free_port, GitServer};
use crate::link::Link;
use crate::process::{bin_path, Proc};

/// The admin token every test fleet's manager uses.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdef0123";

/// One cluster to create: its name and labels (`k=v,k2=v2`).
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub name: String,
    pub labels: String,
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct FleetOptions {
    /// Files of the Git repo: (path, content).
    pub files: Vec<(String, String)>,
    pub clusters: Vec<ClusterSpec>,
    /// `postgres://...`; SQLite in the data dir when `None`.
    pub database: Option<String>,
    /// Put each agent behind a cuttable TCP link.
    pub linked: bool,
    /// Faults injected by every cluster's API double.
    pub faults: Option<Faults>,
    /// Extra `fleet-agent run` arguments.
    pub agent_args: Vec<String>,
    /// Extra lines of the GitRepo's `spec` (indented by two spaces), e.g.
    /// `"  correctDrift:\n    enabled: true\n"`.
    pub gitrepo_spec: String,
}

/// A cluster of the test fleet.
pub struct TestCluster {
    pub name: String,
    pub labels: String,
    pub double: kube_double::Handle,
    pub link: Option<Link>,
    pub state_dir: PathBuf,
    agent: Option<Proc>,
}

/// The running fleet. Dropping it stops every process.
pub struct TestFleet {
    pub dir: tempfile::TempDir,
    pub git: GitServer,
    pub manager_addr: SocketAddr,
    pub clusters: Vec<TestCluster>,
    manager: Option<Proc>,
    database: Option<String>,
    registration_token: String,
    agent_args: Vec<String>,
}

impl TestFleet {
    /// Starts git, the manager and every cluster with its agent, and registers the repo as
    /// the GitRepo `test` in `fleet-default` targeting every cluster.
    pub async fn start(opts: FleetOptions) -> anyhow::Result<TestFleet> {
        let dir = tempfile::tempdir()?;
        let src = dir.path().join("repo-src");
        for (path, content) in &opts.files {
            let p = src.join(path);
            std::fs::create_dir_all(p.parent().unwrap_or(&src))?;
            std::fs::write(&p, content)?;
        }
        std::fs::create_dir_all(&src)?;
        let git = GitServer::start(&dir.path().join("git"), "fleet", Some(&src))?;
        let manager_addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let mut fleet = TestFleet {
            dir,
            git,
            manager_addr,
            clusters: Vec::new(),
            manager: None,
            database: opts.database.clone(),
            registration_token: String::new(),
            agent_args: opts.agent_args.clone(),
        };
        fleet.start_manager().await?;
        fleet.apply(&format!(
            "apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata:\n  name: test\n  namespace: fleet-default\nspec:\n  repo: {}\n  branch: main\n  pollingInterval: 2s\n{}  targets:\n  - name: all\n    clusterSelector:\n      matchExpressions:\n      - key: env\n        operator: Exists\n",
            fleet.git.url(),
            opts.gitrepo_spec
        ))?;
        let token = fleet.cli(&["token", "create", "--ttl", "1h"])?;
        fleet.registration_token = token.lines().last().unwrap_or_default().trim().to_string();

        for spec in &opts.clusters {
            let double = KubeDouble::start(DoubleConfig {
                faults: opts.faults.clone().unwrap_or_default(),
                ..DoubleConfig::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("starting the API double for {}: {e}", spec.name))?;
            let link = if opts.linked {
                Some(Link::start(fleet.manager_addr).await?)
            } else {
                None
            };
            let state_dir = fleet.dir.path().join("agents").join(&spec.name);
            std::fs::create_dir_all(&state_dir)?;
            fleet.clusters.push(TestCluster {
                name: spec.name.clone(),
                labels: spec.labels.clone(),
                double,
                link,
                state_dir,
                agent: None,
            });
            let i = fleet.clusters.len() - 1;
            fleet.start_agent(i)?;
        }
        Ok(fleet)
    }

    fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// `http://ADDR` of the manager.
    pub fn manager_url(&self) -> String {
        format!("http://{}", self.manager_addr)
    }

    /// Starts (or restarts) the manager on the same port and data.
    pub async fn start_manager(&mut self) -> anyhow::Result<()> {
        let mut cmd = Command::new(bin_path("fleet-manager")?);
        cmd.args([
            "serve",
            "--listen",
            &self.manager_addr.to_string(),
            "--data-dir",
        ])
        .arg(self.dir.path().join("manager"))
        .env("FLEET_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "info");
        if let Some(db) = &self.database {
            cmd.args(["--database", db]);
        }
        self.manager = Some(Proc::spawn("manager", cmd, &self.logs())?);
        let url = format!("{}/readyz", self.manager_url());
        crate::wait::until(
            "manager ready",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                let url = url.clone();
                async move {
                    Ok::<_, reqwest::Error>(
                        reqwest::get(url).await?.status().is_success().then_some(()),
                    )
                }
            },
        )
        .await
    }

    /// Kills the manager at once (SIGKILL), as a crash.
    pub fn kill_manager(&mut self) {
        if let Some(mut m) = self.manager.take() {
            m.kill();
        }
    }

    /// Everything the manager printed (all its runs).
    pub fn manager_log(&self) -> String {
        std::fs::read_to_string(self.logs().join("manager.log")).unwrap_or_default()
    }

    /// Starts the agent of cluster `i` (again, with the same state dir).
    pub fn start_agent(&mut self, i: usize) -> anyhow::Result<()> {
        let manager = match &self.clusters[i].link {
            Some(link) => link.url(),
            None => self.manager_url(),
        };
        let c = &self.clusters[i];
        let mut cmd = Command::new(bin_path("fleet-agent")?);
        cmd.args([
            "run",
            "--manager",
            &manager,
            "--token",
            &self.registration_token,
        ])
        .args(["--cluster-name", &c.name, "--labels", &c.labels])
        .arg("--state-dir")
        .arg(&c.state_dir)
        .arg("--kubeconfig")
        .arg(c.double.kubeconfig_path())
        .args([
            "--poll-wait-seconds",
            "5",
            "--resync-seconds",
            "3",
            "--heartbeat-seconds",
            "5",
        ])
        .args(["--max-retry-seconds", "2"])
        .args(&self.agent_args)
        .env("RUST_LOG", "info");
        let proc = Proc::spawn(&format!("agent-{}", c.name), cmd, &self.logs())?;
        self.clusters[i].agent = Some(proc);
        Ok(())
    }

    /// Kills the agent of cluster `i` (SIGKILL).
    pub fn kill_agent(&mut self, i: usize) {
        if let Some(mut a) = self.clusters[i].agent.take() {
            a.kill();
        }
    }

    /// Whether the agent of cluster `i` is still running.
    pub fn agent_alive(&mut self, i: usize) -> bool {
        self.clusters[i]
            .agent
            .as_mut()
            .is_some_and(Proc::is_running)
    }

    /// Turns off the fault injection of cluster `i`'s API double.
    pub fn double_faults_off(&self, i: usize) {
        self.clusters[i].double.set_faults(Faults::default());
    }

    /// Everything the agent of cluster `i` printed (all its runs).
    pub fn agent_log(&self, i: usize) -> String {
        let name = format!("agent-{}.log", self.clusters[i].name);
        std::fs::read_to_string(self.logs().join(name)).unwrap_or_default()
    }

    /// Runs `fleet-manager ARGS` as an admin client; returns stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(bin_path("fleet-manager")?)
            .args(args)
            .env("FLEET_SERVER", self.manager_url())
            .env("FLEET_TOKEN", ADMIN_TOKEN)
            .output()
            .context("running fleet-manager")?;
        if !out.status.success() {
            bail!(
                "fleet-manager {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Applies Fleet YAML through the admin CLI.
    pub fn apply(&self, yaml: &str) -> anyhow::Result<()> {
        let f = self
            .dir
            .path()
            .join(format!("apply-{}.yaml", rand::random::<u32>()));
        std::fs::write(&f, yaml)?;
        self.cli(&["apply", "-f", &f.to_string_lossy()])?;
        Ok(())
    }

    /// `fleet-manager status -o json`.
    pub fn status(&self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.cli(&["status", "-o", "json"])?)?)
    }

    /// Waits until the GitRepo is at `commit` (when given) and every targeted bundle is
    /// Ready on every cluster.
    pub async fn wait_converged(
        &self,
        commit: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        crate::wait::until(
            "fleet converged",
            timeout,
            Duration::from_millis(500),
            || async {
                // The index first, then the dashboard's picture, which must show the
                // same commit on every bundle: its states are derived against the
                // bundles it lists, so a picture from before the push cannot pass.
                let indexed = match commit {
                    None => true,
                    Some(c) => self.bundle_commits()?.iter().all(|b| b == c),
                };
                let st = self.status()?;
                let at_commit = indexed
                    && commit.is_none_or(|c| {
                        st["bundles"]
                            .as_array()
                            .is_some_and(|bs| !bs.is_empty() && bs.iter().all(|b| b["commit"] == c))
                    });
                let s = &st["summary"];
                let ready =
                    s["desiredReady"].as_u64().unwrap_or(0) > 0 && s["ready"] == s["desiredReady"];
                Ok::<_, anyhow::Error>((at_commit && ready).then_some(st))
            },
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\n--- manager log tail:\n{}",
                tail(&self.manager_log(), 15)
            )
        })
    }

    /// The commit every bundle was last built from (`fleet-manager get bundles`).
    pub fn bundle_commits(&self) -> anyhow::Result<Vec<String>> {
        let v: Value = serde_json::from_str(&self.cli(&["get", "bundles", "-o", "json"])?)?;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            bail!("no bundles yet");
        }
        Ok(items
            .iter()
            .map(|b| {
                b["commit"]
                    .as_str()
                    .or(b["status"]["commit"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect())
    }

    /// Runs `kubectl ARGS` against cluster `i`.
    pub fn kubectl(&self, i: usize, args: &[&str]) -> anyhow::Result<String> {
        tool("kubectl", self.clusters[i].double.kubeconfig_path(), args)
    }

    /// Runs the real `helm ARGS` against cluster `i` (`$HELM_BIN`, else `.tools/bin/helm`).
    pub fn helm(&self, i: usize, args: &[&str]) -> anyhow::Result<String> {
        let helm = std::env::var("HELM_BIN").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/bin/helm").to_string()
        });
        tool(&helm, self.clusters[i].double.kubeconfig_path(), args)
    }

    /// The Helm releases of cluster `i` as `helm -n fleet-system ls -o json` lists them:
    /// name → (revision, status).
    pub fn releases(
        &self,
        i: usize,
    ) -> anyhow::Result<std::collections::BTreeMap<String, (u64, String)>> {
        let out = self.helm(i, &["-n", "fleet-system", "ls", "-o", "json"])?;
        let v: Value = serde_json::from_str(&out)?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let rev = r["revision"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or(r["revision"].as_u64())
                    .unwrap_or(0);
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    (rev, r["status"].as_str().unwrap_or_default().to_string()),
                )
            })
            .collect())
    }

    /// Commits `files` (path, content) to the repo and pushes; returns the commit id.
    pub fn push(&self, files: &[(&str, &str)], message: &str) -> anyhow::Result<String> {
        let work = self.git.work_dir();
        for (path, content) in files {
            let p = work.join(path);
            std::fs::create_dir_all(p.parent().unwrap_or(&work))?;
            std::fs::write(&p, content)?;
        }
        self.git.commit_and_push(message)
    }

    /// The scratch directory of this fleet.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn tool(program: &str, kubeconfig: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}
