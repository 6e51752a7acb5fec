//! `fleet-bundle deploy -i FILE --dry-run`: renders the Content + BundleDeployment pair
//! `fleet target` writes, as `fleet deploy --dry-run` does (internal/cmd/cli/deploy.go):
//! the release's resources and hooks, printed as one YAML list.
//!
//! Applying to a cluster is the agent's job in this build (`fleet-agent` holds the
//! Kubernetes client, the release records and drift handling), so without `--dry-run` the
//! command says so instead of half-doing it.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use fleet_bundle::bundle::{BundleDeploymentOptions, BundleResource};
use fleet_bundle::target::ClusterInfo;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Arguments of `fleet-bundle deploy -i FILE [--dry-run]`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// YAML holding a Content and a BundleDeployment (what `fleet target` prints).
    #[arg(short = 'i', long)]
    pub input_file: PathBuf,
    /// Print the resources that would be deployed instead of deploying them.
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Default namespace of the release.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Kubernetes version assumed for chart constraints and `.Capabilities`.
    #[arg(long)]
    pub kube_version: Option<String>,
    /// Agent namespace recorded on the release (accepted for Fleet's pipelines).
    #[arg(short = 'a', long)]
    pub agent_namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    /// base64 of the gzipped manifest JSON.
    #[serde(default)]
    content: String,
    #[serde(default, rename = "sha256sum")]
    sha256_sum: String,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    resources: Vec<BundleResource>,
}

#[derive(Deserialize)]
struct Deployment {
    metadata: Meta,
    #[serde(default)]
    spec: DeploymentSpec,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
}

#[derive(Default, Deserialize)]
struct DeploymentSpec {
    #[serde(default)]
    options: BundleDeploymentOptions,
}

/// Reads the pair, checks the manifest against its sha256, renders and prints.
pub fn run(args: Args) -> anyhow::Result<()> {
    let shown = args.input_file.display().to_string();
    let text = std::fs::read_to_string(&args.input_file).with_context(|| shown.clone())?;
    let mut content = None;
    let mut deployment = None;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value = Value::deserialize(doc).with_context(|| format!("{shown}: invalid YAML"))?;
        match value.get("kind").and_then(Value::as_str) {
            Some("Content") => {
                content = Some(
                    serde_json::from_value::<Content>(value)
                        .with_context(|| format!("{shown}: Content"))?,
                )
            }
            Some("BundleDeployment") => {
                deployment = Some(
                    serde_json::from_value::<Deployment>(value)
                        .with_context(|| format!("{shown}: BundleDeployment"))?,
                )
            }
            _ => {}
        }
    }
    let content =
        content.with_context(|| format!("{shown}: failed to read content resource from file"))?;
    let deployment = deployment
        .with_context(|| format!("{shown}: failed to read bundledeployment resource from file"))?;
    let resources = manifest_resources(&content).with_context(|| format!("{shown}: Content"))?;
    if !args.dry_run {
        anyhow::bail!(
            "deploying to a cluster is fleet-agent's work in this build (it keeps the release records and drift state); pass --dry-run to print the resources"
        );
    }
    let dir = tempfile::tempdir().context("creating a scratch directory")?;
    fleet_bundle::content::write_bundle_dir(&resources, dir.path())
        .with_context(|| format!("{shown}: Content"))?;
    let mut options = deployment.spec.options;
    if let Some(ns) = &args.namespace {
        if options.default_namespace.is_empty() {
            options.default_namespace = ns.clone();
        }
    }
    let cluster = ClusterInfo {
        kube_version: args.kube_version.clone().unwrap_or_default(),
        ..ClusterInfo::default()
    };
    let rendered =
        fleet_bundle::render::render(dir.path(), &deployment.metadata.name, &options, &cluster)
            .with_context(|| format!("bundledeployment {}", deployment.metadata.name))?;
    let mut objects = rendered.objects;
    objects.extend(rendered.hooks.into_iter().map(|h| h.object));
    let sorted: Vec<Value> = objects.iter().map(fleet_bundle::export::sorted).collect();
    print!("{}", serde_yaml::to_string(&sorted).context("printing")?);
    Ok(())
}

/// The resources of a Content: base64, gunzip, JSON, verified against `sha256sum`.
fn manifest_resources(content: &Content) -> anyhow::Result<Vec<BundleResource>> {
    use base64::Engine as _;
    let gz = base64::engine::general_purpose::STANDARD
        .decode(content.content.trim())
        .context("content is not base64")?;
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .take(fleet_bundle::content::MAX_DECODED_BYTES)
        .read_to_end(&mut json)
        .context("content is not gzip")?;
    if !content.sha256_sum.is_empty() {
        let actual = hex::encode(Sha256::digest(&json));
        if actual != content.sha256_sum {
            anyhow::bail!(
                "manifest sha256 is {actual}, the Content says {}",
                content.sha256_sum
            );
        }
    }
    let manifest: Manifest = serde_json::from_slice(&json).context("manifest JSON")?;
    Ok(manifest.resources)
}
