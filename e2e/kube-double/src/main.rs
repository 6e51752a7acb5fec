//! The `kube-double` binary: parse flags, start the double, print its URL, serve until
//! interrupted.

mod cli;

use anyhow::Context;
use clap::Parser;
use kube_double::{Config, Faults, KubeDouble};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = cli::Cli::parse();
    if u16::from(cli.fault_500_pct) + u16::from(cli.fault_429_pct) > 100 {
        anyhow::bail!("--fault-500-pct plus --fault-429-pct must not exceed 100");
    }
    let config = Config {
        port: cli.port,
        tls: !cli.http,
        token: cli.token,
        state_file: cli.state,
        simulate_status: !cli.no_status_sim,
        faults: Faults {
            latency_ms: cli.latency_ms,
            error_500_pct: cli.fault_500_pct,
            error_429_pct: cli.fault_429_pct,
            drop_watch_after_s: cli.drop_watch_after_s,
        },
        kubeconfig_out: Some(cli.kubeconfig_out.clone()),
        ..Config::default()
    };
    let handle = KubeDouble::start(config)
        .await
        .context("starting kube-double")?;
    println!("{}", handle.url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    handle.shutdown().await;
    Ok(())
}
