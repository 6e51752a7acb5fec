//! Loading a chart directory or `.tgz` archive, with its vendored subcharts, as Helm's
//! loader does.
//!
//! A directory honours its `.helmignore` (the root one only, as Helm: the walk covers
//! `charts/` too) plus Helm's default of skipping dotfiles in `templates/`. Symbolic
//! links are followed as Helm does, but only to targets inside the chart (a deliberate
//! difference: charts come from Git repositories and must not read the host's files). An archive
//! ignores `.helmignore` (Helm does too) but is read defensively: entries escaping the
//! chart (`../`, absolute or drive paths), links and devices are refused, and the sizes
//! and the number of entries are bounded so a hostile archive cannot exhaust memory.
//! Subcharts are every directory or `.tgz` under `charts/` whose name does not start with
//! `_` or `.`, loaded recursively; what is enabled is decided later
//! ([`super::dependencies`]).

use std::io::Read;
use std::path::{Component, Path};

use serde_json::{Map, Value};

use super::chart::{Chart, ChartFile};
use super::ignore::{IgnoreError, IgnoreRules, HELM_IGNORE};
use super::metadata::{ChartMetadata, MetadataError};
use super::yaml11::{self, YamlError};

/// Bounds on what a chart may hold; an archive or directory beyond them is refused.
#[derive(Debug, Clone, Copy)]
pub struct LoadLimits {
    /// Sum of the decompressed sizes of all files of an archive (Helm: 100 MiB).
    pub max_total_bytes: u64,
    /// Largest single file (Helm: 5 MiB).
    pub max_file_bytes: u64,
    /// Most entries in one archive, directories included.
    pub max_entries: usize,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_total_bytes: 100 * 1024 * 1024,
            max_file_bytes: 5 * 1024 * 1024,
            max_entries: 20_000,
        }
    }
}

/// Why a chart could not be loaded. Every variant names the file or archive entry.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{archive}: entry {entry:?}: {message}")]
    UnsafeEntry {
        archive: String,
        entry: String,
        message: String,
    },
    #[error("{archive}: {message}")]
    Archive { archive: String, message: String },
    #[error("{path}: chart file is larger than the maximum file size {limit} bytes")]
    FileTooLarge { path: String, limit: u64 },
    #[error("{path}: cannot load irregular file (a device, socket or pipe)")]
    Irregular { path: String },
    /// A hostile-input limit: Helm follows such links, which would let a chart read
    /// any file of the machine rendering it.
    #[error("{path}: symbolic link points outside the chart (to {target}), which fleet refuses so that a chart cannot read the files of the machine rendering it (Helm follows it); vendor the target into the chart instead: `rm {path} && cp -r {target} {path}`")]
    SymlinkEscape { path: String, target: String },
    #[error("{chart}: Chart.yaml file is missing")]
    MissingChartYaml { chart: String },
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    /// The message embeds the YAML error (it is not also a `source`, so a report of
    /// the error chain does not repeat it).
    #[error("{file}: cannot load values: {cause}")]
    Values { file: String, cause: YamlError },
    #[error("{file}: cannot load values: document {document} is {got}, expected a map")]
    ValuesNotMap {
        file: String,
        document: usize,
        got: &'static str,
    },
    #[error("{file}: {message}")]
    NotUtf8 { file: String, message: String },
    #[error("error unpacking subchart {name} in {parent}: {source}")]
    Subchart {
        parent: String,
        name: String,
        #[source]
        source: Box<LoadError>,
    },
}

/// A chart as loaded from disk, before dependency conditions and import-values are
/// applied: every subchart vendored under `charts/` is here.
#[derive(Debug, Clone, Default)]
pub struct LoadedChart {
    pub metadata: ChartMetadata,
    pub templates: Vec<ChartFile>,
    /// Every other file (`.Files`): not `Chart.yaml`, `values.yaml`,
    /// `values.schema.json`, templates or subcharts.
    pub files: Vec<ChartFile>,
    /// `values.yaml` (all its documents merged), numbers as float64.
    pub values: Map<String, Value>,
    pub schema: Option<Vec<u8>>,
    pub dependencies: Vec<LoadedChart>,
    /// Where the chart came from, for messages (`./chart`, `x.tgz:charts/sub`).
    pub origin: String,
}

impl LoadedChart {
    /// The render contract for the engine, consuming the loaded chart (no copy of its
    /// files): `metadata` as `.Chart` sees it, the chart named by its alias, subcharts
    /// converted recursively.
    pub fn into_chart(self, is_root: bool) -> Chart {
        Chart {
            metadata: self.metadata.to_template_value(is_root),
            name: self.metadata.name,
            templates: self.templates,
            files: self.files,
            values: Value::Object(self.values),
            schema: self.schema,
            dependencies: self
                .dependencies
                .into_iter()
                .map(|d| d.into_chart(false))
                .collect(),
        }
    }

    /// Like [`LoadedChart::into_chart`], keeping this chart.
    pub fn to_chart(&self, is_root: bool) -> Chart {
        Chart {
            metadata: self.metadata.to_template_value(is_root),
            name: self.metadata.name.clone(),
            templates: self.templates.clone(),
            files: self.files.clone(),
            values: Value::Object(self.values.clone()),
            schema: self.schema.clone(),
            dependencies: self
                .dependencies
                .iter()
                .map(|d| d.to_chart(false))
                .collect(),
        }
    }
}

/// Loads a chart directory or a `.tgz` archive with the default limits.
pub fn load(path: &Path) -> Result<LoadedChart, LoadError> {
    load_with_limits(path, LoadLimits::default())
}

/// Loads a chart directory or a `.tgz` archive.
pub fn load_with_limits(path: &Path, limits: LoadLimits) -> Result<LoadedChart, LoadError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| LoadError::Io {
        path: shown.clone(),
        source,
    })?;
    if meta.is_dir() {
        load_dir(path, limits)
    } else {
        let data = std::fs::read(path).map_err(|source| LoadError::Io {
            path: shown.clone(),
            source,
        })?;
        if !data.starts_with(&[0x1f, 0x8b]) {
            let hint = if shown.ends_with(".yaml") || shown.ends_with(".yml") {
                "seems to be a YAML file, but expected a gzipped archive"
            } else {
                "does not appear to be a gzipped archive"
            };
            return Err(LoadError::Archive {
                archive: shown,
                message: hint.into(),
            });
        }
        load_archive_bytes(&data, &shown, limits)
    }
}

/// Loads a chart directory, honouring its `.helmignore`.
pub fn load_dir(dir: &Path, limits: LoadLimits) -> Result<LoadedChart, LoadError> {
    let shown = dir.display().to_string();
    let io = |path: &Path, source: std::io::Error| LoadError::Io {
        path: path.display().to_string(),
        source,
    };
    let ignore_path = dir.join(HELM_IGNORE);
    let mut rules = if ignore_path.is_file() {
        let text = std::fs::read_to_string(&ignore_path).map_err(|e| io(&ignore_path, e))?;
        IgnoreRules::parse(&text, &ignore_path.display().to_string())?
    } else {
        IgnoreRules::default()
    };
    rules.add_defaults();

    // Symbolic links are followed (as Helm does) but must stay inside the chart: a chart
    // from a Git repository must not read the host's files into `.Files`.
    let root = dir.canonicalize().map_err(|e| io(dir, e))?;
    let mut files = Vec::new();
    let mut walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = walker.next() {
        let entry = entry.map_err(|e| {
            let path = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.to_path_buf());
            let source = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("symbolic link loop"));
            io(&path, source)
        })?;
        let rel = relative_slash_path(dir, entry.path());
        if entry.path_is_symlink() {
            let target = entry
                .path()
                .canonicalize()
                .map_err(|e| io(entry.path(), e))?;
            if !target.starts_with(&root) {
                return Err(LoadError::SymlinkEscape {
                    path: entry.path().display().to_string(),
                    target: target.display().to_string(),
                });
            }
        }
        let file_type = entry.file_type();
        if file_type.is_dir() {
            if rules.ignores(&rel, true) {
                walker.skip_current_dir();
            }
            continue;
        }
        if rules.ignores(&rel, false) {
            continue;
        }
        if !file_type.is_file() {
            return Err(LoadError::Irregular {
                path: entry.path().display().to_string(),
            });
        }
        let size = entry
            .metadata()
            .map_err(|e| io(entry.path(), e.into()))?
            .len();
        if size > limits.max_file_bytes {
            return Err(LoadError::FileTooLarge {
                path: entry.path().display().to_string(),
                limit: limits.max_file_bytes,
            });
        }
        let data = std::fs::read(entry.path()).map_err(|e| io(entry.path(), e))?;
        files.push(ChartFile {
            name: rel,
            data: strip_bom(data),
        });
    }
    load_files(files, &shown, limits)
}

fn relative_slash_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn strip_bom(mut data: Vec<u8>) -> Vec<u8> {
    if data.starts_with(&[0xEF, 0xBB, 0xBF]) {
        data.drain(..3);
    }
    data
}

/// Reads the files of a gzipped chart archive, refusing anything unsafe.
pub fn archive_files(
    data: &[u8],
    archive: &str,
    limits: LoadLimits,
) -> Result<Vec<ChartFile>, LoadError> {
    let fail = |message: String| LoadError::Archive {
        archive: archive.to_string(),
        message,
    };
    let unsafe_entry = |entry: &str, message: &str| LoadError::UnsafeEntry {
        archive: archive.to_string(),
        entry: entry.to_string(),
        message: message.to_string(),
    };
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(data));
    let entries = tar
        .entries()
        .map_err(|e| fail(format!("not a valid chart archive: {e}")))?;
    let mut remaining = limits.max_total_bytes;
    let mut files = Vec::new();
    for (count, entry) in entries.enumerate() {
        if count >= limits.max_entries {
            return Err(fail(format!(
                "archive has more than {} entries",
                limits.max_entries
            )));
        }
        let mut entry = entry.map_err(|e| fail(format!("not a valid chart archive: {e}")))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(unsafe_entry(
                &raw_name,
                "links are not allowed in a chart archive",
            ));
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(unsafe_entry(
                &raw_name,
                "only regular files are allowed in a chart archive",
            ));
        }
        let delimiter = if raw_name.contains('\\') { '\\' } else { '/' };
        // A deliberate difference from Helm: Helm drops the first component of every
        // entry, so `/tmp/evil.yaml` silently becomes the chart file `tmp/evil.yaml`,
        // unused by the templates yet readable through `.Files`. An entry naming an
        // absolute path is never what `helm package` writes: refuse it rather than load
        // content under a name nobody reviewing the archive would look for.
        if raw_name.starts_with(['/', '\\']) {
            return Err(unsafe_entry(
                &raw_name,
                "chart illegally contains absolute paths (entries must sit under the chart's directory)",
            ));
        }
        let parts: Vec<&str> = raw_name.split(delimiter).collect();
        if parts[0] == "Chart.yaml" {
            return Err(unsafe_entry(&raw_name, "chart yaml not in base directory"));
        }
        let joined = parts[1..].join("/");
        if joined.starts_with('/') {
            return Err(unsafe_entry(
                &raw_name,
                "chart illegally contains absolute paths",
            ));
        }
        let name = clean_path(&joined);
        if name == "." {
            return Err(unsafe_entry(
                &raw_name,
                "chart illegally contains content outside the base directory",
            ));
        }
        if name.starts_with("..") {
            return Err(unsafe_entry(
                &raw_name,
                "chart illegally references parent directory",
            ));
        }
        let b = name.as_bytes();
        if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
            return Err(unsafe_entry(
                &raw_name,
                "chart contains illegally named files",
            ));
        }
        let declared = entry.header().size().unwrap_or(0);
        if declared > limits.max_file_bytes {
            return Err(unsafe_entry(
                &raw_name,
                &format!(
                    "decompressed chart file is larger than the maximum file size {}",
                    limits.max_file_bytes
                ),
            ));
        }
        if declared > remaining {
            return Err(fail(format!(
                "decompressed chart is larger than the maximum size {}",
                limits.max_total_bytes
            )));
        }
        // Read at most what is left (+1 to notice a lying header) whatever the header says.
        let cap = remaining.min(limits.max_file_bytes) + 1;
        let mut buf = Vec::new();
        (&mut entry)
            .take(cap)
            .read_to_end(&mut buf)
            .map_err(|e| unsafe_entry(&raw_name, &format!("cannot read entry: {e}")))?;
        let read = buf.len() as u64;
        if read > limits.max_file_bytes {
            return Err(unsafe_entry(
                &raw_name,
                &format!(
                    "decompressed chart file is larger than the maximum file size {}",
                    limits.max_file_bytes
                ),
            ));
        }
        if read > remaining || read == remaining && remaining > 0 && read < declared {
            return Err(fail(format!(
                "decompressed chart is larger than the maximum size {}",
                limits.max_total_bytes
            )));
        }
        remaining -= read;
        files.push(ChartFile {
            name,
            data: strip_bom(buf),
        });
    }
    if files.is_empty() {
        return Err(fail("no files in chart archive".into()));
    }
    Ok(files)
}

/// Go's `path.Clean` for relative `/` paths.
fn clean_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out.join("/")
    }
}

/// Loads a chart from the bytes of a `.tgz`; `archive` names it in errors.
pub fn load_archive_bytes(
    data: &[u8],
    archive: &str,
    limits: LoadLimits,
) -> Result<LoadedChart, LoadError> {
    let files = archive_files(data, archive, limits)?;
    load_files(files, archive, limits)
}

/// Builds a chart from its files (names relative to the chart root), as Helm's
/// `LoadFiles`: `origin` is where they came from, for messages.
pub fn load_files(
    files: Vec<ChartFile>,
    origin: &str,
    limits: LoadLimits,
) -> Result<LoadedChart, LoadError> {
    let shown = |name: &str| {
        if origin.ends_with(".tgz") || origin.contains(".tgz:") {
            format!("{origin}:{name}")
        } else {
            format!("{origin}/{name}")
        }
    };
    let mut chart = LoadedChart {
        origin: origin.to_string(),
        ..LoadedChart::default()
    };
    let mut metadata: Option<ChartMetadata> = None;
    if let Some(f) = files.iter().find(|f| f.name == "Chart.yaml") {
        let file = shown(&f.name);
        metadata = Some(ChartMetadata::parse(&utf8(&f.data, &file)?, &file)?);
    }
    let mut subcharts: std::collections::BTreeMap<String, Vec<ChartFile>> = Default::default();
    let mut values_file: Option<ChartFile> = None;
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" | "Chart.lock" | "requirements.lock" => {
                if f.name == "requirements.lock"
                    && metadata.as_ref().is_some_and(|m| m.api_version == "v1")
                {
                    chart.files.push(f);
                }
            }
            "values.yaml" => values_file = Some(f),
            "values.schema.json" => chart.schema = Some(f.data),
            "requirements.yaml" => {
                let file = shown(&f.name);
                let md = metadata.get_or_insert_with(ChartMetadata::default);
                md.merge_yaml(&utf8(&f.data, &file)?, &file)?;
                if md.api_version == "v1" {
                    chart.files.push(f);
                }
            }
            name if name.starts_with("templates/") => chart.templates.push(f),
            name if name.starts_with("charts/") => {
                if name.ends_with(".prov") {
                    chart.files.push(f);
                    continue;
                }
                let rest = &name["charts/".len()..];
                let sub = rest.split('/').next().unwrap_or(rest).to_string();
                subcharts.entry(sub).or_default().push(ChartFile {
                    name: rest.to_string(),
                    data: f.data,
                });
            }
            _ => chart.files.push(f),
        }
    }
    let parse_values = |f: &ChartFile| -> Result<Map<String, Value>, LoadError> {
        let file = shown(&f.name);
        read_values(&utf8(&f.data, &file)?, &file)
    };
    let checked = match metadata {
        None => Err(LoadError::MissingChartYaml {
            chart: origin.to_string(),
        }),
        Some(mut metadata) => metadata
            .validate(&shown("Chart.yaml"))
            .map(|()| metadata)
            .map_err(LoadError::from),
    };
    let metadata = match checked {
        Ok(metadata) => metadata,
        Err(err) => {
            // Helm reads values.yaml before it checks Chart.yaml: its error comes first.
            if let Some(f) = &values_file {
                parse_values(f)?;
            }
            return Err(err);
        }
    };
    chart.metadata = metadata;

    // The chart's own values and each subchart load in parallel; errors are reported
    // in Helm's order (values first, then subcharts by name).
    let parent = chart.metadata.name.clone();
    let subcharts: Vec<(String, Vec<ChartFile>)> = subcharts
        .into_iter()
        .filter(|(name, _)| !(name.starts_with('_') || name.starts_with('.')))
        .collect();
    let (values, loaded) = std::thread::scope(|scope| {
        let handles: Vec<_> = subcharts
            .into_iter()
            .map(|(name, files)| {
                let parent = parent.clone();
                scope.spawn(move || load_subchart(&parent, name, files, origin, limits))
            })
            .collect();
        let values = values_file.as_ref().map(parse_values).transpose();
        let loaded: Vec<Result<LoadedChart, LoadError>> = handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(LoadError::Archive {
                        archive: origin.to_string(),
                        message: "loading a subchart panicked".into(),
                    })
                })
            })
            .collect();
        (values, loaded)
    });
    chart.values = values?.unwrap_or_default();
    for sub in loaded {
        chart.dependencies.push(sub?);
    }
    Ok(chart)
}

/// Loads one entry of `charts/`: a directory or a `.tgz`.
fn load_subchart(
    parent: &str,
    name: String,
    files: Vec<ChartFile>,
    origin: &str,
    limits: LoadLimits,
) -> Result<LoadedChart, LoadError> {
    let sub_origin = if origin.ends_with(".tgz") || origin.contains(".tgz:") {
        format!("{origin}:charts/{name}")
    } else {
        format!("{origin}/charts/{name}")
    };
    let wrap = |source: LoadError| LoadError::Subchart {
        parent: parent.to_string(),
        name: name.clone(),
        source: Box::new(source),
    };
    if Path::new(&name).extension().is_some_and(|e| e == "tgz") {
        let Some(file) = files.iter().find(|f| f.name == name) else {
            return Err(wrap(LoadError::Archive {
                archive: sub_origin,
                message: format!("expected {name} to be an archive, found a directory"),
            }));
        };
        load_archive_bytes(&file.data, &sub_origin, limits).map_err(wrap)
    } else {
        let inner: Vec<ChartFile> = files
            .into_iter()
            .filter_map(|f| {
                f.name.split_once('/').map(|(_, rest)| ChartFile {
                    name: rest.to_string(),
                    data: f.data,
                })
            })
            .collect();
        load_files(inner, &sub_origin, limits).map_err(wrap)
    }
}

fn utf8(data: &[u8], file: &str) -> Result<String, LoadError> {
    String::from_utf8(data.to_vec()).map_err(|e| LoadError::NotUtf8 {
        file: file.to_string(),
        message: format!("not UTF-8 text: {e}"),
    })
}

/// Helm's `LoadValues`: every document of the stream must be a map (or empty); later
/// documents are merged over earlier ones; numbers become float64.
pub fn read_values(text: &str, file: &str) -> Result<Map<String, Value>, LoadError> {
    let docs = yaml11::parse_documents(text).map_err(|cause| LoadError::Values {
        file: file.to_string(),
        cause,
    })?;
    let mut values = Map::new();
    for (index, doc) in docs.into_iter().enumerate() {
        match yaml11::into_helm_numbers(doc) {
            Value::Null => {}
            Value::Object(map) => values = merge_maps(values, map),
            other => {
                return Err(LoadError::ValuesNotMap {
                    file: file.to_string(),
                    document: index + 1,
                    got: match other {
                        Value::Array(_) => "a list",
                        Value::String(_) => "a string",
                        Value::Number(_) => "a number",
                        _ => "a boolean",
                    },
                })
            }
        }
    }
    Ok(values)
}

/// Helm's `MergeMaps`: maps merge recursively, anything else in `b` replaces `a`.
pub fn merge_maps(mut a: Map<String, Value>, b: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in b {
        match (a.get_mut(&k), v) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                let merged = merge_maps(std::mem::take(existing), incoming);
                *existing = merged;
            }
            (_, v) => {
                a.insert(k, v);
            }
        }
    }
    a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Builds a gzipped tar from `(path, contents)` pairs (test helper, also used by the
    /// repository tests).
    pub(crate) fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    /// Writes a tar entry with a raw (unchecked) name, for path-escape tests.
    fn tgz_raw_name(name: &str, data: &[u8]) -> Vec<u8> {
        let mut header = tar::Header::new_old();
        {
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
        }
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut builder = tar::Builder::new(Vec::new());
        builder.append(&header, data).unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    const CHART: &[u8] = b"apiVersion: v2\nname: demo\nversion: 0.1.0\n";

    fn write(dir: &Path, name: &str, data: &str) {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    #[test]
    fn directory_with_helmignore_and_subcharts() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write(d, "Chart.yaml", std::str::from_utf8(CHART).unwrap());
        write(d, "values.yaml", "a: 1\n---\nb: {c: 2}\n");
        write(d, ".helmignore", "*.md\nci/\n");
        write(d, "README.md", "x");
        write(d, "ci/values.yaml", "x: 1");
        write(d, "files/conf.txt", "hello");
        write(d, "templates/cm.yaml", "kind: ConfigMap");
        write(d, "templates/.hidden", "x");
        write(
            d,
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        );
        write(d, "charts/sub/templates/a.yaml", "a");
        write(d, "charts/_skip/Chart.yaml", "garbage");
        std::fs::write(
            d.join("charts/packed-1.0.0.tgz"),
            tgz(&[
                (
                    "packed/Chart.yaml",
                    b"apiVersion: v2\nname: packed\nversion: 1.0.0\n",
                ),
                ("packed/values.yaml", b"k: v\n"),
            ]),
        )
        .unwrap();
        let chart = load(d).unwrap();
        assert_eq!(chart.metadata.name, "demo");
        assert_eq!(chart.values["a"].as_f64(), Some(1.0));
        assert_eq!(chart.values["b"]["c"].as_f64(), Some(2.0));
        let names: Vec<&str> = chart.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec![".helmignore", "files/conf.txt"]);
        let tpls: Vec<&str> = chart.templates.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(tpls, vec!["templates/cm.yaml"]);
        let subs: Vec<&str> = chart
            .dependencies
            .iter()
            .map(|c| c.metadata.name.as_str())
            .collect();
        assert_eq!(subs, vec!["packed", "sub"]);
        assert_eq!(chart.dependencies[0].values["k"], "v");
    }

    #[test]
    fn archive_loads_and_names_errors() {
        let data = tgz(&[
            ("demo/Chart.yaml", CHART),
            ("demo/templates/x.yaml", b"x"),
            ("demo/values.yaml", b"- not a map\n"),
        ]);
        let err = load_archive_bytes(&data, "demo.tgz", LoadLimits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "demo.tgz:values.yaml: cannot load values: document 1 is a list, expected a map"
        );
    }

    #[test]
    fn archive_path_escapes_are_refused() {
        let data = tgz_raw_name("demo/../../etc/passwd", b"x");
        let err = archive_files(&data, "evil.tgz", LoadLimits::default()).unwrap_err();
        assert!(
            err.to_string().contains("references parent directory"),
            "{err}"
        );
        assert!(err.to_string().starts_with("evil.tgz: entry"), "{err}");
        let data = tgz_raw_name("Chart.yaml", CHART);
        let err = archive_files(&data, "flat.tgz", LoadLimits::default()).unwrap_err();
        assert!(
            err.to_string().contains("chart yaml not in base directory"),
            "{err}"
        );
    }

    #[test]
    fn archive_leading_slash_entries_are_refused() {
        for name in [
            "/tmp/evil.yaml",
            "/demo/Chart.yaml",
            "\\demo\\templates\\x.yaml",
        ] {
            let data = tgz_raw_name(name, b"x: 1\n");
            let err = archive_files(&data, "abs.tgz", LoadLimits::default()).unwrap_err();
            assert!(
                err.to_string().starts_with(&format!(
                    "abs.tgz: entry {name:?}: chart illegally contains absolute paths"
                )),
                "{err}"
            );
        }
    }

    #[test]
    fn archive_links_are_refused() {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_cksum();
        builder
            .append_link(&mut header, "demo/link", "/etc/passwd")
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let data = gz.finish().unwrap();
        let err = archive_files(&data, "l.tgz", LoadLimits::default()).unwrap_err();
        assert!(err.to_string().contains("links are not allowed"), "{err}");
    }

    #[test]
    fn decompression_bombs_are_bounded() {
        let big = vec![b'a'; 64 * 1024];
        let data = tgz(&[("demo/Chart.yaml", CHART), ("demo/big.txt", &big)]);
        let limits = LoadLimits {
            max_file_bytes: 1024,
            ..LoadLimits::default()
        };
        let err = archive_files(&data, "bomb.tgz", limits).unwrap_err();
        assert!(err.to_string().contains("maximum file size 1024"), "{err}");
        let limits = LoadLimits {
            max_total_bytes: 10_000,
            ..LoadLimits::default()
        };
        let err = archive_files(&data, "bomb.tgz", limits).unwrap_err();
        assert!(err.to_string().contains("maximum size 10000"), "{err}");
        let many: Vec<(String, Vec<u8>)> =
            (0..20).map(|i| (format!("demo/f{i}"), vec![])).collect();
        let refs: Vec<(&str, &[u8])> = many
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        let data = tgz(&refs);
        let limits = LoadLimits {
            max_entries: 10,
            ..LoadLimits::default()
        };
        let err = archive_files(&data, "many.tgz", limits).unwrap_err();
        assert!(err.to_string().contains("more than 10 entries"), "{err}");
    }

    #[test]
    fn missing_chart_yaml_and_bad_subchart_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "values.yaml", "a: 1");
        let err = load(tmp.path()).unwrap_err();
        assert!(
            err.to_string().ends_with("Chart.yaml file is missing"),
            "{err}"
        );
        write(
            tmp.path(),
            "Chart.yaml",
            std::str::from_utf8(CHART).unwrap(),
        );
        write(tmp.path(), "charts/broken/Chart.yaml", "name: broken\n");
        let err = load(tmp.path()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("error unpacking subchart broken in demo"),
            "{text}"
        );
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            source.contains(
                "charts/broken/Chart.yaml: validation: chart.metadata.version is required"
            ),
            "{source}"
        );
    }

    #[test]
    fn symlinks_stay_inside_the_chart() {
        let tmp = tempfile::tempdir().unwrap();
        let chart = tmp.path().join("chart");
        write(&chart, "Chart.yaml", std::str::from_utf8(CHART).unwrap());
        write(&chart, "files/real.txt", "inside");
        write(tmp.path(), "secret.txt", "host file");
        std::os::unix::fs::symlink(chart.join("files/real.txt"), chart.join("files/link.txt"))
            .unwrap();
        let loaded = load(&chart).unwrap();
        let link = loaded
            .files
            .iter()
            .find(|f| f.name == "files/link.txt")
            .unwrap();
        assert_eq!(link.data, b"inside");
        std::os::unix::fs::symlink(tmp.path().join("secret.txt"), chart.join("files/leak.txt"))
            .unwrap();
        let err = load(&chart).unwrap_err().to_string();
        assert!(
            err.contains("files/leak.txt: symbolic link points outside the chart"),
            "{err}"
        );
        assert!(
            err.contains("vendor the target into the chart instead: `rm "),
            "{err}"
        );
        assert!(err.contains("/leak.txt && cp -r "), "{err}");
    }

    #[test]
    fn not_an_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("values.yaml");
        std::fs::write(&p, "a: 1").unwrap();
        let err = load(&p).unwrap_err();
        assert!(err.to_string().contains("seems to be a YAML file"), "{err}");
    }
}
