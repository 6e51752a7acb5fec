//! The `fleet-manager` binary: parses the command line and runs it.
use clap::Parser;

/// mimalloc returns freed memory to the system and keeps no per-thread arenas: a burst
/// of thousands of registrations or reports no longer leaves glibc's arenas holding
/// tens of megabytes of the manager's resident memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keep_memory_in_small_pages();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let cli = fleet_manager::cli::Cli::parse();
        fleet_manager::cli::init_tracing(cli.log_format);
        match fleet_manager::cli::run(cli).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

/// Opts the process out of transparent huge pages, before the runtime allocates.
///
/// mimalloc asks for huge pages on its arenas, and the kernel's khugepaged then fills
/// sparsely used 2 MiB ranges: what the manager mostly holds is a few hundred bytes per
/// parked long-poll spread over a large heap. At 100,000 agents huge pages grew by
/// 250 MB in a ten-minute idle window, and memory per cluster fell from 9.7 to 5.1 KB
/// without them; the price is CPU in bursts (a push took 33 CPU-seconds instead of 19
/// there; see the README). mimalloc's own `MIMALLOC_ALLOW_THP=0` does the same.
fn keep_memory_in_small_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: cannot opt out of transparent huge pages: {e}");
    }
}
