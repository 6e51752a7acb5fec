//! The simulation run: a Git server with the example repo, a real manager process, N
//! simulated agents; then registration, first deployment, an idle period and a push, each
//! measured.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::watch;

use super::agent::{self, Shared, Stats, Target};
use super::procstat;
use crate::fleet::tail;
use crate::gitserver::{free_port, GitServer};
use crate::process::{bin_path, Proc};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of simulated agents.
    pub agents: usize,
    /// The Fleet repo pushed to the Git server (e.g. `examples/`).
    pub repo: PathBuf,
    /// HTTP/2 connections the agents are multiplexed over (each agent still makes its own
    /// requests; the machine cannot hold one socket per agent at 100k).
    pub connections: usize,
    /// How long after the first deployment the idle window opens (see
    /// [`SimConfig::steady`]).
    pub settle: Duration,
    /// How long to measure the idle fleet.
    pub idle: Duration,
    /// Long-poll wait the agents ask for.
    pub wait_seconds: u64,
    /// Heartbeat interval of an idle agent.
    pub heartbeat: Duration,
    /// Give up on a phase after this long.
    pub phase_timeout: Duration,
    /// Speak HTTP/1.1 as the real agent does (its client has no HTTP/2): every parked
    /// poll then holds a connection of its own, and `connections` only sets how many
    /// clients share the pools.
    pub http1: bool,
}

impl SimConfig {
    /// The idle window that measures the steady long-poll renewal rate, for agents
    /// waiting `wait`: every agent renewed its poll at the same moment (the first
    /// deployment's answer), and the manager ends each wait between ¾ and all of it, so
    /// the k-th renewals fall in [¾k, k] waits later. A window from ⅜ to 1¼ waits holds
    /// exactly the first renewal of every agent and neither the answer before nor the
    /// second renewal (1½ waits at the earliest): one renewal per agent in one mean
    /// period (⅞ wait), the steady rate N / ⅞ wait. A window opening right after the
    /// deployment would count whole waits only and miss the spread. Returns (settle, idle).
    pub fn steady(wait: Duration) -> (Duration, Duration) {
        (wait * 3 / 8, wait * 7 / 8)
    }
}

/// The measured figures.
#[derive(Debug, Clone)]
pub struct Report {
    pub agents: usize,
    pub register_time: Duration,
    pub first_deploy_time: Duration,
    pub push_to_ready: Duration,
    pub manager_rss_baseline: u64,
    /// Right after every agent registered (each holding a long-poll).
    pub manager_rss_registered: u64,
    /// At the end of the idle period (after the first deployment's reports).
    pub manager_rss_loaded: u64,
    /// The manager's heap (its `/metrics`) at the baseline and at the end of the idle
    /// period: what its data holds, apart from what the allocator keeps resident.
    pub manager_heap_baseline: Heap,
    pub manager_heap_loaded: Heap,
    pub idle_cpu_fraction: f64,
    pub idle_requests_per_second: f64,
    pub idle_bytes_per_agent_hour: f64,
    pub push_cpu_seconds: f64,
    pub errors: u64,
    /// Polls on which the manager asked for a report again: none when nothing was lost.
    pub reports_wanted: u64,
}

impl Report {
    /// Manager memory attributable to each registered cluster.
    pub fn bytes_per_cluster(&self) -> f64 {
        self.manager_rss_loaded
            .saturating_sub(self.manager_rss_baseline) as f64
            / self.agents.max(1) as f64
    }

    /// Heap bytes each registered cluster's data holds, and heap bytes resident per
    /// cluster (the data plus the allocator's fragmentation and metadata).
    pub fn heap_per_cluster(&self) -> (f64, f64) {
        let (base, loaded) = (self.manager_heap_baseline, self.manager_heap_loaded);
        let per_cluster = |before: u64, after: u64| {
            after.saturating_sub(before) as f64 / self.agents.max(1) as f64
        };
        (
            per_cluster(base.allocated, loaded.allocated),
            per_cluster(base.resident, loaded.resident),
        )
    }

    /// Idle manager CPU, in % of one core, per 10,000 agents.
    pub fn idle_cpu_percent_per_10k(&self) -> f64 {
        self.idle_cpu_fraction * 100.0 * 10_000.0 / self.agents.max(1) as f64
    }

    /// A human-readable block, one figure a line.
    pub fn render(&self) -> String {
        let (heap_data, heap_resident) = self.heap_per_cluster();
        format!(
            "agents                         {}\n\
             registration of all agents     {:.2} s\n\
             first deployment, all Ready    {:.2} s\n\
             push -> all agents Ready       {:.2} s\n\
             manager RSS base/reg./loaded   {:.1} / {:.1} / {:.1} MiB\n\
             manager memory per cluster     {:.0} bytes\n\
             of which heap: data / resident {:.0} / {:.0} bytes\n\
             idle manager CPU               {:.2}% of a core ({:.3}% per 10k agents)\n\
             idle requests per second       {:.0}\n\
             idle bytes per agent per hour  {:.0}\n\
             manager CPU during the push    {:.2} s\n\
             client-side errors             {}\n\
             reports asked for again        {}",
            self.agents,
            self.register_time.as_secs_f64(),
            self.first_deploy_time.as_secs_f64(),
            self.push_to_ready.as_secs_f64(),
            self.manager_rss_baseline as f64 / 1048576.0,
            self.manager_rss_registered as f64 / 1048576.0,
            self.manager_rss_loaded as f64 / 1048576.0,
            self.bytes_per_cluster(),
            heap_data,
            heap_resident,
            self.idle_cpu_fraction * 100.0,
            self.idle_cpu_percent_per_10k(),
            self.idle_requests_per_second,
            self.idle_bytes_per_agent_hour,
            self.push_cpu_seconds,
            self.errors,
            self.reports_wanted,
        )
    }
}

const ADMIN_TOKEN: &str = "sim-admin-token-0123456789abcdef";
const WEBHOOK_SECRET: &str = "sim-webhook-secret";

/// Runs the whole simulation in `work` (a scratch directory) and returns the figures.
pub async fn run(cfg: &SimConfig, work: &Path) -> anyhow::Result<Report> {
    let logs = work.join("logs");
    let git = GitServer::start(&work.join("git"), "fleet-sim", Some(&cfg.repo))?;

    let port = free_port()?;
    let manager_url = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(bin_path("fleet-manager")?);
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
    ])
    .arg(work.join("manager"))
    .env("FLEET_ADMIN_TOKEN", ADMIN_TOKEN)
    .env("FLEET_WEBHOOK_SECRET", WEBHOOK_SECRET)
    .env("RUST_LOG", "warn");
    let manager = Proc::spawn("manager", cmd, &logs)?;
    let http = reqwest::Client::new();
    crate::wait::until(
        "manager /healthz",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let http = http.clone();
            let url = format!("{manager_url}/healthz");
            async move {
                Ok::<_, reqwest::Error>(
                    http.get(url)
                        .send()
                        .await?
                        .status()
                        .is_success()
                        .then_some(()),
                )
            }
        },
    )
    .await?;
    let baseline = procstat::sample(manager.pid())?;
    let heap_baseline = heap(&http, &manager_url).await?;

    let token = admin_cli(&manager_url, &["token", "create", "--ttl", "24h"])?;
    let token = token.lines().last().unwrap_or_default().trim().to_string();
    if token.is_empty() {
        bail!("`fleet-manager token create` printed no token");
    }

    let clients = (0..cfg.connections.max(1))
        .map(|_| {
            let builder = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(cfg.wait_seconds + 30));
            if cfg.http1 {
                builder.http1_only().build()
            } else {
                builder.http2_prior_knowledge().build()
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let shared = Arc::new(Shared {
        clients,
        manager: manager_url.clone(),
        registration_token: token,
        stats: Stats::default(),
        target: Target::default(),
        wait_seconds: cfg.wait_seconds,
        heartbeat: cfg.heartbeat,
        registering: tokio::sync::Semaphore::new(256),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    // Registration.
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(cfg.agents);
    for i in 0..cfg.agents {
        tasks.push(tokio::spawn(agent::run(shared.clone(), i, stop_rx.clone())));
    }
    wait_count(
        "registration",
        cfg.phase_timeout,
        &manager,
        || {
            shared
                .stats
                .registered
                .load(std::sync::atomic::Ordering::Relaxed)
        },
        cfg.agents,
    )
    .await?;
    let register_time = started.elapsed();
    // Let the last registrations' first long-polls arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let registered = procstat::sample(manager.pid())?;

    // First deployment: the GitRepo appears, every agent gets the bundles and reports.
    let commit = crate::gitserver::git(&git.work_dir(), &["rev-parse", "HEAD"])?;
    shared.target.set(&commit);
    let started = Instant::now();
    let gitrepo = work.join("gitrepo.yaml");
    std::fs::write(
        &gitrepo,
        format!(
            "apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata:\n  name: sim\n  namespace: fleet-default\nspec:\n  repo: {}\n  branch: main\n  pollingInterval: 1h\n  targets:\n  - name: all\n    clusterSelector:\n      matchExpressions:\n      - key: env\n        operator: Exists\n",
            git.url()
        ),
    )?;
    admin_cli(&manager_url, &["apply", "-f", &gitrepo.to_string_lossy()])?;
    wait_count(
        "first deployment",
        cfg.phase_timeout,
        &manager,
        || shared.target.reached(),
        cfg.agents,
    )
    .await?;
    let first_deploy_time = started.elapsed();

    // Idle: only long-poll renewals and heartbeats, measured as a fleet idle for a
    // while sees them: the window is placed to hold the steady renewal rate (see
    // [`SimConfig::steady`]) and the simulated heartbeats run at their steady phase
    // ([`agent::steady_state_phase`]).
    tokio::time::sleep(cfg.settle).await;
    let before = procstat::sample(manager.pid())?;
    let (req0, bytes0) = traffic(&shared.stats);
    let idle_started = Instant::now();
    tokio::time::sleep(cfg.idle).await;
    let idle = idle_started.elapsed().as_secs_f64();
    let after = procstat::sample(manager.pid())?;
    let heap_loaded = heap(&http, &manager_url).await?;
    let (req1, bytes1) = traffic(&shared.stats);

    // A push, announced by a signed webhook as a Git host would.
    let marker = git.work_dir().join("guestbook/pushed-at.yaml");
    std::fs::write(
        &marker,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pushed-at\ndata:\n  at: \"{}\"\n",
            chrono_now()
        ),
    )
    .with_context(|| format!("writing {}", marker.display()))?;
    let push_cpu0 = procstat::sample(manager.pid())?.cpu;
    let pushed = Instant::now();
    let new_commit = git.commit_and_push("simulated push")?;
    shared.target.set(&new_commit);
    send_webhook(&http, &manager_url, &git.url()).await?;
    wait_count(
        "push to all Ready",
        cfg.phase_timeout,
        &manager,
        || shared.target.reached(),
        cfg.agents,
    )
    .await?;
    let push_to_ready = pushed.elapsed();
    let push_cpu = procstat::sample(manager.pid())?
        .cpu
        .saturating_sub(push_cpu0);

    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }

    Ok(Report {
        agents: cfg.agents,
        register_time,
        first_deploy_time,
        push_to_ready,
        manager_rss_baseline: baseline.rss,
        manager_rss_registered: registered.rss,
        manager_rss_loaded: after.rss,
        manager_heap_baseline: heap_baseline,
        manager_heap_loaded: heap_loaded,
        idle_cpu_fraction: after.cpu.saturating_sub(before.cpu).as_secs_f64() / idle,
        idle_requests_per_second: (req1 - req0) as f64 / idle,
        idle_bytes_per_agent_hour: (bytes1 - bytes0) as f64 / cfg.agents.max(1) as f64 / idle
            * 3600.0,
        push_cpu_seconds: push_cpu.as_secs_f64(),
        errors: shared
            .stats
            .errors
            .load(std::sync::atomic::Ordering::Relaxed),
        reports_wanted: shared
            .stats
            .reports_wanted
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// The manager's heap figures, from its `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Heap {
    pub allocated: u64,
    pub resident: u64,
}

async fn heap(http: &reqwest::Client, manager: &str) -> anyhow::Result<Heap> {
    let text = http
        .get(format!("{manager}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let gauge = |name: &str| -> anyhow::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|v| v as u64)
            .with_context(|| format!("no {name} in the manager's /metrics"))
    };
    Ok(Heap {
        allocated: gauge("fleet_manager_heap_allocated_bytes")?,
        resident: gauge("fleet_manager_heap_resident_bytes")?,
    })
}

fn traffic(stats: &Stats) -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (stats.requests.load(Relaxed), stats.bytes.load(Relaxed))
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339()
}

async fn wait_count(
    what: &str,
    timeout: Duration,
    manager: &Proc,
    count: impl Fn() -> usize,
    want: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let n = count();
        if n >= want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{what}: {n} of {want} after {timeout:?}; manager log tail:\n{}",
                tail(&manager.output(), 20)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `fleet-manager <args>` as a client of the running manager; returns stdout.
fn admin_cli(url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin_path("fleet-manager")?)
        .args(args)
        .env("FLEET_SERVER", url)
        .env("FLEET_TOKEN", ADMIN_TOKEN)
        .output()
        .context("running fleet-manager")?;
    if !out.status.success() {
        bail!(
            "fleet-manager {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Sends a GitHub push event for `repo_url`, signed with the webhook secret.
async fn send_webhook(http: &reqwest::Client, manager: &str, repo_url: &str) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main",
        "repository": { "clone_url": repo_url, "git_url": repo_url }
    }))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let sig = hex::encode(ring::hmac::sign(&key, &body).as_ref());
    let resp = http
        .post(format!("{manager}/webhooks/git"))
        .header("x-github-event", "push")
        .header("x-hub-signature-256", format!("sha256={sig}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("webhook answered {status}: {text}");
    }
    Ok(())
}
