//! Field paths and field sets in the `FieldsV1` encoding of structured-merge-diff, plus the
//! list semantics (associative by keys, set, atomic) they depend on.
//!
//! A path is a list of encoded elements (`f:spec`, `k:{"name":"web"}`, `v:"x"`, `i:0`), so a
//! set of paths orders and serialises exactly like the server's `managedFields`.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

/// One encoded path element.
pub type Element = String;
/// A path from the object root.
pub type Path = Vec<Element>;

/// How a list merges and is owned.
#[derive(Debug, Clone, PartialEq)]
pub enum ListKind {
    /// Items are identified by these key fields.
    Map(Vec<String>),
    /// Scalar items identified by value.
    Set,
    /// The list is one value.
    Atomic,
}

/// What the double knows of an object's schema: list kinds and atomic maps, by path.
#[derive(Debug, Clone)]
pub enum Schema {
    /// Built-in kinds: rules keyed by field names, as in the Kubernetes Go types.
    Builtin,
    /// A custom resource: the CRD's structural schema.
    Custom(Value),
}

/// Field names along a path, list elements skipped.
fn field_names(path: &[Element]) -> Vec<&str> {
    path.iter().filter_map(|e| e.strip_prefix("f:")).collect()
}

impl Schema {
    /// The list kind of the list at `path`.
    pub fn list_kind(&self, path: &[Element]) -> ListKind {
        let names = field_names(path);
        let last = names.last().copied().unwrap_or_default();
        if names.len() == 2 && names[0] == "metadata" {
            match last {
                "finalizers" => return ListKind::Set,
                "ownerReferences" => return ListKind::Map(vec!["uid".into()]),
                _ => {}
            }
        }
        match self {
            Schema::Builtin => builtin_list_kind(&names),
            Schema::Custom(schema) => match schema_at(schema, path) {
                Some(node) => match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                    Some("map") => ListKind::Map(
                        node.get("x-kubernetes-list-map-keys")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(|k| k.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    ),
                    Some("set") => ListKind::Set,
                    _ => ListKind::Atomic,
                },
                None => {
                    if last == "conditions" {
                        ListKind::Map(vec!["type".into()])
                    } else {
                        ListKind::Atomic
                    }
                }
            },
        }
    }

    /// Whether the map at `path` is owned and replaced as a whole.
    pub fn atomic_map(&self, path: &[Element]) -> bool {
        let names = field_names(path);
        let last = names.last().copied().unwrap_or_default();
        if names.first() == Some(&"metadata") {
            return false;
        }
        match self {
            Schema::Builtin => matches!(
                last,
                "selector"
                    | "nodeSelector"
                    | "labelSelector"
                    | "namespaceSelector"
                    | "podSelector"
                    | "matchLabels"
            ),
            Schema::Custom(schema) => schema_at(schema, path).is_some_and(|n| {
                n.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
            }),
        }
    }
}

/// Fields of the built-in Go types that are embedded structs (not pointers): they exist in
/// an empty object, so an update never "creates" them and managedFields show no `.` for them.
const EMBEDDED_STRUCTS: &[&str] = &[
    "metadata",
    "spec",
    "status",
    "template",
    "names",
    "acceptedNames",
    "strategy",
    "updateStrategy",
    "jobTemplate",
    "roleRef",
    "resources",
    "loadBalancer",
];

fn builtin_list_kind(names: &[&str]) -> ListKind {
    let last = names.last().copied().unwrap_or_default();
    let in_container = names.len() >= 2
        && matches!(
            names[names.len() - 2],
            "containers" | "initContainers" | "ephemeralContainers"
        );
    let keys = |k: &[&str]| ListKind::Map(k.iter().map(|s| s.to_string()).collect());
    match last {
        "containers" | "initContainers" | "ephemeralContainers" => keys(&["name"]),
        "ports" if in_container => keys(&["containerPort", "protocol"]),
        "ports" if names.first() == Some(&"spec") && names.len() == 2 => {
            keys(&["port", "protocol"])
        }
        "env" | "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates" => {
            keys(&["name"])
        }
        "volumeMounts" => keys(&["mountPath"]),
        "volumeDevices" => keys(&["devicePath"]),
        "hostAliases" => keys(&["ip"]),
        "topologySpreadConstraints" => keys(&["topologyKey", "whenUnsatisfiable"]),
        "conditions" => keys(&["type"]),
        "finalizers" => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// The sub-schema of a structural schema at `path`.
fn schema_at<'a>(schema: &'a Value, path: &[Element]) -> Option<&'a Value> {
    let mut node = schema;
    for e in path {
        if let Some(name) = e.strip_prefix("f:") {
            node = match node.pointer(&format!("/properties/{}", escape_pointer(name))) {
                Some(n) => n,
                None => match node.get("additionalProperties") {
                    Some(n) if n.is_object() => n,
                    _ => return None,
                },
            };
        } else {
            node = node.get("items")?;
        }
    }
    Some(node)
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Metadata fields never tracked in field sets.
const STRIPPED_META: &[&str] = &[
    "name",
    "namespace",
    "generateName",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Key values for an item of an associative list, with the defaults the server applies
/// before computing keys (a port's protocol is TCP unless given).
pub fn item_key(item: &Value, keys: &[String]) -> Map<String, Value> {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    let mut m = Map::new();
    for k in sorted {
        match item.get(k) {
            Some(v) if !v.is_null() => {
                m.insert(k.clone(), v.clone());
            }
            _ if k == "protocol" => {
                m.insert(k.clone(), json!("TCP"));
            }
            _ => {}
        }
    }
    m
}

fn key_element(item: &Value, keys: &[String]) -> Element {
    format!("k:{}", Value::Object(item_key(item, keys)))
}

/// Which nodes to record while walking an object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Walk {
    /// Leaves and list items only: what an applied configuration owns.
    Apply,
    /// Every node (maps too): what an update may have created.
    All,
}

/// The set of paths present in `object`.
pub fn collect(object: &Value, schema: &Schema, walk: Walk, skip_status: bool) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    if let Some(m) = object.as_object() {
        for (k, v) in m {
            if k == "apiVersion" || k == "kind" || (skip_status && k == "status") {
                continue;
            }
            let path = vec![format!("f:{k}")];
            if k == "metadata" {
                if let Some(meta) = v.as_object() {
                    for (mk, mv) in meta {
                        if STRIPPED_META.contains(&mk.as_str()) {
                            continue;
                        }
                        walk_value(
                            mv,
                            vec!["f:metadata".into(), format!("f:{mk}")],
                            schema,
                            walk,
                            &mut out,
                        );
                    }
                }
                continue;
            }
            walk_value(v, path, schema, walk, &mut out);
        }
    }
    // Embedded structs of the Go types exist even in an empty object: never "created".
    if walk == Walk::All {
        out.remove(&vec!["f:metadata".to_string()]);
        if matches!(schema, Schema::Builtin) {
            // Only as inner nodes: an empty embedded struct (`resources: {}`) is still a leaf.
            let inner: Vec<Path> = out
                .iter()
                .filter(|p| {
                    let last = p
                        .last()
                        .and_then(|e| e.strip_prefix("f:"))
                        .unwrap_or_default();
                    EMBEDDED_STRUCTS.contains(&last) && has_children(&out, p)
                })
                .cloned()
                .collect();
            for p in inner {
                out.remove(&p);
            }
        }
    }
    out
}

fn has_children(set: &BTreeSet<Path>, p: &Path) -> bool {
    set.range::<Path, _>((std::ops::Bound::Excluded(p), std::ops::Bound::Unbounded))
        .next()
        .is_some_and(|next| next.starts_with(p))
}

fn walk_value(v: &Value, path: Path, schema: &Schema, walk: Walk, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() && !schema.atomic_map(&path) => {
            if walk == Walk::All {
                out.insert(path.clone());
            }
            for (k, child) in m {
                let mut p = path.clone();
                p.push(format!("f:{k}"));
                walk_value(child, p, schema, walk, out);
            }
        }
        Value::Array(items) => match schema.list_kind(&path) {
            ListKind::Atomic => {
                out.insert(path);
            }
            ListKind::Set => {
                if walk == Walk::All {
                    out.insert(path.clone());
                }
                for item in items {
                    let mut p = path.clone();
                    p.push(format!("v:{item}"));
                    out.insert(p);
                }
            }
            ListKind::Map(keys) => {
                if walk == Walk::All {
                    out.insert(path.clone());
                }
                for item in items {
                    let mut p = path.clone();
                    p.push(key_element(item, &keys));
                    out.insert(p.clone());
                    if let Some(fields) = item.as_object() {
                        for (k, child) in fields {
                            let mut cp = p.clone();
                            cp.push(format!("f:{k}"));
                            walk_value(child, cp, schema, walk, out);
                        }
                    }
                }
            }
        },
        _ => {
            out.insert(path);
        }
    }
}

/// The value at `path` in `object`, if present.
pub fn value_at<'a>(object: &'a Value, path: &[Element], schema: &Schema) -> Option<&'a Value> {
    let mut cur = object;
    for (i, e) in path.iter().enumerate() {
        cur = step(cur, e, &path[..i], schema)?;
    }
    Some(cur)
}

fn step<'a>(cur: &'a Value, e: &str, parent: &[Element], schema: &Schema) -> Option<&'a Value> {
    if let Some(name) = e.strip_prefix("f:") {
        return cur.get(name);
    }
    let items = cur.as_array()?;
    if let Some(key) = e.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        let keys: Vec<String> = match schema.list_kind(parent) {
            ListKind::Map(k) => k,
            _ => key.keys().cloned().collect(),
        };
        return items.iter().find(|it| item_key(it, &keys) == key);
    }
    if let Some(val) = e.strip_prefix("v:") {
        let val: Value = serde_json::from_str(val).ok()?;
        return items.iter().find(|it| **it == val);
    }
    if let Some(idx) = e.strip_prefix("i:") {
        return items.get(idx.parse::<usize>().ok()?);
    }
    None
}

/// Remove the node at `path` from `object`; returns whether something was removed.
pub fn remove_at(object: &mut Value, path: &[Element], schema: &Schema) -> bool {
    let Some((last, parent_path)) = path.split_last() else {
        return false;
    };
    let mut cur = object;
    for (i, e) in parent_path.iter().enumerate() {
        let next = step_mut(cur, e, &parent_path[..i], schema);
        match next {
            Some(n) => cur = n,
            None => return false,
        }
    }
    if let Some(name) = last.strip_prefix("f:") {
        return cur
            .as_object_mut()
            .and_then(|m| m.shift_remove(name))
            .is_some();
    }
    let kind = schema.list_kind(parent_path);
    let Some(items) = cur.as_array_mut() else {
        return false;
    };
    let before = items.len();
    if let Some(key) = last.strip_prefix("k:") {
        if let (Ok(key), ListKind::Map(keys)) =
            (serde_json::from_str::<Map<String, Value>>(key), kind)
        {
            items.retain(|it| item_key(it, &keys) != key);
        }
    } else if let Some(val) = last.strip_prefix("v:") {
        if let Ok(val) = serde_json::from_str::<Value>(val) {
            items.retain(|it| *it != val);
        }
    }
    items.len() != before
}

fn step_mut<'a>(
    cur: &'a mut Value,
    e: &str,
    parent: &[Element],
    schema: &Schema,
) -> Option<&'a mut Value> {
    if let Some(name) = e.strip_prefix("f:") {
        return cur.get_mut(name);
    }
    let kind = schema.list_kind(parent);
    let items = cur.as_array_mut()?;
    if let Some(key) = e.strip_prefix("k:") {
        let key: Map<String, Value> = serde_json::from_str(key).ok()?;
        let keys: Vec<String> = match kind {
            ListKind::Map(k) => k,
            _ => key.keys().cloned().collect(),
        };
        return items.iter_mut().find(|it| item_key(it, &keys) == key);
    }
    if let Some(val) = e.strip_prefix("v:") {
        let val: Value = serde_json::from_str(val).ok()?;
        return items.iter_mut().find(|it| **it == val);
    }
    None
}

/// Encode a set as `fieldsV1`: a node per prefix, `.` for a member that has children.
pub fn to_fields_v1(set: &BTreeSet<Path>) -> Value {
    sort_fields(Value::Object(build_node(set, &[])))
}

fn build_node(set: &BTreeSet<Path>, prefix: &[Element]) -> Map<String, Value> {
    let mut nexts: BTreeSet<&Element> = BTreeSet::new();
    for p in set.range(prefix.to_vec()..) {
        if !p.starts_with(prefix) {
            break;
        }
        if let Some(e) = p.get(prefix.len()) {
            nexts.insert(e);
        }
    }
    let mut out = Map::new();
    for e in nexts {
        let mut child_prefix = prefix.to_vec();
        child_prefix.push(e.clone());
        let mut child = build_node(set, &child_prefix);
        if !child.is_empty() && set.contains(&child_prefix) {
            child.insert(".".into(), json!({}));
        }
        out.insert(e.clone(), Value::Object(child));
    }
    out
}

fn sort_fields(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_fields(v)))
                    .collect(),
            )
        }
        other => other,
    }
}

/// Decode `fieldsV1` into a set of paths.
pub fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    fn walk(node: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        let Some(m) = node.as_object() else { return };
        if m.is_empty() {
            if !prefix.is_empty() {
                out.insert(prefix.clone());
            }
            return;
        }
        for (k, child) in m {
            if k == "." {
                out.insert(prefix.clone());
                continue;
            }
            prefix.push(k.clone());
            walk(child, prefix, out);
            prefix.pop();
        }
    }
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// A path as the server prints it in conflicts: `.spec.containers[name="web"].image`.
pub fn path_string(path: &[Element]) -> String {
    let mut s = String::new();
    for e in path {
        if let Some(name) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(name);
        } else if let Some(key) = e.strip_prefix("k:") {
            let m: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(val) = e.strip_prefix("v:") {
            s.push_str(&format!("[={val}]"));
        } else if let Some(i) = e.strip_prefix("i:") {
            s.push_str(&format!("[{i}]"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}}})
    }

    #[test]
    fn applied_set_encodes_as_the_recorded_managed_fields() {
        let set = collect(&deployment(), &Schema::Builtin, Walk::Apply, true);
        let expected = json!({"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}, "f:selector": {},
            "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                ".": {}, "f:image": {}, "f:name": {}, "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}});
        assert_eq!(to_fields_v1(&set), expected);
        assert_eq!(from_fields_v1(&expected), set);
    }

    #[test]
    fn update_walk_marks_created_maps() {
        let cm = json!({"metadata": {"name": "a", "labels": {"app": "x"}, "finalizers": ["example.com/hold"]}, "data": {"k": "v"}});
        let set = collect(&cm, &Schema::Builtin, Walk::All, false);
        assert_eq!(
            to_fields_v1(&set),
            json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:finalizers": {".": {}, "v:\"example.com/hold\"": {}}, "f:labels": {".": {}, "f:app": {}}}})
        );
    }

    #[test]
    fn paths_navigate_keys_and_print_like_the_server() {
        let d = deployment();
        let path: Path = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"web\"}",
            "f:image",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            value_at(&d, &path, &Schema::Builtin),
            Some(&json!("nginx:1.25"))
        );
        assert_eq!(
            path_string(&path),
            ".spec.template.spec.containers[name=\"web\"].image"
        );
        let mut d2 = d.clone();
        assert!(remove_at(&mut d2, &path[..5], &Schema::Builtin));
        assert_eq!(d2["spec"]["template"]["spec"]["containers"], json!([]));
    }
}
