//! `fleet-sim`: the scale simulator (`make bench` runs it for several fleet sizes).
//!
//! `fleet-sim --agents N [--repo examples] [--connections C] [--http1] [--idle-seconds S]` starts a
//! Git server, a manager and N simulated agents, and prints the measured figures.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use e2e::sim::{run, SimConfig};

/// Simulates a fleet of agents against a real manager and prints what it measured.
#[derive(Debug, Parser)]
struct Args {
    /// Number of simulated agents.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// The Fleet repo to serve from the Git server.
    #[arg(long, default_value = "examples")]
    repo: PathBuf,
    /// HTTP/2 connections the agents share.
    #[arg(long)]
    connections: Option<usize>,
    /// Seconds to measure the idle fleet; by default ⅞ of a long-poll wait (one mean
    /// renewal period), opening ⅜ of a wait after the first deployment, which holds the
    /// steady renewal rate (see `SimConfig::steady`).
    #[arg(long)]
    idle_seconds: Option<u64>,
    /// Long-poll wait asked for by each agent (the real agent's default
    /// `--poll-wait-seconds`).
    #[arg(long, default_value_t = 600)]
    wait_seconds: u64,
    /// Seconds between heartbeats of an idle agent (the real agent's default
    /// `--heartbeat-seconds`).
    #[arg(long, default_value_t = 3600)]
    heartbeat_seconds: u64,
    /// Speak HTTP/1.1, one connection per parked poll, as the real agent does (by
    /// default agents share HTTP/2 connections, 150 to each).
    #[arg(long)]
    http1: bool,
    /// Give up on a phase after this many seconds.
    #[arg(long, default_value_t = 600)]
    phase_timeout: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (settle, idle) = SimConfig::steady(Duration::from_secs(args.wait_seconds));
    let cfg = SimConfig {
        agents: args.agents,
        repo: args.repo,
        // HTTP/2 servers allow ~200 concurrent streams per connection: keep under that.
        connections: args.connections.unwrap_or(args.agents.div_ceil(150).max(1)),
        settle,
        idle: args.idle_seconds.map_or(idle, Duration::from_secs),
        wait_seconds: args.wait_seconds,
        heartbeat: Duration::from_secs(args.heartbeat_seconds),
        phase_timeout: Duration::from_secs(args.phase_timeout),
        http1: args.http1,
    };
    let work = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(&cfg, work.path()))?;
    println!("{}", report.render());
    Ok(())
}
