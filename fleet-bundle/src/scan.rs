//! Scanning a Git checkout into Bundles exactly as `fleet apply` does: which directories are
//! bundles, which files they carry, their names, labels and targets, and the Helm charts
//! downloaded into them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::bundle::{
    Bundle, BundleDeploymentOptions, BundleResource, BundleSpec, BundleTarget,
    BundleTargetRestriction, CorrectDrift, HelmOptions, IgnoreOptions, ObjectMeta, API_VERSION,
};
use crate::chart_source::{chart_prefix, ChartSource, ChartSourceError, NoChartSource};
use crate::content::encode_resource;
use crate::fleet_yaml::{
    self, is_fleet_yaml, FleetYamlError, FleetYamlWarning, FLEET_YAML, FLEET_YML,
};
use crate::fleetignore::{FleetIgnoreError, IgnoreRules};
use crate::naming;

/// The label carrying the commit a bundle was built from.
pub const COMMIT_LABEL: &str = "fleet.cattle.io/commit";

/// Fleet re-encodes every resource as `base64+gz` once a bundle's JSON reaches this size.
pub const COMPRESS_THRESHOLD: usize = 1_000_000;

/// Fleet's default `--driven-scan-sep`.
pub const DRIVEN_SCAN_SEPARATOR: &str = ":";

/// Fleet's refusal of `imageScans` with image scanning disabled, its default
/// (internal/bundlereader/read.go); fleet-rs has no image scanning to enable.
pub const IMAGE_SCANS_REFUSED: &str =
    "imagescan is disabled; remove imagescans from your config files, or enable imagescan";

/// Size limits that keep a hostile or broken repo from exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    /// Largest single file a bundle may carry (bytes).
    pub max_file_bytes: u64,
    /// Largest total of a bundle's files, downloaded charts included (bytes).
    pub max_bundle_bytes: u64,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            max_file_bytes: 10 * 1024 * 1024,
            max_bundle_bytes: 100 * 1024 * 1024,
        }
    }
}

/// What the GitRepo (or the `fleet apply` command line) says about the bundles of a checkout.
pub struct ScanOptions<'a> {
    /// The GitRepo name: the prefix of every bundle name (`fleet apply NAME`).
    pub repo_name: String,
    /// The workspace the bundles live in (`fleet-default`, `fleet-local`).
    pub namespace: String,
    /// The GitRepo `paths` (globs relative to the checkout); empty means the whole checkout.
    pub paths: Vec<String>,
    /// The GitRepo `targets`. `None` is `fleet apply` without a targets file: no target
    /// restrictions, and the `default` cluster group when nothing else targets. `Some` (even
    /// empty, which means Fleet's default target) adds them as targets and as restrictions.
    pub gitrepo_targets: Option<Vec<BundleTargetRestriction>>,
    /// Labels put on every bundle (the GitRepo's own labels).
    pub labels: BTreeMap<String, String>,
    /// The commit, recorded as the `fleet.cattle.io/commit` label when not empty.
    pub commit: String,
    /// `targetNamespace` of the GitRepo: forces the namespace of the bundle and every target.
    pub target_namespace: String,
    /// `serviceAccount` of the GitRepo.
    pub service_account: String,
    pub paused: bool,
    pub keep_resources: bool,
    pub delete_namespace: bool,
    /// `correctDrift` of the GitRepo (applied when enabled).
    pub correct_drift: Option<CorrectDrift>,
    /// `forceSyncGeneration` of the GitRepo.
    pub sync_generation: i64,
    pub limits: ScanLimits,
    /// Fleet's driven scan (`fleet apply --driven-scan`, GitRepo `spec.bundles[]`): each
    /// entry of `paths` is one bundle directory, optionally followed by
    /// [`ScanOptions::driven_scan_separator`] and the file (relative to it) that replaces
    /// fleet.yaml; nothing is discovered below it.
    pub driven_scan: bool,
    /// Separates a driven bundle's directory from its options file (`:` by default).
    pub driven_scan_separator: String,
    /// `fleet apply --targets-file`: targets and restrictions appended to every bundle
    /// whose fleet.yaml has no `overrideTargets` (how Fleet's GitRepo job passes the
    /// GitRepo's targets).
    pub targets_file: Option<TargetsFile>,
    /// `fleet apply --compress`: every resource stored as `base64+gz`.
    pub compress: bool,
    /// Downloads charts referenced by `helm.repo`, chart URLs and OCI references.
    pub charts: &'a dyn ChartSource,
}

impl Default for ScanOptions<'_> {
    fn default() -> Self {
        ScanOptions {
            repo_name: String::new(),
            namespace: "fleet-local".to_string(),
            paths: Vec::new(),
            gitrepo_targets: None,
            labels: BTreeMap::new(),
            commit: String::new(),
            target_namespace: String::new(),
            service_account: String::new(),
            paused: false,
            keep_resources: false,
            delete_namespace: false,
            correct_drift: None,
            sync_generation: 0,
            limits: ScanLimits::default(),
            driven_scan: false,
            targets_file: None,
            compress: false,
            driven_scan_separator: DRIVEN_SCAN_SEPARATOR.to_string(),
            charts: &NoChartSource,
        }
    }
}

/// The contents of a `--targets-file` (a BundleSpec's `targets` and `targetRestrictions`,
/// Fleet's `appendTargets` in internal/bundlereader/read.go).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsFile {
    #[serde(default)]
    pub targets: Vec<BundleTarget>,
    #[serde(default)]
    pub target_restrictions: Vec<BundleTargetRestriction>,
}

/// The result of a scan: the bundles that built, and why the others did not.
#[derive(Debug, Default)]
pub struct ScanOutcome {
    /// In directory order (as `fleet apply` walks them).
    pub bundles: Vec<Bundle>,
    /// One per bundle directory that failed; the other bundles are unaffected.
    pub errors: Vec<BundleError>,
    /// Problems that did not stop any bundle (unknown fleet.yaml keys, skipped entries).
    pub warnings: Vec<ScanWarning>,
}

/// A bundle directory that could not become a bundle.
#[derive(Debug, thiserror::Error)]
#[error("bundle {path}: {error}")]
pub struct BundleError {
    /// The bundle directory relative to the checkout (`.` for the root).
    pub path: String,
    #[source]
    pub error: BundleLoadError,
}

/// A problem that did not stop the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanWarning {
    /// File or directory relative to the checkout.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ScanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a whole scan failed (as opposed to one bundle).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("checkout {}: {source}", path.display())]
    Checkout {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid bundle path {path:?}: more than one {separator:?} separator")]
    DrivenPath { path: String, separator: String },
    #[error("invalid path {pattern:?}: {reason}")]
    InvalidPath { pattern: String, reason: String },
    #[error("walking {}: {source}", path.display())]
    Walk {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no resource found at the following paths to deploy: {paths:?}")]
    NoResources { paths: Vec<String> },
}

/// Why one bundle directory could not become a bundle. Each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum BundleLoadError {
    #[error(transparent)]
    FleetYaml(#[from] FleetYamlError),
    #[error(transparent)]
    FleetIgnore(#[from] FleetIgnoreError),
    #[error("{}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: file is {size} bytes, over the limit of {limit} bytes per file", file.display())]
    FileTooLarge {
        file: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{}: the bundle's files exceed the limit of {limit} bytes in total", file.display())]
    BundleTooLarge { file: PathBuf, limit: u64 },
    #[error("{}: symlink points outside the checkout (to {})", file.display(), target.display())]
    SymlinkEscape { file: PathBuf, target: PathBuf },
    #[error("{}: file name is not valid UTF-8", file.display())]
    NonUtf8Name { file: PathBuf },
    #[error("{}: {field} {path:?} {reason}", file.display())]
    UnsafePath {
        file: PathBuf,
        field: String,
        path: String,
        reason: String,
    },
    #[error("{}: {IMAGE_SCANS_REFUSED} (fleet-rs does not scan images)", file.display())]
    ImageScans { file: PathBuf },
    #[error("{}: values file: {message}", file.display())]
    ValuesFile { file: PathBuf, message: String },
    #[error("{}: {message}", file.display())]
    ChartYaml { file: PathBuf, message: String },
    #[error("bundle name {name:?} is already used by the bundle in {first}; set a distinct `name:` in fleet.yaml")]
    DuplicateName { name: String, first: String },
    #[error("{}: helm.chart {chart:?} is neither a directory of the bundle nor a repository chart (set helm.repo, or use a URL)", dir.display())]
    ChartNotFound { dir: PathBuf, chart: String },
    /// `reference` reads `repo=… chart=… version=…`, as Fleet reports download failures.
    #[error("{}: downloading chart ({reference}): {source}", dir.display())]
    ChartDownload {
        dir: PathBuf,
        reference: String,
        #[source]
        source: ChartSourceError,
    },
}

/// Scans `checkout` for bundles as `fleet apply` does for a GitRepo.
///
/// Flow:
/// 1. Each entry of `opts.paths` (default `.`) is a glob relative to the checkout; a leading
///    `/` is dropped as Fleet does, while `..` components are refused.
/// 2. Under each matching directory, the directory itself is a bundle when it holds a
///    `fleet.yaml`/`fleet.yml`, or YAML files somewhere below it outside directories with
///    their own `fleet.yaml`; every subdirectory holding a `fleet.yaml` is a bundle of its
///    own. `.git` is never entered.
/// 3. Each bundle carries every file below its directory (hidden entries, `.fleetignore`d
///    entries, its own `fleet.yaml` and referenced values files left out; subdirectories
///    that are bundles themselves are carried too, and skipped when rendering, as in
///    Fleet), plus the Helm charts it references from repositories,
///    under `.chart/<sha256>/`. Its name is `HelmReleaseName(<repo>/<path>)` unless
///    fleet.yaml names it.
/// 4. Targets are the fleet.yaml `targets` and `targetCustomizations`, then `overrideTargets`
///    or the GitRepo targets (which also become restrictions); `default` when none.
///
/// Guarantees: a failing bundle directory is reported in [`ScanOutcome::errors`] and never
/// stops the others; a directory without resources yields no bundle (as in Fleet). Files
/// are never read outside the checkout: symlinks leaving it, absolute or escaping paths in
/// fleet.yaml, non-UTF-8 names and files over the [`ScanLimits`] fail their bundle with an
/// error naming the file. The same checkout and options give the same bundles.
///
/// Errors: [`ScanError`] only when the checkout cannot be read, a path is invalid, or no
/// bundle at all came out of the paths (Fleet's "no resource found").
///
/// ```
/// use fleet_bundle::scan::{scan, ScanOptions};
///
/// let checkout = tempfile::tempdir()?;
/// std::fs::create_dir_all(checkout.path().join("app"))?;
/// std::fs::write(checkout.path().join("app/fleet.yaml"), "namespace: web\n")?;
/// std::fs::write(
///     checkout.path().join("app/cm.yaml"),
///     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
/// )?;
/// let opts = ScanOptions { repo_name: "my-repo".into(), ..ScanOptions::default() };
/// let outcome = scan(checkout.path(), &opts)?;
/// assert_eq!(outcome.bundles[0].metadata.name, "my-repo-app");
/// assert_eq!(outcome.bundles[0].spec.options.target_namespace, "web");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scan(checkout: &Path, opts: &ScanOptions) -> Result<ScanOutcome, ScanError> {
    let root = checkout
        .canonicalize()
        .map_err(|source| ScanError::Checkout {
            path: checkout.to_path_buf(),
            source,
        })?;
    let patterns: Vec<String> = if opts.paths.is_empty() {
        vec![".".to_string()]
    } else {
        opts.paths.clone()
    };
    let mut outcome = ScanOutcome::default();
    // (bundle directory, options file replacing fleet.yaml)
    let mut bundle_dirs: Vec<(String, Option<String>)> = Vec::new();
    if opts.driven_scan {
        for entry in &patterns {
            bundle_dirs.push(driven_entry(entry, &opts.driven_scan_separator)?);
        }
    } else {
        let mut found = Vec::new();
        for pattern in &patterns {
            for base in expand_path_glob(&root, pattern)? {
                discover(&root, &base, true, &mut found, &mut outcome)?;
            }
        }
        bundle_dirs.extend(found.into_iter().map(|d| (d, None)));
    }
    let mut seen = BTreeSet::new();
    bundle_dirs.retain(|d| seen.insert(d.clone()));
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (rel, bundle_file) in bundle_dirs {
        let mut warnings = Vec::new();
        match load_bundle(&root, &rel, bundle_file.as_deref(), opts, &mut warnings) {
            Ok(Some(bundle)) => match names.get(&bundle.metadata.name) {
                // Two bundles of one repo under one name would overwrite each other.
                Some(first) => outcome.errors.push(BundleError {
                    path: rel.clone(),
                    error: BundleLoadError::DuplicateName {
                        name: bundle.metadata.name.clone(),
                        first: first.clone(),
                    },
                }),
                None => {
                    names.insert(bundle.metadata.name.clone(), rel.clone());
                    outcome.bundles.push(bundle);
                }
            },
            Ok(None) => tracing::info!(path = %rel, "no resources found to deploy"),
            Err(error) => {
                tracing::warn!(path = %rel, %error, "bundle failed");
                outcome.errors.push(BundleError { path: rel, error });
            }
        }
        outcome.warnings.extend(warnings);
    }
    if outcome.bundles.is_empty() && outcome.errors.is_empty() {
        return Err(ScanError::NoResources { paths: patterns });
    }
    Ok(outcome)
}

/// One driven-scan entry, `DIR` or `DIR<sep>FILE` (Fleet's `getPathAndFleetYaml`), as a
/// clean relative directory and the options file; `..` and absolute files are refused.
fn driven_entry(entry: &str, separator: &str) -> Result<(String, Option<String>), ScanError> {
    let parts: Vec<&str> = if separator.is_empty() {
        vec![entry]
    } else {
        entry.split(separator).collect()
    };
    let (dir, file) = match parts.as_slice() {
        [dir] => (*dir, None),
        [dir, file] => (*dir, Some(*file)),
        _ => {
            return Err(ScanError::DrivenPath {
                path: entry.to_string(),
                separator: separator.to_string(),
            })
        }
    };
    let trimmed = dir.trim_start_matches('/');
    if trimmed.split('/').any(|seg| seg == "..") {
        return Err(ScanError::InvalidPath {
            pattern: entry.to_string(),
            reason: "must not leave the checkout (`..`)".to_string(),
        });
    }
    if let Some(file) = file {
        if file.is_empty() || !is_safe_relative(file) {
            return Err(ScanError::InvalidPath {
                pattern: entry.to_string(),
                reason: "the options file must be a relative path inside the bundle directory"
                    .to_string(),
            });
        }
    }
    Ok((clean_rel(trimmed), file.map(str::to_string)))
}

/// Expands one GitRepo path glob into existing directories (relative, `/`-separated,
/// `.` for the root), in lexical order like Go's `filepath.Glob`.
fn expand_path_glob(root: &Path, pattern: &str) -> Result<Vec<String>, ScanError> {
    let trimmed = pattern.trim_start_matches('/');
    let invalid = |reason: &str| ScanError::InvalidPath {
        pattern: pattern.to_string(),
        reason: reason.to_string(),
    };
    if trimmed.split('/').any(|seg| seg == "..") {
        return Err(invalid("must not leave the checkout (`..`)"));
    }
    let cleaned = clean_rel(trimmed);
    let has_meta = cleaned.contains(['*', '?', '[']);
    if !has_meta {
        let dir = root.join(&cleaned);
        return Ok(if dir.is_dir() {
            vec![cleaned]
        } else {
            Vec::new()
        });
    }
    let glob = globset::GlobBuilder::new(&cleaned)
        .literal_separator(true)
        .build()
        .map_err(|e| invalid(&e.to_string()))?
        .compile_matcher();
    let depth = cleaned.split('/').count();
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, rel, level)) = stack.pop() {
        if level == depth {
            continue;
        }
        for (name, path, is_dir) in sorted_entries(&dir)
            .map_err(|source| ScanError::Walk {
                path: dir.clone(),
                source,
            })?
            .into_iter()
            .rev()
        {
            let Some(name) = name else { continue };
            if !is_dir {
                continue;
            }
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if level + 1 == depth && glob.is_match(&child) {
                out.push(child.clone());
            }
            stack.push((path, child, level + 1));
        }
    }
    out.sort();
    Ok(out)
}

/// `filepath.Clean` for relative slash paths: drops empty and `.` segments; `.` when empty.
fn clean_rel(path: &str) -> String {
    let joined = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("/");
    if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

fn join_rel(parent: &str, name: &str) -> String {
    if parent == "." || parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// Directory entries sorted by name: `(UTF-8 name or None, path, is a real directory)`.
/// Symlinks are never reported as directories (Fleet's walk does not follow them).
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<(Option<String>, PathBuf, bool)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_type = entry.file_type()?;
        let name = entry.file_name().into_string().ok();
        entries.push((name, entry.path(), file_type.is_dir()));
    }
    entries.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(entries)
}

fn has_fleet_yaml(dir: &Path) -> bool {
    dir.join(FLEET_YAML).is_file() || dir.join(FLEET_YML).is_file()
}

/// Walks `rel` (below `root`) collecting bundle directories as `fleet apply` does.
fn discover(
    root: &Path,
    rel: &str,
    is_base: bool,
    out: &mut Vec<String>,
    outcome: &mut ScanOutcome,
) -> Result<(), ScanError> {
    let dir = root.join(rel);
    let is_bundle = if is_base {
        has_fleet_yaml(&dir) || has_resources_outside_bundles(&dir)
    } else {
        has_fleet_yaml(&dir)
    };
    if is_bundle {
        out.push(rel.to_string());
    }
    let entries = sorted_entries(&dir).map_err(|source| ScanError::Walk {
        path: dir.clone(),
        source,
    })?;
    for (name, path, is_dir) in entries {
        if !is_dir {
            continue;
        }
        match name {
            Some(name) if name == ".git" => {}
            Some(name) => discover(root, &join_rel(rel, &name), false, out, outcome)?,
            None => {
                if has_fleet_yaml(&path) {
                    outcome.errors.push(BundleError {
                        path: path
                            .strip_prefix(root)
                            .unwrap_or(&path)
                            .to_string_lossy()
                            .into_owned(),
                        error: BundleLoadError::NonUtf8Name { file: path },
                    });
                }
            }
        }
    }
    Ok(())
}

/// Fleet's `hasSubDirectoryWithResourcesAndWithoutFleetYaml`: a `.yaml`/`.yml` file in
/// `dir` or, recursively, in a subdirectory without its own fleet.yaml.
fn has_resources_outside_bundles(dir: &Path) -> bool {
    if has_fleet_yaml(dir) {
        return false;
    }
    let Ok(entries) = sorted_entries(dir) else {
        return false;
    };
    entries.into_iter().any(|(name, path, is_dir)| {
        let name = name.unwrap_or_default();
        if is_dir {
            name != ".git" && has_resources_outside_bundles(&path)
        } else {
            name.ends_with(".yaml") || name.ends_with(".yml")
        }
    })
}

/// Builds the bundle of directory `rel`; `Ok(None)` when it has no resources at all.
fn load_bundle(
    root: &Path,
    rel: &str,
    bundle_file: Option<&str>,
    opts: &ScanOptions,
    warnings: &mut Vec<ScanWarning>,
) -> Result<Option<Bundle>, BundleLoadError> {
    let dir = root.join(rel);
    let mut limits = Budget::new(opts.limits);

    let fleet_yaml_file = match bundle_file {
        Some(file) => Some(dir.join(file)),
        None => [FLEET_YAML, FLEET_YML]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file()),
    };
    let parsed = match &fleet_yaml_file {
        Some(file) => {
            let bytes = limits.read(root, file)?;
            let text = String::from_utf8_lossy(&bytes);
            let shown = match bundle_file {
                Some(name) => PathBuf::from(join_rel(rel, name)),
                None => display_path(rel, file),
            };
            fleet_yaml::parse(&shown, &text)?
        }
        None => fleet_yaml::ParsedFleetYaml::default(),
    };
    warnings.extend(
        parsed
            .warnings
            .iter()
            .map(|w: &FleetYamlWarning| ScanWarning {
                path: w.file.to_string_lossy().into_owned(),
                message: format!("{}: {}", w.key, w.message),
            }),
    );
    let fy = parsed.fleet_yaml;
    if !fy.image_scans.is_empty() {
        return Err(BundleLoadError::ImageScans {
            file: PathBuf::from(join_rel(rel, bundle_file.unwrap_or(FLEET_YAML))),
        });
    }
    let mut spec: BundleSpec = fy.spec;
    spec.targets.extend(fy.target_customizations);

    for (i, target) in spec.targets.iter_mut().enumerate() {
        if target.name.is_empty() {
            target.name = format!("target{i:03}");
        }
    }
    propagate_helm_chart_properties(&mut spec);
    if let Some(helm) = spec.options.helm.as_mut() {
        normalize_repo_url(helm);
    }
    for target in &mut spec.targets {
        if let Some(helm) = target.options.helm.as_mut() {
            normalize_repo_url(helm);
        }
    }
    check_option_paths(&dir, rel, &spec)?;

    // Values files are folded into `values` at scan time, as Fleet does, so the agent
    // never needs them; they are then left out of the resources, like fleet.yaml itself
    // (Fleet 0.12 on; the release `shared/fleet-examples/tests/expected` records still
    // carried it, see tests/fleet_examples.rs).
    let mut ignore_apply_configs: BTreeSet<String> =
        bundle_file.map(str::to_string).into_iter().collect();
    if let Some(helm) = spec.options.helm.as_mut() {
        fold_values_files(root, &dir, rel, helm, &mut limits)?;
        add_values_file_names(helm, &mut ignore_apply_configs);
    }
    for target in &mut spec.targets {
        if let Some(helm) = target.options.helm.as_mut() {
            fold_values_files(root, &dir, rel, helm, &mut limits)?;
            add_values_file_names(helm, &mut ignore_apply_configs);
        }
    }

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let rules = IgnoreRules::default().enter(&dir, "")?;
    load_directory(
        root,
        &dir,
        rel,
        "",
        &rules,
        &ignore_apply_configs,
        &mut limits,
        &mut files,
        warnings,
    )?;

    let mut charts: Vec<&HelmOptions> = Vec::new();
    if let Some(helm) = &spec.options.helm {
        if !helm.chart.is_empty() || !helm.repo.is_empty() {
            charts.push(helm);
        }
    }
    for target in &spec.targets {
        if let Some(helm) = &target.options.helm {
            if !helm.chart.is_empty() || !helm.repo.is_empty() {
                charts.push(helm);
            }
        }
    }
    let scoped = opts.charts.for_bundle(rel);
    let chart_source: &dyn ChartSource = scoped.as_deref().unwrap_or(opts.charts);
    let mut fetched = BTreeSet::new();
    for helm in charts {
        if !is_remote_chart(&dir, helm) {
            if !dir.join(&helm.chart).is_dir() && !dir.join(&helm.chart).is_file() {
                return Err(BundleLoadError::ChartNotFound {
                    dir: display_path(rel, &dir.join(FLEET_YAML)),
                    chart: helm.chart.clone(),
                });
            }
            continue;
        }
        let prefix = chart_prefix(helm);
        if !fetched.insert(prefix.clone()) {
            continue;
        }
        let chart_files =
            chart_source
                .fetch(helm)
                .map_err(|source| BundleLoadError::ChartDownload {
                    dir: display_path(rel, &dir.join(FLEET_YAML)),
                    reference: format!(
                        "repo={} chart={} version={}",
                        helm.repo, helm.chart, helm.version
                    ),
                    source,
                })?;
        for (name, data) in chart_files {
            let file = PathBuf::from(format!("{prefix}/{name}"));
            limits.charge(&file, data.len() as u64)?;
            if !is_safe_relative(&name) {
                return Err(BundleLoadError::UnsafePath {
                    file: display_path(rel, &dir),
                    field: "downloaded chart file".to_string(),
                    path: name,
                    reason: "must be a relative path inside the chart".to_string(),
                });
            }
            files.insert(format!("{prefix}/{name}"), data);
        }
    }

    let update_dependencies = !spec
        .options
        .helm
        .as_ref()
        .is_some_and(|h| h.disable_dependency_update);
    if update_dependencies {
        dependencies::update_dependencies(
            root,
            rel,
            &mut files,
            chart_source,
            &mut limits,
            warnings,
        )?;
    }

    if files.is_empty() {
        return Ok(None);
    }

    let mut resources: Vec<BundleResource> = files
        .iter()
        .map(|(name, data)| encode_resource(name, data, false))
        .collect();
    let size: usize = resources
        .iter()
        .map(|r| r.name.len() + r.content.len() + 32)
        .sum();
    if opts.compress || size >= COMPRESS_THRESHOLD {
        resources = files
            .iter()
            .map(|(name, data)| encode_resource(name, data, true))
            .collect();
    }
    spec.resources = resources;

    let mut labels = opts.labels.clone();
    labels.extend(fy.labels);
    if !opts.commit.is_empty() {
        labels.insert(COMMIT_LABEL.to_string(), opts.commit.clone());
    }
    let name = if fy.name.is_empty() {
        match bundle_file {
            // Fleet's bundle ID of a driven bundle: the options file's path, its
            // extension dropped, after the directory.
            Some(file) => {
                let stem = match file.rsplit_once('.') {
                    Some((stem, ext)) if !ext.contains('/') => stem,
                    _ => file,
                };
                naming::bundle_name(&opts.repo_name, &join_rel(rel, stem))
            }
            None => naming::bundle_name(&opts.repo_name, rel),
        }
    } else {
        fy.name
    };

    if !opts.service_account.is_empty() {
        spec.options.service_account = opts.service_account.clone();
    }
    spec.options.force_sync_generation = opts.sync_generation;
    match (fy.override_targets, &opts.gitrepo_targets) {
        (Some(overrides), _) => {
            for target in overrides {
                spec.targets.push(BundleTarget {
                    name: target.name.clone(),
                    cluster_name: target.cluster_name.clone(),
                    cluster_selector: target.cluster_selector.clone(),
                    cluster_group: target.cluster_group.clone(),
                    cluster_group_selector: target.cluster_group_selector.clone(),
                    ..BundleTarget::default()
                });
                spec.target_restrictions.push(target);
            }
        }
        (None, Some(gitrepo_targets)) => {
            let default_target = [BundleTargetRestriction {
                name: "default".to_string(),
                cluster_group: "default".to_string(),
                ..BundleTargetRestriction::default()
            }];
            let targets = if gitrepo_targets.is_empty() {
                &default_target[..]
            } else {
                &gitrepo_targets[..]
            };
            for target in targets {
                spec.targets.push(BundleTarget {
                    name: target.name.clone(),
                    cluster_name: target.cluster_name.clone(),
                    cluster_selector: target.cluster_selector.clone(),
                    cluster_group: target.cluster_group.clone(),
                    cluster_group_selector: target.cluster_group_selector.clone(),
                    ..BundleTarget::default()
                });
                spec.target_restrictions.push(target.clone());
            }
        }
        (None, None) => {
            if let Some(file) = &opts.targets_file {
                spec.targets.extend(file.targets.iter().cloned());
                spec.target_restrictions
                    .extend(file.target_restrictions.iter().cloned());
            }
        }
    }
    if spec.targets.is_empty() {
        spec.targets.push(BundleTarget {
            name: "default".to_string(),
            cluster_group: "default".to_string(),
            ..BundleTarget::default()
        });
    }
    if !opts.target_namespace.is_empty() {
        spec.options.target_namespace = opts.target_namespace.clone();
        for target in &mut spec.targets {
            target.options.target_namespace = opts.target_namespace.clone();
        }
    }
    spec.paused |= opts.paused;
    spec.options.keep_resources |= opts.keep_resources;
    spec.options.delete_namespace |= opts.delete_namespace;
    if let Some(cd) = &opts.correct_drift {
        if cd.enabled {
            spec.options.correct_drift = Some(cd.clone());
        }
    }
    Ok(Some(Bundle {
        api_version: API_VERSION.to_string(),
        kind: "Bundle".to_string(),
        metadata: ObjectMeta {
            name,
            namespace: opts.namespace.clone(),
            labels,
            annotations: fy.annotations,
        },
        spec,
    }))
}

/// Adds the `correctDrift: {}` and `ignore: {}` that every Bundle printed by Fleet's CLI
/// carries, bundle-wide and on each target, so `fleet-bundle build` prints what `fleet
/// apply -o -` prints.
///
/// Only for printing: on a target, a present `correctDrift` replaces the bundle's when
/// options are merged, so filling it in the stored spec would switch off the GitRepo's
/// `correctDrift` (and `ignore`) for every target.
pub fn fill_fleet_print_defaults(bundle: &mut Bundle) {
    fill_fleet_defaults(&mut bundle.spec.options);
    for target in &mut bundle.spec.targets {
        fill_fleet_defaults(&mut target.options);
    }
}

fn fill_fleet_defaults(options: &mut BundleDeploymentOptions) {
    options
        .correct_drift
        .get_or_insert_with(CorrectDrift::default);
    options.ignore.get_or_insert_with(IgnoreOptions::default);
}

/// The path of `file` as users know it: relative to the checkout.
fn display_path(rel: &str, file: &Path) -> PathBuf {
    let name = file.file_name().map(PathBuf::from).unwrap_or_default();
    if file.is_dir() {
        return PathBuf::from(rel);
    }
    if rel == "." {
        name
    } else {
        Path::new(rel).join(name)
    }
}

/// Fleet's `propagateHelmChartProperties`: a target with `helm:` options inherits the
/// bundle's chart, repo and version so the right chart is downloaded for it.
fn propagate_helm_chart_properties(spec: &mut BundleSpec) {
    let Some(base) = spec.options.helm.clone() else {
        return;
    };
    for target in &mut spec.targets {
        if let Some(helm) = target.options.helm.as_mut() {
            if helm.repo.is_empty() {
                helm.repo = base.repo.clone();
            }
            if helm.chart.is_empty() {
                helm.chart = base.chart.clone();
            }
            if helm.version.is_empty() {
                helm.version = base.version.clone();
            }
        }
    }
}

/// A Helm repository URL ends with `/`, as Fleet writes it into the bundle (and into the
/// `.chart/<sha256>` name it derives from it); OCI references are left alone.
fn normalize_repo_url(helm: &mut HelmOptions) {
    if !helm.repo.is_empty() && !helm.repo.starts_with("oci://") && !helm.repo.ends_with('/') {
        helm.repo.push('/');
    }
}

/// Whether `helm` needs a download: a repository is named, the chart is a URL, or (as in
/// Fleet) the chart is not a path inside the bundle.
fn is_remote_chart(dir: &Path, helm: &HelmOptions) -> bool {
    !helm.repo.is_empty()
        || helm.chart.contains("://")
        || (!helm.chart.is_empty()
            && !dir.join(&helm.chart).exists()
            && looks_like_chart_ref(&helm.chart))
}

/// A bare repository reference (`repo/chart`) rather than a relative path (`./chart`).
fn looks_like_chart_ref(chart: &str) -> bool {
    !chart.starts_with('.') && !chart.starts_with('/') && chart.contains('/')
}

/// Refuses absolute paths and `..` escapes in the options that name files of the bundle.
fn check_option_paths(dir: &Path, rel: &str, spec: &BundleSpec) -> Result<(), BundleLoadError> {
    let file = display_path(rel, &dir.join(FLEET_YAML));
    let check = |field: &str, path: &str| -> Result<(), BundleLoadError> {
        if path.is_empty() || path.contains("://") {
            return Ok(());
        }
        if is_safe_relative(path) {
            Ok(())
        } else {
            Err(BundleLoadError::UnsafePath {
                file: file.clone(),
                field: field.to_string(),
                path: path.to_string(),
                reason: "must be a relative path inside the bundle directory".to_string(),
            })
        }
    };
    let mut all_options = vec![("", &spec.options)];
    all_options.extend(spec.targets.iter().map(|t| (t.name.as_str(), &t.options)));
    for (target, options) in all_options {
        let at = |f: &str| {
            if target.is_empty() {
                f.to_string()
            } else {
                format!("targetCustomizations[{target}].{f}")
            }
        };
        if let Some(k) = &options.kustomize {
            check(&at("kustomize.dir"), &k.dir)?;
        }
        if let Some(y) = &options.yaml {
            for overlay in &y.overlays {
                check(&at("yaml.overlays"), overlay)?;
            }
        }
        if let Some(h) = &options.helm {
            if h.repo.is_empty() && !h.chart.contains("://") {
                check(&at("helm.chart"), &h.chart)?;
            }
        }
    }
    Ok(())
}

/// True for a relative path that never climbs above its starting directory.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    if p.is_absolute() || path.starts_with('/') || path.starts_with('\\') {
        return false;
    }
    let mut depth: i64 = 0;
    for c in p.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn add_values_file_names(helm: &HelmOptions, out: &mut BTreeSet<String>) {
    for vf in &helm.values_files {
        out.insert(vf.clone());
        if let Some(base) = Path::new(vf).file_name() {
            out.insert(base.to_string_lossy().into_owned());
        }
    }
}

/// Fleet's `parseValuesFiles`: reads every `valuesFiles` entry (relative to the bundle,
/// never outside the checkout) and deep-merges it over `values`, later files winning.
fn fold_values_files(
    root: &Path,
    dir: &Path,
    rel: &str,
    helm: &mut HelmOptions,
    budget: &mut Budget,
) -> Result<(), BundleLoadError> {
    if helm.values_files.is_empty() {
        return Ok(());
    }
    let mut merged = match helm.values.take() {
        Some(Value::Object(map)) => map,
        Some(Value::Null) | None => serde_json::Map::new(),
        Some(other) => {
            helm.values = Some(other);
            return Ok(());
        }
    };
    for vf in &helm.values_files {
        let shown = if rel == "." {
            PathBuf::from(vf)
        } else {
            Path::new(rel).join(vf)
        };
        if Path::new(vf).is_absolute() {
            return Err(BundleLoadError::UnsafePath {
                file: shown,
                field: "helm.valuesFiles".to_string(),
                path: vf.clone(),
                reason: "must be a relative path inside the checkout".to_string(),
            });
        }
        let path = dir.join(vf);
        let bytes = budget.read(root, &path).map_err(|e| match e {
            BundleLoadError::Read { source, .. } => BundleLoadError::ValuesFile {
                file: shown.clone(),
                message: source.to_string(),
            },
            other => other,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let value: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| BundleLoadError::ValuesFile {
                file: shown.clone(),
                message: e.to_string(),
            })?;
        let json = serde_json::to_value(value).map_err(|e| BundleLoadError::ValuesFile {
            file: shown.clone(),
            message: e.to_string(),
        })?;
        match json {
            Value::Object(map) => crate::target::merge_values(&mut merged, map),
            Value::Null => {}
            _ => {
                return Err(BundleLoadError::ValuesFile {
                    file: shown,
                    message: "must be a mapping of values".to_string(),
                })
            }
        }
    }
    if !merged.is_empty() {
        helm.values = Some(Value::Object(merged));
    }
    Ok(())
}

/// Reads files of one bundle while enforcing the limits and the checkout boundary.
struct Budget {
    limits: ScanLimits,
    total: u64,
}

impl Budget {
    fn new(limits: ScanLimits) -> Self {
        Budget { limits, total: 0 }
    }

    fn charge(&mut self, file: &Path, size: u64) -> Result<(), BundleLoadError> {
        if size > self.limits.max_file_bytes {
            return Err(BundleLoadError::FileTooLarge {
                file: file.to_path_buf(),
                size,
                limit: self.limits.max_file_bytes,
            });
        }
        self.total += size;
        if self.total > self.limits.max_bundle_bytes {
            return Err(BundleLoadError::BundleTooLarge {
                file: file.to_path_buf(),
                limit: self.limits.max_bundle_bytes,
            });
        }
        Ok(())
    }

    /// Reads `path` after checking that it (symlinks resolved) stays inside `root`.
    fn read(&mut self, root: &Path, path: &Path) -> Result<Vec<u8>, BundleLoadError> {
        let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        let resolved = path
            .canonicalize()
            .map_err(|source| BundleLoadError::Read {
                file: shown.clone(),
                source,
            })?;
        if !resolved.starts_with(root) {
            return Err(BundleLoadError::SymlinkEscape {
                file: shown,
                target: resolved,
            });
        }
        let meta = std::fs::metadata(&resolved).map_err(|source| BundleLoadError::Read {
            file: shown.clone(),
            source,
        })?;
        self.charge(&shown, meta.len())?;
        std::fs::read(&resolved).map_err(|source| BundleLoadError::Read {
            file: shown,
            source,
        })
    }
}

/// Collects the files of a bundle directory (Fleet's `GetContent` walk).
#[allow(clippy::too_many_arguments)] // one recursive walk threading its context
fn load_directory(
    root: &Path,
    dir: &Path,
    bundle_rel: &str,
    prefix: &str,
    rules: &IgnoreRules,
    ignore_apply_configs: &BTreeSet<String>,
    budget: &mut Budget,
    files: &mut BTreeMap<String, Vec<u8>>,
    warnings: &mut Vec<ScanWarning>,
) -> Result<(), BundleLoadError> {
    let entries = sorted_entries(dir).map_err(|source| BundleLoadError::Read {
        file: PathBuf::from(join_rel(bundle_rel, prefix)),
        source,
    })?;
    for (name, path, is_dir) in entries {
        let Some(name) = name else {
            return Err(BundleLoadError::NonUtf8Name {
                file: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
            });
        };
        let rel_name = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        // Fleet's `ignoreApplyConfigs`: the bundle's own fleet.yaml (and the file a driven
        // scan named) and its values files are options, never resources, whatever
        // `.fleetignore` says. Sub-bundles' fleet.yaml files stay: a parent bundle carries
        // every file below it, as Fleet's `GetContent` walk does.
        if ignore_apply_configs.contains(&rel_name) || (prefix.is_empty() && is_fleet_yaml(&name)) {
            continue;
        }
        let ignored = rules.is_ignored(&rel_name, is_dir);
        if is_dir {
            if ignored || name.starts_with('.') {
                continue;
            }
            let child_rules = rules.enter(&path, &rel_name)?;
            load_directory(
                root,
                &path,
                bundle_rel,
                &rel_name,
                &child_rules,
                ignore_apply_configs,
                budget,
                files,
                warnings,
            )?;
            continue;
        }
        if ignored || name.starts_with('.') {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|source| BundleLoadError::Read {
            file: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
            source,
        })?;
        if meta.file_type().is_symlink() {
            let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let resolved = path
                .canonicalize()
                .map_err(|source| BundleLoadError::Read {
                    file: shown.clone(),
                    source,
                })?;
            if !resolved.starts_with(root) {
                return Err(BundleLoadError::SymlinkEscape {
                    file: shown,
                    target: resolved,
                });
            }
            if resolved.is_dir() {
                warnings.push(ScanWarning {
                    path: shown.to_string_lossy().into_owned(),
                    message: "symlink to a directory is not followed".to_string(),
                });
                continue;
            }
        }
        let data = budget.read(root, &path)?;
        files.insert(rel_name, data);
    }
    Ok(())
}

mod dependencies;
pub(crate) use dependencies::archive_from_files;

#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod tests;
