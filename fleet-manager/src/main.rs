//! The `fleet-manager` binary: parses the command line and runs it.
use clap::Parser;

/// jemalloc, purging from a background thread, with one arena per CPU: freed pages go
/// back to the system within a second of a burst, and fewer half-used arenas stay
/// resident (`.cargo/config.toml` sets the options at build time). What the manager
/// keeps resident after a burst is partly the allocator's, not its data: `/metrics`
/// exports both figures. At 10,000 simulated agents (`fleet-sim`, 120 s waits) RSS after
/// the first deployment was 102 MiB with mimalloc, 97 with jemalloc's defaults and 82-88
/// with the background purge; one arena per CPU instead of four took about 3 MiB more
/// off (within the spread of runs: a small gain, kept as it costs nothing).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
/// What the manager mostly holds is a few hundred bytes per parked long-poll spread over
/// a large heap, and the kernel's khugepaged fills such sparsely used 2 MiB ranges: at
/// 100,000 agents huge pages grew by 250 MB in a ten-minute idle window, and memory per
/// cluster fell from 9.7 to 5.1 KB without them; the price is CPU in bursts (a push took
/// 33 CPU-seconds instead of 19 there; see the README).
fn keep_memory_in_small_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("warning: cannot opt out of transparent huge pages: {e}");
    }
}
