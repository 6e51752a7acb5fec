//! Command-line flags of the `kube-double` binary.

use std::path::PathBuf;

use clap::Parser;

/// A Kubernetes API server double for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "kube-double", version)]
pub struct Cli {
    /// Loopback port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Where to write the kubeconfig (server, CA, token).
    #[arg(long)]
    pub kubeconfig_out: PathBuf,
    /// Persist objects to this file and restore them on start.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Bearer token to require (random when absent).
    #[arg(long, env = "KUBE_DOUBLE_TOKEN")]
    pub token: Option<String>,
    /// Do not simulate workload status (Deployments stay unready).
    #[arg(long)]
    pub no_status_sim: bool,
    /// Percentage of requests answered 500.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub fault_500_pct: u8,
    /// Percentage of requests answered 429 with Retry-After.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub fault_429_pct: u8,
    /// Latency added to every request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Cut every watch stream after this many seconds.
    #[arg(long)]
    pub drop_watch_after_s: Option<u64>,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    pub http: bool,
}
