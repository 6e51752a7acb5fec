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

    /// The source to use for the bundle in directory `path` (relative to the checkout),
    /// when it differs from this one (credentials by path); `None` keeps this one.
    fn for_bundle(&self, _path: &str) -> Option<Box<dyn ChartSource + '_>> {
        None
    }
}

/// Credentials and transport settings for chart repositories, as Fleet's
/// `bundlereader.Auth` (internal/bundlereader/auth.go) reads them from
/// `--helm-credentials-by-path-file`: byte fields are base64 in JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    #[serde(default, deserialize_with = "base64_bytes")]
    pub ca_bundle: Vec<u8>,
    /// For charts in Git repositories, which this build does not fetch; kept so Fleet's
    /// files parse.
    #[serde(default, deserialize_with = "base64_bytes")]
    pub ssh_private_key: Vec<u8>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default, rename = "basicHTTP")]
    pub basic_http: bool,
}

fn base64_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use base64::Engine as _;
    let text: Option<String> = serde::Deserialize::deserialize(d)?;
    match text {
        None => Ok(Vec::new()),
        Some(t) => base64::engine::general_purpose::STANDARD
            .decode(t.trim())
            .map_err(serde::de::Error::custom),
    }
}

/// Fleet's `setAuthByPath` (internal/cmd/cli/apply/apply.go): the entry named exactly
/// `path`, else the first pattern (in lexical order) matching it as `filepath.Match` does.
pub fn auth_for_path<'a>(
    by_path: &'a std::collections::BTreeMap<String, RepoAuth>,
    path: &str,
) -> Option<&'a RepoAuth> {
    if let Some(auth) = by_path.get(path) {
        return Some(auth);
    }
    by_path.iter().find_map(|(pattern, auth)| {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .ok()?
            .compile_matcher();
        glob.is_match(path).then_some(auth)
    })
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
    /// When set, credentials go only to repositories (or chart URLs) it matches, as
    /// Fleet's `helmRepoURLRegex`; `None` sends them to every repository.
    pub credentials_url_regex: Option<regex::Regex>,
    /// Credentials per bundle path (Fleet's `--helm-credentials-by-path-file`), replacing
    /// the source's own for the bundles they name.
    pub auth_by_path: std::collections::BTreeMap<String, RepoAuth>,
}

impl HelmRepoChartSource {
    /// A source caching archives under `cache_dir`, with the client's default limits.
    pub fn new(cache_dir: impl Into<std::path::PathBuf>) -> Self {
        HelmRepoChartSource {
            options: crate::helm::repo::RepoOptions::with_cache(cache_dir),
            credentials_url_regex: None,
            auth_by_path: Default::default(),
        }
    }

    /// Sets credentials and transport settings from `auth`.
    pub fn apply_auth(&mut self, auth: &RepoAuth) {
        let set = |s: &str| (!s.is_empty()).then(|| s.to_string());
        self.options.username = set(&auth.username);
        self.options.password = set(&auth.password);
        self.options.ca_pem = (!auth.ca_bundle.is_empty()).then(|| auth.ca_bundle.clone());
        self.options.insecure_skip_tls_verify = auth.insecure_skip_verify;
        self.options.plain_http = auth.basic_http;
    }

    /// The repository options for `helm`: credentials dropped where the regex does not
    /// match (Fleet's `shouldAddAuthToRequest`: the repo URL, else the chart URL).
    fn options_for(&self, helm: &HelmOptions) -> crate::helm::repo::RepoOptions {
        let mut options = self.options.clone();
        if let Some(regex) = &self.credentials_url_regex {
            let url = if helm.repo.is_empty() {
                &helm.chart
            } else {
                &helm.repo
            };
            if !regex.is_match(url) {
                options.username = None;
                options.password = None;
            }
        }
        options
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
        let fetched = crate::helm::repo::fetch_chart(&source, &self.options_for(helm))
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
        let fetched = crate::helm::repo::fetch_chart(&source, &self.options_for(helm))
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

    fn for_bundle(&self, path: &str) -> Option<Box<dyn ChartSource + '_>> {
        let auth = auth_for_path(&self.auth_by_path, path)?;
        let mut scoped = self.clone();
        scoped.apply_auth(auth);
        Some(Box::new(scoped))
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

    // Fleet: internal/cmd/cli/apply/apply.go `setAuthByPath` and the CLI test
    // integrationtests/cli/apply/helm_test.go ("globbing in HelmSecretNameForPaths": the
    // exact path first, else the first matching pattern in lexical order).
    #[test]
    fn credentials_by_path_pick_exact_then_first_glob() {
        let file = "apps/*: {username: glob, password: p}
apps/web: {username: exact, caBundle: aGVsbG8=}
app?/api: {username: second}
";
        let by_path: std::collections::BTreeMap<String, RepoAuth> =
            serde_yaml::from_str(file).unwrap();
        assert_eq!(
            auth_for_path(&by_path, "apps/web").unwrap().username,
            "exact"
        );
        assert_eq!(
            auth_for_path(&by_path, "apps/web").unwrap().ca_bundle,
            b"hello"
        );
        // `app?/api` sorts before `apps/*`.
        assert_eq!(
            auth_for_path(&by_path, "apps/api").unwrap().username,
            "second"
        );
        assert_eq!(auth_for_path(&by_path, "apps/db").unwrap().username, "glob");
        assert!(auth_for_path(&by_path, "other/db").is_none());
        assert!(auth_for_path(&by_path, "apps/db/deep").is_none());
    }

    // Fleet: internal/bundlereader/resources.go `addRemoteCharts` and
    // `shouldAddAuthToRequest`: credentials go only where the regex matches.
    #[test]
    fn credentials_follow_the_url_regex() {
        let mut source = HelmRepoChartSource::new("/tmp/none");
        source.options.username = Some("u".into());
        source.options.password = Some("p".into());
        source.credentials_url_regex = Some(regex::Regex::new("^https://charts\\.corp").unwrap());
        let corp = HelmOptions {
            repo: "https://charts.corp/".into(),
            ..HelmOptions::default()
        };
        let public = HelmOptions {
            chart: "https://public.example/x.tgz".into(),
            ..HelmOptions::default()
        };
        assert_eq!(source.options_for(&corp).username.as_deref(), Some("u"));
        assert_eq!(source.options_for(&public).username, None);
        assert_eq!(source.options_for(&public).password, None);
    }

    #[test]
    fn no_source_fails_clearly() {
        let err = NoChartSource.fetch(&HelmOptions::default()).unwrap_err();
        assert!(err.to_string().contains("not available"));
    }
}
