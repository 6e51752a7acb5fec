//! `manager-bench`: the manager's numbers for `make bench`.
//!
//! 1. Targeting: time to recompute every cluster's desired state after a push that
//!    changes every bundle, for `--clusters` clusters × `--bundles` bundles.
//! 2. Memory per registered cluster in the in-memory index (RSS growth / clusters).
//! 3. Desired-state polls answered with 304 per second by a real manager over loopback,
//!    driven by a keep-alive load generator (bounded by `--poll-seconds`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use fleet_bundle::bundle::{BundleSpec, BundleTarget, BundleTargetRestriction};
use fleet_bundle::selector::{LabelSelector, LabelSelectorRequirement, SelectorOperator};
use fleet_manager::store::{BundleRecord, ClusterRecord};
use fleet_manager::targeting::Index;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    clusters: usize,
    #[arg(long, default_value_t = 200)]
    bundles: usize,
    /// Clusters registered for the poll benchmark.
    #[arg(long, default_value_t = 1000)]
    poll_clusters: usize,
    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 5)]
    poll_seconds: u64,
}

const ENVS: [&str; 3] = ["prod", "staging", "dev"];
const REGIONS: usize = 20;
const TIERS: usize = 5;

fn cluster_labels(i: usize) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("env".to_string(), ENVS[i % ENVS.len()].to_string()),
        (
            "region".to_string(),
            format!("region-{}", (i / 3) % REGIONS),
        ),
        ("tier".to_string(), format!("tier-{}", (i / 60) % TIERS)),
    ])
}

fn cluster(i: usize) -> ClusterRecord {
    ClusterRecord {
        namespace: "fleet-default".into(),
        name: format!("cluster-{i:07}"),
        labels: cluster_labels(i),
        credential_hash: fleet_manager::auth::hash_token(&format!("credential-{i}")),
        agent_version: "v0.1.0".into(),
        ..Default::default()
    }
}

fn selector(key: &str, values: &[String]) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: BTreeMap::new(),
        match_expressions: vec![LabelSelectorRequirement {
            key: key.into(),
            operator: SelectorOperator::In,
            values: values.to_vec(),
        }],
    })
}

/// Bundle `b` at `generation`: a GitRepo target by env, a customization by region.
fn bundle(b: usize, generation: usize) -> BundleRecord {
    let env = ENVS[b % ENVS.len()].to_string();
    let restriction = BundleTargetRestriction {
        cluster_selector: selector("env", &[env.clone(), "staging".into()]),
        ..Default::default()
    };
    let customization = BundleTarget {
        name: "region-0".into(),
        cluster_selector: selector("region", &[format!("region-{}", b % REGIONS)]),
        options: fleet_bundle::bundle::BundleDeploymentOptions {
            target_namespace: "special".into(),
            ..Default::default()
        },
        ..Default::default()
    };
    let target = BundleTarget {
        name: "by-env".into(),
        cluster_selector: restriction.cluster_selector.clone(),
        ..Default::default()
    };
    BundleRecord {
        namespace: "fleet-default".into(),
        name: format!("bundle-{b:03}"),
        gitrepo: "bench".into(),
        spec: BundleSpec {
            targets: vec![customization, target],
            target_restrictions: vec![restriction],
            ..Default::default()
        },
        content_digest: fleet_bundle::digest::sha256_hex(format!("{b}-{generation}").as_bytes()),
        commit: format!("{generation:040}"),
        ..Default::default()
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn targeting_and_memory(args: &Args) {
    let index = Index::new();
    let records: Vec<ClusterRecord> = (0..args.clusters).map(cluster).collect();
    let before = rss_bytes();
    index.apply_clusters(&records);
    let after = rss_bytes();
    drop(records);
    index.set_bundles((0..args.bundles).map(|b| bundle(b, 1)).collect());
    let keys = index.recompute_all(&[]);
    // The push: every bundle gets new content.
    let started = Instant::now();
    index.set_bundles((0..args.bundles).map(|b| bundle(b, 2)).collect());
    let keys2 = index.recompute_all(&[]);
    let elapsed = started.elapsed();
    println!(
        "targeting recompute after a push: {:.1} ms for {} clusters x {} bundles ({} distinct target keys) [goal < 1000 ms]",
        elapsed.as_secs_f64() * 1000.0,
        args.clusters,
        args.bundles,
        keys2
    );
    let _ = keys;
    let per_cluster = after.saturating_sub(before) as f64 / args.clusters.max(1) as f64;
    println!(
        "memory per registered cluster: {per_cluster:.0} bytes (index RSS growth {} MiB for {} clusters) [goal < 2048 bytes]",
        after.saturating_sub(before) / (1 << 20),
        args.clusters
    );
}

/// One keep-alive connection sending desired-state polls with a current ETag; counts 304s.
async fn poll_loop(
    addr: std::net::SocketAddr,
    credential: String,
    etag: String,
    stop: Instant,
    count: Arc<AtomicU64>,
) -> Result<()> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .context("connect")?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET /agent/v1/desired?wait=0 HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {credential}\r\nIf-None-Match: {etag}\r\n\r\n"
    );
    let mut buf = vec![0u8; 8192];
    while Instant::now() < stop {
        stream.write_all(request.as_bytes()).await?;
        // Read one response: headers, then Content-Length bytes.
        let mut filled = 0;
        let header_end = loop {
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                bail!("connection closed");
            }
            filled += n;
            if let Some(p) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if filled == buf.len() {
                bail!("response headers too large");
            }
        };
        let head = std::str::from_utf8(&buf[..header_end]).unwrap_or_default();
        if !head.starts_with("HTTP/1.1 304") {
            bail!(
                "expected 304, got {}",
                head.lines().next().unwrap_or_default()
            );
        }
        // A 304 has no body, so the response ends with its headers.
        count.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

async fn polls(args: &Args) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut opts =
        fleet_manager::server::ServeOptions::new("127.0.0.1:0".parse()?, dir.path().to_path_buf());
    opts.admin_token = Some("bench-admin".into());
    let running = fleet_manager::server::start(opts).await?;
    let manager = running.manager.clone();
    for b in 0..args.bundles.min(50) {
        manager.store.put_bundle(&bundle(b, 1)).await?;
    }
    for i in 0..args.poll_clusters {
        manager.store.upsert_cluster(&cluster(i)).await?;
    }
    manager.reload().await?;
    // Each connection polls as one cluster with its current ETag.
    let mut etags = Vec::new();
    let http = reqwest::Client::new();
    for i in 0..args.connections {
        let c = i % args.poll_clusters.max(1);
        let resp = http
            .get(format!("http://{}/agent/v1/desired", running.addr))
            .bearer_auth(format!("credential-{c}"))
            .send()
            .await?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .context("no etag")?
            .to_string();
        etags.push((format!("credential-{c}"), etag));
    }
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop = started + Duration::from_secs(args.poll_seconds);
    let mut tasks = Vec::new();
    for (credential, etag) in etags {
        tasks.push(tokio::spawn(poll_loop(
            running.addr,
            credential,
            etag,
            stop,
            count.clone(),
        )));
    }
    for t in tasks {
        t.await??;
    }
    let n = count.load(Ordering::Relaxed);
    let rate = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "desired-state 304 answers: {rate:.0}/s ({n} in {:.1} s over {} keep-alive connections, load generator in the same process) [goal > 20000/s]",
        started.elapsed().as_secs_f64(),
        args.connections
    );
    running.shutdown();
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    targeting_and_memory(&args);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(polls(&args))
}
