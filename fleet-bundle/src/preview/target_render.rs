//! One bundle rendered for one target set, both sides of a preview compared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::report::{Matching, TargetPreview};
use super::{diff_manifests, ManifestDiff};
use crate::bundle::Bundle;
use crate::target::ClusterInfo;

/// A set of clusters that target alike: labels and groups (the cluster a render is made
/// for stands for all of them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetSet {
    /// How the set is shown (`env=prod`, or the targets file's `name`).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// How many clusters the set stands for, when known (the manager knows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<usize>,
}

impl TargetSet {
    /// `k=v,k2=v2` and `groups: a,b`, or `(no labels)`.
    pub fn describe(labels: &BTreeMap<String, String>, groups: &[String]) -> String {
        let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !groups.is_empty() {
            parts.push(format!("groups: {}", groups.join(",")));
        }
        if parts.is_empty() {
            "(no labels)".to_string()
        } else {
            parts.join(",")
        }
    }
}

/// What one side of the preview gives the target set for one bundle.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    /// The bundle does not exist on this side, or no target selects the set.
    NotMatched,
    Rendered {
        /// The bundle target that selected the set.
        target: String,
        namespace: String,
        objects: Vec<Value>,
    },
    /// Targeting or rendering failed; the message names the cause.
    Failed(String),
}

/// Targets `bundle` at `cluster` and renders what it gets.
pub fn render_side(bundle: Option<&Bundle>, cluster: &ClusterInfo) -> Side {
    let Some(bundle) = bundle else {
        return Side::NotMatched;
    };
    let selected = match crate::target::select(&bundle.spec, cluster) {
        Ok(Some(t)) => t,
        Ok(None) => return Side::NotMatched,
        Err(e) => return Side::Failed(format!("targeting: {e}")),
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Side::Failed(format!("creating a scratch directory: {e}")),
    };
    if let Err(e) = crate::content::write_bundle_dir(&bundle.spec.resources, dir.path()) {
        return Side::Failed(format!("writing the bundle's files: {e}"));
    }
    match crate::render::render(
        dir.path(),
        &bundle.metadata.name,
        &selected.options,
        cluster,
    ) {
        Ok(rendered) => Side::Rendered {
            target: selected.target_name,
            namespace: rendered.namespace,
            objects: rendered.objects,
        },
        Err(e) => Side::Failed(format!("rendering: {e}")),
    }
}

/// Compares what base and head give one target set.
pub fn compare(set: TargetSet, base: Side, head: Side) -> TargetPreview {
    let mut preview = TargetPreview {
        target: set,
        matching: Matching::Both,
        base_target: None,
        head_target: None,
        diff: ManifestDiff::default(),
        errors: Vec::new(),
    };
    let mut unpack = |side: Side, label: &str| match side {
        Side::NotMatched => None,
        Side::Rendered {
            target,
            namespace,
            objects,
        } => Some((target, namespace, objects)),
        Side::Failed(e) => {
            preview.errors.push(format!("{label}: {e}"));
            None
        }
    };
    let base_failed = matches!(base, Side::Failed(_));
    let head_failed = matches!(head, Side::Failed(_));
    let base = unpack(base, "base");
    let head = unpack(head, "head");
    if base_failed || head_failed {
        preview.matching = Matching::Error;
        return preview;
    }
    let empty = (String::new(), String::new(), Vec::new());
    preview.matching = match (&base, &head) {
        (None, None) => Matching::Neither,
        (None, Some(_)) => Matching::Starts,
        (Some(_), None) => Matching::Stops,
        (Some(_), Some(_)) => Matching::Both,
    };
    preview.base_target = base.as_ref().map(|b| b.0.clone());
    preview.head_target = head.as_ref().map(|h| h.0.clone());
    let (_, base_ns, base_objects) = base.as_ref().unwrap_or(&empty);
    let (_, head_ns, head_objects) = head.as_ref().unwrap_or(&empty);
    preview.diff = diff_manifests(base_objects, base_ns, head_objects, head_ns);
    preview
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(objects: Vec<Value>) -> Side {
        Side::Rendered {
            target: "default".into(),
            namespace: "apps".into(),
            objects,
        }
    }

    #[test]
    fn starting_to_match_adds_everything() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let p = compare(TargetSet::default(), Side::NotMatched, rendered(vec![cm]));
        assert_eq!(p.matching, Matching::Starts);
        assert_eq!(p.diff.added.len(), 1);
    }

    #[test]
    fn a_failing_side_is_an_error_of_this_target_only() {
        let p = compare(
            TargetSet::default(),
            rendered(vec![]),
            Side::Failed("rendering: helm: boom".into()),
        );
        assert_eq!(p.matching, Matching::Error);
        assert_eq!(p.errors, vec!["head: rendering: helm: boom".to_string()]);
    }
}
