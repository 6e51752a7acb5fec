//! Helm bundles: the chart the options point at (in the bundle, or downloaded under
//! `.chart/<sha256>/`), rendered with the effective values by the crate's Helm engine, as
//! Fleet's agent installs it: the release manifests plus the chart's `crds/`, and the
//! chart's hooks set apart ([`ChartHook`]) for the agent to run around the install.

use std::path::Path;

use serde_json::{Map, Value};

use super::{yaml, ChartHook, RenderError, RenderInput, Renderer};
use crate::helm::output::StreamOptions;
use crate::helm::render::{render_loaded, GoTemplateEngine, TemplateOptions};

/// The Kubernetes version Fleet renders against when no cluster is at hand (`fleet test`).
pub const FLEET_TEMPLATE_KUBE_VERSION: &str = "v1.25.0";

/// Renders the chart found by [`super::Style::detect`].
pub struct HelmRenderer;

impl Renderer for HelmRenderer {
    /// Flow: load the chart directory (its vendored `charts/` must be complete: nothing is
    /// downloaded at render time), coalesce the bundle's values over the chart's defaults,
    /// execute the templates for the release name and namespace of the deployment, and read
    /// the resulting stream back as objects, CRDs of `crds/` first and hooks left out
    /// (see [`HelmRenderer::render_with_hooks`] for them).
    ///
    /// Values are handed over with every number as a float, as Fleet's JSON-decoded values
    /// reach Helm (so `{{ .Values.big }}` prints as in Fleet).
    fn render(&self, input: &RenderInput) -> Result<Vec<Value>, RenderError> {
        Ok(self.render_with_hooks(input)?.objects)
    }
}

/// What a chart renders to: the release's objects and, apart, its hooks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartOutput {
    /// CRDs of `crds/` then the manifests, in Helm's install order.
    pub objects: Vec<Value>,
    /// The hooks in Helm's kind order, test hooks included (Helm records them in the
    /// release although `helm install` never runs them).
    pub hooks: Vec<ChartHook>,
}

impl HelmRenderer {
    /// [`Renderer::render`] keeping the chart's hooks, as `helm install` renders a chart.
    pub fn render_with_hooks(&self, input: &RenderInput) -> Result<ChartOutput, RenderError> {
        let chart_yaml = input.style.chart_yaml.as_deref().unwrap_or("Chart.yaml");
        let chart_rel = Path::new(chart_yaml).parent().unwrap_or(Path::new(""));
        let chart_dir = input.bundle_dir.join(chart_rel);
        let shown = if chart_rel.as_os_str().is_empty() {
            ".".to_string()
        } else {
            chart_rel.display().to_string()
        };
        let helm_err = |e: String| RenderError::Helm(format!("chart {shown}: {e}"));
        let chart = crate::helm::load::load(&chart_dir).map_err(|e| helm_err(e.to_string()))?;
        crate::helm::dependencies::check_dependencies(&chart)
            .map_err(|e| helm_err(e.to_string()))?;
        render_chart(input, chart, &shown)
    }
}

/// Renders a loaded chart for the deployment of `input` and reads the objects and hooks
/// back.
fn render_chart(
    input: &RenderInput,
    chart: crate::helm::load::LoadedChart,
    shown: &str,
) -> Result<ChartOutput, RenderError> {
    let helm_err = |e: String| RenderError::Helm(format!("chart {shown}: {e}"));
    let helm = input.options.helm.clone().unwrap_or_default();
    let values = match helm.values {
        Some(Value::Object(map)) => as_floats(map),
        Some(Value::Null) | None => Map::new(),
        Some(other) => {
            return Err(helm_err(format!(
                "helm.values must be a mapping, not {other}"
            )))
        }
    };
    let kube_version = if input.cluster.kube_version.is_empty() {
        FLEET_TEMPLATE_KUBE_VERSION.to_string()
    } else {
        input.cluster.kube_version.clone()
    };
    let opts = TemplateOptions {
        release_name: input.release_name.to_string(),
        namespace: input.namespace.to_string(),
        kube_version: Some(kube_version),
        skip_schema_validation: helm.skip_schema_validation,
        stream: StreamOptions {
            include_crds: true,
            skip_tests: false,
            no_hooks: true,
            show_only: Vec::new(),
        },
        ..TemplateOptions::default()
    };
    let rendered = render_loaded(chart, &values, &opts, &GoTemplateEngine)
        .map_err(|e| helm_err(e.to_string()))?;
    let text = rendered
        .stream(&opts.stream)
        .map_err(|e| helm_err(e.to_string()))?;
    let objects = yaml::parse_documents(&format!("chart {shown} (rendered)"), &text)?;
    let mut hooks = Vec::with_capacity(rendered.release.hooks.len());
    for hook in rendered.release.hooks {
        // One document each (the stream was split on `---` already); a hook rendering to
        // comments only is nothing to run, as in Helm.
        let Some(object) = yaml::parse_documents(&hook.source, &hook.manifest)?
            .into_iter()
            .next()
        else {
            continue;
        };
        hooks.push(ChartHook {
            path: hook.source,
            manifest: hook.manifest,
            object,
        });
    }
    Ok(ChartOutput { objects, hooks })
}

/// Renders the `templates/` files of a plain-YAML bundle as Fleet does: they become the
/// templates of a chart generated for the bundle (named after it, version
/// `v0.0.0+<content id>`), rendered with `helm.values`; their hooks are the generated
/// chart's hooks. Empty when there are none.
pub fn render_raw_templates(input: &RenderInput) -> Result<ChartOutput, RenderError> {
    let templates: Vec<&str> = yaml::manifest_files(input.files)
        .into_iter()
        .filter(|name| name.starts_with("templates/"))
        .collect();
    if templates.is_empty() {
        return Ok(ChartOutput::default());
    }
    let shown = format!("templates/ of bundle {}", input.bundle_name);
    let helm_err = |e: String| RenderError::Helm(format!("chart {shown}: {e}"));
    let resources: Vec<crate::bundle::BundleResource> = input
        .files
        .iter()
        .map(|(name, data)| crate::content::encode_resource(name, data, false))
        .collect();
    let (_, digest) = crate::digest::content_blob(&resources);
    let chart_name = input
        .bundle_name
        .rsplit('/')
        .next()
        .unwrap_or(input.bundle_name);
    let chart_yaml = format!("apiVersion: v2\nname: {chart_name}\nversion: v0.0.0+s-{digest}\n");
    let mut files = vec![crate::helm::chart::ChartFile {
        name: "Chart.yaml".to_string(),
        data: chart_yaml.into_bytes(),
    }];
    files.extend(templates.iter().map(|name| crate::helm::chart::ChartFile {
        name: (*name).to_string(),
        data: input.files[*name].clone(),
    }));
    let chart = crate::helm::load::load_files(files, chart_name, Default::default())
        .map_err(|e| helm_err(e.to_string()))?;
    render_chart(input, chart, &shown)
}

/// Every integer as a float, recursively.
fn as_floats(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().map(|(k, v)| (k, float_value(v))).collect()
}

fn float_value(v: Value) -> Value {
    match v {
        Value::Number(n) if !n.is_f64() => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Number(n)),
        Value::Array(items) => Value::Array(items.into_iter().map(float_value).collect()),
        Value::Object(map) => Value::Object(as_floats(map)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_yaml_templates_dir_is_a_generated_chart() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("templates")).unwrap();
        std::fs::write(
            dir.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Chart.Name }}\ndata:\n  env: {{ .Values.env | quote }}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("plain.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        )
        .unwrap();
        let opts = BundleDeploymentOptions {
            helm: Some(HelmOptions {
                values: Some(serde_json::json!({"env": "prod"})),
                ..HelmOptions::default()
            }),
            ..BundleDeploymentOptions::default()
        };
        let out = super::super::render(dir, "repo-app", &opts, &ClusterInfo::default()).unwrap();
        let names: Vec<_> = out
            .objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["repo-app-repo-app", "s"]);
        assert_eq!(out.objects[0]["data"]["env"], "prod");
    }

    use crate::bundle::{BundleDeploymentOptions, HelmOptions};
    use crate::target::ClusterInfo;

    #[test]
    fn renders_a_bundle_chart_with_values_and_release() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("chart/templates")).unwrap();
        std::fs::write(
            dir.join("chart/Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(dir.join("chart/values.yaml"), "replicas: 1\nname: base\n").unwrap();
        std::fs::write(
            dir.join("chart/templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-{{ .Values.name }}\n  namespace: {{ .Release.Namespace }}\ndata:\n  replicas: {{ .Values.replicas | quote }}\n",
        )
        .unwrap();
        let opts = BundleDeploymentOptions {
            default_namespace: "apps".into(),
            helm: Some(HelmOptions {
                chart: "chart".into(),
                values: Some(serde_json::json!({"replicas": 3})),
                ..HelmOptions::default()
            }),
            ..BundleDeploymentOptions::default()
        };
        let out = super::super::render(dir, "bundle-x", &opts, &ClusterInfo::default()).unwrap();
        assert_eq!(out.objects.len(), 1);
        assert_eq!(out.objects[0]["metadata"]["name"], "bundle-x-base");
        assert_eq!(out.objects[0]["metadata"]["namespace"], "apps");
        assert_eq!(out.objects[0]["data"]["replicas"], "3");
    }

    #[test]
    fn chart_hooks_are_kept_apart_from_the_objects() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("templates/tests")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("templates/hooks.yaml"),
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    \"helm.sh/hook\": pre-install\n    \"helm.sh/hook-weight\": \"-5\"\nspec: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notify\n  annotations:\n    helm.sh/hook: post-upgrade\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("templates/tests/smoke.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke\n  annotations:\n    helm.sh/hook: test\n",
        )
        .unwrap();
        let out = super::super::render(
            dir,
            "rel",
            &BundleDeploymentOptions::default(),
            &ClusterInfo::default(),
        )
        .unwrap();
        let names: Vec<_> = out
            .objects
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["rel"], "hooks are not part of the release objects");
        // Helm's kind order: ConfigMap, Pod, Job.
        let hooks: Vec<_> = out
            .hooks
            .iter()
            .map(|h| {
                (
                    h.path.as_str(),
                    h.object["metadata"]["name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            hooks,
            [
                ("web/templates/hooks.yaml", "notify"),
                ("web/templates/tests/smoke.yaml", "smoke"),
                ("web/templates/hooks.yaml", "migrate"),
            ]
        );
        // The manifest is the rendered document as Helm records it: no `---`, no
        // `# Source:` line, no trailing newline.
        assert_eq!(
            out.hooks[2].manifest,
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    \"helm.sh/hook\": pre-install\n    \"helm.sh/hook-weight\": \"-5\"\nspec: {}"
        );
    }

    #[test]
    fn hooks_of_plain_yaml_templates_are_the_generated_charts_hooks() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("templates")).unwrap();
        std::fs::write(
            tmp.path().join("templates/job.yaml"),
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-init\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\n",
        )
        .unwrap();
        let out = super::super::render(
            tmp.path(),
            "app",
            &BundleDeploymentOptions::default(),
            &ClusterInfo::default(),
        )
        .unwrap();
        assert!(out.objects.is_empty());
        assert_eq!(out.hooks.len(), 1);
        assert_eq!(out.hooks[0].path, "app/templates/job.yaml");
        assert_eq!(out.hooks[0].object["metadata"]["name"], "app-init");
    }

    #[test]
    fn chart_errors_name_the_chart() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("templates")).unwrap();
        std::fs::write(
            tmp.path().join("Chart.yaml"),
            "apiVersion: v2\nname: x\nversion: 0.1.0\n",
        )
        .unwrap();
        std::fs::write(
            tmp.path().join("templates/bad.yaml"),
            "{{ .Values.nope.deeper }}\n",
        )
        .unwrap();
        let err = super::super::render(
            tmp.path(),
            "b",
            &BundleDeploymentOptions::default(),
            &ClusterInfo::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("helm: chart .:"), "{err}");
    }
}
