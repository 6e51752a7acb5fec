//! The `kustomization.yaml` file: every field kustomize reads, deprecated ones included.
//!
//! Deprecated fields are folded into their successors the way kustomize's `FixKustomization`
//! does: `bases` join `resources`, `patchesJson6902` and `patchesStrategicMerge` stay
//! separate lists because they run as separate transformers, and a `Component` kind is
//! recorded so the loader can check it is used as one.

use indexmap::IndexMap;

use super::fold;
use serde::{Deserialize, Deserializer};

/// A map of string to string that also takes numbers and booleans as values (kustomize
/// reads `version: 1` in `commonLabels` as `"1"`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StringMap(pub IndexMap<String, String>);

impl<'de> Deserialize<'de> for StringMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Option<IndexMap<String, serde_yaml::Value>> = Option::deserialize(d)?;
        let mut out = IndexMap::new();
        for (k, v) in raw.unwrap_or_default() {
            let s = match v {
                serde_yaml::Value::String(s) => s,
                serde_yaml::Value::Number(n) => n.to_string(),
                serde_yaml::Value::Bool(b) => b.to_string(),
                serde_yaml::Value::Null => String::new(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "value of {k:?} must be a string, found {other:?}"
                    )))
                }
            };
            out.insert(k, s);
        }
        Ok(StringMap(out))
    }
}

/// The contents of a `kustomization.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    /// `kustomize.config.k8s.io/v1beta1` (or `v1alpha1` for components).
    pub api_version: Option<String>,
    /// `Kustomization` or `Component`.
    pub kind: Option<String>,
    /// Ignored metadata.
    pub metadata: Option<serde_yaml::Value>,
    /// Files, directories and kustomizations to include.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Deprecated: same as `resources`.
    #[serde(default)]
    pub bases: Vec<String>,
    /// Components applied after generators.
    #[serde(default)]
    pub components: Vec<String>,
    /// Namespace set on every namespaced resource.
    pub namespace: Option<String>,
    /// Prefix added to names.
    pub name_prefix: Option<String>,
    /// Suffix added to names.
    pub name_suffix: Option<String>,
    /// Labels added everywhere, selectors included.
    #[serde(default)]
    pub common_labels: StringMap,
    /// Labels with control over selectors and templates.
    #[serde(default)]
    pub labels: Vec<LabelArgs>,
    /// Annotations added everywhere.
    #[serde(default)]
    pub common_annotations: StringMap,
    /// Image name/tag/digest rewrites.
    #[serde(default)]
    pub images: Vec<ImageArgs>,
    /// Replica counts.
    #[serde(default)]
    pub replicas: Vec<ReplicaArgs>,
    /// Strategic merge or JSON 6902 patches with optional targets.
    #[serde(default)]
    pub patches: Vec<PatchArgs>,
    /// Deprecated: strategic merge patches (paths or inline documents).
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    /// Deprecated: JSON 6902 patches.
    #[serde(default, alias = "patchesJSON6902")]
    pub patches_json6902: Vec<PatchArgs>,
    /// ConfigMaps to generate.
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorArgs>,
    /// Secrets to generate.
    #[serde(default)]
    pub secret_generator: Vec<GeneratorArgs>,
    /// Options for every generator of this kustomization.
    pub generator_options: Option<GeneratorOptions>,
    /// Field copies from one resource to others.
    #[serde(default)]
    pub replacements: Vec<ReplacementEntry>,
    /// Deprecated: `$(VAR)` substitution.
    #[serde(default)]
    pub vars: Vec<VarArgs>,
    /// Transformer configuration files (extra fieldSpecs).
    #[serde(default)]
    pub configurations: Vec<String>,
    /// CRD files whose schemas teach name references.
    #[serde(default)]
    pub crds: Vec<String>,
    /// A custom OpenAPI schema (for strategic merge of custom kinds).
    pub openapi: Option<IndexMap<String, String>>,
    /// Output ordering.
    pub sort_options: Option<SortOptions>,
    /// Transformer plugin configurations (builtin kinds only).
    #[serde(default)]
    pub transformers: Vec<String>,
    /// Generator plugin configurations (builtin kinds only).
    #[serde(default)]
    pub generators: Vec<String>,
    /// Validator plugin configurations.
    #[serde(default)]
    pub validators: Vec<String>,
    /// Helm charts to inflate.
    #[serde(default)]
    pub helm_charts: Vec<serde_yaml::Value>,
    /// Defaults for `helmCharts`.
    pub helm_globals: Option<serde_yaml::Value>,
    /// Build metadata annotations to add (`originAnnotations`, ...).
    #[serde(default)]
    pub build_metadata: Vec<String>,
}

impl Kustomization {
    /// Whether this file declares a `Component`.
    pub fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }
}

/// One entry of `labels`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelArgs {
    /// The labels.
    #[serde(default)]
    pub pairs: StringMap,
    /// Also set selectors (and templates).
    #[serde(default)]
    pub include_selectors: bool,
    /// Also set pod templates.
    #[serde(default)]
    pub include_templates: bool,
    /// Also set volume claim templates.
    #[serde(default)]
    pub include_volume_claim_templates: bool,
    /// Extra fields to set.
    #[serde(default)]
    pub fields: Vec<FieldSpecArgs>,
}

/// A field of resources, as written in configurations.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpecArgs {
    /// Slash-separated path.
    #[serde(default)]
    pub path: String,
    /// Group selector.
    #[serde(default)]
    pub group: String,
    /// Version selector.
    #[serde(default)]
    pub version: String,
    /// Kind selector.
    #[serde(default)]
    pub kind: String,
    /// Create the field when missing.
    #[serde(default, alias = "create")]
    pub create: bool,
}

/// One entry of `images`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageArgs {
    /// The image name to match.
    pub name: String,
    /// Replacement name.
    pub new_name: Option<String>,
    /// Replacement tag.
    #[serde(default, deserialize_with = "scalar_string")]
    pub new_tag: Option<String>,
    /// Replacement digest.
    pub digest: Option<String>,
    /// Suffix appended to the tag.
    pub tag_suffix: Option<String>,
}

/// One entry of `replicas`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaArgs {
    /// Resource name.
    pub name: String,
    /// Replica count.
    pub count: i64,
}

/// One entry of `patches` / `patchesJson6902`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchArgs {
    /// A file holding the patch.
    pub path: Option<String>,
    /// The patch inline.
    pub patch: Option<String>,
    /// Which resources to patch.
    pub target: Option<Selector>,
    /// `allowNameChange`, `allowKindChange`.
    pub options: Option<IndexMap<String, bool>>,
}

/// Selects resources by id fields (regular expressions) and label/annotation selectors.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// API group.
    pub group: Option<String>,
    /// API version.
    pub version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name (a regular expression).
    pub name: Option<String>,
    /// Namespace (a regular expression).
    pub namespace: Option<String>,
    /// Label selector (`a=b,c!=d`).
    pub label_selector: Option<String>,
    /// Annotation selector.
    pub annotation_selector: Option<String>,
}

/// One entry of `configMapGenerator` / `secretGenerator`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    /// Name of the generated object.
    pub name: Option<String>,
    /// Namespace of the generated object.
    pub namespace: Option<String>,
    /// `create`, `merge` or `replace`.
    pub behavior: Option<String>,
    /// Files (`key=path` or `path`).
    #[serde(default)]
    pub files: Vec<String>,
    /// Literals (`key=value`).
    #[serde(default)]
    pub literals: Vec<String>,
    /// Env files.
    #[serde(default)]
    pub envs: Vec<String>,
    /// Deprecated single env file.
    pub env: Option<String>,
    /// Secret type.
    #[serde(rename = "type")]
    pub secret_type: Option<String>,
    /// Per-generator options.
    pub options: Option<GeneratorOptions>,
}

/// `generatorOptions` (and a generator's `options`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    /// Labels for generated objects.
    #[serde(default)]
    pub labels: StringMap,
    /// Annotations for generated objects.
    #[serde(default)]
    pub annotations: StringMap,
    /// Leave the content hash off the name.
    pub disable_name_suffix_hash: Option<bool>,
    /// Mark generated objects immutable.
    pub immutable: Option<bool>,
}

/// An entry of `replacements`: inline, or a file of them.
#[derive(Debug, Clone)]
pub enum ReplacementEntry {
    /// A file holding a list of replacements.
    Path {
        /// The file.
        path: String,
    },
    /// A replacement.
    Inline(Replacement),
}

impl<'de> Deserialize<'de> for ReplacementEntry {
    /// A map with a `path` (any case) names a file; anything else is a replacement,
    /// read with Go's field matching.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_yaml::Value::deserialize(d)?;
        let path = value.as_mapping().and_then(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case("path")))
                .last()
                .map(|(_, v)| v.clone())
        });
        match path {
            Some(path) => Ok(ReplacementEntry::Path {
                path: fold::from_value(path).map_err(serde::de::Error::custom)?,
            }),
            None => fold::from_value(value)
                .map(ReplacementEntry::Inline)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// Copies one field's value into fields of other resources.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replacement {
    /// Where the value comes from.
    pub source: Option<ReplacementSource>,
    /// Where it goes.
    #[serde(default)]
    pub targets: Vec<ReplacementTarget>,
}

/// The source of a replacement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementSource {
    /// Group.
    pub group: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Namespace.
    pub namespace: Option<String>,
    /// Field path (defaults to `metadata.name`).
    pub field_path: Option<String>,
    /// Delimiter/index options.
    pub options: Option<ReplacementOptions>,
}

/// A target of a replacement.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementTarget {
    /// Which resources.
    pub select: Option<Selector>,
    /// Resources to leave out.
    #[serde(default)]
    pub reject: Vec<Selector>,
    /// Fields to set.
    #[serde(default)]
    pub field_paths: Vec<String>,
    /// Delimiter/index/create options.
    pub options: Option<ReplacementOptions>,
}

/// Options of a replacement source or target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementOptions {
    /// Split the value on this delimiter.
    pub delimiter: Option<String>,
    /// Which part after splitting.
    #[serde(default)]
    pub index: i64,
    /// Create missing fields.
    #[serde(default)]
    pub create: bool,
}

/// One entry of `vars`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VarArgs {
    /// `$(NAME)`.
    pub name: String,
    /// The resource holding the value.
    pub objref: ObjRef,
    /// The field holding the value (defaults to `metadata.name`).
    pub fieldref: Option<FieldRef>,
}

/// A reference to a resource by kind, name and API version.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjRef {
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
    /// `group/version`.
    #[serde(default)]
    pub api_version: String,
    /// Group.
    #[serde(default)]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
}

/// The field of a var.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldRef {
    /// Dotted path.
    #[serde(default)]
    pub fieldpath: String,
}

/// `sortOptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    /// `legacy` or `fifo`.
    pub order: Option<String>,
    /// Kinds first and last for `legacy`.
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    /// Kinds first.
    #[serde(default)]
    pub order_first: Vec<String>,
    /// Kinds last.
    #[serde(default)]
    pub order_last: Vec<String>,
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<serde_yaml::Value> = Option::deserialize(d)?;
    Ok(match v {
        None | Some(serde_yaml::Value::Null) => None,
        Some(serde_yaml::Value::String(s)) => Some(s),
        Some(serde_yaml::Value::Number(n)) => Some(n.to_string()),
        Some(serde_yaml::Value::Bool(b)) => Some(b.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, found {other:?}"
            )))
        }
    })
}

/// Parses a kustomization file's text.
pub fn parse(text: &str) -> Result<Kustomization, serde_yaml::Error> {
    if text.trim().is_empty() {
        return Ok(Kustomization::default());
    }
    let value: serde_yaml::Value = serde_yaml::from_str(text)?;
    if value.is_null() {
        return Ok(Kustomization::default());
    }
    let mut k: Kustomization = fold::from_value(value).map_err(|folded| {
        // serde_yaml's own reading knows the line; use its words when they are about
        // the same field (they differ only where Go's case folding changed a key).
        let path = folded.to_string();
        let path = path.split(": ").next().unwrap_or_default();
        match serde_yaml::from_str::<Kustomization>(text) {
            Err(strict) if strict.location().is_some() && strict.to_string().starts_with(path) => {
                strict
            }
            _ => folded,
        }
    })?;
    let bases = std::mem::take(&mut k.bases);
    k.resources.extend(bases);
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deprecated_fields_fold_into_their_successors() {
        let k = parse("bases: [b]\nresources: [a]\npatchesJSON6902:\n- path: p.yaml\n").unwrap();
        assert_eq!(k.resources, vec!["a", "b"]);
        assert_eq!(k.patches_json6902.len(), 1);
    }

    #[test]
    fn unknown_fields_are_errors_naming_the_field() {
        let err = parse("resources: [a]\nnamePrefx: x\n").unwrap_err();
        assert!(err.to_string().contains("namePrefx"), "{err}");
    }

    #[test]
    fn label_values_may_be_numbers() {
        let k = parse("commonLabels:\n  version: 1\n").unwrap();
        assert_eq!(k.common_labels.0["version"], "1");
    }
}
