//! The `fleet-agent` binary: parses flags and runs the agent on a small runtime.

mod cli;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    let cli::Command::Run(args) = cli.command;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if args.log_json {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    // One thread: the agent waits on the network almost all the time, and an edge node's
    // memory matters more than parallel applies.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let kube = fleet_agent::cluster::connect(args.kubeconfig.as_deref())
            .await
            .context("cannot connect to the cluster")?;
        fleet_agent::run(args.config(), kube)
            .await
            .context("fleet-agent stopped")
    })
}
