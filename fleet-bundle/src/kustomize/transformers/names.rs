//! Renaming transformers: `namespace`, `namePrefix` and `nameSuffix`.
//!
//! Each rename records the resource's previous id, so that name references can be
//! rewritten at the end of the build.

use crate::kustomize::fieldspec::{visit, FieldSpec};
use crate::kustomize::resource::{Gvk, Resource};
use crate::kustomize::value::Value;

/// Which end of the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affix {
    /// `namePrefix`.
    Prefix,
    /// `nameSuffix`.
    Suffix,
}

/// Kinds whose names are never prefixed or suffixed: their names are fixed by the API.
fn keeps_its_name(gvk: &Gvk) -> bool {
    gvk.kind == "CustomResourceDefinition"
        || gvk.kind == "Namespace"
        || (gvk.kind == "APIService" && gvk.group == "apiregistration.k8s.io")
}

/// Adds a prefix or suffix to the name fields of every resource.
pub fn add_affix(resources: &mut [Resource], affix: &str, which: Affix, specs: &[FieldSpec]) {
    for r in resources.iter_mut() {
        let org = r.original_id();
        if keeps_its_name(&org.gvk) {
            continue;
        }
        for fs in specs {
            if !fs.selects(&org.gvk) {
                continue;
            }
            if fs.path == ["metadata", "name"] {
                match which {
                    Affix::Prefix => r.prefixes.push(affix.to_string()),
                    Affix::Suffix => r.suffixes.push(affix.to_string()),
                }
                r.store_previous_id();
            }
            let _ = visit::<()>(&mut r.value, &fs.path, fs.create, &mut |node| {
                if let Value::String(s) = node {
                    *s = match which {
                        Affix::Prefix => format!("{affix}{s}"),
                        Affix::Suffix => format!("{s}{affix}"),
                    };
                }
                Ok(())
            });
        }
    }
}

/// Sets the namespace of every namespaced resource, and the extra namespace fields.
///
/// `record` stores previous ids (the `namespace:` field does; the ValueAdd plugin does not).
pub fn set_namespace(
    resources: &mut [Resource],
    namespace: &str,
    specs: &[FieldSpec],
    record: bool,
) -> Result<(), String> {
    for i in 0..resources.len() {
        let r = &mut resources[i];
        if r.annotations()
            .iter()
            .any(|(k, v)| k == "kustomize.config.k8s.io/helm-generated" && v == "true")
        {
            continue;
        }
        if record {
            r.store_previous_id();
        }
        let gvk = r.gvk();
        let api_version = r.value.get_str(&["apiVersion"]).unwrap_or("").to_string();
        if !gvk.is_cluster_scoped() {
            r.set_namespace(namespace);
        }
        if gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding" {
            if let Some(Value::Seq(subjects)) =
                r.value.as_map_mut().and_then(|m| m.get_mut("subjects"))
            {
                for s in subjects.iter_mut() {
                    if let Value::Map(m) = s {
                        if m.get("name").and_then(Value::as_str) == Some("default") {
                            m.insert("namespace".into(), Value::String(namespace.to_string()));
                        }
                    }
                }
            }
        }
        for fs in specs {
            if !fs.selects(&gvk) || fs.path == ["metadata", "namespace"] {
                continue;
            }
            if fs.path == ["metadata", "name"] && api_version != "v1" {
                continue;
            }
            if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
                && fs.path == ["subjects", "namespace"]
            {
                continue;
            }
            if fs.path == ["metadata", "name"] {
                r.set_name(namespace);
                continue;
            }
            visit::<String>(&mut r.value, &fs.path, fs.create, &mut |node| match node {
                Value::Null | Value::String(_) => {
                    *node = Value::String(namespace.to_string());
                    Ok(())
                }
                _ => Err(format!(
                    "namespace field specs must target scalar nodes ({})",
                    fs.path_text()
                )),
            })?;
        }
        let id = resources[i].id();
        if resources.iter().filter(|o| o.id() == id).count() > 1 {
            return Err(format!(
                "namespace transformation produces ID conflict: {id}"
            ));
        }
    }
    Ok(())
}
