//! The built-in transformers: namespace, name prefix/suffix, labels, annotations,
//! replicas, images, and the `transformers:` plugin configurations of builtin kinds.

mod images;
mod metadata;
mod names;
mod plugins;

pub use plugins::run_plugin;

use super::error::KustomizeError;
use super::target::{Accumulator, Context};

/// Namespace, prefix, suffix, labels and annotations of a kustomization, in kustomize's
/// order.
pub fn run_builtin(ctx: &Context<'_>, acc: &mut Accumulator) -> Result<(), KustomizeError> {
    let k = ctx.k;
    if let Some(ns) = k.namespace.as_deref().filter(|n| !n.is_empty()) {
        let specs = acc.config.namespace.clone();
        names::set_namespace(&mut acc.resources, ns, &specs, true)
            .map_err(|e| KustomizeError::transform(ctx.file, "namespace", e))?;
    }
    if let Some(prefix) = k.name_prefix.as_deref().filter(|p| !p.is_empty()) {
        let specs = acc.config.name_prefix.clone();
        names::add_affix(&mut acc.resources, prefix, names::Affix::Prefix, &specs);
    }
    if let Some(suffix) = k.name_suffix.as_deref().filter(|p| !p.is_empty()) {
        let specs = acc.config.name_suffix.clone();
        names::add_affix(&mut acc.resources, suffix, names::Affix::Suffix, &specs);
    }
    for label in &k.labels {
        let mut specs: Vec<_> = label
            .fields
            .iter()
            .map(super::fieldspec::FieldSpec::from)
            .collect();
        if label.include_selectors {
            specs.extend(acc.config.common_labels.iter().cloned());
        } else {
            if label.include_templates {
                specs.extend(acc.config.template_labels.iter().cloned());
            }
            if label.include_volume_claim_templates {
                specs.push(super::fieldspec::FieldSpec::new(
                    "apps",
                    "",
                    "StatefulSet",
                    "spec/volumeClaimTemplates[]/metadata/labels",
                    true,
                ));
            }
            specs.push(super::fieldspec::FieldSpec::new(
                "",
                "",
                "",
                "metadata/labels",
                true,
            ));
        }
        let pairs: Vec<(String, String)> = label.pairs.0.clone().into_iter().collect();
        metadata::set_map_entries(&mut acc.resources, &pairs, &dedup(specs), None)
            .map_err(|e| KustomizeError::transform(ctx.file, "labels", e))?;
    }
    if !k.common_labels.0.is_empty() {
        let pairs: Vec<(String, String)> = k.common_labels.0.clone().into_iter().collect();
        let specs = acc.config.common_labels.clone();
        metadata::set_map_entries(&mut acc.resources, &pairs, &specs, None)
            .map_err(|e| KustomizeError::transform(ctx.file, "commonLabels", e))?;
    }
    if !k.common_annotations.0.is_empty() {
        let pairs: Vec<(String, String)> = k.common_annotations.0.clone().into_iter().collect();
        let specs = acc.config.common_annotations.clone();
        metadata::set_map_entries(&mut acc.resources, &pairs, &specs, None)
            .map_err(|e| KustomizeError::transform(ctx.file, "commonAnnotations", e))?;
    }
    Ok(())
}

fn dedup(specs: Vec<super::fieldspec::FieldSpec>) -> Vec<super::fieldspec::FieldSpec> {
    let mut out: Vec<super::fieldspec::FieldSpec> = Vec::new();
    for s in specs {
        if !out.iter().any(|o| {
            o.path == s.path && o.kind == s.kind && o.group == s.group && o.version == s.version
        }) {
            out.push(s);
        }
    }
    out
}

/// `replicas` and `images`, which kustomize runs after the JSON 6902 patches.
pub fn run_replicas_and_images(
    ctx: &Context<'_>,
    acc: &mut Accumulator,
) -> Result<(), KustomizeError> {
    for r in &ctx.k.replicas {
        let specs = acc.config.replicas.clone();
        metadata::set_replicas(&mut acc.resources, &r.name, r.count, &specs)
            .map_err(|e| KustomizeError::transform(ctx.file, "replicas", e))?;
    }
    for image in &ctx.k.images {
        let specs = acc.config.images.clone();
        images::apply(&mut acc.resources, image, &specs);
    }
    Ok(())
}
