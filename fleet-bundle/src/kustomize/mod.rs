//! Kustomize in Rust: `kustomization.yaml` directories built into the same YAML stream
//! `kubectl kustomize` prints, byte for byte.
//!
//! Start with [`build`] (a directory → the YAML text) or [`build_resources`] (→ the
//! resources as data). Both read nothing outside [`BuildOptions::root`] and refuse remote
//! resources, so a bundle renders the same on every machine.
//!
//! The pipeline, in kustomize's order: [`target`] walks kustomizations (resources,
//! generators, components, transformers), [`namerefs`] rewrites references to renamed
//! resources, [`vars`] expands `$(VAR)`, [`resource::legacy_order`] sorts, [`emit`]
//! prints.

pub mod document;
pub mod emit;
pub mod error;
pub mod fieldspec;
pub mod fold;
pub mod generators;
pub mod helmcharts;
pub mod json6902;
pub mod kustomization;
pub mod loader;
pub mod namerefs;
pub mod openapi;
pub mod patches;
pub mod replacements;
pub mod resource;
pub mod scalar;
pub mod selector;
pub mod smp;
pub mod target;
pub mod transformers;
pub mod value;
pub mod vars;

#[cfg(test)]
mod build_tests;

use std::path::{Path, PathBuf};

pub use error::KustomizeError;
pub use resource::Resource;
pub use value::Value;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Nothing outside this directory is read (the bundle or checkout root).
    pub root: PathBuf,
}

impl BuildOptions {
    /// Options confining reads to `root`.
    pub fn new(root: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions { root: root.into() }
    }
}

/// Builds the kustomization in `dir` into the YAML stream `kubectl kustomize dir` prints.
///
/// # Errors
/// A [`KustomizeError`] naming the file and field at fault: a missing or malformed
/// kustomization, a path outside the root, a remote resource, a cycle, a patch without a
/// target, conflicting resources.
///
/// ```no_run
/// use fleet_bundle::kustomize::{build, BuildOptions};
/// let yaml = build("overlays/prod".as_ref(), &BuildOptions::new(".")).unwrap();
/// print!("{yaml}");
/// ```
pub fn build(dir: &Path, opts: &BuildOptions) -> Result<String, KustomizeError> {
    let resources = build_resources(dir, opts)?;
    Ok(emit::to_yaml_stream(resources.iter().map(|r| &r.value)))
}

/// kustomize strips its internal build annotations at the end and, in doing so, drops an
/// `annotations` field left empty or null (labels are left as they are).
fn drop_empty_annotations(r: &mut Resource) {
    if let Some(Value::Map(meta)) = r.value.as_map_mut().and_then(|m| m.get_mut("metadata")) {
        let empty = match meta.get("annotations") {
            Some(Value::Null) => true,
            Some(Value::Map(m)) => m.is_empty(),
            _ => false,
        };
        if empty {
            meta.shift_remove("annotations");
        }
    }
}

fn has_non_finite_number(v: &Value) -> bool {
    match v {
        Value::Float(f) => !f.is_finite(),
        Value::Seq(items) => items.iter().any(has_non_finite_number),
        Value::Map(m) => m.values().any(has_non_finite_number),
        _ => false,
    }
}

/// Builds the kustomization in `dir` into its resources, in output order.
///
/// # Errors
/// As [`build`].
pub fn build_resources(dir: &Path, opts: &BuildOptions) -> Result<Vec<Resource>, KustomizeError> {
    let loader = loader::Loader::new(&opts.root)?;
    let dir = dir.canonicalize().map_err(|source| KustomizeError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    loader.check_inside(&dir, &dir.display().to_string(), &dir)?;
    let file = loader.kustomization_file(&dir)?;
    let top = kustomization::parse(&loader.read_text(&file)?).map_err(|source| {
        KustomizeError::Malformed {
            file: file.clone(),
            source,
        }
    })?;
    let mut acc = target::Builder::new(&loader).build_dir(&dir)?;
    for r in acc.resources.iter_mut().filter(|r| r.needs_hash) {
        let hash = generators::content_hash(r);
        r.store_previous_id();
        let name = format!("{}-{hash}", r.name());
        r.set_name(&name);
    }
    namerefs::fix_back_references(&mut acc.resources, &acc.config.name_reference)
        .map_err(|e| KustomizeError::transform(&file, "nameReference", e))?;
    vars::resolve(&mut acc.resources, &acc.vars, &acc.config.var_reference)
        .map_err(|e| KustomizeError::transform(&file, "vars", e))?;
    for r in acc.resources.iter_mut() {
        drop_empty_annotations(r);
        if has_non_finite_number(&r.value) {
            return Err(KustomizeError::transform(
                &file,
                "resources",
                format!("{} holds an infinite or NaN number, which Kubernetes objects (JSON) cannot carry", r.id()),
            ));
        }
    }
    let order = top
        .sort_options
        .as_ref()
        .and_then(|s| s.order.clone())
        .unwrap_or_else(|| "legacy".into());
    match order.as_str() {
        "legacy" => {
            let legacy = top
                .sort_options
                .as_ref()
                .and_then(|s| s.legacy_sort_options.clone());
            let (first, last) = match legacy {
                Some(l) => (l.order_first, l.order_last),
                None => (
                    resource::DEFAULT_ORDER_FIRST
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                    resource::DEFAULT_ORDER_LAST
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
            };
            let mut keyed: Vec<(resource::ResId, Resource)> =
                acc.resources.into_iter().map(|r| (r.id(), r)).collect();
            keyed.sort_by(|a, b| resource::legacy_order(&a.0, &b.0, &first, &last));
            acc.resources = keyed.into_iter().map(|(_, r)| r).collect();
        }
        "fifo" => {}
        other => {
            return Err(KustomizeError::transform(
                &file,
                "sortOptions",
                format!("order must be legacy or fifo, not {other:?}"),
            ))
        }
    }
    Ok(acc.resources)
}
