//! `fleet-bundle target`: what a cluster with given labels gets from a checkout, rendered,
//! as `fleet test -l k=v` prints it (with `-o json`, per bundle the namespace and
//! deploymentID too).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use fleet_bundle::digest::{content_blob, deployment_id};
use fleet_bundle::render::render;
use fleet_bundle::scan::{scan, ScanOptions};
use fleet_bundle::selector::parse_labels;
use fleet_bundle::target::{select, ClusterInfo, GroupInfo};

use super::build::{chart_source, fail_on_errors, Format};

/// Arguments of `fleet-bundle target PATH [-l k=v]... [--cluster-name N] [--group G]...`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkout to scan.
    pub path: PathBuf,
    /// Cluster labels `k=v` (repeatable, comma-separated).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Cluster name.
    #[arg(short = 'N', long)]
    pub cluster_name: Option<String>,
    /// Cluster groups the cluster belongs to (repeatable). Without groups and labels the
    /// cluster is in the `default` group, as `fleet test` assumes.
    #[arg(short = 'g', long = "group")]
    pub groups: Vec<String>,
    /// Labels of the cluster groups `k=v` (repeatable).
    #[arg(short = 'L', long = "group-label")]
    pub group_labels: Vec<String>,
    /// Workspace of the bundles and the cluster.
    #[arg(short = 'n', long, default_value = "fleet-local")]
    pub namespace: String,
    /// GitRepo name: the prefix of bundle names.
    #[arg(long, default_value = "test")]
    pub name: String,
    /// GitRepo paths (globs relative to PATH), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub paths: Vec<String>,
    /// Cluster Kubernetes version for Helm's `.Capabilities` (Fleet's default otherwise).
    #[arg(long)]
    pub kube_version: Option<String>,
    #[arg(short = 'o', long, value_enum, default_value = "yaml")]
    pub output: Format,
    /// Where downloaded Helm charts are cached.
    #[arg(long, env = "FLEET_BUNDLE_CHART_CACHE")]
    pub chart_cache: Option<PathBuf>,
}

/// Scans, targets every bundle at the cluster, renders the targeted ones and prints them.
/// Failing bundles are reported on stderr and make the exit code 1, after the others.
pub fn run(args: Args) -> anyhow::Result<()> {
    let labels = parse_labels(args.labels.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--label: {e}"))?;
    let group_labels = parse_labels(args.group_labels.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--group-label: {e}"))?;
    let mut groups = args.groups.clone();
    if groups.is_empty() && labels.is_empty() && group_labels.is_empty() {
        groups.push("default".to_string());
    }
    let cluster = ClusterInfo {
        name: args.cluster_name.clone().unwrap_or_default(),
        namespace: args.namespace.clone(),
        labels,
        groups: groups
            .into_iter()
            .map(|name| GroupInfo {
                name,
                labels: group_labels.clone(),
            })
            .collect(),
        kube_version: args.kube_version.clone().unwrap_or_default(),
        ..ClusterInfo::default()
    };
    let charts = chart_source(args.chart_cache.clone());
    let opts = ScanOptions {
        repo_name: args.name.clone(),
        namespace: args.namespace.clone(),
        paths: args.paths.clone(),
        charts: &charts,
        ..ScanOptions::default()
    };
    let outcome =
        scan(&args.path, &opts).with_context(|| format!("scanning {}", args.path.display()))?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    let mut objects = Vec::new();
    let mut report = Vec::new();
    let mut failures = 0usize;
    let mut matched = 0usize;
    for bundle in &outcome.bundles {
        let name = &bundle.metadata.name;
        let target = match select(&bundle.spec, &cluster) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("Error: bundle {name}: {e}");
                failures += 1;
                continue;
            }
        };
        matched += 1;
        eprintln!("# Matched: {} (bundle {name})", target.target_name);
        let (_, digest) = content_blob(&bundle.spec.resources);
        let id = deployment_id(&digest, &target.options);
        let dir = tempfile::tempdir().context("creating a scratch directory")?;
        fleet_bundle::content::write_bundle_dir(&bundle.spec.resources, dir.path())
            .with_context(|| format!("bundle {name}"))?;
        match render(dir.path(), name, &target.options, &cluster) {
            Ok(rendered) => {
                objects.extend(rendered.objects.iter().cloned());
                report.push(serde_json::json!({
                    "bundle": name,
                    "target": target.target_name,
                    "customization": target.customization,
                    "namespace": rendered.namespace,
                    "releaseName": rendered.release_name,
                    "deploymentID": id,
                    "objects": rendered.objects,
                }));
            }
            Err(e) => {
                eprintln!("Error: bundle {name}: {e}");
                failures += 1;
            }
        }
    }
    let text = match args.output {
        Format::Yaml => fleet_bundle::export::to_yaml_stream(&objects)?,
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .context("writing output")?;
    fail_on_errors(&outcome.errors)?;
    if failures > 0 {
        anyhow::bail!("{failures} bundle(s) failed to render");
    }
    if matched == 0 && args.output == Format::Yaml {
        anyhow::bail!("no match found");
    }
    Ok(())
}
