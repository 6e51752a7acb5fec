//! `fleet-bundle target` (alias `test`): what a cluster with given labels gets from a
//! checkout, rendered, as `fleet test -l k=v` prints it (internal/cmd/cli/test.go and
//! match/match.go), with Fleet's `-f`, `-b/--bundle-file`, `-q`, `-t` and
//! `--dump-input-list`; `-o json` reports per bundle the namespace, deploymentID and the
//! options the deployment gets.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use fleet_bundle::bundle::Bundle;
use fleet_bundle::digest::{content_blob, deployment_id};
use fleet_bundle::render::render;
use fleet_bundle::scan::{scan, ScanOptions};
use fleet_bundle::selector::parse_labels;
use fleet_bundle::target::{select, select_named, ClusterInfo, GroupInfo};
use serde::Deserialize as _;

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
    /// Bundles (YAML, as `build` prints them) to target instead of scanning PATH.
    #[arg(short = 'b', long)]
    pub bundle_file: Option<PathBuf>,
    /// The options file of the bundle at PATH, instead of its fleet.yaml (Fleet's `-f`);
    /// PATH is then one bundle.
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Only print the `# Matched` lines, not the resources.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Take the target of this name, whatever the cluster's labels and groups.
    #[arg(short = 't', long)]
    pub target: Option<String>,
    /// Print the cluster targeting was given (name, labels, groups) as YAML on stderr.
    #[arg(long)]
    pub dump_input_list: bool,
}

/// The bundles `target` works on: from `--bundle-file`, or scanned from PATH.
fn bundles(args: &Args) -> anyhow::Result<(Vec<Bundle>, Vec<fleet_bundle::scan::BundleError>)> {
    if let Some(file) = &args.bundle_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("--bundle-file {}", file.display()))?;
        let mut out = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc)
                .with_context(|| format!("--bundle-file {}", file.display()))?;
            if value.is_null() {
                continue;
            }
            let bundle: Bundle = serde_yaml::from_value(value)
                .with_context(|| format!("--bundle-file {}: not a Bundle", file.display()))?;
            out.push(bundle);
        }
        if out.is_empty() {
            anyhow::bail!(
                "--bundle-file {}: failed to read bundle from file, bundle is empty",
                file.display()
            );
        }
        return Ok((out, Vec::new()));
    }
    let charts = chart_source(args.chart_cache.clone());
    let (paths, driven_scan) = match &args.file {
        Some(file) => (vec![format!(".:{file}")], true),
        None => (args.paths.clone(), false),
    };
    let opts = ScanOptions {
        repo_name: args.name.clone(),
        namespace: args.namespace.clone(),
        paths,
        driven_scan,
        charts: &charts,
        ..ScanOptions::default()
    };
    let outcome =
        scan(&args.path, &opts).with_context(|| format!("scanning {}", args.path.display()))?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    Ok((outcome.bundles, outcome.errors))
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
    if args.dump_input_list {
        eprint!(
            "{}",
            serde_yaml::to_string(&cluster).context("printing the input list")?
        );
    }
    let (bundles, errors) = bundles(&args)?;
    let mut objects = Vec::new();
    let mut report = Vec::new();
    let mut failures = 0usize;
    let mut matched = 0usize;
    for bundle in &bundles {
        let name = &bundle.metadata.name;
        let selected = match &args.target {
            Some(t) => select_named(&bundle.spec, t, &cluster),
            None => select(&bundle.spec, &cluster),
        };
        let target = match selected {
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
        if args.quiet {
            continue;
        }
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
                    "options": target.options,
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
    fail_on_errors(&errors)?;
    if failures > 0 {
        anyhow::bail!("{failures} bundle(s) failed to render");
    }
    if matched == 0 && args.output == Format::Yaml {
        anyhow::bail!("no match found");
    }
    Ok(())
}
