//! Strategic merge patch, as kustomize applies it (kyaml's `merge2`).
//!
//! Maps merge key by key, `null` deletes a key, lists merge according to
//! [`schema::list_strategy`] (by merge key, as a set of scalars, or by replacement), and
//! the directive `$patch: delete|replace|merge` is honoured on maps and list elements.
//!
//! kustomize's merge does not implement the other apimachinery directives: `$retainKeys`,
//! `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` are copied into the
//! result as ordinary fields, and so they are here (checked against `kubectl kustomize`).

pub mod schema;

use schema::{list_strategy, ListStrategy};

use super::openapi::Schema;
use super::resource::Gvk;
use super::value::{Mapping, Value};

/// What a patch did to the whole resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The resource was changed (or left as is).
    Patched,
    /// The patch says `$patch: delete`: the resource goes away.
    Deleted,
}

/// Applies `patch` to `target`, a resource of kind `gvk`.
pub fn apply(
    target: &mut Value,
    patch: &Value,
    gvk: &Gvk,
    schema: &Schema,
) -> Result<Outcome, String> {
    let (Value::Map(orig), Value::Map(p)) = (&mut *target, patch) else {
        return Err("a strategic merge patch must be a map".into());
    };
    match directive(p) {
        Some("delete") => return Ok(Outcome::Deleted),
        Some("replace") => {
            *target = strip(patch);
            return Ok(Outcome::Patched);
        }
        _ => {}
    }
    let m = Merger { gvk, schema };
    let mut path = Vec::new();
    m.merge_map(orig, p, &mut path)?;
    Ok(Outcome::Patched)
}

fn directive(m: &Mapping) -> Option<&str> {
    m.get("$patch").and_then(Value::as_str)
}

/// The patch value without directives (and without `null`s, which mean "absent").
fn strip(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(
            m.iter()
                .filter(|(k, v)| *k != "$patch" && **v != Value::Null)
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .filter(|i| {
                    !i.as_map()
                        .is_some_and(|m| directive(m).is_some() && m.len() == 1)
                })
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

struct Merger<'a> {
    gvk: &'a Gvk,
    schema: &'a Schema,
}

impl Merger<'_> {
    fn merge_map(
        &self,
        orig: &mut Mapping,
        patch: &Mapping,
        path: &mut Vec<String>,
    ) -> Result<(), String> {
        for (key, value) in patch {
            if key == "$patch" {
                continue;
            }
            path.push(key.clone());
            match value {
                Value::Null => {
                    orig.shift_remove(key);
                }
                Value::Map(pm) => match directive(pm) {
                    Some("delete") => {
                        orig.shift_remove(key);
                    }
                    Some("replace") => {
                        orig.insert(key.clone(), strip(value));
                    }
                    _ => match orig.get_mut(key) {
                        Some(Value::Map(om)) => self.merge_map(om, pm, path)?,
                        _ => {
                            orig.insert(key.clone(), strip(value));
                        }
                    },
                },
                Value::Seq(pl) => match orig.get_mut(key) {
                    Some(Value::Seq(ol)) => self.merge_list(ol, pl, path)?,
                    _ => {
                        orig.insert(key.clone(), strip(value));
                    }
                },
                scalar => {
                    orig.insert(key.clone(), scalar.clone());
                }
            }
            path.pop();
        }
        Ok(())
    }

    fn merge_list(
        &self,
        orig: &mut Vec<Value>,
        patch: &[Value],
        path: &mut Vec<String>,
    ) -> Result<(), String> {
        if patch
            .iter()
            .any(|e| e.as_map().is_some_and(|m| directive(m) == Some("replace")))
        {
            *orig = patch
                .iter()
                .filter(|e| e.as_map().is_none_or(|m| directive(m) != Some("replace")))
                .map(strip)
                .collect();
            return Ok(());
        }
        match list_strategy(self.gvk, path, self.schema) {
            ListStrategy::Replace => {
                *orig = patch.iter().map(strip).collect();
            }
            ListStrategy::MergePrimitives => {
                // kustomize merges with "prepend": the patch's values first, then the
                // original's others.
                let mut merged: Vec<Value> = Vec::new();
                for v in patch.iter().chain(orig.iter()) {
                    if !merged.contains(v) {
                        merged.push(v.clone());
                    }
                }
                *orig = merged;
            }
            ListStrategy::MergeByKey(key) => {
                // kustomize merges with "prepend": the patch's elements come first, in
                // the patch's order (merged with the original element of the same key),
                // then the original elements the patch did not name, in their order.
                let mut used = vec![false; orig.len()];
                let mut merged: Vec<Value> = Vec::new();
                let mut seen: Vec<&Value> = Vec::new();
                for element in patch {
                    let Value::Map(pm) = element else {
                        merged.push(element.clone());
                        continue;
                    };
                    let Some(wanted) = pm.get(&key) else {
                        merged.push(strip(element));
                        continue;
                    };
                    if seen.contains(&wanted) {
                        continue;
                    }
                    seen.push(wanted);
                    let found = orig.iter().enumerate().position(|(i, o)| {
                        !used[i] && o.as_map().and_then(|om| om.get(&key)) == Some(wanted)
                    });
                    if let Some(i) = found {
                        used[i] = true;
                    }
                    match (directive(pm), found) {
                        (Some("delete"), _) => {}
                        (Some("replace"), _) | (_, None) => merged.push(strip(element)),
                        (_, Some(i)) => {
                            let mut base = orig[i].clone();
                            if let Value::Map(om) = &mut base {
                                self.merge_map(om, pm, path)?;
                            }
                            merged.push(base);
                        }
                    }
                }
                for (i, o) in orig.iter().enumerate() {
                    if !used[i] {
                        merged.push(o.clone());
                    }
                }
                *orig = merged;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::document::parse_one;

    fn run(orig: &str, patch: &str) -> Value {
        let mut o = parse_one(orig).unwrap();
        let gvk = Gvk::from_api_version(
            o.get_str(&["apiVersion"]).unwrap_or("v1"),
            o.get_str(&["kind"]).unwrap_or(""),
        );
        apply(&mut o, &parse_one(patch).unwrap(), &gvk, &Schema::default()).unwrap();
        o
    }

    #[test]
    /// Same result as `kubectl kustomize`: the patch's list elements come first.
    fn containers_merge_by_name_and_env_entries_delete() {
        let out = run(
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n        env:\n        - name: K\n          value: v\n        - name: D\n          value: d\n      - name: b\n        image: y\n",
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: z\n        env:\n        - name: D\n          $patch: delete\n        - name: N\n          value: n\n",
        );
        let expected = parse_one(
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: z\n        env:\n        - name: N\n          value: n\n        - name: K\n          value: v\n      - name: b\n        image: y\n",
        )
        .unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn null_deletes_and_atomic_lists_replace() {
        let out = run(
            "apiVersion: v1\nkind: Pod\nspec:\n  nodeSelector: {a: b}\n  tolerations:\n  - key: a\n  - key: b\n",
            "apiVersion: v1\nkind: Pod\nspec:\n  nodeSelector: null\n  tolerations:\n  - key: c\n",
        );
        assert_eq!(out.get_path(&["spec", "nodeSelector"]), None);
        assert_eq!(
            out.get_path(&["spec", "tolerations"]),
            Some(&parse_one("- key: c").unwrap())
        );
    }

    /// `kubectl kustomize` keeps apimachinery-only directives as plain fields.
    #[test]
    fn other_directives_stay_as_fields() {
        let out = run(
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  strategy:\n    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1}\n",
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  strategy:\n    $retainKeys: [type]\n    type: Recreate\n",
        );
        let expected = parse_one(
            "apiVersion: apps/v1\nkind: Deployment\nspec:\n  strategy:\n    type: Recreate\n    rollingUpdate: {maxSurge: 1}\n    $retainKeys: [type]\n",
        )
        .unwrap();
        assert_eq!(out, expected);
    }

    #[test]
    fn patch_delete_removes_the_resource() {
        let mut o = parse_one("kind: Service\nmetadata: {name: a}").unwrap();
        let p = parse_one("kind: Service\nmetadata: {name: a}\n$patch: delete").unwrap();
        let gvk = Gvk::from_api_version("v1", "Service");
        assert_eq!(
            apply(&mut o, &p, &gvk, &Schema::default()).unwrap(),
            Outcome::Deleted
        );
    }
}
