//! Turning a BundleDeployment's content into the objects to apply, with fleet-bundle's
//! renderer, plus what its Helm release record says about them (chart metadata, values).
//!
//! The content blob is materialised into a scratch directory of the state dir for the
//! renderer (charts and kustomizations are read from disk) and removed right after, so
//! only one bundle's files and objects exist at a time.

use std::path::Path;

use fleet_bundle::deployment::{BundleContent, BundleDeployment, DesiredState};
use fleet_bundle::target::ClusterInfo;
use serde::Deserialize;
use serde_json::Value;

use crate::release::ChartMetadata;
use crate::resource::ResourceId;

/// Errors of rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("bundle content is not valid JSON: {0}")]
    Content(#[source] serde_json::Error),
    #[error("cannot unpack bundle content: {0}")]
    Unpack(#[from] fleet_bundle::content::ContentError),
    #[error("cannot prepare scratch directory {path}: {source}")]
    Scratch {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Render(#[from] fleet_bundle::render::RenderError),
    #[error("{file}: invalid YAML: {reason}")]
    Yaml { file: String, reason: String },
    #[error("rendered object {index} has no apiVersion, kind or metadata.name")]
    NotAnObject { index: usize },
}

/// What one BundleDeployment renders to.
#[derive(Debug, Clone, Default)]
pub struct RenderedBundle {
    /// `(source path, object)` in render order; the path reads like Helm's `# Source:`
    /// (`<chart>/templates/<file>`). Hook-annotated objects of plain bundles are among
    /// them (split off with [`crate::apply::hooks::split_hooks`]).
    pub documents: Vec<(String, Value)>,
    /// The chart's hooks, which the Helm renderer sets apart from the documents.
    pub chart_hooks: Vec<fleet_bundle::render::ChartHook>,
    pub release_name: String,
    pub chart: ChartMetadata,
    /// The chart's default values.
    pub chart_values: Value,
    /// The user-supplied values (`helm.values`).
    pub config: Value,
    pub notes: String,
}

/// Parses the content blob of a BundleDeployment.
pub fn parse_content(bytes: &[u8]) -> Result<BundleContent, RenderError> {
    serde_json::from_slice(bytes).map_err(RenderError::Content)
}

/// What targeting knows about this cluster, from the desired state.
pub fn cluster_info(desired: &DesiredState, deployment: &BundleDeployment) -> ClusterInfo {
    ClusterInfo {
        name: desired.cluster_name.clone(),
        namespace: deployment.namespace.clone(),
        labels: desired.cluster_labels.clone(),
        annotations: desired.cluster_annotations.clone(),
        ..Default::default()
    }
}

/// The Helm release name of a deployment (`helm.releaseName`, else from the bundle name).
pub fn release_name(deployment: &BundleDeployment) -> String {
    fleet_bundle::render::release_name(&deployment.bundle, &deployment.options)
}

/// Renders `content` for this cluster in the scratch directory `scratch` (emptied first
/// and removed afterwards).
pub fn render(
    content: &BundleContent,
    deployment: &BundleDeployment,
    desired: &DesiredState,
    scratch: &Path,
) -> Result<RenderedBundle, RenderError> {
    let scratch_err = |source| RenderError::Scratch {
        path: scratch.display().to_string(),
        source,
    };
    if scratch.exists() {
        std::fs::remove_dir_all(scratch).map_err(scratch_err)?;
    }
    std::fs::create_dir_all(scratch).map_err(scratch_err)?;
    let outcome = render_in(content, deployment, desired, scratch);
    if let Err(e) = std::fs::remove_dir_all(scratch) {
        tracing::warn!(path = %scratch.display(), error = %e, "cannot remove the render scratch directory");
    }
    outcome
}

fn render_in(
    content: &BundleContent,
    deployment: &BundleDeployment,
    desired: &DesiredState,
    scratch: &Path,
) -> Result<RenderedBundle, RenderError> {
    fleet_bundle::content::write_bundle_dir(&content.resources, scratch)?;
    let cluster = cluster_info(desired, deployment);
    let rendered =
        fleet_bundle::render::render(scratch, &deployment.bundle, &deployment.options, &cluster)?;
    let chart_dir = rendered.style.chart_yaml.as_deref().map(|c| {
        c.trim_end_matches("Chart.yaml")
            .trim_end_matches('/')
            .to_string()
    });
    let chart = match &rendered.style.chart_yaml {
        Some(path) => read_chart_metadata(&scratch.join(path))
            .unwrap_or_else(|| plain_chart(&rendered.release_name)),
        None => plain_chart(&rendered.release_name),
    };
    let chart_values = chart_dir
        .as_deref()
        .and_then(|dir| {
            let path = if dir.is_empty() {
                scratch.join("values.yaml")
            } else {
                scratch.join(dir).join("values.yaml")
            };
            let text = std::fs::read_to_string(path).ok()?;
            let yaml: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
            serde_json::to_value(yaml).ok()
        })
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Default::default()));
    let mut documents = Vec::with_capacity(rendered.objects.len());
    for (index, obj) in rendered.objects.into_iter().enumerate() {
        let id = ResourceId::of(&obj).ok_or(RenderError::NotAnObject { index })?;
        let file = format!("{}-{}.yaml", id.kind.to_ascii_lowercase(), id.name);
        documents.push((format!("{}/templates/{file}", chart.name), obj));
    }
    Ok(RenderedBundle {
        documents,
        chart_hooks: rendered.hooks,
        release_name: rendered.release_name,
        chart,
        chart_values,
        config: deployment
            .options
            .helm
            .as_ref()
            .and_then(|h| h.values.clone())
            .unwrap_or(Value::Null),
        notes: String::new(),
    })
}

/// The chart metadata recorded for a bundle that is not a Helm chart, as Fleet names the
/// chart it wraps plain manifests in.
fn plain_chart(name: &str) -> ChartMetadata {
    ChartMetadata {
        name: name.to_string(),
        version: "0.0.0".into(),
        api_version: "v2".into(),
        ..Default::default()
    }
}

fn read_chart_metadata(path: &Path) -> Option<ChartMetadata> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ChartYaml {
        name: String,
        #[serde(default)]
        version: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        api_version: String,
        #[serde(default)]
        app_version: String,
        #[serde(default, rename = "type")]
        type_: String,
    }
    let text = std::fs::read_to_string(path).ok()?;
    let chart: ChartYaml = serde_yaml::from_str(&text).ok()?;
    Some(ChartMetadata {
        name: chart.name,
        version: chart.version,
        description: chart.description,
        api_version: if chart.api_version.is_empty() {
            "v1".into()
        } else {
            chart.api_version
        },
        app_version: chart.app_version,
        type_: chart.type_,
        extra: Default::default(),
    })
}

/// The non-empty documents of a YAML stream (used to read hook manifests back from a
/// release record).
pub fn yaml_documents(file: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).map_err(|e| RenderError::Yaml {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        out.push(serde_json::to_value(value).map_err(|e| RenderError::Yaml {
            file: file.to_string(),
            reason: e.to_string(),
        })?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_bundle::bundle::{BundleDeploymentOptions, BundleResource, HelmOptions};

    fn resource(name: &str, content: &str) -> BundleResource {
        BundleResource {
            name: name.into(),
            content: content.into(),
            encoding: String::new(),
        }
    }

    fn deployment(bundle: &str, options: BundleDeploymentOptions) -> BundleDeployment {
        BundleDeployment {
            bundle: bundle.into(),
            namespace: "fleet-default".into(),
            options,
            ..Default::default()
        }
    }

    #[test]
    fn renders_plain_yaml_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("render");
        let content = BundleContent {
            resources: vec![
                resource("fleet.yaml", "defaultNamespace: x\n"),
                resource("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"),
            ],
        };
        let options = BundleDeploymentOptions {
            helm: Some(HelmOptions {
                values: Some(serde_json::json!({"replicas": 2})),
                ..Default::default()
            }),
            ..Default::default()
        };
        let rendered = render(
            &content,
            &deployment("app", options),
            &DesiredState::default(),
            &scratch,
        )
        .unwrap();
        let names: Vec<_> = rendered
            .documents
            .iter()
            .map(|(p, o)| (p.as_str(), o["metadata"]["name"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("app/templates/configmap-a.yaml", "a"),
                ("app/templates/configmap-b.yaml", "b")
            ]
        );
        assert_eq!(rendered.chart.name, "app");
        assert_eq!(rendered.release_name, "app");
        assert_eq!(rendered.config["replicas"], 2);
        assert!(!scratch.exists(), "scratch directory is removed");
    }

    #[test]
    fn hostile_file_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let content = BundleContent {
            resources: vec![resource("../escape.yaml", "x: 1\n")],
        };
        let err = render(
            &content,
            &deployment("app", Default::default()),
            &DesiredState::default(),
            &dir.path().join("r"),
        )
        .unwrap_err();
        assert!(matches!(err, RenderError::Unpack(_)), "{err}");
        assert!(!dir.path().join("escape.yaml").exists());
    }

    #[test]
    fn invalid_yaml_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let content = BundleContent {
            resources: vec![resource("y.yaml", "a: [\n")],
        };
        let err = render(
            &content,
            &deployment("app", Default::default()),
            &DesiredState::default(),
            &dir.path().join("r"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("y.yaml"), "{err}");
    }

    #[test]
    fn yaml_documents_skip_empty_ones() {
        let docs = yaml_documents(
            "h.yaml",
            "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 1);
    }
}
