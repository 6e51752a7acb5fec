//! Custom OpenAPI schemas (`openapi: {path: schema.json}`) and CRD files (`crds:`).
//!
//! From a custom schema we take what strategic merge needs: the merge key of list fields
//! (`x-kubernetes-patch-merge-key`), by field name.

use std::collections::HashMap;

use super::error::KustomizeError;
use super::fieldspec::TransformerConfig;
use super::target::Context;

/// Merge keys declared by a custom schema.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    merge_keys: HashMap<String, String>,
}

impl Schema {
    /// Whether no custom schema was given.
    pub fn is_empty(&self) -> bool {
        self.merge_keys.is_empty()
    }

    /// The merge key the schema declares for list fields called `field`.
    pub fn merge_key(&self, field: &str) -> Option<&str> {
        self.merge_keys.get(field).map(String::as_str)
    }
}

/// Loads the `openapi` field of a kustomization.
pub fn load(
    ctx: &Context<'_>,
    spec: &indexmap::IndexMap<String, String>,
) -> Result<Schema, KustomizeError> {
    let Some(path) = spec.get("path") else {
        // `version:` picks one of kustomize's bundled Kubernetes schemas; the merge keys
        // of the built-in kinds are the same in all of them, so the built-in table serves.
        if spec.contains_key("version") {
            return Ok(Schema::default());
        }
        return Err(KustomizeError::transform(
            ctx.file,
            "openapi",
            "`path` or `version` is required",
        ));
    };
    let (resolved, text) = ctx.read(path, "openapi")?;
    let json: serde_json::Value = if resolved.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| KustomizeError::Yaml {
            file: resolved.clone(),
            message: format!("invalid JSON schema: {e}"),
        })?
    } else {
        serde_yaml::from_str(&text).map_err(|e| KustomizeError::Yaml {
            file: resolved.clone(),
            message: format!("invalid schema: {e}"),
        })?
    };
    let mut schema = Schema::default();
    collect(&json, None, &mut schema);
    Ok(schema)
}

fn collect(v: &serde_json::Value, field: Option<&str>, schema: &mut Schema) {
    match v {
        serde_json::Value::Object(m) => {
            if let (Some(field), Some(serde_json::Value::String(key))) =
                (field, m.get("x-kubernetes-patch-merge-key"))
            {
                schema.merge_keys.insert(field.to_string(), key.clone());
            }
            if let Some(serde_json::Value::Object(props)) = m.get("properties") {
                for (name, sub) in props {
                    collect(sub, Some(name), schema);
                }
            }
            for (k, sub) in m {
                if k != "properties" {
                    collect(sub, None, schema);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for i in items {
                collect(i, None, schema);
            }
        }
        _ => {}
    }
}

/// The `crds` field: kustomize reads name-reference hints from CRD schemas.
pub fn add_crd_name_references(
    _text: &str,
    path: &std::path::Path,
    _config: &mut TransformerConfig,
) -> Result<(), KustomizeError> {
    Err(KustomizeError::Transform {
        file: path.to_path_buf(),
        field: "crds",
        message: "the deprecated `crds` field is not supported; declare name references with `configurations` instead".into(),
    })
}
