//! Kustomize bundles: `kustomize.dir` (or the bundle root) built as `kubectl kustomize`
//! would, by the crate's kustomize engine; when the bundle is also a chart, the chart's
//! output is added to the kustomization as `fleet-manifests.yaml`, as Fleet does.

use serde_json::Value;

use super::{RenderError, RenderInput, Renderer};

/// The file Fleet adds to a kustomization to feed it a chart's output.
pub const MANIFESTS_YAML: &str = "fleet-manifests.yaml";

/// Builds the kustomization found by [`super::Style::detect`].
pub struct KustomizeRenderer {
    /// Objects the chart rendered, fed to the kustomization (empty without a chart).
    pub chart_output: Vec<Value>,
}

impl Renderer for KustomizeRenderer {
    fn render(&self, input: &RenderInput) -> Result<Vec<Value>, RenderError> {
        let kustomization = input
            .style
            .kustomization
            .as_deref()
            .unwrap_or("kustomization.yaml");
        Err(RenderError::Unavailable {
            style: "kustomize",
            detail: format!(
                "the kustomize engine does not build kustomizations yet ({kustomization} of bundle {})",
                input.bundle_name
            ),
        })
    }
}
