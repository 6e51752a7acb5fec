//! Transformers that set map entries and counts: labels, annotations, replicas.

use crate::kustomize::fieldspec::{visit, FieldSpec};
use crate::kustomize::resource::Resource;
use crate::kustomize::value::{Mapping, Value};

/// Sets `pairs` in the map at each field spec of each selected resource.
///
/// `only` restricts the change to resources for which it returns true.
pub fn set_map_entries(
    resources: &mut [Resource],
    pairs: &[(String, String)],
    specs: &[FieldSpec],
    only: Option<&dyn Fn(&Resource) -> bool>,
) -> Result<(), String> {
    if pairs.is_empty() {
        return Ok(());
    }
    for r in resources.iter_mut() {
        if let Some(f) = only {
            if !f(r) {
                continue;
            }
        }
        let gvk = r.gvk();
        for fs in specs {
            if !fs.selects(&gvk) {
                continue;
            }
            visit::<String>(&mut r.value, &fs.path, fs.create, &mut |node| {
                if matches!(node, Value::Null) {
                    *node = Value::Map(Mapping::new());
                }
                match node {
                    Value::Map(m) => {
                        for (k, v) in pairs {
                            m.insert(k.clone(), Value::String(v.clone()));
                        }
                        Ok(())
                    }
                    _ => Err(format!("{} is not a map in {}", fs.path_text(), gvk.kind)),
                }
            })?;
        }
    }
    Ok(())
}

/// Sets the replica count of the resources called `name` (now or originally).
///
/// Like kustomize, it is an error when no resource of a kind with a replica field has
/// that name.
pub fn set_replicas(
    resources: &mut [Resource],
    name: &str,
    count: i64,
    specs: &[FieldSpec],
) -> Result<(), String> {
    let mut found = false;
    for r in resources.iter_mut() {
        if r.name() != name && !r.previous_ids.iter().any(|id| id.name == name) {
            continue;
        }
        let gvk = r.gvk();
        for fs in specs {
            if !fs.selects(&gvk) {
                continue;
            }
            found = true;
            visit::<String>(&mut r.value, &fs.path, fs.create, &mut |node| {
                *node = Value::Int(count);
                Ok(())
            })?;
        }
    }
    if !found {
        let kinds: Vec<String> = specs
            .iter()
            .map(|fs| {
                let or = |s: &str, d: &str| {
                    if s.is_empty() {
                        d.to_string()
                    } else {
                        s.to_string()
                    }
                };
                format!(
                    "{}.{}.{}",
                    or(&fs.kind, "[noKind]"),
                    or(&fs.version, "[noVer]"),
                    or(&fs.group, "[noGrp]")
                )
            })
            .collect();
        return Err(format!(
            "resource with name {name} does not match a config with the following GVK [{}]",
            kinds.join(" ")
        ));
    }
    Ok(())
}
