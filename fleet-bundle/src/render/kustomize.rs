//! Kustomize bundles: `kustomize.dir` (or the bundle root) built as `kubectl kustomize`
//! would, by the crate's kustomize engine; when the bundle is also a chart, the chart's
//! output is added to the kustomization as `fleet-manifests.yaml`, as Fleet does.

use std::path::Path;

use serde_json::Value;

use super::{yaml, RenderError, RenderInput, Renderer};
use crate::kustomize::{build, BuildOptions};

/// The file Fleet adds to a kustomization to feed it a chart's output.
pub const MANIFESTS_YAML: &str = "fleet-manifests.yaml";

/// Builds the kustomization found by [`super::Style::detect`].
pub struct KustomizeRenderer {
    /// Objects the chart rendered, fed to the kustomization (empty without a chart).
    pub chart_output: Vec<Value>,
}

impl Renderer for KustomizeRenderer {
    /// Flow: without chart output, the kustomization directory of the bundle is built in
    /// place (reads confined to the bundle directory). With chart output, the bundle is
    /// copied to a scratch directory where the output becomes `fleet-manifests.yaml`,
    /// listed first in the kustomization's `resources`, so the bundle directory itself is
    /// never modified.
    fn render(&self, input: &RenderInput) -> Result<Vec<Value>, RenderError> {
        let kustomization = input
            .style
            .kustomization
            .as_deref()
            .unwrap_or("kustomization.yaml");
        let rel_dir = Path::new(kustomization)
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let kerr = |e: String| RenderError::Kustomize(format!("{kustomization}: {e}"));
        let text = if self.chart_output.is_empty() {
            let dir = input.bundle_dir.join(&rel_dir);
            build(&dir, &BuildOptions::new(input.bundle_dir)).map_err(|e| kerr(e.to_string()))?
        } else {
            let scratch =
                tempfile::tempdir().map_err(|e| kerr(format!("scratch directory: {e}")))?;
            for (name, data) in input.files {
                let path = scratch.path().join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| kerr(e.to_string()))?;
                }
                std::fs::write(&path, data).map_err(|e| kerr(e.to_string()))?;
            }
            let dir = scratch.path().join(&rel_dir);
            std::fs::create_dir_all(&dir).map_err(|e| kerr(e.to_string()))?;
            let mut manifests = String::new();
            for obj in &self.chart_output {
                manifests.push_str("---\n");
                manifests.push_str(&serde_yaml::to_string(obj).map_err(|e| kerr(e.to_string()))?);
            }
            std::fs::write(dir.join(MANIFESTS_YAML), manifests).map_err(|e| kerr(e.to_string()))?;
            add_manifests_resource(&dir.join("kustomization.yaml")).map_err(kerr)?;
            build(&dir, &BuildOptions::new(scratch.path())).map_err(|e| kerr(e.to_string()))?
        };
        yaml::parse_documents(&format!("{kustomization} (built)"), &text)
    }
}

/// Prepends `fleet-manifests.yaml` to the kustomization's `resources` (once).
fn add_manifests_resource(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let map = doc
        .as_mapping_mut()
        .ok_or_else(|| "kustomization is not a mapping".to_string())?;
    let key = serde_yaml::Value::String("resources".into());
    let mut resources = match map.get(&key) {
        Some(serde_yaml::Value::Sequence(items)) => items.clone(),
        Some(serde_yaml::Value::Null) | None => Vec::new(),
        Some(_) => return Err("resources must be a list".to_string()),
    };
    let entry = serde_yaml::Value::String(MANIFESTS_YAML.into());
    if !resources.contains(&entry) {
        resources.insert(0, entry);
    }
    map.insert(key, serde_yaml::Value::Sequence(resources));
    let out = serde_yaml::to_string(&doc).map_err(|e| e.to_string())?;
    std::fs::write(path, out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use crate::bundle::{BundleDeploymentOptions, KustomizeOptions};
    use crate::target::ClusterInfo;

    #[test]
    fn builds_the_kustomize_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::create_dir_all(dir.join("base")).unwrap();
        std::fs::create_dir_all(dir.join("overlays/dev")).unwrap();
        std::fs::write(
            dir.join("base/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("base/kustomization.yaml"),
            "resources:\n- cm.yaml\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("overlays/dev/kustomization.yaml"),
            "resources:\n- ../../base\nnamePrefix: dev-\n",
        )
        .unwrap();
        let opts = BundleDeploymentOptions {
            kustomize: Some(KustomizeOptions {
                dir: "overlays/dev".into(),
            }),
            ..BundleDeploymentOptions::default()
        };
        let out = super::super::render(dir, "b", &opts, &ClusterInfo::default()).unwrap();
        assert_eq!(out.objects.len(), 1);
        assert_eq!(out.objects[0]["metadata"]["name"], "dev-c");
    }
}
