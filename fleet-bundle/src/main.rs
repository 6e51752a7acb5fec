//! The `fleet-bundle` command line: flags in [`cli`], the work in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
