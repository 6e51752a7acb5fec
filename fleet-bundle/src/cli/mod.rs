//! Flag definitions of the `fleet-bundle` command and dispatch to the library.

use clap::{Parser, Subcommand};

mod build;
mod kustomize;
mod target;
mod template;

/// Fleet Bundles from a Git checkout: build, target, render.
#[derive(Debug, Parser)]
#[command(name = "fleet-bundle", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render a Helm chart as `helm template` does (same arguments, same output).
    Template(template::Args),
    /// Build a kustomization as `kubectl kustomize` does (same output).
    Kustomize(kustomize::Args),
    /// Print the Bundles of a checkout as `fleet apply -o - NAME` does.
    Build(build::Args),
    /// Print what a cluster with given labels gets, rendered, as `fleet test` does.
    Target(target::Args),
}

/// Parses the command line, runs the command, and maps errors to a message and exit code 1.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Template(args) => template::run(args),
        Command::Kustomize(args) => kustomize::run(args),
        Command::Build(args) => build::run(args),
        Command::Target(args) => target::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
