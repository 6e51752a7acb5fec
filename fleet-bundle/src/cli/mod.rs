//! Flag definitions of the `fleet-bundle` command and dispatch to the library.

use clap::{Parser, Subcommand};

mod build;
mod bundlediff;
mod deploy;
mod kustomize;
mod target;
mod template;

/// The Fleet CLI forms each command takes, under Fleet's flag names.
const FLEET_FORMS: &str = "\
Fleet CLI forms (Fleet's flag names):
  fleet apply NAME DIRS   build PATH NAME [--paths DIRS] [-n NS] [-l k=v] [-o yaml|json|-|FILE]
                          [--targets-file F] [--driven-scan [--driven-scan-sep S]] [-f FILE|-]
                          [--target-namespace NS] [-a|--service-account SA] [--paused]
                          [--keep-resources] [--delete-namespace] [--correct-drift
                          [--correct-drift-force] [--correct-drift-keep-fail-history]]
                          [-c|--compress] [--sync-generation N] [--username U --password-file F]
                          [--cacerts-file F] [--ssh-privatekey-file F] [--helm-repo-url-regex R]
                          [--helm-credentials-by-path-file F] [--helm-basic-http]
                          [--helm-insecure-skip-tls] [--helm-accept-digest-mismatch]
  fleet test / target     target (alias test) PATH [-l k=v] [-N NAME] [-g GROUP] [-L k=v]
                          [-f FILE] [-b|--bundle-file F] [-q] [-t TARGET] [--dump-input-list]
                          [-o yaml|json]
  fleet deploy            deploy -i FILE --dry-run [-n NS] [--kube-version V]
  fleet bundlediff        bundlediff [-i FILE|-] [--bundle-deployment D -n NS] [-b BUNDLE]
                          [--json | --fleet-yaml]";

/// Fleet Bundles from a Git checkout: build, target, render.
#[derive(Debug, Parser)]
#[command(name = "fleet-bundle", version, about, after_help = FLEET_FORMS)]
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
    #[command(alias = "test")]
    Target(target::Args),
    /// Render the Content + BundleDeployment `fleet target` writes, as `fleet deploy
    /// --dry-run` does.
    Deploy(deploy::Args),
    /// Show what differs between bundles and clusters, from BundleDeployment statuses, as
    /// `fleet bundlediff` does.
    Bundlediff(bundlediff::Args),
}

/// Parses the command line, runs the command, and maps errors to a message and exit code 1.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Template(args) => template::run(args),
        Command::Kustomize(args) => kustomize::run(args),
        Command::Build(args) => build::run(args),
        Command::Target(args) => target::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Bundlediff(args) => bundlediff::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
