//! `fleet-bundle template`: the arguments of `helm template`.

/// Arguments of `fleet-bundle template RELEASE CHART ...` (as `helm template`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name.
    pub release: String,
    /// Chart directory or archive.
    pub chart: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("rendering chart {} is not available in this build yet", args.chart)
}
