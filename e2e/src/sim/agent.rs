//! One simulated agent: registers, long-polls its desired state with ETags, fetches new
//! content by digest, and reports every bundle Ready, with a heartbeat while idle: the
//! request pattern of a real `fleet-agent` whose cluster applies instantly.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use fleet_bundle::deployment::{
    BundleDeploymentStatus, BundleState, DesiredState, RegisterRequest, RegisterResponse,
    StatusReport, REPORT_WANTED_HEADER, STATUS_ACKNOWLEDGED_HEADER,
};
use reqwest::header::{AUTHORIZATION, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use tokio::sync::watch;

/// Rough size of the request and response headers of one call, for the traffic estimate
/// (HTTP/2 compresses repeated headers further, so this errs high).
const HEADER_BYTES: u64 = 300;

/// Counters shared by every simulated agent.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    pub registered: AtomicUsize,
    /// Polls answered with the manager asking for a report again (none in a healthy run).
    pub reports_wanted: AtomicU64,
}

impl Stats {
    fn record(&self, body_bytes: usize) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(HEADER_BYTES + body_bytes as u64, Ordering::Relaxed);
    }
}

/// The commit every agent must reach, and how many did.
#[derive(Debug, Default)]
pub struct Target {
    commit: RwLock<(u64, String)>,
    reached: AtomicUsize,
}

impl Target {
    /// Sets a new commit to reach and resets the count.
    pub fn set(&self, commit: &str) {
        if let Ok(mut t) = self.commit.write() {
            t.0 += 1;
            t.1 = commit.to_string();
        }
        self.reached.store(0, Ordering::SeqCst);
    }

    /// How many agents reported Ready on the current target commit.
    pub fn reached(&self) -> usize {
        self.reached.load(Ordering::SeqCst)
    }

    fn current(&self) -> (u64, String) {
        self.commit.read().map(|t| t.clone()).unwrap_or_default()
    }
}

/// What every simulated agent shares: HTTP clients, the manager URL, counters.
pub struct Shared {
    pub clients: Vec<reqwest::Client>,
    pub manager: String,
    pub registration_token: String,
    pub stats: Stats,
    pub target: Target,
    pub wait_seconds: u64,
    pub heartbeat: Duration,
    /// Registrations in flight at once: a real fleet does not appear in one instant, and
    /// 100,000 simultaneous registrations would measure only the manager's request
    /// timeout (they queue behind SQLite's single writer for longer than it).
    pub registering: tokio::sync::Semaphore,
}

/// Runs agent `index` until `stop` turns true.
pub async fn run(shared: Arc<Shared>, index: usize, mut stop: watch::Receiver<bool>) {
    let client = &shared.clients[index % shared.clients.len()];
    let name = format!("sim-{index:07}");
    let labels = super::labels::for_cluster(index);
    let mut credential = None;
    let mut etag: Option<String> = None;
    let mut fetched: HashSet<String> = HashSet::new();
    let mut last_report: Option<StatusReport> = None;
    // The sequence of the newest report the manager accepted, sent with every poll as
    // the real agent sends it.
    let mut acknowledged = 0u64;
    let mut last_post = tokio::time::Instant::now();
    let mut heartbeat = fleet_bundle::deployment::spread(shared.heartbeat);
    let mut counted_epoch = 0u64;
    let mut backoff = Duration::from_millis(200);

    while !*stop.borrow() {
        let Some(cred) = credential.clone() else {
            let outcome = match shared.registering.acquire().await {
                Ok(_turn) => register(&shared, client, &name, &labels).await,
                Err(e) => Err(e.into()),
            };
            match outcome {
                Ok(c) => {
                    shared.stats.registered.fetch_add(1, Ordering::Relaxed);
                    credential = Some(c);
                    backoff = Duration::from_millis(200);
                }
                Err(_) => {
                    shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                    sleep_or_stop(&mut stop, backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
            continue;
        };

        // The heartbeat runs on its own timer while the poll is parked, as the real
        // agent's reporter does, spread like the real agent's.
        let answer = {
            let poll = poll(&shared, client, &cred, etag.as_deref(), acknowledged);
            tokio::pin!(poll);
            loop {
                let beat = tokio::time::sleep_until(last_post + heartbeat);
                tokio::select! {
                    a = &mut poll => break Some(a),
                    _ = stop.changed() => break None,
                    _ = beat, if last_report.is_some() => {
                        if let Some(report) = &last_report {
                            if post_status(&shared, client, &cred, report).await.is_ok() {
                                acknowledged = report.sequence;
                            }
                        }
                        last_post = tokio::time::Instant::now();
                        heartbeat = fleet_bundle::deployment::spread(shared.heartbeat);
                    }
                }
            }
        };
        let Some(answer) = answer else { break };
        if let Ok((_, true)) = &answer {
            shared.stats.reports_wanted.fetch_add(1, Ordering::Relaxed);
            if let Some(report) = &last_report {
                if post_status(&shared, client, &cred, report).await.is_ok() {
                    acknowledged = report.sequence;
                    last_post = tokio::time::Instant::now();
                }
            }
        }
        match answer.map(|(poll, _)| poll) {
            Ok(Poll::Changed(new_etag, desired)) => {
                etag = Some(new_etag);
                for d in &desired.deployments {
                    if !fetched.contains(&d.content_digest)
                        && fetch(&shared, client, &cred, &d.content_digest)
                            .await
                            .is_ok()
                    {
                        fetched.insert(d.content_digest.clone());
                    }
                }
                let report = ready_report(&desired, acknowledged);
                if post_status(&shared, client, &cred, &report).await.is_ok() {
                    acknowledged = report.sequence;
                    last_post = tokio::time::Instant::now();
                    heartbeat = steady_state_phase(shared.heartbeat);
                    let (epoch, commit) = shared.target.current();
                    let on_target = !desired.deployments.is_empty()
                        && desired.deployments.iter().all(|d| d.commit == commit);
                    if on_target && epoch != counted_epoch {
                        counted_epoch = epoch;
                        shared.target.reached.fetch_add(1, Ordering::SeqCst);
                    }
                }
                last_report = Some(report);
                backoff = Duration::from_millis(200);
            }
            Ok(Poll::Unchanged) => {}
            Ok(Poll::Unknown) => {
                credential = None;
                etag = None;
            }
            Err(_) => {
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                sleep_or_stop(&mut stop, backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// When the first heartbeat after a report falls in a fleet that has been idle for a
/// while: the renewal process of [`fleet_bundle::deployment::spread`] periods seen from
/// a random moment (its equilibrium residual time), instead of the whole fleet's
/// heartbeats in one burst ¾..1 period after the deployment every agent just reported.
/// The idle window then measures the steady heartbeat rate, N per mean period, whatever
/// its length. Periods are uniform on [¾P, P] (mean ⅞P): the residual time is uniform
/// on [0, ¾P) with probability ¾P / ⅞P = 6/7, else on [¾P, P] with a density falling
/// linearly to zero.
pub fn steady_state_phase(period: Duration) -> Duration {
    let u: f64 = rand::random();
    let fraction = if u < 6.0 / 7.0 {
        0.75 * rand::random::<f64>()
    } else {
        1.0 - 0.25 * rand::random::<f64>().sqrt()
    };
    period.mul_f64(fraction)
}

async fn sleep_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) {
    // Jitter keeps a fleet that failed together from retrying together.
    let jitter = Duration::from_millis(rand::random::<u64>() % (d.as_millis() as u64 / 2 + 1));
    tokio::select! {
        _ = tokio::time::sleep(d + jitter) => {}
        _ = stop.changed() => {}
    }
}

async fn register(
    shared: &Shared,
    client: &reqwest::Client,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let body = serde_json::to_vec(&RegisterRequest {
        cluster_name: name.to_string(),
        labels: labels.clone(),
        agent_version: "sim".into(),
    })?;
    let len = body.len();
    let resp = client
        .post(format!("{}/agent/v1/register", shared.manager))
        .header(
            AUTHORIZATION,
            format!("Bearer {}", shared.registration_token),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    shared.stats.record(len + bytes.len());
    anyhow::ensure!(
        status.is_success(),
        "register: {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(serde_json::from_slice::<RegisterResponse>(&bytes)?.credential)
}

enum Poll {
    Changed(String, DesiredState),
    Unchanged,
    Unknown,
}

async fn poll(
    shared: &Shared,
    client: &reqwest::Client,
    cred: &str,
    etag: Option<&str>,
    acknowledged: u64,
) -> anyhow::Result<(Poll, bool)> {
    let mut req = client
        .get(format!(
            "{}/agent/v1/desired?wait={}",
            shared.manager, shared.wait_seconds
        ))
        .header(AUTHORIZATION, format!("Bearer {cred}"));
    if let Some(etag) = etag {
        req = req.header(IF_NONE_MATCH, etag);
    }
    if acknowledged > 0 {
        req = req.header(STATUS_ACKNOWLEDGED_HEADER, acknowledged);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let report_wanted = resp.headers().contains_key(REPORT_WANTED_HEADER);
    let new_etag = resp
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = resp.bytes().await?;
    shared.stats.record(bytes.len());
    let poll = match status {
        StatusCode::NOT_MODIFIED => Poll::Unchanged,
        StatusCode::UNAUTHORIZED => Poll::Unknown,
        s if s.is_success() => Poll::Changed(
            new_etag.unwrap_or_default(),
            serde_json::from_slice(&bytes)?,
        ),
        s => anyhow::bail!("desired: {s}"),
    };
    Ok((poll, report_wanted))
}

async fn fetch(
    shared: &Shared,
    client: &reqwest::Client,
    cred: &str,
    digest: &str,
) -> anyhow::Result<()> {
    let resp = client
        .get(format!("{}/agent/v1/content/{digest}", shared.manager))
        .header(AUTHORIZATION, format!("Bearer {cred}"))
        .send()
        .await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    shared.stats.record(bytes.len());
    anyhow::ensure!(status.is_success(), "content {digest}: {status}");
    Ok(())
}

/// Every bundle of `desired` Ready, under a sequence above `after` (the real agent's
/// sequences are wall-clock microseconds, kept increasing).
fn ready_report(desired: &DesiredState, after: u64) -> StatusReport {
    let now = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
    let sequence = now.max(after + 1);
    StatusReport {
        agent_version: "sim".into(),
        sequence,
        bundles: desired
            .deployments
            .iter()
            .map(|d| BundleDeploymentStatus {
                bundle: d.bundle.clone(),
                namespace: d.namespace.clone(),
                deployment_id: d.deployment_id.clone(),
                applied_deployment_id: d.deployment_id.clone(),
                state: BundleState::Ready,
                message: String::new(),
                non_ready: vec![],
                modified: vec![],
                release: format!("{}:1", d.bundle),
                sequence,
            })
            .collect(),
    }
}

async fn post_status(
    shared: &Shared,
    client: &reqwest::Client,
    cred: &str,
    report: &StatusReport,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(report)?;
    let len = body.len();
    let resp = client
        .post(format!("{}/agent/v1/status", shared.manager))
        .header(AUTHORIZATION, format!("Bearer {cred}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    shared.stats.record(len + bytes.len());
    anyhow::ensure!(status.is_success(), "status: {status}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_state_phases_average_the_residual_of_spread_periods() {
        // Mean residual time of a renewal process: E[X^2] / 2E[X]; for X uniform on
        // [0.75, 1]: E[X] = 0.875, E[X^2] = (1 - 0.421875) / 0.75, residual ~0.4405.
        let period = Duration::from_secs(1000);
        let n = 200_000;
        let phases: Vec<f64> = (0..n)
            .map(|_| steady_state_phase(period).as_secs_f64())
            .collect();
        let mean = phases.iter().sum::<f64>() / n as f64;
        let expected = 1000.0 * ((1.0 - 0.421_875) / 0.75) / (2.0 * 0.875);
        assert!((mean - expected).abs() < 3.0, "{mean} vs {expected}");
        assert!(phases.iter().all(|p| (0.0..=1000.0).contains(p)));
        // The density is flat below 3/4 of the period: half of that part falls below 3/8.
        let below = phases.iter().filter(|p| **p < 375.0).count() as f64 / n as f64;
        assert!((below - 3.0 / 7.0).abs() < 0.01, "{below}");
    }
}
