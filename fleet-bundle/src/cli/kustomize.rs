//! `fleet-bundle kustomize DIR`: what `kubectl kustomize DIR` prints.

use std::io::Write;

use anyhow::Context;

/// Arguments of `fleet-bundle kustomize DIR`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding a kustomization.
    pub dir: std::path::PathBuf,
    /// Directory outside which nothing is read (default: the current directory, or DIR
    /// when DIR is outside it).
    #[arg(long)]
    pub root: Option<std::path::PathBuf>,
}

/// Builds the kustomization and prints the YAML stream.
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = match args.root {
        Some(r) => r,
        None => {
            let cwd = std::env::current_dir().context("reading the current directory")?;
            let dir = args
                .dir
                .canonicalize()
                .with_context(|| format!("{}", args.dir.display()))?;
            if dir.starts_with(&cwd) {
                cwd
            } else {
                dir
            }
        }
    };
    let yaml = fleet_bundle::kustomize::build(
        &args.dir,
        &fleet_bundle::kustomize::BuildOptions::new(root),
    )?;
    let mut out = std::io::stdout().lock();
    out.write_all(yaml.as_bytes())
        .context("writing the output")?;
    Ok(())
}
