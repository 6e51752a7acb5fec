//! Building one kustomization directory: the order of kustomize's steps.
//!
//! For a directory: read `resources` (files, and directories built recursively), add
//! `configurations`, run the generators, apply `components` (each one a partial build on
//! the same resources), then the transformers in kustomize's fixed order: strategic merge
//! patches, `patches`, namespace, prefix, suffix, labels, annotations, JSON 6902 patches,
//! replicas, images, replacements, then `transformers` plugins. The top-level build then
//! appends content hashes, rewrites name references, expands `vars` and sorts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::document::parse_stream;
use super::error::KustomizeError;
use super::fieldspec::{parse_configuration, TransformerConfig};
use super::kustomization::{self, Kustomization};
use super::loader::Loader;
use super::resource::{Behavior, Resource};
use super::value::Value;
use super::{generators, openapi, patches, replacements, transformers};

/// Resources being accumulated, with the configuration and vars gathered so far.
#[derive(Debug, Default)]
pub struct Accumulator {
    /// The resources, in the order read.
    pub resources: Vec<Resource>,
    /// Field spec tables in force (defaults plus `configurations`), shared until changed.
    pub config: Rc<TransformerConfig>,
    /// What `configurations` added here and below, to hand up to the including build.
    pub extra_config: TransformerConfig,
    /// Declared vars.
    pub vars: Vec<kustomization::VarArgs>,
    /// Custom OpenAPI schema (strategic merge keys for custom kinds).
    pub schema: openapi::Schema,
}

impl Accumulator {
    /// Adds resources, failing on an id already present.
    pub fn append(&mut self, new: Vec<Resource>, file: &Path) -> Result<(), KustomizeError> {
        let mut ids: HashSet<super::resource::ResId> =
            self.resources.iter().map(Resource::id).collect();
        for r in new {
            let id = r.id();
            if !ids.insert(id.clone()) {
                return Err(KustomizeError::Conflict {
                    file: file.to_path_buf(),
                    id: id.to_string(),
                });
            }
            self.resources.push(r);
        }
        Ok(())
    }

    /// Adds field specs from a `configurations` file or an included build.
    fn add_config(&mut self, extra: &TransformerConfig) {
        if extra.is_empty() {
            return;
        }
        self.extra_config.merge(extra);
        Rc::make_mut(&mut self.config).merge(extra);
    }
}

/// The state of one build: the loader and the chain of directories being built.
pub struct Builder<'a> {
    loader: &'a Loader,
    chain: Vec<PathBuf>,
    defaults: Rc<TransformerConfig>,
}

impl<'a> Builder<'a> {
    /// A builder reading through `loader`.
    pub fn new(loader: &'a Loader) -> Builder<'a> {
        Builder {
            loader,
            chain: Vec::new(),
            defaults: Rc::new(TransformerConfig::defaults()),
        }
    }

    /// Builds the kustomization in `dir` into a fresh accumulator.
    pub fn build_dir(&mut self, dir: &Path) -> Result<Accumulator, KustomizeError> {
        let mut acc = Accumulator {
            config: Rc::clone(&self.defaults),
            ..Accumulator::default()
        };
        self.accumulate(dir, &mut acc, false)?;
        Ok(acc)
    }

    fn enter(&mut self, dir: &Path) -> Result<(), KustomizeError> {
        if self.chain.iter().any(|d| d == dir) {
            let mut chain = self.chain.clone();
            chain.push(dir.to_path_buf());
            return Err(KustomizeError::Cycle { chain });
        }
        self.chain.push(dir.to_path_buf());
        Ok(())
    }

    /// Runs the steps of the kustomization (or component) in `dir` on `acc`.
    fn accumulate(
        &mut self,
        dir: &Path,
        acc: &mut Accumulator,
        as_component: bool,
    ) -> Result<(), KustomizeError> {
        self.enter(dir)?;
        let file = self.loader.kustomization_file(dir)?;
        let text = self.loader.read_text(&file)?;
        let k = kustomization::parse(&text).map_err(|source| KustomizeError::Malformed {
            file: file.clone(),
            source,
        })?;
        if k.is_component() && !as_component {
            return Err(KustomizeError::transform(
                &file,
                "kind",
                "a Component can only be used under `components`, not as a resource",
            ));
        }
        if as_component && !k.is_component() {
            return Err(KustomizeError::transform(
                &file,
                "kind",
                "only a kustomization of kind Component can be used under `components`",
            ));
        }
        refuse_unsupported(&k, &file)?;
        tracing::debug!(file = %file.display(), "building kustomization");
        let ctx = Context {
            loader: self.loader,
            dir,
            file: &file,
            k: &k,
        };
        for entry in &k.resources {
            self.accumulate_resource(&ctx, entry, acc)?;
        }
        for entry in &k.configurations {
            let path = self.loader.resolve(dir, entry, &file, "configurations")?;
            let text = self.loader.read_text(&path)?;
            let config =
                parse_configuration(&text).map_err(|source| KustomizeError::Malformed {
                    file: path.clone(),
                    source,
                })?;
            acc.add_config(&config);
        }
        for entry in &k.crds {
            let path = self.loader.resolve(dir, entry, &file, "crds")?;
            let text = self.loader.read_text(&path)?;
            let mut config = TransformerConfig::default();
            openapi::add_crd_name_references(&text, &path, &mut config)?;
            acc.add_config(&config);
        }
        if let Some(spec) = &k.openapi {
            acc.schema = openapi::load(&ctx, spec)?;
        }
        generators::run(&ctx, acc)?;
        for entry in &k.components {
            let path = self.loader.resolve(dir, entry, &file, "components")?;
            if !path.is_dir() {
                return Err(KustomizeError::Missing {
                    file: file.clone(),
                    field: "components",
                    entry: entry.clone(),
                    reason: "a component must be a directory with a kustomization".into(),
                });
            }
            self.accumulate(&path, acc, true)?;
        }
        patches::run_strategic_merge(&ctx, acc)?;
        patches::run_patches(&ctx, acc)?;
        transformers::run_builtin(&ctx, acc)?;
        patches::run_json6902(&ctx, acc)?;
        transformers::run_replicas_and_images(&ctx, acc)?;
        replacements::run(&ctx, acc)?;
        for entry in &k.transformers {
            self.run_plugin_entry(&ctx, entry, acc)?;
        }
        for v in &k.vars {
            if acc.vars.iter().any(|e| e.name == v.name) {
                return Err(KustomizeError::transform(
                    &file,
                    "vars",
                    format!("var {:?} already encountered", v.name),
                ));
            }
            acc.vars.push(v.clone());
        }
        self.chain.pop();
        Ok(())
    }

    fn accumulate_resource(
        &mut self,
        ctx: &Context<'_>,
        entry: &str,
        acc: &mut Accumulator,
    ) -> Result<(), KustomizeError> {
        let path = self.loader.resolve(ctx.dir, entry, ctx.file, "resources")?;
        if path.is_dir() {
            let sub = self.build_dir(&path)?;
            acc.append(sub.resources, ctx.file)?;
            acc.add_config(&sub.extra_config);
            for v in sub.vars {
                if acc.vars.iter().any(|e| e.name == v.name) {
                    return Err(KustomizeError::transform(
                        ctx.file,
                        "vars",
                        format!("var {:?} already encountered", v.name),
                    ));
                }
                acc.vars.push(v);
            }
            if acc.schema.is_empty() {
                acc.schema = sub.schema;
            }
            return Ok(());
        }
        let resources = read_resources(self.loader, &path)?;
        acc.append(resources, ctx.file)
    }

    /// A `transformers` entry: a file or directory of builtin plugin configurations, or
    /// an inline one.
    fn run_plugin_entry(
        &mut self,
        ctx: &Context<'_>,
        entry: &str,
        acc: &mut Accumulator,
    ) -> Result<(), KustomizeError> {
        let configs = if entry.contains('\n') {
            parse_stream(entry)
                .map_err(|e| KustomizeError::Yaml {
                    file: ctx.file.to_path_buf(),
                    message: format!("transformers: {e}"),
                })?
                .into_iter()
                .filter(|v| *v != Value::Null)
                .map(|v| (v, ctx.dir.to_path_buf()))
                .collect::<Vec<_>>()
        } else {
            let path = self
                .loader
                .resolve(ctx.dir, entry, ctx.file, "transformers")?;
            if path.is_dir() {
                let sub = self.build_dir(&path)?;
                sub.resources
                    .into_iter()
                    .map(|r| (r.value, path.clone()))
                    .collect()
            } else {
                read_resources(self.loader, &path)?
                    .into_iter()
                    .map(|r| (r.value, ctx.dir.to_path_buf()))
                    .collect()
            }
        };
        for (config, _) in configs {
            transformers::run_plugin(ctx, &config, acc)?;
        }
        Ok(())
    }
}

/// Fields whose kustomize behaviour is not reproduced fail loudly rather than being
/// ignored, so a bundle never renders differently from `kubectl kustomize` in silence.
fn refuse_unsupported(k: &Kustomization, file: &Path) -> Result<(), KustomizeError> {
    let refuse = |field: &'static str, why: &str| Err(KustomizeError::transform(file, field, why));
    if !k.generators.is_empty() {
        return refuse(
            "generators",
            "generator plugin configurations are not supported; use configMapGenerator, secretGenerator or helmCharts",
        );
    }
    if !k.validators.is_empty() {
        return refuse(
            "validators",
            "validator plugins are not supported (they run foreign code)",
        );
    }
    if !k.build_metadata.is_empty() {
        return refuse(
            "buildMetadata",
            "build metadata annotations (origin, managed-by) are not supported; remove the field",
        );
    }
    Ok(())
}

/// Where a step runs: the kustomization and its directory.
pub struct Context<'a> {
    /// File access.
    pub loader: &'a Loader,
    /// The kustomization's directory.
    pub dir: &'a Path,
    /// The kustomization file.
    pub file: &'a Path,
    /// Its contents.
    pub k: &'a Kustomization,
}

impl Context<'_> {
    /// Reads a file the kustomization names.
    pub fn read(
        &self,
        entry: &str,
        field: &'static str,
    ) -> Result<(PathBuf, String), KustomizeError> {
        let path = self.loader.resolve(self.dir, entry, self.file, field)?;
        let text = self.loader.read_text(&path)?;
        Ok((path, text))
    }
}

/// Reads the resources of a YAML file (documents, with `List` kinds flattened).
pub fn read_resources(loader: &Loader, path: &Path) -> Result<Vec<Resource>, KustomizeError> {
    let text = loader.read_text(path)?;
    resources_from_text(&text, path)
}

/// Parses resources from YAML text read from `origin`.
pub fn resources_from_text(text: &str, origin: &Path) -> Result<Vec<Resource>, KustomizeError> {
    let docs = parse_stream(text).map_err(|e| KustomizeError::Yaml {
        file: origin.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Map(ref m) if m.is_empty() => {}
            Value::Map(ref m)
                if m.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && m.get("items").is_some() =>
            {
                if let Some(Value::Seq(items)) = m.get("items") {
                    for item in items {
                        out.push(check_resource(item.clone(), origin)?);
                    }
                }
            }
            other => out.push(check_resource(other, origin)?),
        }
    }
    Ok(out)
}

fn check_resource(v: Value, origin: &Path) -> Result<Resource, KustomizeError> {
    let Value::Map(_) = v else {
        return Err(KustomizeError::Yaml {
            file: origin.to_path_buf(),
            message: "a resource must be a YAML mapping".into(),
        });
    };
    if v.get_str(&["kind"]).unwrap_or("").is_empty() {
        return Err(KustomizeError::Yaml {
            file: origin.to_path_buf(),
            message: "missing kind in a resource (is this a kustomization listed under resources?)"
                .into(),
        });
    }
    if v.get_str(&["metadata", "name"]).unwrap_or("").is_empty()
        && v.get_path(&["metadata", "generateName"]).is_none()
    {
        return Err(KustomizeError::Yaml {
            file: origin.to_path_buf(),
            message: format!(
                "missing metadata.name in a {} resource",
                v.get_str(&["kind"]).unwrap_or("")
            ),
        });
    }
    Ok(Resource::new(v, origin.display().to_string()))
}

/// Generated resources merge or replace an existing one with the same id, or are added.
pub fn absorb_generated(
    acc: &mut Accumulator,
    generated: Resource,
    file: &Path,
) -> Result<(), KustomizeError> {
    let id = generated.id();
    // Like kustomize: the resource that has (or once had) this id, else the one with
    // this kind and current name in any namespace.
    let existing = acc
        .resources
        .iter()
        .position(|r| {
            r.id().matches_loosely(&id) || r.previous_ids.iter().any(|p| p.matches_loosely(&id))
        })
        .or_else(|| {
            acc.resources
                .iter()
                .position(|r| r.gvk() == id.gvk && r.name() == id.name)
        });
    match (generated.behavior, existing) {
        (Behavior::Create, None) => {
            acc.resources.push(generated);
            Ok(())
        }
        (Behavior::Create, Some(_)) => Err(KustomizeError::Conflict {
            file: file.to_path_buf(),
            id: id.to_string(),
        }),
        (_, None) => Err(KustomizeError::transform(
            file,
            "configMapGenerator/secretGenerator",
            format!("id {id} does not exist; cannot merge or replace"),
        )),
        (behavior, Some(i)) => {
            generators::combine(&mut acc.resources[i], generated, behavior);
            Ok(())
        }
    }
}
