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

    /// The chart archive itself (the `.tgz` bytes) and its version, for a dependency
    /// stored as `charts/NAME-VERSION.tgz`. By default the fetched files packed again.
    fn fetch_archive(&self, helm: &HelmOptions) -> Result<(Vec<u8>, String), ChartSourceError> {
        crate::scan::archive_from_files(self.fetch(helm)?)
    }
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

/// Charts from Helm repositories, chart URLs and OCI registries, through the crate's
/// repository client ([`crate::helm::repo`]): digest-verified and cached.
#[derive(Debug, Clone)]
pub struct HelmRepoChartSource {
    pub options: crate::helm::repo::RepoOptions,
}

impl HelmRepoChartSource {
    /// A source caching archives under `cache_dir`, with the client's default limits.
    pub fn new(cache_dir: impl Into<std::path::PathBuf>) -> Self {
        HelmRepoChartSource {
            options: crate::helm::repo::RepoOptions::with_cache(cache_dir),
        }
    }
}

impl ChartSource for HelmRepoChartSource {
    /// Downloads the archive and lays its files out as the archive does
    /// (`<chart name>/...`), refusing unsafe entries (links, absolute or escaping paths).
    fn fetch(&self, helm: &HelmOptions) -> Result<Vec<(String, Vec<u8>)>, ChartSourceError> {
        let source = crate::helm::repo::ChartSource {
            repo: helm.repo.clone(),
            chart: helm.chart.clone(),
            version: helm.version.clone(),
        };
        let fetched = crate::helm::repo::fetch_chart(&source, &self.options)
            .map_err(|e| ChartSourceError::Failed(e.to_string()))?;
        let data = std::fs::read(&fetched.path)
            .map_err(|e| ChartSourceError::Failed(format!("{}: {e}", fetched.path.display())))?;
        archive_layout(&data, &fetched.path.display().to_string())
    }

    /// The archive as the repository serves it (digest-verified), and its version.
    fn fetch_archive(&self, helm: &HelmOptions) -> Result<(Vec<u8>, String), ChartSourceError> {
        let source = crate::helm::repo::ChartSource {
            repo: helm.repo.clone(),
            chart: helm.chart.clone(),
            version: helm.version.clone(),
        };
        let fetched = crate::helm::repo::fetch_chart(&source, &self.options)
            .map_err(|e| ChartSourceError::Failed(e.to_string()))?;
        let shown = fetched.path.display().to_string();
        let data = std::fs::read(&fetched.path)
            .map_err(|e| ChartSourceError::Failed(format!("{shown}: {e}")))?;
        let version = if fetched.version.is_empty() {
            let files = archive_layout(&data, &shown)?;
            let (_, version) = crate::scan::archive_from_files(files)?;
            version
        } else {
            fetched.version
        };
        Ok((data, version))
    }
}

/// The files of a chart archive under its top-level directory, named as in the archive.
pub fn archive_layout(
    data: &[u8],
    archive: &str,
) -> Result<Vec<(String, Vec<u8>)>, ChartSourceError> {
    let files = crate::helm::load::archive_files(data, archive, Default::default())
        .map_err(|e| ChartSourceError::Failed(e.to_string()))?;
    let chart_yaml = files
        .iter()
        .find(|f| f.name == "Chart.yaml")
        .ok_or_else(|| {
            ChartSourceError::Failed(format!("{archive}: no Chart.yaml in the archive"))
        })?;
    let text = String::from_utf8_lossy(&chart_yaml.data);
    let metadata = crate::helm::metadata::ChartMetadata::parse(&text, "Chart.yaml")
        .map_err(|e| ChartSourceError::Failed(format!("{archive}: {e}")))?;
    let top = metadata.name.clone();
    if top.is_empty() || top.contains('/') || top == ".." || top == "." {
        return Err(ChartSourceError::Failed(format!(
            "{archive}: chart name {top:?} cannot name a directory"
        )));
    }
    Ok(files
        .into_iter()
        .map(|f| (format!("{top}/{}", f.name), f.data))
        .collect())
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
