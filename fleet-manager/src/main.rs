//! The `fleet-manager` binary: parses the command line and runs it.
use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = fleet_manager::cli::Cli::parse();
    fleet_manager::cli::init_tracing(cli.log_format);
    match fleet_manager::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
