//! The `fleet-manager` binary: parses the command line and runs it.
use clap::Parser;

/// mimalloc returns freed memory to the system and keeps no per-thread arenas: a burst
/// of thousands of registrations or reports no longer leaves glibc's arenas holding
/// tens of megabytes of the manager's resident memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
