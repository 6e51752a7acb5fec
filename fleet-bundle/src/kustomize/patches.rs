//! The patch fields: `patchesStrategicMerge`, `patches` and `patchesJson6902`.
//!
//! A patch without `target` applies to the resource with its own kind, name and namespace
//! (original or current); with `target` to every selected resource, whose name, namespace
//! and kind the patch does not change.

use std::path::PathBuf;

use super::document::parse_stream;
use super::error::KustomizeError;
use super::json6902;
use super::kustomization::{PatchArgs, Selector};
use super::resource::{Gvk, ResId, Resource};
use super::selector::Matcher;
use super::smp::{self, Outcome};
use super::target::{Accumulator, Context};
use super::value::Value;

/// A loaded patch: its documents and where it came from.
struct Loaded {
    docs: Vec<Value>,
    source: PathBuf,
    label: String,
}

fn load(
    ctx: &Context<'_>,
    path: Option<&str>,
    inline: Option<&str>,
    field: &'static str,
) -> Result<Loaded, KustomizeError> {
    let (text, source, label) = match (path, inline) {
        (Some(p), None) => {
            let (resolved, text) = ctx.read(p, field)?;
            (text, resolved, p.to_string())
        }
        (None, Some(t)) => (
            t.to_string(),
            ctx.file.to_path_buf(),
            "inline patch".to_string(),
        ),
        (Some(_), Some(_)) => {
            return Err(KustomizeError::transform(
                ctx.file,
                field,
                "a patch has either `path` or `patch`, not both",
            ))
        }
        (None, None) => {
            return Err(KustomizeError::transform(
                ctx.file,
                field,
                "a patch needs `path` or `patch`",
            ))
        }
    };
    let docs = parse_stream(&text)
        .map_err(|e| KustomizeError::Yaml {
            file: source.clone(),
            message: format!("{field}: {e}"),
        })?
        .into_iter()
        .filter(|d| *d != Value::Null)
        .collect();
    Ok(Loaded {
        docs,
        source,
        label,
    })
}

/// `patchesStrategicMerge`: each entry a file or an inline document.
pub fn run_strategic_merge(ctx: &Context<'_>, acc: &mut Accumulator) -> Result<(), KustomizeError> {
    for entry in &ctx.k.patches_strategic_merge {
        let inline = entry.contains('\n')
            || entry.trim_start().starts_with("apiVersion")
            || entry.trim_start().starts_with("kind");
        let loaded = if inline {
            load(ctx, None, Some(entry), "patchesStrategicMerge")?
        } else {
            load(ctx, Some(entry), None, "patchesStrategicMerge")?
        };
        for doc in &loaded.docs {
            apply_by_own_id(ctx, acc, doc, &loaded, "patchesStrategicMerge")?;
        }
    }
    Ok(())
}

/// `patches`: strategic merge or JSON 6902, optionally with a target.
pub fn run_patches(ctx: &Context<'_>, acc: &mut Accumulator) -> Result<(), KustomizeError> {
    for p in &ctx.k.patches {
        run_one(ctx, acc, p, "patches")?;
    }
    Ok(())
}

/// `patchesJson6902`: JSON patches with a required target.
pub fn run_json6902(ctx: &Context<'_>, acc: &mut Accumulator) -> Result<(), KustomizeError> {
    for p in &ctx.k.patches_json6902 {
        if p.target.is_none() {
            return Err(KustomizeError::transform(
                ctx.file,
                "patchesJson6902",
                "each entry needs a `target`",
            ));
        }
        run_one(ctx, acc, p, "patchesJson6902")?;
    }
    Ok(())
}

/// Applies one patch entry (also used by the `PatchTransformer` plugin).
pub fn run_one(
    ctx: &Context<'_>,
    acc: &mut Accumulator,
    p: &PatchArgs,
    field: &'static str,
) -> Result<(), KustomizeError> {
    let loaded = load(ctx, p.path.as_deref(), p.patch.as_deref(), field)?;
    if loaded.docs.len() == 1 && json6902::looks_like_json_patch(&loaded.docs[0]) {
        let ops = json6902::parse(&loaded.docs[0])
            .map_err(|e| KustomizeError::transform(&loaded.source, field, e))?;
        let Some(target) = &p.target else {
            return Err(KustomizeError::transform(
                ctx.file,
                field,
                format!("{}: a JSON patch needs a `target`", loaded.label),
            ));
        };
        let matcher = matcher(ctx, target, field)?;
        for r in acc.resources.iter_mut().filter(|r| matcher.matches(r)) {
            r.store_previous_id();
            json6902::apply(&mut r.value, &ops).map_err(|e| {
                KustomizeError::transform(
                    ctx.file,
                    field,
                    format!("{} on {}: {e}", loaded.label, r.id()),
                )
            })?;
        }
        return Ok(());
    }
    match &p.target {
        None => {
            for doc in &loaded.docs {
                apply_by_own_id(ctx, acc, doc, &loaded, field)?;
            }
            Ok(())
        }
        Some(target) => {
            if loaded.docs.len() > 1 {
                return Err(KustomizeError::transform(
                    ctx.file,
                    field,
                    format!(
                        "{}: several strategic merge patches in one entry cannot have a `target`",
                        loaded.label
                    ),
                ));
            }
            let Some(doc) = loaded.docs.first() else {
                return Ok(());
            };
            let matcher = matcher(ctx, target, field)?;
            let allow_name = p
                .options
                .as_ref()
                .and_then(|o| o.get("allowNameChange"))
                .copied()
                .unwrap_or(false);
            let allow_kind = p
                .options
                .as_ref()
                .and_then(|o| o.get("allowKindChange"))
                .copied()
                .unwrap_or(false);
            let schema = acc.schema.clone();
            let mut i = 0;
            while i < acc.resources.len() {
                if !matcher.matches(&acc.resources[i]) {
                    i += 1;
                    continue;
                }
                let outcome =
                    patch_resource(&mut acc.resources[i], doc, &schema, allow_name, allow_kind)
                        .map_err(|e| {
                            KustomizeError::transform(
                                ctx.file,
                                field,
                                format!("{}: {e}", loaded.label),
                            )
                        })?;
                if outcome == Outcome::Deleted {
                    acc.resources.remove(i);
                } else {
                    i += 1;
                }
            }
            Ok(())
        }
    }
}

fn matcher(
    ctx: &Context<'_>,
    target: &Selector,
    field: &'static str,
) -> Result<Matcher, KustomizeError> {
    Matcher::new(target)
        .map_err(|e| KustomizeError::transform(ctx.file, field, format!("target: {e}")))
}

fn patch_id(doc: &Value) -> ResId {
    ResId {
        gvk: Gvk::from_api_version(
            doc.get_str(&["apiVersion"]).unwrap_or(""),
            doc.get_str(&["kind"]).unwrap_or(""),
        ),
        name: doc.get_str(&["metadata", "name"]).unwrap_or("").to_string(),
        namespace: doc
            .get_str(&["metadata", "namespace"])
            .unwrap_or("")
            .to_string(),
    }
}

fn id_equals(a: &ResId, b: &ResId) -> bool {
    a.gvk == b.gvk && a.name == b.name && a.same_namespace(b)
}

fn apply_by_own_id(
    ctx: &Context<'_>,
    acc: &mut Accumulator,
    doc: &Value,
    loaded: &Loaded,
    field: &'static str,
) -> Result<(), KustomizeError> {
    let id = patch_id(doc);
    let found: Vec<usize> = acc
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            id_equals(&r.id(), &id) || r.previous_ids.iter().any(|p| id_equals(p, &id))
        })
        .map(|(i, _)| i)
        .collect();
    let i = match found.as_slice() {
        [i] => *i,
        [] => {
            return Err(KustomizeError::Missing {
                file: ctx.file.to_path_buf(),
                field,
                entry: loaded.label.clone(),
                reason: format!("no resource matches strategic merge patch {id}"),
            })
        }
        _ => {
            return Err(KustomizeError::transform(
                ctx.file,
                field,
                format!(
                    "{}: multiple resources match strategic merge patch {id}",
                    loaded.label
                ),
            ))
        }
    };
    let schema = acc.schema.clone();
    let outcome =
        patch_resource(&mut acc.resources[i], doc, &schema, false, false).map_err(|e| {
            KustomizeError::transform(ctx.file, field, format!("{}: {e}", loaded.label))
        })?;
    if outcome == Outcome::Deleted {
        acc.resources.remove(i);
    }
    Ok(())
}

/// Applies a strategic merge patch, keeping the resource's name, namespace and kind
/// unless the options allow changing them.
fn patch_resource(
    r: &mut Resource,
    patch: &Value,
    schema: &super::openapi::Schema,
    allow_name: bool,
    allow_kind: bool,
) -> Result<Outcome, String> {
    let (name, namespace, kind) = (
        r.name().to_string(),
        r.namespace().to_string(),
        r.kind().to_string(),
    );
    if allow_name || allow_kind {
        r.store_previous_id();
    }
    let gvk = r.gvk();
    let outcome = smp::apply(&mut r.value, patch, &gvk, schema)?;
    if outcome == Outcome::Deleted {
        return Ok(outcome);
    }
    if !allow_kind {
        if let Some(m) = r.value.as_map_mut() {
            m.insert("kind".into(), Value::String(kind));
        }
    }
    if !allow_name {
        r.set_name(&name);
    }
    if namespace.is_empty() {
        if let Some(Value::Map(meta)) = r.value.as_map_mut().and_then(|m| m.get_mut("metadata")) {
            meta.shift_remove("namespace");
        }
    } else {
        r.set_namespace(&namespace);
    }
    Ok(outcome)
}
