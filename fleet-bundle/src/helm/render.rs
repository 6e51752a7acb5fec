//! Rendering a chart the way `helm template` does: load, check dependencies, merge the
//! user's values, apply dependency conditions and import-values, coalesce, validate
//! against the schemas, execute the templates, and sort the result into manifests and
//! hooks. The entry points for the CLI, for kustomize's `helmCharts` and for the bundle
//! renderer are [`template`] (the text `helm template` prints) and [`render_chart`] /
//! [`render_loaded`] (the structured release).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::chart::Chart;
use super::constraint::is_compatible_range;
use super::dependencies::{check_dependencies, process_dependencies, MissingDependencies};
use super::load::{load, LoadError, LoadedChart};
use super::output::{
    sort_release, template_stream, CrdFile, OutputError, SortedRelease, StreamOptions,
};
use super::schema::{format_violations, validate_in_chart, SchemaError};
use super::values::{coalesce_values, ValueOptions, Values, ValuesError};

/// The Kubernetes version `helm template` assumes without `--kube-version` (Helm
/// 4.1's default capabilities).
pub const DEFAULT_KUBE_VERSION: &str = "v1.35.0";

/// What `helm template` is asked to do.
#[derive(Debug, Clone)]
pub struct TemplateOptions {
    /// `.Release.Name` (`helm template` uses `release-name` when none is given).
    pub release_name: String,
    /// `.Release.Namespace` (`--namespace`, default `default`).
    pub namespace: String,
    /// `--kube-version` (`1.31.0` or `v1.31.0`).
    pub kube_version: Option<String>,
    /// `--api-versions`, added to the default API versions.
    pub api_versions: Vec<String>,
    /// `-f`, `--set`, `--set-string`, `--set-json`, `--set-file`, `--set-literal`.
    pub values: ValueOptions,
    /// `--is-upgrade`: `.Release.IsUpgrade` instead of `.Release.IsInstall`.
    pub is_upgrade: bool,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
    /// Printing: `--include-crds`, `--skip-tests`, `--no-hooks`, `--show-only`.
    pub stream: StreamOptions,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            kube_version: None,
            api_versions: Vec::new(),
            values: ValueOptions::default(),
            is_upgrade: false,
            skip_schema_validation: false,
            stream: StreamOptions::default(),
        }
    }
}

/// `.Capabilities.KubeVersion` as Helm derives it from `--kube-version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeVersion {
    /// As given, with a `v` prefix (`v1.31.0`, `v1.33.4-gke.1245000`).
    pub version: String,
    /// `vMAJOR.MINOR.PATCH`, used for `kubeVersion:` constraints.
    pub normalized: String,
    pub major: String,
    pub minor: String,
}

impl KubeVersion {
    /// Helm's `ParseKubeVersion` (Kubernetes' generic version syntax).
    pub fn parse(text: &str) -> Result<Self, HelmError> {
        let invalid = |why: &str| HelmError::KubeVersion {
            given: text.to_string(),
            reason: why.to_string(),
        };
        let trimmed = text.trim();
        let bare = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let numeric_end = bare
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(bare.len());
        let (numbers, rest) = bare.split_at(numeric_end);
        if !rest.is_empty() && !rest.starts_with(['-', '+']) {
            return Err(invalid("could not parse version"));
        }
        let parts: Vec<&str> = numbers.split('.').collect();
        if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
            return Err(invalid(
                "could not parse version: it must be MAJOR.MINOR[.PATCH]",
            ));
        }
        let nums: Vec<u64> = parts
            .iter()
            .map(|p| p.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid("version numbers out of range"))?;
        // Generic versions keep only their numbers (`v1.33.4-gke.1` → `v1.33.4`).
        let normalized = format!(
            "v{}",
            nums.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(".")
        );
        Ok(KubeVersion {
            version: if trimmed.starts_with('v') {
                trimmed.to_string()
            } else {
                format!("v{trimmed}")
            },
            normalized,
            major: nums[0].to_string(),
            minor: nums[1].to_string(),
        })
    }
}

/// The release facts templates see besides values (`.Release`, `.Capabilities`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseContext {
    pub name: String,
    pub namespace: String,
    pub revision: u32,
    pub is_install: bool,
    pub is_upgrade: bool,
    pub kube_version: KubeVersion,
    /// Only the user's `--api-versions`; the engine adds its defaults.
    pub extra_api_versions: Vec<String>,
}

/// What executes a chart tree's templates: file path (`chart/templates/x.yaml`) →
/// rendered text, partials and `NOTES.txt` included.
pub trait TemplateEngine {
    fn render(
        &self,
        chart: &Chart,
        values: &Value,
        ctx: &ReleaseContext,
    ) -> Result<BTreeMap<String, String>, String>;
}

/// The Go-template engine of [`super::engine`]: what `helm template` runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoTemplateEngine;

impl TemplateEngine for GoTemplateEngine {
    fn render(
        &self,
        chart: &Chart,
        values: &Value,
        ctx: &ReleaseContext,
    ) -> Result<BTreeMap<String, String>, String> {
        let engine_ctx = super::engine::RenderContext {
            release_name: ctx.name.clone(),
            namespace: ctx.namespace.clone(),
            revision: i64::from(ctx.revision),
            is_install: ctx.is_install,
            is_upgrade: ctx.is_upgrade,
            kube_version: ctx.kube_version.version.clone(),
            api_versions: ctx.extra_api_versions.clone(),
            ..super::engine::RenderContext::default()
        };
        super::engine::render(chart, values, &engine_ctx).map_err(|e| e.to_string())
    }
}

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum HelmError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("an error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: {0}")]
    MissingDependencies(MissingDependencies),
    #[error(transparent)]
    Values(#[from] ValuesError),
    #[error("{chart}: {kind} charts are not installable")]
    NotInstallable { chart: String, kind: String },
    /// Helm 4.1 loads `apiVersion: v3` charts but cannot install them.
    #[error("invalid chart apiVersion: {chart}'s Chart.yaml says apiVersion v3, which Helm 4.1 cannot install (use v2)")]
    ApiVersionV3 { chart: String },
    /// Anything but v1, v2 and v3.
    #[error("unsupported chart version: {chart}'s Chart.yaml says apiVersion {api_version:?} (Helm knows v1 and v2)")]
    UnsupportedApiVersion { chart: String, api_version: String },
    #[error("invalid kube version '{given}': {reason}")]
    KubeVersion { given: String, reason: String },
    #[error(
        "chart requires kubeVersion: {required} which is incompatible with Kubernetes {actual}"
    )]
    IncompatibleKube { required: String, actual: String },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{0}"
    )]
    SchemaViolations(String),
    #[error("{0}")]
    Engine(String),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// A rendered release: sorted manifests and hooks, the `crds/` files, the notes.
#[derive(Debug, Clone)]
pub struct RenderedRelease {
    pub chart_name: String,
    pub release: SortedRelease,
    pub crds: Vec<CrdFile>,
    /// The coalesced values the templates saw.
    pub values: Values,
}

impl RenderedRelease {
    /// The text `helm template` prints for this release.
    pub fn stream(&self, opts: &StreamOptions) -> Result<String, HelmError> {
        Ok(template_stream(&self.release, &self.crds, opts)?)
    }
}

/// Renders a chart directory or archive and prints it as `helm template` does.
///
/// # Example
///
/// ```
/// use fleet_bundle::helm::render::{template, GoTemplateEngine, TemplateOptions};
/// use fleet_bundle::helm::values::ValueOptions;
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 0.1.0\n")?;
/// std::fs::write(dir.path().join("values.yaml"), "color: blue\n")?;
/// std::fs::create_dir(dir.path().join("templates"))?;
/// std::fs::write(
///     dir.path().join("templates/cm.yaml"),
///     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  color: {{ .Values.color }}\n",
/// )?;
/// let opts = TemplateOptions {
///     release_name: "web".into(),
///     values: ValueOptions { values: vec!["color=red".into()], ..ValueOptions::default() },
///     ..TemplateOptions::default()
/// };
/// let out = template(dir.path(), &opts, &GoTemplateEngine)?;
/// assert_eq!(
///     out,
///     "---\n# Source: demo/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  color: red\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Whatever stops `helm template`: an unloadable chart, missing vendored dependencies,
/// unreadable values, a library chart, a `kubeVersion` the cluster does not meet, values
/// the schemas refuse, a template that fails, a rendered document that is not YAML.
pub fn template(
    chart_path: &Path,
    opts: &TemplateOptions,
    engine: &dyn TemplateEngine,
) -> Result<String, HelmError> {
    render_chart(chart_path, opts, engine)?.stream(&opts.stream)
}

/// Renders a chart directory or archive into a structured release.
pub fn render_chart(
    chart_path: &Path,
    opts: &TemplateOptions,
    engine: &dyn TemplateEngine,
) -> Result<RenderedRelease, HelmError> {
    let chart = load(chart_path)?;
    check_dependencies(&chart).map_err(HelmError::MissingDependencies)?;
    let user = opts.values.merge()?;
    render_loaded(chart, &user, opts, engine)
}

/// Renders an already loaded chart with user values already merged (the bundle
/// renderer's entry: values come from fleet.yaml rather than flags).
pub fn render_loaded(
    chart: LoadedChart,
    user: &Values,
    opts: &TemplateOptions,
    engine: &dyn TemplateEngine,
) -> Result<RenderedRelease, HelmError> {
    let executed = execute(chart, user, opts, engine)?;
    let notes = format!("{}/templates/NOTES.txt", executed.chart_name);
    let release = sort_release(&executed.files, &notes)?;
    Ok(RenderedRelease {
        chart_name: executed.chart_name,
        release,
        crds: executed.crds,
        values: executed.values,
    })
}

/// Every template's output by path (`chart/templates/x.yaml`, `NOTES.txt` included),
/// before Helm sorts it into manifests: what `helm template --debug` prints when the
/// output is not YAML. The peers'-suites oracle compares templates through it.
pub fn render_files(
    chart_path: &Path,
    opts: &TemplateOptions,
    engine: &dyn TemplateEngine,
) -> Result<BTreeMap<String, String>, HelmError> {
    render_loaded_files(load(chart_path)?, opts, engine)
}

/// [`render_files`] of an already loaded chart (values still to merge from `opts`).
pub fn render_loaded_files(
    chart: LoadedChart,
    opts: &TemplateOptions,
    engine: &dyn TemplateEngine,
) -> Result<BTreeMap<String, String>, HelmError> {
    check_dependencies(&chart).map_err(HelmError::MissingDependencies)?;
    let user = opts.values.merge()?;
    Ok(execute(chart, &user, opts, engine)?.files)
}

/// A chart whose templates have run.
struct Executed {
    chart_name: String,
    crds: Vec<CrdFile>,
    values: Values,
    files: BTreeMap<String, String>,
}

/// Everything of a render up to the templates' outputs: installability, dependencies,
/// values, schemas, `kubeVersion`, then the engine.
fn execute(
    mut chart: LoadedChart,
    user: &Values,
    opts: &TemplateOptions,
    engine: &dyn TemplateEngine,
) -> Result<Executed, HelmError> {
    // Helm's loader picks a loader by the root chart's apiVersion, and its install
    // action takes only v1/v2 charts.
    match chart.metadata.api_version.as_str() {
        "" | "v1" | "v2" => {}
        "v3" => {
            return Err(HelmError::ApiVersionV3 {
                chart: chart.metadata.name.clone(),
            })
        }
        other => {
            return Err(HelmError::UnsupportedApiVersion {
                chart: chart.metadata.name.clone(),
                api_version: other.to_string(),
            })
        }
    }
    if !chart.metadata.chart_type.is_empty()
        && !chart
            .metadata
            .chart_type
            .eq_ignore_ascii_case("application")
    {
        return Err(HelmError::NotInstallable {
            chart: chart.metadata.name.clone(),
            kind: chart.metadata.chart_type.clone(),
        });
    }
    let kube_version =
        KubeVersion::parse(opts.kube_version.as_deref().unwrap_or(DEFAULT_KUBE_VERSION))?;
    process_dependencies(&mut chart, user)?;
    let values = coalesce_values(&chart, user)?;
    if !opts.skip_schema_validation {
        let report = schema_report(&chart, &values)?;
        if !report.is_empty() {
            return Err(HelmError::SchemaViolations(report));
        }
    }
    if !chart.metadata.kube_version.is_empty()
        && !is_compatible_range(&chart.metadata.kube_version, &kube_version.normalized)
    {
        return Err(HelmError::IncompatibleKube {
            required: chart.metadata.kube_version.clone(),
            actual: kube_version.version.clone(),
        });
    }
    let ctx = ReleaseContext {
        name: opts.release_name.clone(),
        namespace: opts.namespace.clone(),
        revision: 1,
        is_install: !opts.is_upgrade,
        is_upgrade: opts.is_upgrade,
        kube_version,
        extra_api_versions: opts.api_versions.clone(),
    };
    let mut crds = Vec::new();
    collect_crds(&chart, &chart.metadata.name, &mut crds);
    let chart_name = chart.metadata.name.clone();
    let values = Value::Object(values);
    let files = engine
        .render(&chart.into_chart(true), &values, &ctx)
        .map_err(HelmError::Engine)?;
    let values = match values {
        Value::Object(map) => map,
        _ => Values::new(),
    };
    Ok(Executed {
        chart_name,
        crds,
        values,
        files,
    })
}

/// Helm's `ValidateAgainstSchema` over the chart tree: one block per failing chart.
fn schema_report(chart: &LoadedChart, values: &Values) -> Result<String, HelmError> {
    let mut report = String::new();
    if let Some(schema) = &chart.schema {
        let files: Vec<(&str, &[u8])> = chart
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.data.as_slice()))
            .collect();
        let name = &chart.metadata.name;
        match validate_in_chart(schema, &Value::Object(values.clone()), name, &files) {
            Ok(violations) if violations.is_empty() => {}
            Ok(violations) => report.push_str(&format_violations(name, &violations)),
            // Helm reports a schema it cannot load among the violations, under the chart.
            Err(SchemaError::Unsupported { message, .. }) => {
                report.push_str(&format!("{name}:\n{message}\n"))
            }
            Err(e) => return Err(e.into()),
        }
    }
    for sub in &chart.dependencies {
        match values.get(&sub.metadata.name) {
            None | Some(Value::Null) => {}
            Some(Value::Object(section)) => report.push_str(&schema_report(sub, section)?),
            Some(other) => report.push_str(&format!(
                "{}:\ninvalid type for values: expected object (map), got {}\n",
                sub.metadata.name,
                match other {
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "float64",
                    Value::String(_) => "string",
                    _ => "[]interface {}",
                }
            )),
        }
    }
    Ok(report)
}

/// Helm's `CRDObjects`: `crds/*.{yaml,yml,json}` of the chart and its enabled
/// subcharts, named by the chart's full path (`parent/charts/sub/crds/x.yaml`).
fn collect_crds(chart: &LoadedChart, full_path: &str, out: &mut Vec<CrdFile>) {
    for f in &chart.files {
        let lower = f.name.to_ascii_lowercase();
        if f.name.starts_with("crds/")
            && (lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json"))
        {
            out.push(CrdFile {
                source: format!("{full_path}/{}", f.name),
                data: super::chart::text_lossy(&f.data),
            });
        }
    }
    for sub in &chart.dependencies {
        collect_crds(
            sub,
            &format!("{full_path}/charts/{}", sub.metadata.name),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prints each template's raw text with `{{ .Release.Name }}` replaced: enough to
    /// exercise the pipeline around the engine.
    struct EchoEngine;

    impl TemplateEngine for EchoEngine {
        fn render(
            &self,
            chart: &Chart,
            values: &Value,
            ctx: &ReleaseContext,
        ) -> Result<BTreeMap<String, String>, String> {
            let mut out = BTreeMap::new();
            fn walk(
                c: &Chart,
                prefix: &str,
                ctx: &ReleaseContext,
                values: &Value,
                out: &mut BTreeMap<String, String>,
            ) {
                let path = if prefix.is_empty() {
                    c.name.clone()
                } else {
                    format!("{prefix}/charts/{}", c.name)
                };
                for t in &c.templates {
                    let text = String::from_utf8_lossy(&t.data)
                        .replace("{{ .Release.Name }}", &ctx.name)
                        .replace(
                            "{{ .Values.color }}",
                            values.get("color").and_then(Value::as_str).unwrap_or(""),
                        );
                    out.insert(format!("{path}/{}", t.name), text);
                }
                for d in &c.dependencies {
                    walk(
                        d,
                        &path,
                        ctx,
                        values.get(&d.name).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            walk(chart, "", ctx, values, &mut out);
            Ok(out)
        }
    }

    fn write(dir: &Path, name: &str, data: &str) {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn demo_chart(dir: &Path) {
        write(dir, "Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\nkubeVersion: '>=1.20.0-0'\ndependencies:\n- name: sub\n  version: 1.x\n  condition: sub.enabled\n");
        write(dir, "values.yaml", "color: blue\nsub:\n  enabled: true\n");
        write(dir, "templates/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  color: {{ .Values.color }}\n");
        write(dir, "templates/NOTES.txt", "hello");
        write(dir, "crds/crd.yaml", "kind: CustomResourceDefinition\n");
        write(
            dir,
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.2.0\n",
        );
        write(
            dir,
            "charts/sub/templates/sa.yaml",
            "kind: ServiceAccount\n",
        );
        write(
            dir,
            "charts/sub/crds/sub-crd.yml",
            "kind: CustomResourceDefinition\n",
        );
    }

    #[test]
    fn renders_the_helm_template_stream() {
        let tmp = tempfile::tempdir().unwrap();
        demo_chart(tmp.path());
        let opts = TemplateOptions {
            release_name: "rel".into(),
            kube_version: Some("1.31.0".into()),
            values: ValueOptions {
                values: vec!["color=red".into()],
                ..ValueOptions::default()
            },
            stream: StreamOptions {
                include_crds: true,
                ..StreamOptions::default()
            },
            ..TemplateOptions::default()
        };
        let out = template(tmp.path(), &opts, &EchoEngine).unwrap();
        assert_eq!(
            out,
            "---\n# Source: demo/crds/crd.yaml\nkind: CustomResourceDefinition\n\n---\n# Source: demo/charts/sub/crds/sub-crd.yml\nkind: CustomResourceDefinition\n\n---\n# Source: demo/charts/sub/templates/sa.yaml\nkind: ServiceAccount\n---\n# Source: demo/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rel\ndata:\n  color: red\n"
        );
    }

    #[test]
    fn conditions_drop_subcharts_and_their_crds() {
        let tmp = tempfile::tempdir().unwrap();
        demo_chart(tmp.path());
        let opts = TemplateOptions {
            values: ValueOptions {
                values: vec!["sub.enabled=false".into()],
                ..ValueOptions::default()
            },
            stream: StreamOptions {
                include_crds: true,
                ..StreamOptions::default()
            },
            ..TemplateOptions::default()
        };
        let out = template(tmp.path(), &opts, &EchoEngine).unwrap();
        assert!(!out.contains("charts/sub"), "{out}");
    }

    #[test]
    fn kube_version_constraint_and_library_charts() {
        let tmp = tempfile::tempdir().unwrap();
        demo_chart(tmp.path());
        let opts = TemplateOptions {
            kube_version: Some("1.19.0".into()),
            ..TemplateOptions::default()
        };
        let err = template(tmp.path(), &opts, &EchoEngine).unwrap_err();
        assert_eq!(
            err.to_string(),
            "chart requires kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.0"
        );
        let opts = TemplateOptions {
            kube_version: Some("banana".into()),
            ..TemplateOptions::default()
        };
        assert!(template(tmp.path(), &opts, &EchoEngine)
            .unwrap_err()
            .to_string()
            .starts_with("invalid kube version 'banana'"));
        write(
            tmp.path(),
            "Chart.yaml",
            "apiVersion: v2\nname: lib\nversion: 0.1.0\ntype: library\n",
        );
        let err = template(tmp.path(), &TemplateOptions::default(), &EchoEngine).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("library charts are not installable"),
            "{err}"
        );
    }

    #[test]
    fn schema_violations_are_reported_per_chart() {
        let tmp = tempfile::tempdir().unwrap();
        demo_chart(tmp.path());
        write(
            tmp.path(),
            "values.schema.json",
            r#"{"properties": {"color": {"enum": ["blue", "red"]}}}"#,
        );
        write(
            tmp.path(),
            "charts/sub/values.schema.json",
            r#"{"required": ["name"]}"#,
        );
        let opts = TemplateOptions {
            values: ValueOptions {
                values: vec!["color=green".into()],
                ..ValueOptions::default()
            },
            ..TemplateOptions::default()
        };
        let err = template(tmp.path(), &opts, &EchoEngine).unwrap_err();
        assert_eq!(
            err.to_string(),
            "values don't meet the specifications of the schema(s) in the following chart(s):\ndemo:\n- at '/color': value must be one of 'blue', 'red'\nsub:\n- at '': missing property 'name'\n"
        );
    }

    // Fleet: e2e/single-cluster/helm_options_test.go with fleet-test-data
    // helm-schemas/not-set (a `$ref` to an unreachable URL): Helm's wording for values
    // failing the schema, the chart named, the reference that could not be loaded.
    #[test]
    fn unloadable_schema_refs_are_schema_failures() {
        let tmp = tempfile::tempdir().unwrap();
        demo_chart(tmp.path());
        write(
            tmp.path(),
            "values.schema.json",
            r#"{"properties": {"annotations": {"$ref": "https://invalid.url/schema.json#/definitions/a"}}}"#,
        );
        let err = template(tmp.path(), &TemplateOptions::default(), &EchoEngine).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "values don't meet the specifications of the schema(s) in the following chart(s):\ndemo:\nfailing loading \"https://invalid.url/schema.json\""
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_vendored_dependency_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        demo_chart(tmp.path());
        std::fs::remove_dir_all(tmp.path().join("charts")).unwrap();
        let err = template(tmp.path(), &TemplateOptions::default(), &EchoEngine).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("found in Chart.yaml, but missing in charts/ directory: sub"),
            "{err}"
        );
    }

    #[test]
    fn kube_versions_parse_like_helm() {
        let v = KubeVersion::parse("1.31.0").unwrap();
        assert_eq!(
            (
                v.version.as_str(),
                v.normalized.as_str(),
                v.major.as_str(),
                v.minor.as_str()
            ),
            ("v1.31.0", "v1.31.0", "1", "31")
        );
        let v = KubeVersion::parse("v1.33.4-gke.1245000").unwrap();
        assert_eq!(v.version, "v1.33.4-gke.1245000");
        assert_eq!(v.normalized, "v1.33.4");
        assert!(KubeVersion::parse("1").is_err());
    }
}
