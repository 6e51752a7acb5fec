//! `fleet-bundle build`: the Bundles of a checkout, printed as `fleet apply -o - NAME` does,
//! with `fleet apply`'s flags (internal/cmd/cli/apply.go) under their Fleet names.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use fleet_bundle::bundle::{Bundle, CorrectDrift};
use fleet_bundle::chart_source::{HelmRepoChartSource, RepoAuth};
use fleet_bundle::scan::{scan, ScanOptions, TargetsFile, DRIVEN_SCAN_SEPARATOR};
use fleet_bundle::selector::parse_labels;

/// How bundles and manifests are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Where `build` writes: `-o yaml|json`, or Fleet's `-o -` (stdout) / `-o FILE` (YAML).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(Format),
    File(PathBuf),
}

fn parse_output(text: &str) -> Result<Output, String> {
    Ok(match text {
        "yaml" | "-" => Output::Stdout(Format::Yaml),
        "json" => Output::Stdout(Format::Json),
        "" => return Err("expected yaml, json, - or a file name".to_string()),
        file => Output::File(PathBuf::from(file)),
    })
}

/// Arguments of `fleet-bundle build PATH NAME` (or `build -f BUNDLE.yaml NAME`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The checkout to scan (with `-f`, the bundle name may stand here alone).
    pub path: Option<PathBuf>,
    /// The GitRepo name: the prefix of every bundle name.
    pub name: Option<String>,
    /// Workspace of the bundles.
    #[arg(short = 'n', long, env = "NAMESPACE", default_value = "fleet-local")]
    pub namespace: String,
    /// GitRepo paths (globs relative to PATH), comma-separated; the whole checkout when
    /// absent. With --driven-scan, each is one bundle directory, `DIR[:OPTIONS_FILE]`.
    #[arg(long, value_delimiter = ',')]
    pub paths: Vec<String>,
    /// `yaml` or `json` on stdout; as in Fleet, `-` is YAML on stdout and any other value a
    /// file to write YAML to.
    #[arg(short = 'o', long, value_parser = parse_output, default_value = "yaml")]
    pub output: Output,
    /// Commit recorded in the `fleet.cattle.io/commit` label.
    #[arg(long, env = "COMMIT", default_value = "")]
    pub commit: String,
    /// Extra bundle labels `k=v` (repeatable, comma-separated).
    #[arg(short = 'l', long = "label")]
    pub labels: Vec<String>,
    /// Where downloaded Helm charts are cached.
    #[arg(long, env = "FLEET_BUNDLE_CHART_CACHE")]
    pub chart_cache: Option<PathBuf>,
    /// A Bundle (YAML or JSON; `-` for stdin) to print instead of scanning, its namespace
    /// set from -n, as `fleet apply -f`.
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// YAML with `targets` and `targetRestrictions` appended to every bundle without
    /// `overrideTargets` (how Fleet's GitRepo job passes the GitRepo's targets).
    #[arg(long)]
    pub targets_file: Option<PathBuf>,
    /// Store every resource compressed (`base64+gz`).
    #[arg(short = 'c', long)]
    pub compress: bool,
    /// Service account every bundle deploys with.
    #[arg(short = 'a', long, default_value = "")]
    pub service_account: String,
    /// Generation number that forces a redeploy (`forceSyncGeneration`).
    #[arg(long, default_value_t = 0)]
    pub sync_generation: i64,
    /// Namespace every bundle and target deploys to.
    #[arg(long, default_value = "")]
    pub target_namespace: String,
    /// Create the bundles paused.
    #[arg(long)]
    pub paused: bool,
    /// Keep deployed resources when the bundle is deleted.
    #[arg(long)]
    pub keep_resources: bool,
    /// Delete the target namespace when the bundle is deleted.
    #[arg(long)]
    pub delete_namespace: bool,
    /// Roll back changes made outside Fleet.
    #[arg(long)]
    pub correct_drift: bool,
    /// With --correct-drift, replace resources that cannot be patched.
    #[arg(long)]
    pub correct_drift_force: bool,
    /// With --correct-drift, keep the Helm history of failed rollbacks.
    #[arg(long)]
    pub correct_drift_keep_fail_history: bool,
    /// User-driven scan: each --paths entry is a bundle, nothing is discovered below it.
    #[arg(long)]
    pub driven_scan: bool,
    /// Separates a driven bundle's directory from its options file.
    #[arg(long, default_value = DRIVEN_SCAN_SEPARATOR)]
    pub driven_scan_sep: String,
    /// Basic-auth user for Helm repositories.
    #[arg(long, env = "HELM_USERNAME")]
    pub username: Option<String>,
    /// File holding the basic-auth password for Helm repositories.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// PEM file of CA certificates trusted for Helm repositories.
    #[arg(long = "cacerts-file")]
    pub cacerts_file: Option<PathBuf>,
    /// SSH key for charts in Git repositories (accepted for Fleet's pipelines; this build
    /// fetches charts over HTTP(S) and OCI only).
    #[arg(long = "ssh-privatekey-file")]
    pub ssh_privatekey_file: Option<PathBuf>,
    /// Credentials go only to repositories whose URL matches this regex; without it they
    /// are not sent at all, as in Fleet.
    #[arg(long)]
    pub helm_repo_url_regex: Option<String>,
    /// YAML map of bundle path (or glob) to credentials (`username`, `password`,
    /// `caBundle`, `insecureSkipVerify`, `basicHTTP`), replacing the flags above.
    #[arg(long)]
    pub helm_credentials_by_path_file: Option<PathBuf>,
    /// Plain HTTP to OCI registries.
    #[arg(long)]
    pub helm_basic_http: bool,
    /// Skip TLS verification of Helm repositories.
    #[arg(long)]
    pub helm_insecure_skip_tls: bool,
    /// Accept a chart archive whose sha256 differs from its repository index (refused by
    /// default; Helm and Fleet do not check).
    #[arg(long)]
    pub helm_accept_digest_mismatch: bool,
}

/// The chart source of the CLI: the Helm repository client with an on-disk cache.
pub fn chart_source(cache: Option<PathBuf>) -> HelmRepoChartSource {
    HelmRepoChartSource::new(
        cache.unwrap_or_else(|| std::env::temp_dir().join("fleet-bundle-charts")),
    )
}

fn read(path: &Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{flag} {}", path.display()))
}

/// The chart source with the credential flags applied, as Fleet's `addAuthToOpts`.
fn credentialed_source(args: &Args) -> anyhow::Result<HelmRepoChartSource> {
    let mut charts = chart_source(args.chart_cache.clone());
    let mut auth = RepoAuth {
        insecure_skip_verify: args.helm_insecure_skip_tls,
        basic_http: args.helm_basic_http,
        ..RepoAuth::default()
    };
    if let Some(file) = &args.helm_credentials_by_path_file {
        let text = read(file, "--helm-credentials-by-path-file")?;
        charts.auth_by_path = serde_yaml::from_slice::<BTreeMap<String, RepoAuth>>(&text)
            .with_context(|| format!("--helm-credentials-by-path-file {}", file.display()))?;
    } else {
        if let (Some(user), Some(file)) = (&args.username, &args.password_file) {
            auth.username = user.clone();
            auth.password = String::from_utf8_lossy(&read(file, "--password-file")?)
                .trim_end_matches(['\n', '\r'])
                .to_string();
        }
        if let Some(file) = &args.cacerts_file {
            auth.ca_bundle = read(file, "--cacerts-file")?;
        }
        if let Some(file) = &args.ssh_privatekey_file {
            auth.ssh_private_key = read(file, "--ssh-privatekey-file")?;
        }
    }
    let has_credentials =
        !auth.username.is_empty() || charts.auth_by_path.values().any(|a| !a.username.is_empty());
    match &args.helm_repo_url_regex {
        Some(re) if !re.is_empty() => {
            charts.credentials_url_regex = Some(
                regex::Regex::new(re).with_context(|| format!("--helm-repo-url-regex {re:?}"))?,
            );
        }
        // Fleet forwards no credentials without a regex (transport settings still apply).
        _ => {
            if has_credentials {
                eprintln!("warning: --helm-repo-url-regex is empty: Helm credentials are not sent to any repository; set it to allow them");
            }
            for a in std::iter::once(&mut auth).chain(charts.auth_by_path.values_mut()) {
                a.username.clear();
                a.password.clear();
            }
        }
    }
    charts.apply_auth(&auth);
    charts.options.accept_index_digest_mismatch = args.helm_accept_digest_mismatch;
    Ok(charts)
}

/// Scans and prints; bundles that failed are reported on stderr and make the exit code 1
/// (after the others are printed).
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(file) = &args.file {
        return print_bundle_file(&args, file);
    }
    let (Some(path), Some(name)) = (&args.path, &args.name) else {
        anyhow::bail!("the checkout PATH and the GitRepo NAME are required (or -f BUNDLE NAME)");
    };
    let labels = parse_labels(args.labels.iter().map(String::as_str))
        .map_err(|e| anyhow::anyhow!("--label: {e}"))?;
    let charts = credentialed_source(&args)?;
    let targets_file = match &args.targets_file {
        Some(file) => Some(
            serde_yaml::from_slice::<TargetsFile>(&read(file, "--targets-file")?)
                .with_context(|| format!("--targets-file {}", file.display()))?,
        ),
        None => None,
    };
    let correct_drift = args.correct_drift.then_some(CorrectDrift {
        enabled: true,
        force: args.correct_drift_force,
        keep_fail_history: args.correct_drift_keep_fail_history,
    });
    let opts = ScanOptions {
        repo_name: name.clone(),
        namespace: args.namespace.clone(),
        paths: args.paths.clone(),
        labels,
        commit: args.commit.clone(),
        target_namespace: args.target_namespace.clone(),
        service_account: args.service_account.clone(),
        paused: args.paused,
        keep_resources: args.keep_resources,
        delete_namespace: args.delete_namespace,
        correct_drift,
        sync_generation: args.sync_generation,
        driven_scan: args.driven_scan,
        driven_scan_separator: args.driven_scan_sep.clone(),
        targets_file,
        compress: args.compress,
        charts: &charts,
        ..ScanOptions::default()
    };
    let outcome = scan(path, &opts).with_context(|| format!("scanning {}", path.display()))?;
    for warning in &outcome.warnings {
        eprintln!("warning: {warning}");
    }
    write_bundles(&args.output, &outcome.bundles)?;
    fail_on_errors(&outcome.errors)
}

/// `fleet apply -f FILE NAME`: a Bundle read from YAML (or stdin), put in the namespace.
fn print_bundle_file(args: &Args, file: &str) -> anyhow::Result<()> {
    let given_name = args
        .name
        .clone()
        .or_else(|| args.path.as_ref().map(|p| p.to_string_lossy().into_owned()));
    if given_name.is_none() {
        anyhow::bail!("the bundle name is required as the first argument");
    }
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the bundle from stdin")?;
        text
    } else {
        String::from_utf8_lossy(&read(Path::new(file), "-f")?).into_owned()
    };
    let shown = if file == "-" { "stdin" } else { file };
    let mut bundle: Bundle =
        serde_yaml::from_str(&text).with_context(|| format!("decoding bundle {shown}"))?;
    bundle.metadata.namespace = args.namespace.clone();
    write_bundles(&args.output, &[bundle])
}

fn write_bundles(output: &Output, bundles: &[Bundle]) -> anyhow::Result<()> {
    let bundles: Vec<serde_json::Value> = bundles
        .iter()
        .map(|b| {
            let mut b = b.clone();
            fleet_bundle::scan::fill_fleet_print_defaults(&mut b);
            serde_json::to_value(b)
        })
        .collect::<Result<_, _>>()
        .context("serializing bundles")?;
    let text = match output {
        Output::Stdout(Format::Json) => {
            let sorted: Vec<_> = bundles.iter().map(fleet_bundle::export::sorted).collect();
            serde_json::to_string_pretty(&sorted)? + "\n"
        }
        _ => fleet_bundle::export::to_yaml_stream(&bundles)?,
    };
    match output {
        Output::File(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
        }
        Output::Stdout(_) => std::io::stdout()
            .write_all(text.as_bytes())
            .context("writing output"),
    }
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
