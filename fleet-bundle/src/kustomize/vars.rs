//! `vars` (deprecated in kustomize, still used): `$(NAME)` in the var reference fields is
//! replaced by a field of another resource, read at the end of the build.

use super::fieldspec::{visit, FieldSpec};
use super::kustomization::VarArgs;
use super::resource::{Gvk, Resource};
use super::value::Value;

/// Resolves every var and substitutes it in the var reference fields.
pub fn resolve(
    resources: &mut [Resource],
    vars: &[VarArgs],
    specs: &[FieldSpec],
) -> Result<(), String> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: Vec<(String, String)> = Vec::new();
    for var in vars {
        let o = &var.objref;
        let (group, version) = if !o.api_version.is_empty() {
            let g = Gvk::from_api_version(&o.api_version, &o.kind);
            (g.group, g.version)
        } else {
            (o.group.clone(), o.version.clone())
        };
        let found: Vec<&Resource> = resources
            .iter()
            .filter(|r| {
                let ids = std::iter::once(r.id()).chain(r.previous_ids.iter().cloned());
                ids.into_iter().any(|id| {
                    id.gvk.is_selected_by(&group, &version, &o.kind)
                        && id.name == o.name
                        && (o.namespace.is_empty() || id.namespace == o.namespace)
                })
            })
            .collect();
        let r = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(format!(
                    "var {:?} cannot be mapped to a field in the set of known resources",
                    var.name
                ))
            }
            _ => return Err(format!("var {:?} matches more than one resource", var.name)),
        };
        let path = var
            .fieldref
            .as_ref()
            .map(|f| f.fieldpath.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "metadata.name".into());
        let value = lookup_dotted(&r.value, &path)
            .and_then(Value::scalar_text)
            .ok_or_else(|| format!("var {:?}: field {path} not found in {}", var.name, r.id()))?;
        values.push((var.name.clone(), value));
    }
    for r in resources.iter_mut() {
        let gvk = r.gvk();
        for fs in specs {
            if !fs.selects(&gvk) {
                continue;
            }
            visit::<()>(&mut r.value, &fs.path, false, &mut |node| {
                substitute(node, &values);
                Ok(())
            })
            .ok();
        }
    }
    Ok(())
}

fn substitute(node: &mut Value, values: &[(String, String)]) {
    match node {
        Value::String(s) => *s = expand(s, values),
        Value::Seq(items) => items.iter_mut().for_each(|i| substitute(i, values)),
        Value::Map(m) => m.values_mut().for_each(|v| substitute(v, values)),
        _ => {}
    }
}

/// Expands `$(NAME)` for known names; `$$` escapes a dollar, unknown names stay.
fn expand(s: &str, values: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
            continue;
        }
        if let Some(inner) = after.strip_prefix('(') {
            if let Some(end) = inner.find(')') {
                let name = &inner[..end];
                if let Some((_, v)) = values.iter().find(|(n, _)| n == name) {
                    out.push_str(v);
                    rest = &inner[end + 1..];
                    continue;
                }
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

fn lookup_dotted<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Map(m) => m.get(part)?,
            Value::Seq(l) => l.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_vars_only() {
        let vals = vec![("A".to_string(), "x".to_string())];
        assert_eq!(expand("$(A)-$(B)-$$(A)", &vals), "x-$(B)-$(A)");
    }
}
