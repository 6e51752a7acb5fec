//! Where charts referenced by `helm.repo`, a chart URL or an OCI reference come from at
//! scan time, and where they go in the bundle (`.chart/<sha256>/`, as Fleet stores them).

use sha2::{Digest, Sha256};

use crate::bundle::HelmOptions;

/// Why a chart could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum ChartSourceError {
    /// This build or configuration cannot download charts.
    #[error("downloading Helm charts is not available here ({0}); vendor the chart into the repository, or run with a chart source")]
    Unavailable(String),
    /// The download or the archive failed.
    #[error("{0}")]
    Failed(String),
}

/// Fetches the files of a chart for the scanner.
pub trait ChartSource: Send + Sync {
    /// The files of the chart `helm` names (`repo` + `chart` + `version`, or `chart` as an
    /// `https://…tgz` or `oci://…` reference), as paths relative to the archive root (so
    /// usually `<chart name>/Chart.yaml`, `<chart name>/templates/…`) with their bytes.
    fn fetch(&self, helm: &HelmOptions) -> Result<Vec<(String, Vec<u8>)>, ChartSourceError>;
}

/// The chart source of a scan that may not download anything: every fetch fails clearly.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoChartSource;

impl ChartSource for NoChartSource {
    fn fetch(&self, _helm: &HelmOptions) -> Result<Vec<(String, Vec<u8>)>, ChartSourceError> {
        Err(ChartSourceError::Unavailable(
            "no Helm repository client configured".to_string(),
        ))
    }
}

/// The directory a downloaded chart lives in inside the bundle: `.chart/` and the sha256 of
/// `chart:repo:version`, exactly as Fleet names it (so the renderer finds it again from the
/// options alone).
pub fn chart_prefix(helm: &HelmOptions) -> String {
    let key = format!("{}:{}:{}", helm.chart, helm.repo, helm.version);
    format!(".chart/{}", hex::encode(Sha256::digest(key.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_fleet() {
        // From fleet-examples multi-cluster/helm-external (Fleet's own output).
        let helm = HelmOptions {
            chart: "https://github.com/rancher/fleet-examples/releases/download/example/guestbook-0.0.1.tgz".into(),
            ..HelmOptions::default()
        };
        assert_eq!(
            chart_prefix(&helm),
            ".chart/ce648b1a536ac8c844ef58f2c3383e621a823acb2be15fa4b0d1cf053709a787"
        );
    }

    #[test]
    fn no_source_fails_clearly() {
        let err = NoChartSource.fetch(&HelmOptions::default()).unwrap_err();
        assert!(err.to_string().contains("not available"));
    }
}
