//! The `fleet-bundle` command line: flags in [`cli`], the work in the library.

mod cli;

/// The binary's allocator. A render makes millions of small, short-lived allocations
/// (template values, parse trees, YAML events), and glibc's allocator took about a
/// quarter of a `template` run; mimalloc is several times cheaper per call. Only this
/// binary uses it: the library leaves the choice to the programs linking it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
