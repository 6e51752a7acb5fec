//! Drift: comparing what the agent applied with what is live. Only the fields the agent
//! sent are compared, so values the API server or controllers default never count, and
//! `diff.comparePatches` removes known noise before comparing.

use fleet_bundle::bundle::{ComparePatch, DiffOptions};
use serde_json::Value;

use crate::resource::ResourceId;

/// The field paths of `applied` whose live value differs, e.g. `spec.replicas` or
/// `spec.template.spec.containers[name=web].image`, after removing what `diff` ignores.
pub fn drifted_paths(
    id: &ResourceId,
    applied: &Value,
    live: &Value,
    diff: Option<&DiffOptions>,
) -> Vec<String> {
    let mut applied = applied.clone();
    let mut live = live.clone();
    for patch in diff
        .map(|d| d.compare_patches.as_slice())
        .unwrap_or_default()
    {
        if !patch_matches(patch, id) {
            continue;
        }
        let pointers = patch.json_pointers.iter().chain(
            patch
                .operations
                .iter()
                .filter(|o| o.op == "remove")
                .map(|o| &o.path),
        );
        for pointer in pointers {
            remove_pointer(&mut applied, pointer);
            remove_pointer(&mut live, pointer);
        }
    }
    // Status is the controllers' and is never applied; apiVersion may be served in another
    // version than the one applied.
    if let Some(map) = applied.as_object_mut() {
        map.remove("status");
        map.remove("apiVersion");
    }
    let mut paths = Vec::new();
    compare(&applied, &live, String::new(), &mut paths);
    paths.sort();
    paths
}

fn patch_matches(patch: &ComparePatch, id: &ResourceId) -> bool {
    (patch.api_version.is_empty() || patch.api_version == id.api_version)
        && (patch.kind.is_empty() || patch.kind == id.kind)
        && (patch.name.is_empty() || patch.name == id.name)
        && (patch.namespace.is_empty() || patch.namespace == id.namespace)
}

/// Removes the value at a JSON pointer (RFC 6901), if present.
fn remove_pointer(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>() {
                if index < items.len() {
                    items.remove(index);
                }
            }
        }
        _ => {}
    }
}

/// Keys that identify list items in Kubernetes' strategic merge (the `patchMergeKey`s of
/// the common types), tried in order.
const MERGE_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "mountPath",
    "devicePath",
    "ip",
    "port",
    "type",
];

fn compare(applied: &Value, live: &Value, path: String, out: &mut Vec<String>) {
    match (applied, live) {
        (Value::Object(a), Value::Object(l)) => {
            for (key, value) in a {
                let child = join(&path, key);
                match l.get(key) {
                    Some(live_value) => compare(value, live_value, child, out),
                    None if value.is_null() => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Array(a), Value::Array(l)) => match merge_key(a) {
            Some(key) => {
                for item in a {
                    let item_key = item.get(key).cloned().unwrap_or(Value::Null);
                    let child = format!("{path}[{key}={}]", scalar_text(&item_key));
                    match l
                        .iter()
                        .find(|li| li.get(key).is_some_and(|v| loosely_equal(v, &item_key)))
                    {
                        Some(live_item) => compare(item, live_item, child, out),
                        None => out.push(child),
                    }
                }
            }
            None if a.len() != l.len() => out.push(path),
            None => {
                for (index, (ai, li)) in a.iter().zip(l).enumerate() {
                    compare(ai, li, format!("{path}[{index}]"), out);
                }
            }
        },
        (a, l) if loosely_equal(a, l) => {}
        _ => out.push(path),
    }
}

/// The merge key shared by every item of a list of objects, if any.
fn merge_key(items: &[Value]) -> Option<&'static str> {
    if items.is_empty() || !items.iter().all(Value::is_object) {
        return None;
    }
    MERGE_KEYS.iter().copied().find(|key| {
        items
            .iter()
            .all(|i| i.get(*key).is_some_and(|v| !v.is_object() && !v.is_array()))
    })
}

/// Equality that tolerates the server's re-typing of scalars (`"80"` vs `80`, `1.0` vs `1`).
fn loosely_equal(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            *s == n.to_string()
        }
        // An empty map or list applied and left out by the server is no drift.
        (Value::Object(m), Value::Null) | (Value::Null, Value::Object(m)) => m.is_empty(),
        (Value::Array(v), Value::Null) | (Value::Null, Value::Array(v)) => v.is_empty(),
        _ => false,
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The drift last logged per resource, so `drift detected` is logged once per change
/// rather than on every resync while the drift stands (or is left uncorrected).
#[derive(Debug, Default)]
pub struct DriftLog {
    seen: std::collections::HashMap<String, String>,
}

impl DriftLog {
    /// Records what `resource` looks like now (`None`: no drift) and says whether this
    /// drift is new, i.e. worth an INFO line.
    pub fn is_new(&mut self, resource: &str, drift: Option<&str>) -> bool {
        match drift {
            None => {
                self.seen.remove(resource);
                false
            }
            Some(d) => {
                self.seen
                    .insert(resource.to_string(), d.to_string())
                    .as_deref()
                    != Some(d)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn drift_is_logged_once_per_change() {
        let mut log = super::DriftLog::default();
        assert!(log.is_new("apps/v1/Deployment web/web", Some("spec.replicas")));
        assert!(!log.is_new("apps/v1/Deployment web/web", Some("spec.replicas")));
        assert!(log.is_new(
            "apps/v1/Deployment web/web",
            Some("spec.replicas spec.image")
        ));
        assert!(!log.is_new("apps/v1/Deployment web/web", None));
        assert!(log.is_new("apps/v1/Deployment web/web", Some("spec.replicas")));
        assert!(log.is_new("v1/ConfigMap web/cm", Some("data.value")));
    }

    use super::*;
    use fleet_bundle::bundle::Operation;
    use serde_json::json;

    fn id() -> ResourceId {
        ResourceId {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
        }
    }

    fn applied() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "nginx:1", "ports": [{"containerPort": 80}]}]}}}})
    }

    #[test]
    fn defaulted_fields_are_not_drift() {
        let mut live = applied();
        live["metadata"]["uid"] = json!("123");
        live["metadata"]["managedFields"] = json!([]);
        live["spec"]["strategy"] = json!({"type": "RollingUpdate"});
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] =
            json!("IfNotPresent");
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        live["status"] = json!({"replicas": 2});
        assert!(drifted_paths(&id(), &applied(), &live, None).is_empty());
    }

    #[test]
    fn changed_owned_fields_are_reported_with_paths() {
        let mut live = applied();
        live["spec"]["replicas"] = json!(5);
        live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil:latest");
        live["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("app");
        let paths = drifted_paths(&id(), &applied(), &live, None);
        assert_eq!(
            paths,
            [
                "metadata.labels.app",
                "spec.replicas",
                "spec.template.spec.containers[name=web].image"
            ]
        );
    }

    #[test]
    fn compare_patches_silence_known_noise() {
        let mut live = applied();
        live["spec"]["replicas"] = json!(5);
        let diff = DiffOptions {
            compare_patches: vec![ComparePatch {
                kind: "Deployment".into(),
                name: "web".into(),
                json_pointers: vec!["/spec/replicas".into()],
                ..Default::default()
            }],
        };
        assert!(drifted_paths(&id(), &applied(), &live, Some(&diff)).is_empty());
        let by_operation = DiffOptions {
            compare_patches: vec![ComparePatch {
                operations: vec![Operation {
                    op: "remove".into(),
                    path: "/spec/replicas".into(),
                    value: String::new(),
                }],
                ..Default::default()
            }],
        };
        assert!(drifted_paths(&id(), &applied(), &live, Some(&by_operation)).is_empty());
        let other = DiffOptions {
            compare_patches: vec![ComparePatch {
                name: "other".into(),
                json_pointers: vec!["/spec/replicas".into()],
                ..Default::default()
            }],
        };
        assert_eq!(
            drifted_paths(&id(), &applied(), &live, Some(&other)),
            ["spec.replicas"]
        );
    }

    #[test]
    fn scalars_retyped_by_the_server_are_equal() {
        let applied = json!({"spec": {"port": "80", "ratio": 1}});
        let live = json!({"spec": {"port": 80, "ratio": 1.0}});
        assert!(drifted_paths(&id(), &applied, &live, None).is_empty());
    }

    #[test]
    fn removed_list_items_are_drift() {
        let applied = json!({"spec": {"args": ["a", "b"]}});
        let live = json!({"spec": {"args": ["a"]}});
        assert_eq!(drifted_paths(&id(), &applied, &live, None), ["spec.args"]);
    }
}
