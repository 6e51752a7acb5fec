//! How a double is started: port, TLS, token, persistence, status simulation and faults.

use std::path::PathBuf;

/// Failures the double injects so clients' retry paths get exercised.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Delay added before answering each request, in milliseconds.
    pub latency_ms: u64,
    /// Percentage (0–100) of API requests answered with 500 InternalError.
    pub error_500_pct: u8,
    /// Percentage (0–100) of API requests answered with 429 TooManyRequests and Retry-After.
    pub error_429_pct: u8,
    /// End every watch stream after this many seconds, without a clean timeout.
    pub drop_watch_after_s: Option<u64>,
}

/// Settings for [`crate::KubeDouble::start`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Loopback port to listen on; 0 picks a free one.
    pub port: u16,
    /// Serve HTTPS with a generated CA (true) or plain HTTP (false).
    pub tls: bool,
    /// Bearer token clients must send; a random one when `None`.
    pub token: Option<String>,
    /// File the objects persist to and are restored from.
    pub state_file: Option<PathBuf>,
    /// Whether workloads become ready on their own.
    pub simulate_status: bool,
    /// Milliseconds between a workload change and its simulated readiness.
    pub status_delay_ms: u64,
    /// Faults to inject from the start.
    pub faults: Faults,
    /// How many watch events are kept for watches resuming from an older resourceVersion.
    pub watch_history: usize,
    /// Where to write a kubeconfig; a file next to the state or in a temp dir when `None`.
    pub kubeconfig_out: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            tls: true,
            token: None,
            state_file: None,
            simulate_status: true,
            status_delay_ms: 200,
            faults: Faults::default(),
            watch_history: 10_000,
            kubeconfig_out: None,
        }
    }
}
