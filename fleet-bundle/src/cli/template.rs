//! `fleet-bundle template`: the arguments of `helm template`, the same output.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use fleet_bundle::helm::output::StreamOptions;
use fleet_bundle::helm::render::{self, TemplateOptions};
use fleet_bundle::helm::repo::{fetch_chart, ChartSource, RepoOptions};
use fleet_bundle::helm::values::ValueOptions;

/// Arguments of `fleet-bundle template [NAME] CHART ...` (as `helm template`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Release name, then the chart directory or archive (the name defaults to
    /// `release-name` when only the chart is given).
    #[arg(required = true, num_args = 1..=2, value_name = "NAME] [CHART")]
    pub names: Vec<String>,
    /// Namespace scope for this request (`.Release.Namespace`).
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Kubernetes version used for `.Capabilities.KubeVersion`.
    #[arg(long)]
    pub kube_version: Option<String>,
    /// Kubernetes API versions used for `.Capabilities.APIVersions` (repeatable,
    /// comma-separated).
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    pub api_versions: Vec<String>,
    /// Values files (repeatable, comma-separated), later ones win.
    #[arg(short = 'f', long = "values", value_delimiter = ',')]
    pub values: Vec<PathBuf>,
    /// Set values (`a.b=c,list[0]=x`).
    #[arg(long = "set")]
    pub set: Vec<String>,
    /// Set string values (no type inference).
    #[arg(long = "set-string")]
    pub set_string: Vec<String>,
    /// Set JSON values (`a={"b":1}`).
    #[arg(long = "set-json")]
    pub set_json: Vec<String>,
    /// Set values from files (`key=path`).
    #[arg(long = "set-file")]
    pub set_file: Vec<String>,
    /// Set a literal string value (`key=anything,even=commas`).
    #[arg(long = "set-literal")]
    pub set_literal: Vec<String>,
    /// Print the chart's `crds/` files first.
    #[arg(long)]
    pub include_crds: bool,
    /// Leave test hooks out.
    #[arg(long)]
    pub skip_tests: bool,
    /// Leave all hooks out.
    #[arg(long)]
    pub no_hooks: bool,
    /// Only print documents rendered from matching templates (`templates/x.yaml`).
    #[arg(short = 's', long = "show-only")]
    pub show_only: Vec<String>,
    /// Set `.Release.IsUpgrade` instead of `.Release.IsInstall`.
    #[arg(long)]
    pub is_upgrade: bool,
    /// Do not validate values against `values.schema.json`.
    #[arg(long)]
    pub skip_schema_validation: bool,
    /// Chart repository URL where to find the chart (CHART is then a chart name).
    #[arg(long)]
    pub repo: Option<String>,
    /// Chart version or range (`~1.2`), for repository and `oci://` charts; latest
    /// stable when absent.
    #[arg(long)]
    pub version: Option<String>,
    /// Repository username (basic auth, or for the registry token exchange).
    #[arg(long)]
    pub username: Option<String>,
    /// Repository password.
    #[arg(long)]
    pub password: Option<String>,
    /// CA bundle (PEM) to trust for the repository.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Skip TLS certificate checks for the repository.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Use plain HTTP for `oci://` registries.
    #[arg(long)]
    pub plain_http: bool,
}

/// Where downloaded charts are cached (by digest).
fn chart_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLEET_BUNDLE_CACHE") {
        return PathBuf::from(dir).join("charts");
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("fleet-bundle/charts");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache/fleet-bundle/charts"),
        None => std::env::temp_dir().join("fleet-bundle-charts"),
    }
}

/// The local chart to render: CHART itself, or the archive fetched from `--repo` or an
/// `oci://` reference.
fn locate_chart(args: &Args, chart: &str) -> anyhow::Result<PathBuf> {
    if args.repo.is_none() && !chart.starts_with("oci://") {
        return Ok(PathBuf::from(chart));
    }
    let mut opts = RepoOptions::with_cache(chart_cache_dir());
    opts.username.clone_from(&args.username);
    opts.password.clone_from(&args.password);
    opts.insecure_skip_tls_verify = args.insecure_skip_tls_verify;
    opts.plain_http = args.plain_http;
    if let Some(ca) = &args.ca_file {
        opts.ca_pem =
            Some(std::fs::read(ca).with_context(|| format!("reading CA file {}", ca.display()))?);
    }
    let source = ChartSource {
        repo: args.repo.clone().unwrap_or_default(),
        chart: chart.to_string(),
        version: args.version.clone().unwrap_or_default(),
    };
    let fetched = fetch_chart(&source, &opts).with_context(|| format!("fetching chart {chart}"))?;
    tracing::info!(chart, version = %fetched.version, digest = %fetched.digest, "chart fetched");
    Ok(fetched.path)
}

impl Args {
    fn release_and_chart(&self) -> (String, String) {
        match self.names.as_slice() {
            [chart] => ("release-name".to_string(), chart.clone()),
            [release, chart, ..] => (release.clone(), chart.clone()),
            [] => ("release-name".to_string(), String::new()),
        }
    }
}

/// Renders the chart and prints the stream to stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (release_name, chart) = args.release_and_chart();
    let chart_path = locate_chart(&args, &chart)?;
    let opts = TemplateOptions {
        release_name,
        namespace: args.namespace,
        kube_version: args.kube_version,
        api_versions: args.api_versions,
        values: ValueOptions {
            value_files: args.values,
            value_maps: Vec::new(),
            json_values: args.set_json,
            values: args.set,
            string_values: args.set_string,
            file_values: args.set_file,
            literal_values: args.set_literal,
            base_dir: None,
        },
        is_upgrade: args.is_upgrade,
        skip_schema_validation: args.skip_schema_validation,
        stream: StreamOptions {
            include_crds: args.include_crds,
            skip_tests: args.skip_tests,
            no_hooks: args.no_hooks,
            show_only: args.show_only,
        },
    };
    // Every error already names its file, template or chart.
    let out = render::template(&chart_path, &opts, &render::GoTemplateEngine)?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    Ok(())
}
