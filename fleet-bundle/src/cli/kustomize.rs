//! `fleet-bundle kustomize DIR`: what `kubectl kustomize DIR` prints.

/// Arguments of `fleet-bundle kustomize DIR`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory holding a kustomization.
    pub dir: std::path::PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("kustomize {} is not available in this build yet", args.dir.display())
}
