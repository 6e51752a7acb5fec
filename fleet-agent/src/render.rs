//! Turning a BundleDeployment's content into the objects to apply and what its Helm
//! release record says about them (chart metadata, values, notes).

use std::io::Read;

use base64::Engine;
use fleet_bundle::bundle::BundleResource;
use fleet_bundle::deployment::{BundleContent, BundleDeployment, DesiredState};
use serde::Deserialize;
use serde_json::Value;

use crate::release::ChartMetadata;

/// Largest decoded size of one bundle file.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Errors of rendering.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("bundle content is not valid JSON: {0}")]
    Content(#[source] serde_json::Error),
    #[error("{file}: cannot decode {encoding} content: {reason}")]
    Encoding {
        file: String,
        encoding: String,
        reason: String,
    },
    #[error("{file}: invalid YAML: {reason}")]
    Yaml { file: String, reason: String },
    #[error("{file}: document {index} is not a Kubernetes object (needs apiVersion, kind and metadata.name)")]
    NotAnObject { file: String, index: usize },
    #[error("{0}")]
    Unsupported(String),
}

/// What one BundleDeployment renders to.
#[derive(Debug, Clone, Default)]
pub struct RenderedBundle {
    /// `(source path, object)` in manifest order; the path reads like Helm's
    /// `# Source:` (`<chart>/templates/<file>`).
    pub documents: Vec<(String, Value)>,
    pub chart: ChartMetadata,
    /// The chart's default values.
    pub chart_values: Value,
    /// The user-supplied values (`helm.values` after templating).
    pub config: Value,
    pub notes: String,
}

/// Parses the content blob of a BundleDeployment.
pub fn parse_content(bytes: &[u8]) -> Result<BundleContent, RenderError> {
    serde_json::from_slice(bytes).map_err(RenderError::Content)
}

/// Renders `content` for this cluster.
///
/// Plain YAML bundles (every `*.yaml`, `*.yml`, `*.json` file but `fleet.yaml` and the
/// `overlays/` directory) are rendered here.
pub fn render(
    content: &BundleContent,
    deployment: &BundleDeployment,
    _cluster: &DesiredState,
    chart_name: &str,
) -> Result<RenderedBundle, RenderError> {
    let options = &deployment.options;
    let is_chart = options.helm.as_ref().is_some_and(|h| !h.chart.is_empty())
        || content
            .resources
            .iter()
            .any(|r| file_name(&r.name) == "Chart.yaml");
    let is_kustomize = options.kustomize.is_some()
        || content.resources.iter().any(|r| {
            matches!(
                file_name(&r.name),
                "kustomization.yaml" | "kustomization.yml" | "Kustomization"
            )
        });
    if is_chart
        || is_kustomize
        || options
            .yaml
            .as_ref()
            .is_some_and(|y| !y.overlays.is_empty())
    {
        return Err(RenderError::Unsupported(format!(
            "bundle {} needs Helm, kustomize or overlay rendering, which this agent build does not provide",
            deployment.bundle
        )));
    }
    let mut documents = Vec::new();
    for resource in &content.resources {
        if !is_manifest(&resource.name) {
            continue;
        }
        let text = decode(resource)?;
        for (index, obj) in yaml_documents(&resource.name, &text)?
            .into_iter()
            .enumerate()
        {
            if crate::resource::ResourceId::of(&obj).is_none() {
                return Err(RenderError::NotAnObject {
                    file: resource.name.clone(),
                    index,
                });
            }
            documents.push((format!("{chart_name}/templates/{}", resource.name), obj));
        }
    }
    Ok(RenderedBundle {
        documents,
        chart: ChartMetadata {
            name: chart_name.to_string(),
            version: "0.0.0".into(),
            api_version: "v2".into(),
            ..Default::default()
        },
        chart_values: Value::Object(Default::default()),
        config: options
            .helm
            .as_ref()
            .and_then(|h| h.values.clone())
            .unwrap_or(Value::Object(Default::default())),
        notes: String::new(),
    })
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_manifest(path: &str) -> bool {
    let name = file_name(path);
    let top = path.split('/').next().unwrap_or_default();
    (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
        && name != "fleet.yaml"
        && top != "overlays"
}

/// The text of a bundle file, undoing Fleet's `base64` / `base64+gz` encodings.
pub fn decode(resource: &BundleResource) -> Result<String, RenderError> {
    let fail = |reason: String| RenderError::Encoding {
        file: resource.name.clone(),
        encoding: resource.encoding.clone(),
        reason,
    };
    let bytes = match resource.encoding.as_str() {
        "" => return Ok(resource.content.clone()),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(resource.content.trim())
            .map_err(|e| fail(e.to_string()))?,
        "base64+gz" => {
            let gz = base64::engine::general_purpose::STANDARD
                .decode(resource.content.trim())
                .map_err(|e| fail(e.to_string()))?;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(gz.as_slice())
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|e| fail(e.to_string()))?;
            if out.len() as u64 > MAX_FILE_BYTES {
                return Err(fail(format!(
                    "larger than {MAX_FILE_BYTES} bytes once decompressed"
                )));
            }
            out
        }
        other => return Err(fail(format!("unknown encoding {other:?}"))),
    };
    String::from_utf8(bytes).map_err(|e| fail(e.to_string()))
}

/// The non-empty documents of a YAML stream, `List`s flattened into their items.
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
        let json: Value = serde_json::to_value(value).map_err(|e| RenderError::Yaml {
            file: file.to_string(),
            reason: e.to_string(),
        })?;
        let is_list = json
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && json.get("items").is_some_and(Value::is_array);
        match json {
            Value::Object(mut map) if is_list => {
                if let Some(Value::Array(items)) = map.remove("items") {
                    out.extend(items);
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(name: &str, content: &str) -> BundleResource {
        BundleResource {
            name: name.into(),
            content: content.into(),
            encoding: String::new(),
        }
    }

    #[test]
    fn renders_plain_yaml_files() {
        let content = BundleContent {
            resources: vec![
                resource("fleet.yaml", "defaultNamespace: x\n"),
                resource("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n"),
                resource("README.md", "# hi"),
                resource("overlays/prod/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"),
            ],
        };
        let rendered = render(
            &content,
            &BundleDeployment::default(),
            &DesiredState::default(),
            "app",
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
                ("app/templates/cm.yaml", "a"),
                ("app/templates/cm.yaml", "b")
            ]
        );
        assert_eq!(rendered.chart.name, "app");
    }

    #[test]
    fn bad_documents_are_named() {
        let content = BundleContent {
            resources: vec![resource("x.yaml", "just: text\n")],
        };
        let err = render(
            &content,
            &BundleDeployment::default(),
            &DesiredState::default(),
            "app",
        )
        .unwrap_err();
        assert!(err.to_string().contains("x.yaml"), "{err}");
        let content = BundleContent {
            resources: vec![resource("y.yaml", "a: [\n")],
        };
        let err = render(
            &content,
            &BundleDeployment::default(),
            &DesiredState::default(),
            "app",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("y.yaml: invalid YAML"), "{err}");
    }

    #[test]
    fn decodes_fleet_encodings() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"hello").unwrap();
        let packed = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let r = BundleResource {
            name: "f".into(),
            content: packed,
            encoding: "base64+gz".into(),
        };
        assert_eq!(decode(&r).unwrap(), "hello");
        let r = BundleResource {
            name: "f".into(),
            content: "aGk=".into(),
            encoding: "base64".into(),
        };
        assert_eq!(decode(&r).unwrap(), "hi");
        let r = BundleResource {
            name: "f".into(),
            content: "x".into(),
            encoding: "rot13".into(),
        };
        assert!(decode(&r).is_err());
    }

    #[test]
    fn lists_are_flattened() {
        let docs = yaml_documents("l.yaml", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n").unwrap();
        assert_eq!(docs.len(), 1);
    }
}
