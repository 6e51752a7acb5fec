//! Server-side apply: merge an applied configuration into the live object, detect conflicts
//! with other field managers, and remove fields the applier stopped applying.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::api_status::{ApiError, Cause};
use crate::fields::{
    collect, item_key, path_string, remove_at, value_at, ListKind, Path, Schema, Walk,
};
use crate::managed_fields::{read, write, Entry, Scope};

/// One server-side apply request.
#[derive(Debug)]
pub struct ApplyRequest<'a> {
    /// The `fieldManager` query parameter.
    pub manager: &'a str,
    /// apiVersion of the applied configuration.
    pub api_version: &'a str,
    /// The `force` query parameter.
    pub force: bool,
    /// Main resource or status subresource.
    pub scope: Scope,
    /// List semantics of the kind.
    pub schema: &'a Schema,
    /// The timestamp recorded in managedFields.
    pub now: &'a str,
}

/// Apply `applied` onto `live` (or onto a new object) and return the merged object with its
/// managedFields updated.
///
/// # Errors
/// A 409 `Conflict` naming each field another manager owns and `applied` would change,
/// unless `force` is set, in which case ownership moves to the applier.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    req: &ApplyRequest<'_>,
) -> Result<Value, ApiError> {
    let schema = req.schema;
    let applied = scoped(applied, req.scope);
    let skip_status = matches!(req.scope, Scope::Main { skip_status: true });
    let applied_set = collect(&applied, schema, Walk::Apply, skip_status);
    let base = live.cloned().unwrap_or_else(|| {
        let mut m = Map::new();
        for k in ["apiVersion", "kind"] {
            if let Some(v) = applied.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
        Value::Object(m)
    });
    let mut merged = merge(&base, &applied, &mut Vec::new(), schema);

    let subresource = if req.scope == Scope::Status {
        "status"
    } else {
        ""
    };
    let mut entries = live.map(read).unwrap_or_default();
    let is_self = |e: &Entry| e.is(req.manager, "Apply", subresource);

    // Conflicts: fields another manager owns whose value this apply changes.
    let mut conflicts: Vec<(usize, Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if is_self(e) {
            continue;
        }
        for p in e.set.intersection(&applied_set) {
            // Only values conflict: a list item or map whose children changed is not itself
            // a conflicting field.
            let inner_node = applied_set
                .range::<Path, _>((std::ops::Bound::Excluded(p), std::ops::Bound::Unbounded))
                .next()
                .is_some_and(|next| next.starts_with(p));
            if !inner_node && value_at(&base, p, schema) != value_at(&merged, p, schema) {
                conflicts.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() {
        if !req.force {
            return Err(conflict_error(&entries, &conflicts));
        }
        for (i, p) in &conflicts {
            entries[*i].set.remove(p);
        }
    }

    // Fields this manager applied before, no longer applies, and nobody else owns go away.
    let previous: BTreeSet<Path> = entries
        .iter()
        .filter(|e| is_self(e))
        .flat_map(|e| e.set.clone())
        .collect();
    let others: BTreeSet<Path> = entries
        .iter()
        .filter(|e| !is_self(e))
        .flat_map(|e| e.set.clone())
        .collect();
    let dropped: Vec<&Path> = previous
        .difference(&applied_set)
        .filter(|p| !others.iter().any(|o| o.starts_with(p)))
        .collect();
    // Remove the outermost dropped node only: its descendants go with it.
    let mut removed: Vec<&Path> = Vec::new();
    for p in dropped {
        if removed.iter().any(|r| p.starts_with(r)) {
            continue;
        }
        if remove_at(&mut merged, p, schema) {
            prune_empty_parents(&mut merged, p, schema, &others, &applied_set);
        }
        removed.push(p);
    }

    let present = collect(&merged, schema, Walk::All, false);
    for e in entries.iter_mut() {
        e.set.retain(|p| present.contains(p));
    }
    match entries.iter_mut().find(|e| is_self(e)) {
        Some(e) => {
            let changed = e.set != applied_set
                || e.api_version != req.api_version
                || live.map(strip_managed) != Some(strip_managed(&merged));
            if changed {
                e.time = req.now.into();
            }
            e.set = applied_set;
            e.api_version = req.api_version.into();
        }
        None => entries.push(Entry {
            manager: req.manager.into(),
            operation: "Apply".into(),
            api_version: req.api_version.into(),
            time: req.now.into(),
            subresource: subresource.into(),
            set: applied_set,
        }),
    }
    write(&mut merged, entries);
    Ok(merged)
}

fn strip_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    v
}

/// The part of an applied configuration a scope may change.
fn scoped(applied: &Value, scope: Scope) -> Value {
    let mut a = applied.clone();
    if let Some(m) = a.as_object_mut() {
        match scope {
            Scope::Main { skip_status: true } => {
                m.shift_remove("status");
            }
            Scope::Main { skip_status: false } => {}
            Scope::Status => {
                m.retain(|k, _| {
                    matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status")
                });
            }
        }
    }
    a
}

fn prune_empty_parents(
    object: &mut Value,
    path: &Path,
    schema: &Schema,
    others: &BTreeSet<Path>,
    applied: &BTreeSet<Path>,
) {
    let mut parent: Path = path[..path.len().saturating_sub(1)].to_vec();
    while parent.len() > 1 {
        let empty = match value_at(object, &parent, schema) {
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(m)) => m.is_empty(),
            _ => false,
        };
        if !empty || others.contains(&parent) || applied.contains(&parent) {
            return;
        }
        remove_at(object, &parent, schema);
        parent.pop();
    }
}

fn conflict_error(entries: &[Entry], conflicts: &[(usize, Path)]) -> ApiError {
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(i, p)| Cause {
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", entries[*i].describe()),
            field: path_string(p),
        })
        .collect();
    let message = if conflicts.len() == 1 {
        let (i, p) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            entries[*i].describe(),
            path_string(p)
        )
    } else {
        let mut managers: Vec<String> = conflicts
            .iter()
            .map(|(i, _)| entries[*i].describe())
            .collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in &managers {
            lines.push(format!("conflicts with {m}:"));
            for (i, p) in conflicts {
                if entries[*i].describe() == *m {
                    lines.push(format!("- {}", path_string(p)));
                }
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    ApiError::apply_conflict(message, causes)
}

/// Merge an applied configuration into a live value following the list semantics.
pub fn merge(live: &Value, applied: &Value, path: &mut Path, schema: &Schema) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !schema.atomic_map(path) => {
            let mut out = l.clone();
            for (k, av) in a {
                if av.is_null() {
                    out.shift_remove(k);
                    continue;
                }
                path.push(format!("f:{k}"));
                let merged = merge(l.get(k).unwrap_or(&Value::Null), av, path, schema);
                path.pop();
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) => match schema.list_kind(path) {
            ListKind::Atomic => applied.clone(),
            ListKind::Set => {
                let mut out = l.clone();
                for item in a {
                    if !out.contains(item) {
                        out.push(item.clone());
                    }
                }
                Value::Array(out)
            }
            ListKind::Map(keys) => {
                let mut out = l.clone();
                for item in a {
                    let key = item_key(item, &keys);
                    let element = format!("k:{}", Value::Object(key.clone()));
                    match out.iter().position(|x| item_key(x, &keys) == key) {
                        Some(i) => {
                            path.push(element);
                            out[i] = merge(&out[i].clone(), item, path, schema);
                            path.pop();
                        }
                        None => out.push(item.clone()),
                    }
                }
                Value::Array(out)
            }
        },
        _ => applied.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::to_fields_v1;
    use crate::managed_fields::record_update;
    use serde_json::json;

    fn applied(replicas: i64, ports: bool) -> Value {
        let mut c = json!({"name": "web", "image": "nginx:1.25"});
        if ports {
            c["ports"] = json!([{"containerPort": 80}]);
        }
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [c]}}}})
    }

    fn req<'a>(schema: &'a Schema, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            manager: "fleet-agent",
            api_version: "apps/v1",
            force,
            scope: Scope::Main { skip_status: true },
            schema,
            now: "t",
        }
    }

    #[test]
    fn conflict_with_an_update_manager_is_worded_as_recorded() {
        let schema = Schema::Builtin;
        let live = apply(None, &applied(2, true), &req(&schema, false)).expect("create");
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(5);
        record_update(
            Some(&live),
            &mut edited,
            "kubectl-edit",
            "apps/v1",
            Scope::Main { skip_status: true },
            &schema,
            "t2",
        );
        let err =
            apply(Some(&edited), &applied(2, true), &req(&schema, false)).expect_err("conflict");
        assert_eq!(err.code, 409);
        assert_eq!(err.message, "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas");
        let cause = &err.to_status()["details"]["causes"][0];
        assert_eq!(cause["field"], ".spec.replicas");
        assert_eq!(cause["reason"], "FieldManagerConflict");
        // Applying the value the other manager set is no conflict.
        assert!(apply(Some(&edited), &applied(5, true), &req(&schema, false)).is_ok());
        // Force takes ownership.
        let forced = apply(Some(&edited), &applied(2, true), &req(&schema, true)).expect("forced");
        assert_eq!(forced["spec"]["replicas"], 2);
        let entries = read(&forced);
        assert!(
            entries.iter().all(|e| e.manager != "kubectl-edit"),
            "{entries:?}"
        );
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let schema = Schema::Builtin;
        let live = apply(None, &applied(2, true), &req(&schema, false)).expect("create");
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(5);
        edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        record_update(
            Some(&live),
            &mut edited,
            "kubectl-edit",
            "apps/v1",
            Scope::Main { skip_status: true },
            &schema,
            "t2",
        );
        let mut other = applied(2, true);
        other["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:3");
        other["spec"]["replicas"] = json!(7);
        let err = apply(
            Some(&edited),
            &other,
            &ApplyRequest {
                manager: "third",
                ..req(&schema, false)
            },
        )
        .expect_err("conflicts");
        assert_eq!(
            err.message,
            "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image"
        );
    }

    #[test]
    fn fields_no_longer_applied_are_removed() {
        let schema = Schema::Builtin;
        let live = apply(None, &applied(2, true), &req(&schema, true)).expect("create");
        let next = apply(Some(&live), &applied(2, false), &req(&schema, true)).expect("apply");
        assert!(
            next["spec"]["template"]["spec"]["containers"][0]
                .get("ports")
                .is_none(),
            "{next}"
        );
        let entries = read(&next);
        assert_eq!(
            to_fields_v1(&entries[0].set)["f:spec"]["f:template"]["f:spec"]["f:containers"],
            json!({"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}})
        );
    }
}
