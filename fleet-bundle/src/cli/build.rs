//! `fleet-bundle build`: the Bundles of a checkout, printed as `fleet apply -o - NAME` does.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use fleet_bundle::chart_source::HelmRepoChartSource;
use fleet_bundle::scan::{scan, ScanOptions};
use fleet_bundle::selector::parse_labels;

/// How bundles and manifests are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Arguments of `fleet-bundle build PATH [-n NAMESPACE] [--paths p1,p2] [-o yaml|json] NAME`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkout to scan.
    pub path: PathBuf,
    /// The GitRepo name: the prefix of every bundle name.
    pub name: String,
    /// Workspace of the bundles.
    #[arg(short = 'n', long, default_value = "fleet-local")]
    pub namespace: String,
    /// GitRepo paths (globs relative to PATH), comma-separated; the whole checkout when
    /// absent.
    #[arg(long, value_delimiter = ',')]
    pub paths: Vec<String>,
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: Format,
    /// Commit recorded in the `fleet.cattle.io/commit` label.
    #[arg(long, env = "COMMIT", default_value = "")]
    pub commit: String,
    /// Extra bundle labels `k=v` (repeatable, comma-separated).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Where downloaded Helm charts are cached.
    #[arg(long, env = "FLEET_BUNDLE_CHART_CACHE")]
    pub chart_cache: Option<PathBuf>,
}

/// The chart source of the CLI: the Helm repository client with an on-disk cache.
pub fn chart_source(cache: Option<PathBuf>) -> HelmRepoChartSource {
    HelmRepoChartSource::new(
        cache.unwrap_or_else(|| std::env::temp_dir().join("fleet-bundle-charts")),
    )
}

/// Scans and prints; bundles that failed are reported on stderr and make the exit code 1
/// (after the others are printed).
pub fn run(args: Args) -> anyhow::Result<()> {
    let labels = parse_labels(args.labels.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--label: {e}"))?;
    let charts = chart_source(args.chart_cache);
    let opts = ScanOptions {
        repo_name: args.name,
        namespace: args.namespace,
        paths: args.paths,
        labels,
        commit: args.commit,
        charts: &charts,
        ..ScanOptions::default()
    };
    let outcome =
        scan(&args.path, &opts).with_context(|| format!("scanning {}", args.path.display()))?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let bundles: Vec<serde_json::Value> = outcome
        .bundles
        .iter()
        .map(|b| {
            let mut b = b.clone();
            fleet_bundle::scan::fill_fleet_print_defaults(&mut b);
            serde_json::to_value(b)
        })
        .collect::<Result<_, _>>()
        .context("serializing bundles")?;
    let text = match args.output {
        Format::Yaml => fleet_bundle::export::to_yaml_stream(&bundles)?,
        Format::Json => {
            let sorted: Vec<_> = bundles.iter().map(fleet_bundle::export::sorted).collect();
            serde_json::to_string_pretty(&sorted)? + "\n"
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("writing output")?;
    fail_on_errors(&outcome.errors)
}

/// Reports every failed bundle; an error when there was one.
pub fn fail_on_errors(errors: &[fleet_bundle::scan::BundleError]) -> anyhow::Result<()> {
    for error in errors {
        eprintln!("Error: {error}");
    }
    match errors.len() {
        0 => Ok(()),
        1 => anyhow::bail!("1 bundle failed"),
        n => anyhow::bail!("{n} bundles failed"),
    }
}
