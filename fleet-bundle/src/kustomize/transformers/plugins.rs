//! `transformers:` entries: configurations of kustomize's builtin transformer kinds.
//!
//! Only `apiVersion: builtin` kinds run; executable or container plugins are refused
//! because a bundle must render the same everywhere without running foreign code.

use super::{images, metadata, names};
use crate::kustomize::error::KustomizeError;
use crate::kustomize::fieldspec::FieldSpec;
use crate::kustomize::kustomization::{FieldSpecArgs, ImageArgs, Selector};
use crate::kustomize::selector::Matcher;
use crate::kustomize::target::{Accumulator, Context};
use crate::kustomize::value::Value;

fn de<T: serde::de::DeserializeOwned>(
    ctx: &Context<'_>,
    config: &Value,
    kind: &str,
) -> Result<T, KustomizeError> {
    let json = to_json(config);
    serde_json::from_value(json)
        .map_err(|e| KustomizeError::transform(ctx.file, "transformers", format!("{kind}: {e}")))
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn string_pairs(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.scalar_text().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs one builtin transformer configuration on the accumulated resources.
pub fn run_plugin(
    ctx: &Context<'_>,
    config: &Value,
    acc: &mut Accumulator,
) -> Result<(), KustomizeError> {
    let api_version = config.get_str(&["apiVersion"]).unwrap_or("");
    let kind = config.get_str(&["kind"]).unwrap_or("");
    if api_version != "builtin" {
        return Err(KustomizeError::transform(
            ctx.file,
            "transformers",
            format!("{api_version}/{kind}: only builtin transformer kinds are supported (plugins run foreign code)"),
        ));
    }
    let err =
        |e: String| KustomizeError::transform(ctx.file, "transformers", format!("{kind}: {e}"));
    let specs = |key: &str| -> Result<Vec<FieldSpec>, KustomizeError> {
        let raw: Vec<FieldSpecArgs> = match config.get_path(&[key]) {
            Some(v) => de(ctx, v, kind)?,
            None => Vec::new(),
        };
        Ok(raw.iter().map(FieldSpec::from).collect())
    };
    match kind {
        "LabelTransformer" => {
            let pairs = string_pairs(config.get_path(&["labels"]));
            metadata::set_map_entries(&mut acc.resources, &pairs, &specs("fieldSpecs")?, None).map_err(err)
        }
        "AnnotationsTransformer" => {
            let pairs = string_pairs(config.get_path(&["annotations"]));
            metadata::set_map_entries(&mut acc.resources, &pairs, &specs("fieldSpecs")?, None).map_err(err)
        }
        "NamespaceTransformer" => {
            let ns = config.get_str(&["metadata", "namespace"]).unwrap_or("").to_string();
            let mut fs = specs("fieldSpecs")?;
            if fs.is_empty() {
                fs = acc.config.namespace.clone();
            }
            names::set_namespace(&mut acc.resources, &ns, &fs, true).map_err(err)
        }
        "PrefixTransformer" | "SuffixTransformer" | "PrefixSuffixTransformer" => {
            let mut fs = specs("fieldSpecs")?;
            if fs.is_empty() {
                fs = vec![FieldSpec::new("", "", "", "metadata/name", false)];
            }
            if let Some(p) = config.get_str(&["prefix"]).filter(|p| !p.is_empty()) {
                names::add_affix(&mut acc.resources, p, names::Affix::Prefix, &fs);
            }
            if let Some(s) = config.get_str(&["suffix"]).filter(|s| !s.is_empty()) {
                names::add_affix(&mut acc.resources, s, names::Affix::Suffix, &fs);
            }
            Ok(())
        }
        "ImageTagTransformer" => {
            let image: ImageArgs = de(ctx, config.get_path(&["imageTag"]).unwrap_or(&Value::Null), kind)?;
            let mut fs = specs("fieldSpecs")?;
            if fs.is_empty() {
                fs = acc.config.images.clone();
            }
            images::apply(&mut acc.resources, &image, &fs);
            Ok(())
        }
        "ReplicaCountTransformer" => {
            let name = config.get_str(&["replica", "name"]).unwrap_or("").to_string();
            let count = match config.get_path(&["replica", "count"]) {
                Some(Value::Int(i)) => *i,
                _ => return Err(err("replica.count must be an integer".into())),
            };
            let mut fs = specs("fieldSpecs")?;
            if fs.is_empty() {
                fs = acc.config.replicas.clone();
            }
            metadata::set_replicas(&mut acc.resources, &name, count, &fs).map_err(err)
        }
        "ValueAddTransformer" => value_add(ctx, config, acc).map_err(err),
        other => Err(KustomizeError::transform(
            ctx.file,
            "transformers",
            format!("builtin kind {other:?} is not supported in transformers; use the kustomization field instead"),
        )),
    }
}

/// `ValueAddTransformer`: puts a value (by default the kustomization directory's name) into
/// fields, optionally as one segment of a slash-separated path.
fn value_add(ctx: &Context<'_>, config: &Value, acc: &mut Accumulator) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Target {
        selector: Option<Selector>,
        field_path: String,
        #[serde(default)]
        file_path_position: usize,
    }
    let value = config
        .get_str(&["value"])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            ctx.dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let targets: Vec<Target> = serde_json::from_value(to_json(
        config.get_path(&["targets"]).unwrap_or(&Value::Null),
    ))
    .map_err(|e| format!("targets: {e}"))?;
    if targets.is_empty() {
        return Err("must specify at least one target".into());
    }
    for t in targets {
        let matcher = match &t.selector {
            Some(s) => Some(Matcher::new(s)?),
            None => None,
        };
        let path = crate::kustomize::fieldspec::split_path(&t.field_path);
        for r in acc.resources.iter_mut() {
            if let Some(m) = &matcher {
                if !m.matches(r) {
                    continue;
                }
            }
            if path == ["metadata", "namespace"] {
                names::set_namespace(std::slice::from_mut(r), &value, &[], false)?;
                continue;
            }
            let Some((last, parents)) = path.split_last() else {
                continue;
            };
            let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
            let Some(map) = r.value.ensure_map_path(&parents) else {
                continue;
            };
            let current = map
                .get(last.as_str())
                .and_then(Value::scalar_text)
                .unwrap_or_default();
            let new = if t.file_path_position > 0 {
                let mut parts: Vec<&str> = if current.is_empty() {
                    Vec::new()
                } else {
                    current.split('/').collect()
                };
                let at = (t.file_path_position - 1).min(parts.len());
                parts.insert(at, &value);
                parts.join("/")
            } else {
                value.clone()
            };
            map.insert(last.clone(), Value::String(new));
        }
    }
    Ok(())
}
