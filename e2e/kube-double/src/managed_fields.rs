//! `metadata.managedFields`: who owns which fields, kept up to date on every write.
//!
//! Updates (create, update, patches) hand the fields they changed to their manager and take
//! them from everyone else; server-side apply (in `apply`) owns exactly what it applied.

use std::collections::BTreeSet;
use std::ops::Bound;

use serde_json::{json, Value};

use crate::fields::{collect, from_fields_v1, to_fields_v1, value_at, Path, Schema, Walk};

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the manager used.
    pub api_version: String,
    /// RFC 3339 time of the last change.
    pub time: String,
    /// `status` for the status subresource, empty otherwise.
    pub subresource: String,
    /// Owned fields.
    pub set: BTreeSet<Path>,
}

impl Entry {
    /// Whether this entry is the one `manager` writes with `operation` on `subresource`.
    pub fn is(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }

    /// How conflict messages name this manager.
    pub fn describe(&self) -> String {
        let mut s = crate::api_status::go_quote(&self.manager);
        if !self.subresource.is_empty() {
            s = format!(
                "{s} with subresource {}",
                crate::api_status::go_quote(&self.subresource)
            );
        }
        if self.operation == "Update" {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// The entries of an object.
pub fn read(object: &Value) -> Vec<Entry> {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .map(|e| Entry {
                    manager: str_of(e, "manager"),
                    operation: str_of(e, "operation"),
                    api_version: str_of(e, "apiVersion"),
                    time: str_of(e, "time"),
                    subresource: str_of(e, "subresource"),
                    set: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Store `entries` on the object, dropping empty ones, in the server's order (Apply first,
/// then by time, manager and apiVersion).
pub fn write(object: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        a.operation
            .cmp(&b.operation)
            .then(a.time.cmp(&b.time))
            .then(a.manager.cmp(&b.manager))
            .then(a.api_version.cmp(&b.api_version))
    });
    let encoded: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut m = serde_json::Map::new();
            m.insert("manager".into(), json!(e.manager));
            m.insert("operation".into(), json!(e.operation));
            m.insert("apiVersion".into(), json!(e.api_version));
            m.insert("time".into(), json!(e.time));
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), to_fields_v1(&e.set));
            if !e.subresource.is_empty() {
                m.insert("subresource".into(), json!(e.subresource));
            }
            Value::Object(m)
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if encoded.is_empty() {
            meta.shift_remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(encoded));
        }
    }
}

fn is_leaf(set: &BTreeSet<Path>, p: &Path) -> bool {
    set.range::<Path, _>((Bound::Excluded(p), Bound::Unbounded))
        .next()
        .is_none_or(|next| !next.starts_with(p))
}

/// Which part of an object a write may touch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// The main resource; `status` is ignored when the kind has a status subresource.
    Main {
        /// Whether the kind has a status subresource, so status is not written here.
        skip_status: bool,
    },
    /// The `status` subresource.
    Status,
}

impl Scope {
    fn subresource(self) -> &'static str {
        match self {
            Scope::Main { .. } => "",
            Scope::Status => "status",
        }
    }
    fn skip_status(self) -> bool {
        matches!(self, Scope::Main { skip_status: true })
    }
}

/// Record an Update-style write by `manager` that turned `old` into `new`.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    scope: Scope,
    schema: &Schema,
    now: &str,
) {
    let empty = json!({});
    let old_obj = old.unwrap_or(&empty);
    let skip = scope.skip_status();
    let old_all = collect(old_obj, schema, Walk::All, skip);
    let new_all = collect(new, schema, Walk::All, skip);
    let changed: BTreeSet<Path> = new_all
        .iter()
        .filter(|p| {
            !old_all.contains(*p)
                || (is_leaf(&new_all, p)
                    && value_at(old_obj, p, schema) != value_at(new, p, schema))
        })
        .cloned()
        .collect();
    let mut entries = read(old_obj);
    for e in entries.iter_mut() {
        e.set = e
            .set
            .difference(&changed)
            .filter(|p| new_all.contains(*p))
            .cloned()
            .collect();
    }
    let subresource = scope.subresource();
    match entries
        .iter_mut()
        .find(|e| e.is(manager, "Update", subresource) && e.api_version == api_version)
    {
        Some(e) => {
            if !changed.is_empty() {
                e.time = now.to_string();
            }
            e.set.extend(changed);
        }
        None => entries.push(Entry {
            manager: manager.into(),
            operation: "Update".into(),
            api_version: api_version.into(),
            time: now.into(),
            subresource: subresource.into(),
            set: changed,
        }),
    }
    write(new, entries);
}

/// The manager name for a request without `fieldManager`: the User-Agent up to its first `/`.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let name = user_agent.split('/').next().unwrap_or_default();
    if name.is_empty() {
        "unknown".into()
    } else {
        name.chars().take(128).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_update_takes_ownership_of_what_it_changed() {
        let schema = Schema::Builtin;
        let mut v1 = json!({"metadata": {"name": "d"}, "spec": {"replicas": 2, "paused": false}});
        record_update(
            None,
            &mut v1,
            "agent",
            "apps/v1",
            Scope::Main { skip_status: true },
            &schema,
            "t1",
        );
        let mut v2 = v1.clone();
        v2["spec"]["replicas"] = json!(5);
        record_update(
            Some(&v1),
            &mut v2,
            "kubectl-edit",
            "apps/v1",
            Scope::Main { skip_status: true },
            &schema,
            "t2",
        );
        let entries = read(&v2);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].manager, "agent");
        assert_eq!(
            to_fields_v1(&entries[0].set),
            json!({"f:spec": {"f:paused": {}}})
        );
        assert_eq!(entries[1].manager, "kubectl-edit");
        assert_eq!(
            to_fields_v1(&entries[1].set),
            json!({"f:spec": {"f:replicas": {}}})
        );
    }

    #[test]
    fn manager_names_come_from_the_user_agent() {
        assert_eq!(
            manager_from_user_agent("kubectl/v1.32.0 (linux/amd64)"),
            "kubectl"
        );
        assert_eq!(
            manager_from_user_agent("python-requests/2.31"),
            "python-requests"
        );
    }
}
