//! Previews: what a change to a checkout does to the clusters of one target, in rendered
//! manifests.
//!
//! - [`diff_manifests`]: two rendered object sets of one target into added / removed /
//!   changed resources keyed by [`ResourceKey`], each change a unified diff
//!   ([`unified`]) of the objects after the noise rules of [`normalize`];
//! - [`report`]: a whole preview (per bundle, per target set) and its text, markdown and
//!   JSON renderings;
//! - [`target_render`]: one bundle rendered for one target set, as the diff's input.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod normalize;
pub mod report;
pub mod target_render;
pub mod unified;

/// What identifies a resource on a cluster: the API group (not the version, so an
/// `autoscaling/v1` → `autoscaling/v2` move is a change, not a remove and an add), kind,
/// namespace (empty for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ResourceKey {
    /// `apps/Deployment web/frontend`, `ClusterRole reader` (core group and no namespace
    /// left out).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.group.is_empty() {
            write!(f, "{}/", self.group)?;
        }
        write!(f, "{} ", self.kind)?;
        if !self.namespace.is_empty() {
            write!(f, "{}/", self.namespace)?;
        }
        write!(f, "{}", self.name)
    }
}

impl ResourceKey {
    /// The key of a normalised object (see [`normalize::normalize`]).
    pub fn of(object: &Value) -> ResourceKey {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let api_version = text(object.get("apiVersion"));
        let group = match api_version.rsplit_once('/') {
            Some((group, _)) => group.to_string(),
            None => String::new(),
        };
        let metadata = object.get("metadata");
        ResourceKey {
            group,
            kind: text(object.get("kind")),
            namespace: text(metadata.and_then(|m| m.get("namespace"))),
            name: text(metadata.and_then(|m| m.get("name"))),
        }
    }
}

/// A resource present on one side only, with its normalised YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub key: ResourceKey,
    pub yaml: String,
}

/// A resource on both sides that differs after normalising.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changed {
    pub key: ResourceKey,
    /// Unified diff of the normalised YAML, base → head.
    pub diff: String,
}

/// How the resources of one target differ between base and head.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestDiff {
    pub added: Vec<Resource>,
    pub removed: Vec<Resource>,
    pub changed: Vec<Changed>,
    /// Resources equal after normalising.
    pub unchanged: usize,
}

impl ManifestDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// The whole diff as one unified diff: added and removed resources against
    /// `/dev/null`, changed ones as their own diffs, in key order.
    pub fn unified(&self) -> String {
        let mut out = String::new();
        for r in &self.removed {
            out.push_str(&unified::unified_diff(
                &r.yaml,
                "",
                &format!("a/{}", r.key),
                "/dev/null",
            ));
        }
        for r in &self.added {
            out.push_str(&unified::unified_diff(
                "",
                &r.yaml,
                "/dev/null",
                &format!("b/{}", r.key),
            ));
        }
        for c in &self.changed {
            out.push_str(&c.diff);
        }
        out
    }
}

/// Objects by key after normalising; a key given twice keeps the last, as the apply does.
fn keyed(objects: &[Value], namespace: &str) -> BTreeMap<ResourceKey, Value> {
    objects
        .iter()
        .map(|o| normalize::normalize(o, namespace))
        .map(|o| (ResourceKey::of(&o), o))
        .collect()
}

/// The difference between the objects a target gets from base and from head. Each side's
/// namespace is where its objects without one go (the deployment namespace).
pub fn diff_manifests(
    base: &[Value],
    base_namespace: &str,
    head: &[Value],
    head_namespace: &str,
) -> ManifestDiff {
    let base = keyed(base, base_namespace);
    let head = keyed(head, head_namespace);
    let mut diff = ManifestDiff::default();
    for (key, old) in &base {
        match head.get(key) {
            None => diff.removed.push(Resource {
                key: key.clone(),
                yaml: normalize::to_yaml(old),
            }),
            Some(new) if new == old => diff.unchanged += 1,
            Some(new) => {
                let label = key.to_string();
                diff.changed.push(Changed {
                    key: key.clone(),
                    diff: unified::unified_diff(
                        &normalize::to_yaml(old),
                        &normalize::to_yaml(new),
                        &format!("a/{label}"),
                        &format!("b/{label}"),
                    ),
                })
            }
        }
    }
    for (key, new) in &head {
        if !base.contains_key(key) {
            diff.added.push(Resource {
                key: key.clone(),
                yaml: normalize::to_yaml(new),
            });
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web"},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "web", "image": image}]}}}})
    }

    #[test]
    fn added_removed_changed_and_unchanged_are_told_apart() {
        let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        let base = vec![deployment(1, "nginx:1"), cm("old"), cm("same")];
        let head = vec![cm("same"), deployment(3, "nginx:1"), cm("new")];
        let diff = diff_manifests(&base, "apps", &head, "apps");
        assert_eq!(diff.added.len(), 1);
        assert_eq!(diff.added[0].key.name, "new");
        assert_eq!(diff.removed[0].key.name, "old");
        assert_eq!(diff.changed.len(), 1);
        assert_eq!(diff.unchanged, 1);
        let d = &diff.changed[0].diff;
        assert!(d.contains("-  replicas: 1\n+  replicas: 3\n"), "{d}");
        assert!(d.starts_with("--- a/apps/Deployment apps/web\n"), "{d}");
    }

    #[test]
    fn api_version_bump_in_one_group_is_a_change() {
        let hpa = |v: &str| json!({"apiVersion": v, "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "x"}});
        let diff = diff_manifests(&[hpa("autoscaling/v1")], "x", &[hpa("autoscaling/v2")], "x");
        assert_eq!(diff.changed.len(), 1);
        assert!(diff.added.is_empty() && diff.removed.is_empty());
    }

    #[test]
    fn reordered_and_reformatted_objects_are_no_change() {
        let a = deployment(2, "nginx:1");
        let mut b = json!({"spec": a["spec"].clone(), "kind": "Deployment", "metadata": {"namespace": "apps", "name": "web", "labels": {}}, "apiVersion": "apps/v1"});
        b["spec"]["replicas"] = json!(2.0);
        let diff = diff_manifests(&[a], "apps", &[b], "other");
        assert!(diff.is_empty(), "{diff:?}");
    }

    #[test]
    fn namespace_move_is_remove_and_add() {
        let diff = diff_manifests(&[deployment(1, "a")], "one", &[deployment(1, "a")], "two");
        assert_eq!((diff.added.len(), diff.removed.len()), (1, 1));
        assert!(diff.unified().contains("+++ b/apps/Deployment two/web"));
    }
}
