//! Rendering a bundle for one cluster into the Kubernetes objects to apply, as Fleet's
//! agent does: plain YAML (with overlays), a Helm chart, or a kustomization (optionally
//! over a chart's output), then Fleet's post-processing (forced namespace, CRDs kept).
//!
//! One [`Renderer`] per content style, chosen by [`Style::detect`] exactly as Fleet chooses;
//! [`render`] is the entry point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::bundle::BundleDeploymentOptions;
use crate::target::ClusterInfo;

pub mod helm;
pub mod kustomize;
pub mod overlay;
pub mod yaml;

/// The namespace a bundle deploys to when its options name none (the agent's default).
pub const DEFAULT_NAMESPACE: &str = "default";
/// Annotation Helm reads to keep a resource on uninstall; Fleet sets it on CRDs.
pub const RESOURCE_POLICY_ANNOTATION: &str = "helm.sh/resource-policy";

/// The files of a bundle by relative, `/`-separated name.
pub type BundleFiles = BTreeMap<String, Vec<u8>>;

/// Why a bundle could not be rendered; each names the file or object at fault.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("reading bundle directory {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: file name is not valid UTF-8", path.display())]
    NonUtf8Name { path: PathBuf },
    #[error("{file}: invalid YAML: {message}")]
    Yaml { file: String, message: String },
    #[error("{file}: document {document}: {message}")]
    Object {
        file: String,
        document: usize,
        message: String,
    },
    #[error("overlay {overlay}: {message}")]
    Overlay { overlay: String, message: String },
    /// The renderer for this style is not part of this build yet.
    #[error("{style} renderer not available: {detail}")]
    Unavailable { style: &'static str, detail: String },
    #[error("helm: {0}")]
    Helm(String),
    #[error("kustomize: {0}")]
    Kustomize(String),
    #[error("bundle directory {}: {total} bytes of files exceed the limit of {limit}", path.display())]
    TooLarge {
        path: PathBuf,
        total: u64,
        limit: u64,
    },
}

/// How a bundle's content is deployed, decided from its files and options as Fleet does
/// (`bundlereader.DetermineStyle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// The `Chart.yaml` of the chart to install, when the bundle is a Helm chart.
    pub chart_yaml: Option<String>,
    /// The `kustomization.yaml` to build, when the bundle is (also) a kustomization.
    pub kustomization: Option<String>,
}

impl Style {
    /// Finds the chart (`helm.chart`, else `helm.repo`, joined with `Chart.yaml`; or the
    /// downloaded chart under `.chart/<sha256>/`) and the kustomization (`kustomize.dir`
    /// joined with `kustomization.yaml`).
    pub fn detect(files: &BundleFiles, options: &BundleDeploymentOptions) -> Style {
        let (chart_path, external) = match &options.helm {
            None => ("Chart.yaml".to_string(), None),
            Some(h) => {
                let base = if h.chart.is_empty() {
                    &h.repo
                } else {
                    &h.chart
                };
                (
                    join_clean(base, "Chart.yaml"),
                    Some(format!("{}/", crate::chart_source::chart_prefix(h))),
                )
            }
        };
        let kustomize_path = match &options.kustomize {
            Some(k) if !k.dir.is_empty() => join_clean(&k.dir, "kustomization.yaml"),
            _ => "kustomization.yaml".to_string(),
        };
        let mut style = Style {
            chart_yaml: None,
            kustomization: None,
        };
        for name in files.keys() {
            if *name == chart_path {
                style.chart_yaml = Some(chart_path.clone());
            } else if let Some(prefix) = &external {
                if let Some(rest) = name.strip_prefix(prefix.as_str()) {
                    let parts: Vec<&str> = rest.split('/').collect();
                    if parts == ["Chart.yaml"] || (parts.len() == 2 && parts[1] == "Chart.yaml") {
                        style.chart_yaml = Some(name.clone());
                    }
                }
            }
            if *name == kustomize_path {
                style.kustomization = Some(kustomize_path.clone());
            }
        }
        style
    }

    /// Neither a chart nor a kustomization: plain YAML files.
    pub fn is_raw_yaml(&self) -> bool {
        self.chart_yaml.is_none() && self.kustomization.is_none()
    }
}

/// `filepath.Join(a, b)` with the leading `/` trimmed, for the relative names we match.
fn join_clean(a: &str, b: &str) -> String {
    let joined: Vec<&str> = a
        .split('/')
        .chain(b.split('/'))
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    joined.join("/")
}

/// What a renderer is given.
pub struct RenderInput<'a> {
    /// The bundle's files on disk (the agent materialises the content blob here).
    pub bundle_dir: &'a Path,
    /// The same files in memory, read once by [`render`].
    pub files: &'a BundleFiles,
    /// Bundle name (Fleet's bundle ID): the release name unless `helm.releaseName` is set.
    pub bundle_name: &'a str,
    /// Effective options: merged for the cluster and templated ([`crate::target::select`]).
    pub options: &'a BundleDeploymentOptions,
    pub cluster: &'a ClusterInfo,
    pub style: &'a Style,
    /// Helm release name the deployment is recorded under.
    pub release_name: &'a str,
    /// The namespace the deployment goes to.
    pub namespace: &'a str,
}

/// One way of turning bundle content into objects.
pub trait Renderer {
    /// Objects in the order the style produces them (before Fleet's post-processing).
    fn render(&self, input: &RenderInput) -> Result<Vec<Value>, RenderError>;
}

/// A Helm hook of a chart (`helm.sh/hook`), kept apart from the objects: Helm runs it around
/// an install, upgrade or delete instead of applying it with the release, and records it in
/// the release as rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartHook {
    /// The template it came from, `<chart>/templates/<file>` (Helm's `path`).
    pub path: String,
    /// The rendered document, as Helm records it in the release (`manifest`).
    pub manifest: String,
    /// The same document parsed.
    pub object: Value,
}

/// A rendered bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Objects in apply order, as `fleet test` prints them.
    pub objects: Vec<Value>,
    /// The hooks of the chart (or of the chart generated for `templates/`), in Helm's kind
    /// order, test hooks included; not post-processed, as Helm's post-renderer never sees
    /// hooks. Hook-annotated objects of plain YAML files stay in `objects`.
    pub hooks: Vec<ChartHook>,
    /// The namespace of the deployment: `namespace`, else `defaultNamespace`, else
    /// `default`. Namespaced objects without a namespace go there.
    pub namespace: String,
    /// The Helm release name recording the deployment.
    pub release_name: String,
    pub style: Style,
}

/// Bounds on what [`render`] reads from a bundle directory.
pub const MAX_BUNDLE_DIR_BYTES: u64 = 512 * 1024 * 1024;

/// Renders the bundle in `bundle_dir` for `cluster` with the effective `options`.
///
/// Flow (Fleet's `helmdeployer` in template mode):
/// 1. the files are read and the [`Style`] detected;
/// 2. plain YAML: `yaml.overlays` are applied ([`overlay::apply`]), `overlays/` dropped,
///    `templates/` rendered as the templates of a generated chart
///    ([`helm::render_raw_templates`]), and every Kubernetes object of the other
///    `.yaml`/`.yml`/`.json` files collected in file order ([`yaml::objects`]); a chart: rendered by the Helm renderer; a kustomization:
///    built by the kustomize renderer, over the chart's output when both are present;
/// 3. Fleet's post-processing: `namespace` (target namespace) forced onto every object;
///    CRDs annotated `helm.sh/resource-policy: keep` unless `deleteCRDResources`.
///
/// Guarantees: deterministic for the same directory, options and cluster; reads nothing
/// outside `bundle_dir` (symlinks are not followed). Fleet's `objectset.rio.cattle.io/*`
/// bookkeeping labels are not added.
///
/// Errors: [`RenderError`] naming the file, document or overlay at fault, or
/// [`RenderError::Unavailable`] while a style's renderer is not part of the build.
pub fn render(
    bundle_dir: &Path,
    bundle_name: &str,
    options: &BundleDeploymentOptions,
    cluster: &ClusterInfo,
) -> Result<Rendered, RenderError> {
    let files = read_bundle_dir(bundle_dir)?;
    render_files(bundle_dir, &files, bundle_name, options, cluster)
}

/// [`render`] over files already in memory (`bundle_dir` is still where they live on disk,
/// for the renderers that read charts or kustomizations from disk).
pub fn render_files(
    bundle_dir: &Path,
    files: &BundleFiles,
    bundle_name: &str,
    options: &BundleDeploymentOptions,
    cluster: &ClusterInfo,
) -> Result<Rendered, RenderError> {
    let style = Style::detect(files, options);
    let namespace = deployment_namespace(options);
    let release_name = release_name(bundle_name, options);
    let patched;
    let files = if style.is_raw_yaml() {
        let overlays = options
            .yaml
            .as_ref()
            .map(|y| y.overlays.clone())
            .unwrap_or_default();
        patched = overlay::apply(files, &overlays)?;
        &patched
    } else {
        files
    };
    let input = RenderInput {
        bundle_dir,
        files,
        bundle_name,
        options,
        cluster,
        style: &style,
        release_name: &release_name,
        namespace: &namespace,
    };
    let mut objects = Vec::new();
    let mut hooks = Vec::new();
    if style.chart_yaml.is_some() {
        let chart = helm::HelmRenderer.render_with_hooks(&input)?;
        objects = chart.objects;
        hooks = chart.hooks;
    }
    if style.kustomization.is_some() {
        objects = kustomize::KustomizeRenderer {
            chart_output: objects,
        }
        .render(&input)?;
    }
    if style.is_raw_yaml() {
        let templates = helm::render_raw_templates(&input)?;
        objects.extend(templates.objects);
        hooks = templates.hooks;
        objects.extend(yaml::YamlRenderer.render(&input)?);
    }
    post_process(&mut objects, options);
    Ok(Rendered {
        objects,
        hooks,
        namespace,
        release_name,
        style,
    })
}

/// Fleet's `GetDeploymentNS`: target namespace, else default namespace, else `default`.
pub fn deployment_namespace(options: &BundleDeploymentOptions) -> String {
    if !options.target_namespace.is_empty() {
        options.target_namespace.clone()
    } else if !options.default_namespace.is_empty() {
        options.default_namespace.clone()
    } else {
        DEFAULT_NAMESPACE.to_string()
    }
}

/// `helm.releaseName`, else the bundle name made a valid release name.
pub fn release_name(bundle_name: &str, options: &BundleDeploymentOptions) -> String {
    match &options.helm {
        Some(h) if !h.release_name.is_empty() => h.release_name.clone(),
        _ => crate::naming::helm_release_name(bundle_name),
    }
}

fn post_process(objects: &mut [Value], options: &BundleDeploymentOptions) {
    for obj in objects.iter_mut() {
        let is_crd = obj.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition");
        let Some(map) = obj.as_object_mut() else {
            continue;
        };
        let metadata = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        let Some(metadata) = metadata.as_object_mut() else {
            continue;
        };
        if is_crd && !options.delete_crd_resources {
            let annotations = metadata
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(a) = annotations.as_object_mut() {
                a.insert(
                    RESOURCE_POLICY_ANNOTATION.into(),
                    Value::String("keep".into()),
                );
            }
        }
        if !options.target_namespace.is_empty() {
            metadata.insert(
                "namespace".into(),
                Value::String(options.target_namespace.clone()),
            );
        }
    }
}

/// Reads every regular file under `dir` (hidden ones included: charts under `.chart/`).
/// Symlinks are skipped: the agent writes none, and following one could leave the directory.
pub fn read_bundle_dir(dir: &Path) -> Result<BundleFiles, RenderError> {
    let mut files = BundleFiles::new();
    let mut total = 0u64;
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        let entries = std::fs::read_dir(&path).map_err(|source| RenderError::Read {
            path: path.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| RenderError::Read {
                path: path.clone(),
                source,
            })?;
            let file_type = entry.file_type().map_err(|source| RenderError::Read {
                path: entry.path(),
                source,
            })?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| RenderError::NonUtf8Name { path: entry.path() })?;
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if file_type.is_dir() {
                stack.push((entry.path(), rel));
            } else if file_type.is_file() {
                let data = std::fs::read(entry.path()).map_err(|source| RenderError::Read {
                    path: entry.path(),
                    source,
                })?;
                total += data.len() as u64;
                if total > MAX_BUNDLE_DIR_BYTES {
                    return Err(RenderError::TooLarge {
                        path: dir.to_path_buf(),
                        total,
                        limit: MAX_BUNDLE_DIR_BYTES,
                    });
                }
                files.insert(rel, data);
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
