//! Charts from Helm repositories and OCI registries: resolve a version range, download
//! the archive, verify its digest, and keep it in a cache addressed by that digest.
//!
//! - A Helm repository serves `index.yaml`; each chart version lists its archive URLs
//!   (absolute, or relative to the repository) and a sha256 `digest`. The highest
//!   version matching the range wins (pre-releases only when the range names one, as
//!   Helm); an empty range means the latest stable version.
//! - An OCI registry (`oci://host/path/chart`) follows the distribution API: the
//!   version's tag (Helm writes `+` as `_`), its manifest, then the layer of media type
//!   `application/vnd.cncf.helm.chart.content.v1.tar+gzip`, whose digest is checked.
//!   A range is resolved against the repository's tag list. Registries asking for a
//!   bearer token get the standard token exchange (anonymous or with the credentials).
//! - A chart given as an `http(s)://.../x.tgz` URL is downloaded as is.
//!
//! Credentials are sent only to the repository's own host. Downloads are bounded in size.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::constraint::{Constraint, Version};
use super::yaml11;

/// The media type of a Helm chart layer in an OCI artifact.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Where a chart comes from, as fleet.yaml's `helm:` says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartSource {
    /// `helm.repo`: a repository URL (`https://charts.example.com`) or `oci://...`.
    pub repo: String,
    /// `helm.chart`: a chart name in the repository, an `oci://` reference, or a URL of
    /// an archive.
    pub chart: String,
    /// `helm.version`: a version or a range (`~1.2`, `>=1.0 <2`); empty for the latest.
    pub version: String,
}

/// How to reach repositories.
#[derive(Debug, Clone)]
pub struct RepoOptions {
    /// Where archives are cached, one file per digest.
    pub cache_dir: PathBuf,
    /// Basic-auth credentials for the repository's host.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Extra trusted CA certificates (PEM), for private repositories.
    pub ca_pem: Option<Vec<u8>>,
    /// Skip TLS verification (a test or lab setting).
    pub insecure_skip_tls_verify: bool,
    /// Talk plain HTTP to OCI registries (`--plain-http`).
    pub plain_http: bool,
    pub timeout: Duration,
    /// Largest index or archive accepted.
    pub max_download_bytes: u64,
    /// Accept an archive whose sha256 differs from the `digest` its repository index
    /// lists (Helm and Fleet do not check it; we refuse by default, since a mismatch means
    /// the archive is not the one the index describes). A warning is logged instead.
    pub accept_index_digest_mismatch: bool,
}

/// The `fleet-bundle build` flag that sets [`RepoOptions::accept_index_digest_mismatch`].
pub const ACCEPT_DIGEST_MISMATCH_FLAG: &str = "--helm-accept-digest-mismatch";

impl RepoOptions {
    /// Defaults with the given cache directory.
    pub fn with_cache(cache_dir: impl Into<PathBuf>) -> Self {
        RepoOptions {
            cache_dir: cache_dir.into(),
            username: None,
            password: None,
            ca_pem: None,
            insecure_skip_tls_verify: false,
            plain_http: false,
            timeout: Duration::from_secs(60),
            max_download_bytes: 100 * 1024 * 1024,
            accept_index_digest_mismatch: false,
        }
    }
}

/// A chart archive in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedChart {
    pub path: PathBuf,
    pub version: String,
    /// Hex sha256 of the archive.
    pub digest: String,
}

/// Why a chart could not be fetched; each names the URL or the repository.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url}: server answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: download larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: invalid repository index: {message}")]
    Index { url: String, message: String },
    #[error("chart {chart:?} not found in repository {repo}")]
    ChartNotFound { repo: String, chart: String },
    #[error("no version of chart {chart:?} in {repo} matches {range:?} (available: {available})")]
    NoMatchingVersion {
        repo: String,
        chart: String,
        range: String,
        available: String,
    },
    #[error("invalid version range {range:?}: {message}")]
    BadRange { range: String, message: String },
    #[error("{url}: the archive's sha256 is {actual} but the repository index lists {expected}; refused (Helm and Fleet accept it: pass {ACCEPT_DIGEST_MISMATCH_FLAG} to accept it too)")]
    IndexDigestMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: digest mismatch: expected sha256 {expected}, got {actual}")]
    DigestMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{reference}: {message}")]
    Oci { reference: String, message: String },
    #[error("cache {path}: {source}")]
    Cache {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid CA certificate: {0}")]
    Ca(String),
}

/// Fetches the chart `source` names into the cache and returns the archive.
pub fn fetch_chart(source: &ChartSource, opts: &RepoOptions) -> Result<FetchedChart, RepoError> {
    let client = Client::new(opts)?;
    if let Some(reference) = source.chart.strip_prefix("oci://") {
        return fetch_oci(&client, reference, &source.version, opts);
    }
    if let Some(repo) = source.repo.strip_prefix("oci://") {
        let reference = format!("{}/{}", repo.trim_end_matches('/'), source.chart);
        return fetch_oci(&client, &reference, &source.version, opts);
    }
    if source.repo.is_empty()
        && (source.chart.starts_with("http://") || source.chart.starts_with("https://"))
    {
        let data = client.get(&source.chart, None)?;
        let digest = hex::encode(Sha256::digest(&data));
        let path = store(opts, &digest, &data)?;
        return Ok(FetchedChart {
            path,
            version: String::new(),
            digest,
        });
    }
    fetch_from_index(&client, source, opts)
}

/// One version of a chart in a repository index.
#[derive(Debug, Clone)]
struct IndexEntry {
    version: Version,
    urls: Vec<String>,
    digest: Option<String>,
}

fn fetch_from_index(
    client: &Client,
    source: &ChartSource,
    opts: &RepoOptions,
) -> Result<FetchedChart, RepoError> {
    let base = source.repo.trim_end_matches('/');
    let index_url = format!("{base}/index.yaml");
    let raw = client.get(&index_url, None)?;
    let text = String::from_utf8(raw).map_err(|e| RepoError::Index {
        url: index_url.clone(),
        message: e.to_string(),
    })?;
    let index = yaml11::parse_first(&text).map_err(|e| RepoError::Index {
        url: index_url.clone(),
        message: e.to_string(),
    })?;
    let entries = index
        .get("entries")
        .and_then(|e| e.get(&source.chart))
        .and_then(Value::as_array)
        .ok_or_else(|| RepoError::ChartNotFound {
            repo: source.repo.clone(),
            chart: source.chart.clone(),
        })?;
    let mut versions: Vec<IndexEntry> = entries
        .iter()
        .filter_map(|e| {
            let version = Version::parse(&yaml11::scalar_as_go_string(e.get("version")?)?).ok()?;
            let urls = e
                .get("urls")?
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            let digest = e
                .get("digest")
                .and_then(Value::as_str)
                .map(|d| d.trim_start_matches("sha256:").to_ascii_lowercase());
            Some(IndexEntry {
                version,
                urls,
                digest,
            })
        })
        .collect();
    versions.sort_by(|a, b| b.version.cmp(&a.version));
    let chosen = pick_version(
        &versions
            .iter()
            .map(|e| e.version.clone())
            .collect::<Vec<_>>(),
        &source.version,
    )
    .map_err(|message| RepoError::BadRange {
        range: source.version.clone(),
        message,
    })?
    .and_then(|v| versions.iter().find(|e| e.version == v))
    .ok_or_else(|| RepoError::NoMatchingVersion {
        repo: source.repo.clone(),
        chart: source.chart.clone(),
        range: source.version.clone(),
        available: versions
            .iter()
            .take(10)
            .map(|e| e.version.original().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let version = chosen.version.original().to_string();
    if let Some(digest) = &chosen.digest {
        if let Some(path) = cached(opts, digest) {
            tracing::debug!(chart = %source.chart, %version, "chart archive served from cache");
            return Ok(FetchedChart {
                path,
                version,
                digest: digest.clone(),
            });
        }
    }
    let url = chosen.urls.first().ok_or_else(|| RepoError::Index {
        url: index_url.clone(),
        message: format!("chart {} {version} has no download URL", source.chart),
    })?;
    let url = resolve_url(base, url);
    // Credentials go only to the repository's own host.
    let same_host = host_of(&url) == host_of(base);
    let data = client.get(&url, Some(same_host))?;
    let actual = hex::encode(Sha256::digest(&data));
    if let Some(expected) = &chosen.digest {
        if *expected != actual {
            if !opts.accept_index_digest_mismatch {
                return Err(RepoError::IndexDigestMismatch {
                    url,
                    expected: expected.clone(),
                    actual,
                });
            }
            tracing::warn!(%url, %expected, %actual, "archive digest differs from the repository index; accepted as asked");
        }
    }
    let path = store(opts, &actual, &data)?;
    Ok(FetchedChart {
        path,
        version,
        digest: actual,
    })
}

/// The highest version satisfying `range` (`versions` sorted highest first).
fn pick_version(versions: &[Version], range: &str) -> Result<Option<Version>, String> {
    let range = if range.trim().is_empty() { "*" } else { range };
    let constraint = Constraint::parse(range).map_err(|e| e.to_string())?;
    Ok(versions.iter().find(|v| constraint.matches(v)).cloned())
}

fn resolve_url(base: &str, url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else if let Some(rest) = url.strip_prefix('/') {
        match base
            .find("://")
            .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
        {
            Some(root_end) => format!("{}/{rest}", &base[..root_end]),
            None => format!("{base}/{rest}"),
        }
    } else {
        format!("{base}/{url}")
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

fn cached(opts: &RepoOptions, digest: &str) -> Option<PathBuf> {
    let path = opts.cache_dir.join(format!("{digest}.tgz"));
    let data = std::fs::read(&path).ok()?;
    // The cache is trusted only as far as its content still hashes to its name.
    (hex::encode(Sha256::digest(&data)) == digest).then_some(path)
}

fn store(opts: &RepoOptions, digest: &str, data: &[u8]) -> Result<PathBuf, RepoError> {
    let io = |path: &Path, source| RepoError::Cache {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&opts.cache_dir).map_err(|e| io(&opts.cache_dir, e))?;
    let path = opts.cache_dir.join(format!("{digest}.tgz"));
    let tmp = opts
        .cache_dir
        .join(format!(".{digest}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, data).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    Ok(path)
}

/// Splits `host/path/chart:tag` (tag optional) of an `oci://` reference.
fn split_oci(reference: &str) -> Result<(String, String, Option<String>), String> {
    let (host, path) = reference
        .split_once('/')
        .ok_or_else(|| "expected oci://HOST/PATH/CHART".to_string())?;
    let (path, tag) = match path.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p.to_string(), Some(t.to_string())),
        _ => (path.to_string(), None),
    };
    if host.is_empty() || path.is_empty() {
        return Err("expected oci://HOST/PATH/CHART".into());
    }
    Ok((host.to_string(), path, tag))
}

fn fetch_oci(
    client: &Client,
    reference: &str,
    range: &str,
    opts: &RepoOptions,
) -> Result<FetchedChart, RepoError> {
    let oci_err = |message: String| RepoError::Oci {
        reference: format!("oci://{reference}"),
        message,
    };
    let (host, name, tag) = split_oci(reference).map_err(oci_err)?;
    let scheme = if opts.plain_http { "http" } else { "https" };
    let registry = format!("{scheme}://{host}/v2/{name}");
    let tag = match tag {
        Some(t) => t,
        None if !range.is_empty() && Version::parse(range).is_ok() => range.replace('+', "_"),
        None => {
            let tags_url = format!("{registry}/tags/list");
            let listing: Value = serde_json::from_slice(&client.oci_get(&tags_url, None, &name)?)
                .map_err(|e| oci_err(format!("tag list is not JSON: {e}")))?;
            let mut versions: Vec<Version> = listing
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| {
                    tags.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|t| Version::parse(&t.replace('_', "+")).ok())
                        .collect()
                })
                .unwrap_or_default();
            versions.sort_by(|a, b| b.cmp(a));
            let chosen = pick_version(&versions, range)
                .map_err(|message| RepoError::BadRange {
                    range: range.to_string(),
                    message,
                })?
                .ok_or_else(|| RepoError::NoMatchingVersion {
                    repo: format!("oci://{host}/{name}"),
                    chart: name.rsplit('/').next().unwrap_or(&name).to_string(),
                    range: range.to_string(),
                    available: versions
                        .iter()
                        .take(10)
                        .map(|v| v.original().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            chosen.original().replace('+', "_")
        }
    };
    let manifest_url = format!("{registry}/manifests/{tag}");
    let manifest: Value =
        serde_json::from_slice(&client.oci_get(&manifest_url, Some(OCI_MANIFEST), &name)?)
            .map_err(|e| oci_err(format!("manifest is not JSON: {e}")))?;
    let layer = manifest
        .get("layers")
        .and_then(Value::as_array)
        .and_then(|layers| {
            layers
                .iter()
                .find(|l| l.get("mediaType").and_then(Value::as_str) == Some(HELM_CHART_LAYER))
        })
        .ok_or_else(|| {
            oci_err(format!(
                "manifest {tag} has no Helm chart layer ({HELM_CHART_LAYER})"
            ))
        })?;
    let digest = layer
        .get("digest")
        .and_then(Value::as_str)
        .and_then(|d| d.strip_prefix("sha256:"))
        .ok_or_else(|| oci_err("chart layer has no sha256 digest".into()))?
        .to_ascii_lowercase();
    let version = tag.replace('_', "+");
    if let Some(path) = cached(opts, &digest) {
        return Ok(FetchedChart {
            path,
            version,
            digest,
        });
    }
    let blob_url = format!("{registry}/blobs/sha256:{digest}");
    let data = client.oci_get(&blob_url, None, &name)?;
    let actual = hex::encode(Sha256::digest(&data));
    if actual != digest {
        return Err(RepoError::DigestMismatch {
            url: blob_url,
            expected: digest,
            actual,
        });
    }
    let path = store(opts, &actual, &data)?;
    Ok(FetchedChart {
        path,
        version,
        digest: actual,
    })
}

/// A blocking HTTP client with the repository's credentials and trust settings.
struct Client<'a> {
    http: reqwest::blocking::Client,
    opts: &'a RepoOptions,
}

impl<'a> Client<'a> {
    fn new(opts: &'a RepoOptions) -> Result<Self, RepoError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(opts.timeout)
            .danger_accept_invalid_certs(opts.insecure_skip_tls_verify);
        if let Some(pem) = &opts.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| RepoError::Ca(e.to_string()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| RepoError::Http {
            url: String::new(),
            message: e.to_string(),
        })?;
        Ok(Client { http, opts })
    }

    fn http_err(url: &str, e: &reqwest::Error) -> RepoError {
        RepoError::Http {
            url: url.to_string(),
            message: e.to_string(),
        }
    }

    /// GETs a URL; `with_auth` `None` means "send credentials" (the repository itself).
    fn get(&self, url: &str, with_auth: Option<bool>) -> Result<Vec<u8>, RepoError> {
        let mut req = self.http.get(url);
        if with_auth.unwrap_or(true) {
            if let Some(user) = &self.opts.username {
                req = req.basic_auth(user, self.opts.password.as_deref());
            }
        }
        let resp = req.send().map_err(|e| Self::http_err(url, &e))?;
        self.body(url, resp)
    }

    fn body(&self, url: &str, resp: reqwest::blocking::Response) -> Result<Vec<u8>, RepoError> {
        let status = resp.status();
        if !status.is_success() {
            return Err(RepoError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let limit = self.opts.max_download_bytes;
        let mut data = Vec::new();
        resp.take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| RepoError::Http {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        if data.len() as u64 > limit {
            return Err(RepoError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        Ok(data)
    }

    /// GETs from a registry, answering a bearer-token challenge once.
    fn oci_get(&self, url: &str, accept: Option<&str>, name: &str) -> Result<Vec<u8>, RepoError> {
        let build = |token: Option<&str>| {
            let mut req = self.http.get(url);
            if let Some(accept) = accept {
                req = req.header(reqwest::header::ACCEPT, accept);
            }
            match (token, &self.opts.username) {
                (Some(t), _) => req.bearer_auth(t),
                (None, Some(user)) => req.basic_auth(user, self.opts.password.as_deref()),
                (None, None) => req,
            }
        };
        let resp = build(None).send().map_err(|e| Self::http_err(url, &e))?;
        if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
            return self.body(url, resp);
        }
        let challenge = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let params = parse_challenge(&challenge).ok_or(RepoError::Status {
            url: url.to_string(),
            status: 401,
        })?;
        let realm = params
            .iter()
            .find(|(k, _)| k == "realm")
            .map(|(_, v)| v.clone())
            .ok_or(RepoError::Status {
                url: url.to_string(),
                status: 401,
            })?;
        let mut token_req = self.http.get(&realm);
        let mut query: Vec<(String, String)> =
            params.into_iter().filter(|(k, _)| k != "realm").collect();
        if !query.iter().any(|(k, _)| k == "scope") {
            query.push(("scope".into(), format!("repository:{name}:pull")));
        }
        token_req = token_req.query(&query);
        if let Some(user) = &self.opts.username {
            token_req = token_req.basic_auth(user, self.opts.password.as_deref());
        }
        let token_resp = token_req.send().map_err(|e| Self::http_err(&realm, &e))?;
        let token_body: Value =
            serde_json::from_slice(&self.body(&realm, token_resp)?).map_err(|e| {
                RepoError::Http {
                    url: realm.clone(),
                    message: format!("token response is not JSON: {e}"),
                }
            })?;
        let token = token_body
            .get("token")
            .or_else(|| token_body.get("access_token"))
            .and_then(Value::as_str)
            .ok_or_else(|| RepoError::Http {
                url: realm.clone(),
                message: "token response has no token".into(),
            })?
            .to_string();
        let resp = build(Some(&token))
            .send()
            .map_err(|e| Self::http_err(url, &e))?;
        self.body(url, resp)
    }
}

/// `Bearer realm="...",service="...",scope="..."` → its parameters.
fn parse_challenge(header: &str) -> Option<Vec<(String, String)>> {
    let rest = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?;
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let v = std::iter::from_fn(|| chars.next_if(|c| *c != '"')).collect();
            chars.next();
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect()
        };
        params.push((key.trim().to_string(), value));
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    type Route = Box<
        dyn Fn(&str, &[(String, String)]) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync,
    >;

    /// A tiny HTTP/1.1 server on 127.0.0.1 serving `route` (one request per
    /// connection); it records the requests it saw.
    /// The requests a test server saw: target and lower-cased headers.
    type RequestLog = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

    fn serve(route: Route) -> (String, RequestLog) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim().split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                log.lock().unwrap().push((target.clone(), headers.clone()));
                let (status, extra, body) = route(&target, &headers);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn chart_archive(version: &str) -> Vec<u8> {
        crate::helm::load::tests::tgz(&[
            (
                "demo/Chart.yaml",
                format!("apiVersion: v2\nname: demo\nversion: {version}\n").as_bytes(),
            ),
            ("demo/templates/cm.yaml", b"kind: ConfigMap\n"),
        ])
    }

    fn index(entries: &[(&str, &[u8], &str)]) -> Vec<u8> {
        let mut out = String::from("apiVersion: v1\nentries:\n  demo:\n");
        for (version, data, url) in entries {
            let digest = hex::encode(Sha256::digest(data));
            out.push_str(&format!(
                "  - version: {version}\n    digest: {digest}\n    urls: [{url}]\n"
            ));
        }
        out.into_bytes()
    }

    #[test]
    fn repository_range_digest_and_cache() {
        let v1 = chart_archive("1.2.0");
        let v2 = chart_archive("1.3.1");
        let v3 = chart_archive("2.0.0-rc.1");
        let idx = index(&[
            ("1.2.0", &v1, "demo-1.2.0.tgz"),
            ("1.3.1", &v2, "charts/demo-1.3.1.tgz"),
            ("2.0.0-rc.1", &v3, "demo-2.0.0-rc.1.tgz"),
        ]);
        let (v2c, idxc) = (v2.clone(), idx.clone());
        let (url, seen) = serve(Box::new(move |path, headers| {
            let authorized = headers
                .iter()
                .any(|(k, v)| k == "authorization" && v == "Basic dXNlcjpwYXNz");
            if !authorized {
                return (401, vec![], vec![]);
            }
            match path {
                "/index.yaml" => (200, vec![], idxc.clone()),
                "/charts/demo-1.3.1.tgz" => (200, vec![], v2c.clone()),
                _ => (404, vec![], vec![]),
            }
        }));
        let cache = tempfile::tempdir().unwrap();
        let mut opts = RepoOptions::with_cache(cache.path());
        opts.username = Some("user".into());
        opts.password = Some("pass".into());
        let source = ChartSource {
            repo: url.clone(),
            chart: "demo".into(),
            version: "~1.2 || ^1.3".into(),
        };
        let fetched = fetch_chart(&source, &opts).unwrap();
        assert_eq!(fetched.version, "1.3.1");
        assert_eq!(std::fs::read(&fetched.path).unwrap(), v2);
        let chart = crate::helm::load::load(&fetched.path).unwrap();
        assert_eq!(chart.metadata.version, "1.3.1");
        // Second fetch: only the index is downloaded again.
        let before = seen.lock().unwrap().len();
        fetch_chart(&source, &opts).unwrap();
        assert_eq!(seen.lock().unwrap().len(), before + 1);

        let err = fetch_chart(
            &ChartSource {
                version: ">=3".into(),
                ..source.clone()
            },
            &opts,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("no version of chart \"demo\""),
            "{err}"
        );
        let err = fetch_chart(
            &ChartSource {
                chart: "other".into(),
                ..source.clone()
            },
            &opts,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("chart \"other\" not found"),
            "{err}"
        );
        opts.password = Some("wrong".into());
        let err = fetch_chart(&source, &opts).unwrap_err();
        assert!(
            err.to_string().ends_with("index.yaml: server answered 401"),
            "{err}"
        );
    }

    #[test]
    fn digest_mismatch_is_refused() {
        let good = chart_archive("1.0.0");
        let idx = index(&[("1.0.0", &good, "demo-1.0.0.tgz")]);
        let (url, _) = serve(Box::new(move |path, _| match path {
            "/index.yaml" => (200, vec![], idx.clone()),
            _ => (200, vec![], b"tampered".to_vec()),
        }));
        let cache = tempfile::tempdir().unwrap();
        let source = ChartSource {
            repo: url,
            chart: "demo".into(),
            version: String::new(),
        };
        let err = fetch_chart(&source, &RepoOptions::with_cache(cache.path())).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("but the repository index lists")
                && msg.contains(ACCEPT_DIGEST_MISMATCH_FLAG),
            "{msg}"
        );
        assert!(
            std::fs::read_dir(cache.path())
                .map(|d| d.count())
                .unwrap_or(0)
                == 0,
            "nothing cached"
        );
        // Asked to, the archive is taken as served (Helm's and Fleet's behaviour).
        let lenient = RepoOptions {
            accept_index_digest_mismatch: true,
            ..RepoOptions::with_cache(cache.path())
        };
        let fetched = fetch_chart(&source, &lenient).unwrap();
        assert_eq!(std::fs::read(fetched.path).unwrap(), b"tampered");
    }

    #[test]
    fn oci_registry_with_token_exchange() {
        let archive = chart_archive("0.4.0");
        let digest = hex::encode(Sha256::digest(&archive));
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": "sha256:00", "size": 2},
            "layers": [{"mediaType": HELM_CHART_LAYER, "digest": format!("sha256:{digest}"), "size": archive.len()}]
        })
        .to_string()
        .into_bytes();
        let addr = Arc::new(Mutex::new(String::new()));
        let addr_in = Arc::clone(&addr);
        let (url, seen) = serve(Box::new(move |path, headers| {
            let bearer = headers
                .iter()
                .any(|(k, v)| k == "authorization" && v == "Bearer t0k");
            if path.starts_with("/token?") {
                return (200, vec![], br#"{"token":"t0k"}"#.to_vec());
            }
            if !bearer {
                let realm = format!("{}/token", addr_in.lock().unwrap());
                return (
                    401,
                    vec![(
                        "WWW-Authenticate".into(),
                        format!("Bearer realm=\"{realm}\",service=\"reg\""),
                    )],
                    vec![],
                );
            }
            match path {
                "/v2/charts/demo/tags/list" => (
                    200,
                    vec![],
                    br#"{"name":"charts/demo","tags":["0.3.0","0.4.0","latest","1.0.0"]}"#.to_vec(),
                ),
                "/v2/charts/demo/manifests/0.4.0" => (200, vec![], manifest.clone()),
                p if p == format!("/v2/charts/demo/blobs/sha256:{digest}") => {
                    (200, vec![], archive.clone())
                }
                _ => (404, vec![], vec![]),
            }
        }));
        *addr.lock().unwrap() = url.clone();
        let host = url.trim_start_matches("http://").to_string();
        let cache = tempfile::tempdir().unwrap();
        let mut opts = RepoOptions::with_cache(cache.path());
        opts.plain_http = true;
        let source = ChartSource {
            repo: String::new(),
            chart: format!("oci://{host}/charts/demo"),
            version: "<1.0.0".into(),
        };
        let fetched = fetch_chart(&source, &opts).unwrap();
        assert_eq!(fetched.version, "0.4.0");
        assert_eq!(
            crate::helm::load::load(&fetched.path)
                .unwrap()
                .metadata
                .version,
            "0.4.0"
        );
        let requests = seen.lock().unwrap();
        assert!(
            requests.iter().any(|(p, _)| p.starts_with("/token?")
                && p.contains("service=reg")
                && p.contains("scope=repository%3Acharts%2Fdemo%3Apull")),
            "{requests:?}"
        );
    }

    #[test]
    fn url_helpers() {
        assert_eq!(
            resolve_url("https://h/charts", "x.tgz"),
            "https://h/charts/x.tgz"
        );
        assert_eq!(
            resolve_url("https://h/charts", "/dl/x.tgz"),
            "https://h/dl/x.tgz"
        );
        assert_eq!(
            resolve_url("https://h/charts", "https://cdn/x.tgz"),
            "https://cdn/x.tgz"
        );
        assert_eq!(host_of("https://h:8443/a"), "h:8443");
        assert_eq!(
            split_oci("reg.io/a/b:1.0").unwrap(),
            ("reg.io".into(), "a/b".into(), Some("1.0".into()))
        );
        assert!(split_oci("reg.io").is_err());
        let p = parse_challenge(
            "Bearer realm=\"https://auth/token\",service=\"registry\",scope=\"repository:a:pull\"",
        )
        .unwrap();
        assert_eq!(p[0], ("realm".into(), "https://auth/token".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a:pull".into()));
    }
}
