//! Helm bundles: the chart the options point at (in the bundle, or downloaded under
//! `.chart/<sha256>/`), rendered with the effective values as `helm template` would, by the
//! crate's Helm engine.

use serde_json::Value;

use super::{RenderError, RenderInput, Renderer};

/// Renders the chart found by [`super::Style::detect`].
pub struct HelmRenderer;

impl Renderer for HelmRenderer {
    fn render(&self, input: &RenderInput) -> Result<Vec<Value>, RenderError> {
        let chart = input.style.chart_yaml.as_deref().unwrap_or("Chart.yaml");
        Err(RenderError::Unavailable {
            style: "helm",
            detail: format!(
                "the Helm template engine does not render charts yet (chart {chart} of bundle {})",
                input.bundle_name
            ),
        })
    }
}
