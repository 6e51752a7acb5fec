//! `helm dependency update` at scan time, as Fleet runs it on every chart of a bundle
//! (internal/helmupdater/helmupdater.go, called from the walk of
//! internal/bundlereader/loaddirectory.go): a chart declaring a dependency that is not
//! vendored under `charts/` gets every declared dependency as `charts/NAME-VERSION.tgz`
//! plus a `Chart.lock` (`requirements.lock` for `apiVersion: v1` charts), the files
//! `helm dependency update` writes.
//!
//! Repository dependencies (`http(s)://`, `oci://`) are fetched through the scan's chart
//! source; `file://` ones are packaged from the checkout (never from outside it). Charts
//! downloaded into the bundle (`.chart/<sha256>/`) are updated the same way.
//!
//! One difference, on purpose: the lock's `generated` time is the Unix epoch rather than
//! the scan's clock, so scanning the same commit twice gives the same bundle (and the same
//! deployment ID); Helm only reads `digest` and `dependencies` back.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{is_safe_relative, join_rel, Budget, BundleLoadError, ScanWarning};
use crate::bundle::HelmOptions;
use crate::chart_source::{ChartSource, ChartSourceError};
use crate::helm::metadata::{ChartMetadata, Dependency};

/// What a chart's dependencies resolve to: name, version, repository, as the lock lists them.
struct Locked {
    name: String,
    version: String,
    repository: String,
}

/// Runs the update on every chart of `files` (keys relative to the bundle directory
/// `rel` of `root`).
pub(super) fn update_dependencies(
    root: &Path,
    rel: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    charts: &dyn ChartSource,
    budget: &mut Budget,
    warnings: &mut Vec<ScanWarning>,
) -> Result<(), BundleLoadError> {
    let chart_dirs: Vec<String> = files
        .keys()
        .filter_map(|name| match name.rsplit_once('/') {
            Some((dir, "Chart.yaml")) => Some(format!("{dir}/")),
            None if name == "Chart.yaml" => Some(String::new()),
            _ => None,
        })
        .collect();
    for dir in chart_dirs {
        let chart_yaml = format!("{dir}Chart.yaml");
        let shown = PathBuf::from(join_rel(rel, &chart_yaml));
        let text = String::from_utf8_lossy(&files[&chart_yaml]).into_owned();
        let metadata =
            ChartMetadata::parse(&text, &chart_yaml).map_err(|e| BundleLoadError::ChartYaml {
                file: shown.clone(),
                message: e.to_string(),
            })?;
        let unmet = metadata
            .dependencies
            .iter()
            .any(|dep| !is_vendored(files, &dir, &dep.name));
        if !unmet {
            continue;
        }
        let mut locked = Vec::new();
        for dep in &metadata.dependencies {
            let fetched = if let Some(path) = dep.repository.strip_prefix("file://") {
                package_local(root, rel, &dir, path, &shown)?
            } else if ["http://", "https://", "oci://"]
                .iter()
                .any(|p| dep.repository.starts_with(p))
            {
                fetch_remote(dep, charts, &shown)?
            } else {
                warnings.push(ScanWarning {
                    path: shown.to_string_lossy().into_owned(),
                    message: format!(
                        "dependency {} ({:?}) is not vendored under charts/ and cannot be fetched",
                        dep.name, dep.repository
                    ),
                });
                continue;
            };
            let (data, version) = fetched;
            let target = format!("{dir}charts/{}-{version}.tgz", dep.name);
            budget.charge(Path::new(&target), data.len() as u64)?;
            files.insert(target, data);
            locked.push(Locked {
                name: dep.name.clone(),
                version,
                repository: dep.repository.clone(),
            });
        }
        if locked.is_empty() {
            continue;
        }
        let lock_name = if metadata.api_version == "v1" {
            "requirements.lock"
        } else {
            "Chart.lock"
        };
        files.insert(
            format!("{dir}{lock_name}"),
            lock_file(&metadata.dependencies, &locked).into_bytes(),
        );
    }
    Ok(())
}

/// Whether `charts/` of the chart in `dir` holds `name`, unpacked or as an archive.
fn is_vendored(files: &BTreeMap<String, Vec<u8>>, dir: &str, name: &str) -> bool {
    let charts = format!("{dir}charts/");
    files.keys().any(|file| {
        file.strip_prefix(&charts).is_some_and(|rest| {
            rest.starts_with(&format!("{name}/"))
                || (rest.starts_with(&format!("{name}-")) && rest.ends_with(".tgz"))
        })
    })
}

fn fetch_remote(
    dep: &Dependency,
    charts: &dyn ChartSource,
    shown: &Path,
) -> Result<(Vec<u8>, String), BundleLoadError> {
    let helm = HelmOptions {
        repo: dep.repository.clone(),
        chart: dep.name.clone(),
        version: dep.version.clone(),
        ..HelmOptions::default()
    };
    charts
        .fetch_archive(&helm)
        .map_err(|source| BundleLoadError::ChartDownload {
            dir: shown.to_path_buf(),
            reference: format!(
                "dependency {} repo={} version={}",
                dep.name, dep.repository, dep.version
            ),
            source,
        })
}

/// `helm package` of a `file://` dependency: the directory, relative to the chart, read
/// from the checkout (a path leaving it is refused), as `NAME/...` in a gzipped tar.
fn package_local(
    root: &Path,
    rel: &str,
    chart_dir: &str,
    path: &str,
    shown: &Path,
) -> Result<(Vec<u8>, String), BundleLoadError> {
    let unsafe_path = |reason: &str| BundleLoadError::UnsafePath {
        file: shown.to_path_buf(),
        field: "dependencies[].repository".to_string(),
        path: format!("file://{path}"),
        reason: reason.to_string(),
    };
    if chart_dir.starts_with(".chart/") {
        return Err(unsafe_path(
            "a downloaded chart cannot name files of the checkout",
        ));
    }
    let base = root.join(rel).join(chart_dir).join(path);
    let resolved = base
        .canonicalize()
        .map_err(|source| BundleLoadError::Read {
            file: PathBuf::from(join_rel(rel, &format!("{chart_dir}{path}"))),
            source,
        })?;
    if !resolved.starts_with(root) {
        return Err(unsafe_path("must stay inside the checkout"));
    }
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in walkdir::WalkDir::new(&resolved).sort_by_file_name() {
        let entry = entry.map_err(|e| BundleLoadError::Read {
            file: resolved.clone(),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .strip_prefix(&resolved)
            .unwrap_or(entry.path())
            .to_string_lossy()
            .replace('\\', "/");
        if !is_safe_relative(&name) {
            continue;
        }
        let data = std::fs::read(entry.path()).map_err(|source| BundleLoadError::Read {
            file: entry.path().to_path_buf(),
            source,
        })?;
        entries.push((name, data));
    }
    let chart_yaml = entries
        .iter()
        .find(|(n, _)| n == "Chart.yaml")
        .ok_or_else(|| unsafe_path("names a directory without a Chart.yaml"))?;
    let metadata = ChartMetadata::parse(&String::from_utf8_lossy(&chart_yaml.1), "Chart.yaml")
        .map_err(|e| BundleLoadError::ChartYaml {
            file: PathBuf::from(join_rel(rel, &format!("{chart_dir}{path}/Chart.yaml"))),
            message: e.to_string(),
        })?;
    let data = pack(&metadata.name, &entries).map_err(|source| BundleLoadError::Read {
        file: resolved.clone(),
        source,
    })?;
    Ok((data, metadata.version))
}

/// A chart archive: the files under `top/`, gzipped tar, fixed times so the bytes depend
/// on the files alone.
pub(crate) fn pack(top: &str, files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("{top}/{name}"), data.as_slice())?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}

/// The lock `helm dependency update` writes, keys sorted as Helm's YAML writer sorts them;
/// `digest` is Helm's `HashReq` (sha256 of the JSON of the declared and the locked lists).
fn lock_file(declared: &[Dependency], locked: &[Locked]) -> String {
    let declared_json: Vec<serde_json::Value> = declared.iter().map(dependency_json).collect();
    let locked_json: Vec<serde_json::Value> = locked
        .iter()
        .map(|l| {
            // Go's encoding/json writes struct fields in declaration order.
            let mut m = serde_json::Map::new();
            m.insert("name".into(), l.name.clone().into());
            if !l.version.is_empty() {
                m.insert("version".into(), l.version.clone().into());
            }
            m.insert("repository".into(), l.repository.clone().into());
            serde_json::Value::Object(m)
        })
        .collect();
    let hashed = serde_json::to_string(&[declared_json, locked_json]).unwrap_or_default();
    let digest = hex::encode(Sha256::digest(hashed.as_bytes()));
    let mut out = String::from("dependencies:\n");
    for l in locked {
        out.push_str(&format!(
            "- name: {}\n  repository: {}\n  version: {}\n",
            l.name, l.repository, l.version
        ));
    }
    out.push_str(&format!(
        "digest: sha256:{digest}\ngenerated: \"1970-01-01T00:00:00Z\"\n"
    ));
    out
}

/// A declared dependency as Helm's `chart.Dependency` marshals to JSON (field order and
/// `omitempty` as declared there).
fn dependency_json(d: &Dependency) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), d.name.clone().into());
    if !d.version.is_empty() {
        m.insert("version".into(), d.version.clone().into());
    }
    m.insert("repository".into(), d.repository.clone().into());
    if !d.condition.is_empty() {
        m.insert("condition".into(), d.condition.clone().into());
    }
    if !d.tags.is_empty() {
        m.insert("tags".into(), d.tags.clone().into());
    }
    if d.enabled {
        m.insert("enabled".into(), true.into());
    }
    if !d.import_values.is_empty() {
        m.insert("import-values".into(), d.import_values.clone().into());
    }
    if !d.alias.is_empty() {
        m.insert("alias".into(), d.alias.clone().into());
    }
    serde_json::Value::Object(m)
}

/// Default of [`ChartSource::fetch_archive`]: the fetched files packed again.
pub(crate) fn archive_from_files(
    files: Vec<(String, Vec<u8>)>,
) -> Result<(Vec<u8>, String), ChartSourceError> {
    let Some((top, chart_yaml)) = files.iter().find_map(|(name, data)| {
        let (top, rest) = name.split_once('/')?;
        (rest == "Chart.yaml").then_some((top.to_string(), data))
    }) else {
        return Err(ChartSourceError::Failed(
            "no Chart.yaml in the fetched chart".to_string(),
        ));
    };
    let metadata = ChartMetadata::parse(&String::from_utf8_lossy(chart_yaml), "Chart.yaml")
        .map_err(|e| ChartSourceError::Failed(e.to_string()))?;
    let prefix = format!("{top}/");
    let inner: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter_map(|(n, d)| Some((n.strip_prefix(&prefix)?.to_string(), d.clone())))
        .collect();
    let data = pack(&top, &inner).map_err(|e| ChartSourceError::Failed(e.to_string()))?;
    Ok((data, metadata.version))
}
