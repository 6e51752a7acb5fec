//! Command-line flags of `fleet-agent`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fleet_agent::AgentConfig;

/// The Fleet agent: pulls this cluster's bundles from the fleet manager and applies them.
#[derive(Debug, Parser)]
#[command(name = "fleet-agent", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent until stopped.
    Run(RunArgs),
}

/// Flags of `fleet-agent run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// URL of the fleet manager (https://host:port).
    #[arg(long, env = "FLEET_MANAGER_URL")]
    pub manager: String,
    /// Registration token (used only until the agent holds a credential).
    #[arg(long, env = "FLEET_REGISTRATION_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Name to register the cluster under (the manager derives one when empty).
    #[arg(long, default_value = "")]
    pub cluster_name: String,
    /// Cluster labels, `k=v,k2=v2`.
    #[arg(long, default_value = "", value_parser = parse_labels)]
    pub labels: BTreeMap<String, String>,
    /// Where the credential, the cached desired state and content are kept.
    #[arg(long, default_value = "/var/lib/fleet-agent")]
    pub state_dir: PathBuf,
    /// Kubeconfig of the managed cluster (default: in-cluster, then the usual lookup).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Serve /metrics and /healthz on this address.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
    /// Namespace of the Helm release records.
    #[arg(long, default_value = "fleet-system")]
    pub release_namespace: String,
    /// Extra CA certificate (PEM) to trust for the manager.
    #[arg(long, env = "FLEET_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for a manager started with --client-ca; its CN or a DNS
    /// SAN must be this cluster's name.
    #[arg(long, env = "FLEET_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Private key (PEM) of --client-cert.
    #[arg(long, env = "FLEET_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Seconds one long-poll of the desired state waits for a change (the manager caps
    /// it at 600, and ends it between 3/4 of it and all of it, as client-go's watches
    /// last 5 to 10 minutes). Long waits keep an idle fleet cheap; if a proxy on the way
    /// cuts idle requests sooner, the agent notices and asks for less.
    #[arg(long, default_value_t = 600)]
    pub poll_wait_seconds: u64,
    /// Seconds between full re-checks of every bundle (watches catch changes sooner).
    #[arg(long, default_value_t = 30)]
    pub resync_seconds: u64,
    /// Seconds between heartbeats: the unchanged status re-sent. Only a safety net:
    /// changes are reported at once, every long-poll counts as contact, and a manager
    /// that lost the last report asks for it on the next poll.
    #[arg(long, default_value_t = 3600)]
    pub heartbeat_seconds: u64,
    /// Longest wait between retries to the manager, in seconds.
    #[arg(long, default_value_t = 60)]
    pub max_retry_seconds: u64,
    /// Namespaces bundles may write to, comma-separated globs (`team-*`); empty allows all.
    #[arg(long, value_delimiter = ',')]
    pub allowed_namespaces: Vec<String>,
    /// With --allowed-namespaces, still allow cluster-scoped objects.
    #[arg(long)]
    pub allow_cluster_scoped: bool,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

impl RunArgs {
    /// The agent configuration these flags describe.
    pub fn config(&self) -> AgentConfig {
        let mut config = AgentConfig::new(&self.manager, &self.token, &self.state_dir);
        config.cluster_name = self.cluster_name.clone();
        config.labels = self.labels.clone();
        config.ca_file = self.ca_file.clone();
        config.client_cert = self.client_cert.clone();
        config.client_key = self.client_key.clone();
        config.metrics_addr = self.metrics_addr;
        config.release_namespace = self.release_namespace.clone();
        config.poll_wait = Duration::from_secs(self.poll_wait_seconds.max(1));
        config.resync_interval = Duration::from_secs(self.resync_seconds.max(1));
        config.heartbeat_interval = Duration::from_secs(self.heartbeat_seconds.max(1));
        config.retry_max = Duration::from_secs(self.max_retry_seconds.max(1));
        config.allowed_namespaces = self
            .allowed_namespaces
            .iter()
            .filter(|n| !n.is_empty())
            .cloned()
            .collect();
        config.allow_cluster_scoped = self.allow_cluster_scoped;
        config
    }
}

/// Parses `k=v,k2=v2` (empty is no labels).
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("label {pair:?} is not key=value"))?;
        if key.is_empty() {
            return Err(format!("label {pair:?} has an empty key"));
        }
        labels.insert(key.to_string(), value.to_string());
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse() {
        let labels = parse_labels("env=prod, region=eu").unwrap();
        assert_eq!(labels["env"], "prod");
        assert_eq!(labels["region"], "eu");
        assert!(parse_labels("").unwrap().is_empty());
        assert!(parse_labels("novalue").unwrap_err().contains("key=value"));
        assert!(parse_labels("=x").is_err());
    }

    #[test]
    fn run_flags_build_a_config() {
        let cli = Cli::try_parse_from([
            "fleet-agent",
            "run",
            "--manager",
            "https://m:8443",
            "--token",
            "t",
            "--labels",
            "env=dev",
            "--allowed-namespaces",
            "team-*,apps",
            "--resync-seconds",
            "5",
        ])
        .unwrap();
        let Command::Run(args) = cli.command;
        let config = args.config();
        assert_eq!(config.manager_url, "https://m:8443");
        assert_eq!(config.labels["env"], "dev");
        assert_eq!(config.allowed_namespaces, ["team-*", "apps"]);
        assert_eq!(config.resync_interval, Duration::from_secs(5));
        assert_eq!(config.release_namespace, "fleet-system");
    }

    #[test]
    fn client_certificate_flags_go_together() {
        let base = [
            "fleet-agent",
            "run",
            "--manager",
            "https://m",
            "--token",
            "t",
        ];
        let mut argv = base.to_vec();
        argv.extend(["--client-cert", "c.pem", "--client-key", "k.pem"]);
        let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command;
        let config = args.config();
        assert_eq!(
            config.client_cert.as_deref(),
            Some(std::path::Path::new("c.pem"))
        );
        assert_eq!(
            config.client_key.as_deref(),
            Some(std::path::Path::new("k.pem"))
        );
        let mut argv = base.to_vec();
        argv.extend(["--client-cert", "c.pem"]);
        assert!(Cli::try_parse_from(argv).is_err());
    }

    #[test]
    fn missing_manager_is_an_error() {
        assert!(Cli::try_parse_from(["fleet-agent", "run", "--token", "t"]).is_err());
    }
}
