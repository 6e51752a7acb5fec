//! Content addressing: the canonical bytes and sha256 of a bundle's files, and the
//! deploymentID that changes exactly when what a cluster runs changes.

use sha2::{Digest, Sha256};

use crate::bundle::{BundleDeploymentOptions, BundleResource};
use crate::deployment::BundleContent;

/// The canonical content blob of `resources` and its sha256 (lower-case hex).
///
/// Guarantees: resources are sorted by name (then content) and serialized as
/// [`BundleContent`] JSON, so the same files give the same bytes and digest whatever their
/// order; the agent checks `sha256(bytes) == digest` after fetching
/// `/agent/v1/content/<digest>`.
pub fn content_blob(resources: &[BundleResource]) -> (Vec<u8>, String) {
    let mut sorted = resources.to_vec();
    sorted.sort_by(|a, b| {
        (a.name.as_str(), a.content.as_str(), a.encoding.as_str()).cmp(&(
            b.name.as_str(),
            b.content.as_str(),
            b.encoding.as_str(),
        ))
    });
    let content = BundleContent { resources: sorted };
    // Serializing plain strings into a Vec cannot fail.
    let bytes = serde_json::to_vec(&content).unwrap_or_default();
    let digest = sha256_hex(&bytes);
    (bytes, digest)
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The deploymentID of content `content_digest` deployed with the effective `options`
/// (merged and templated for the cluster), in Fleet's `s-<content>:<options hash>` shape.
///
/// Guarantees: the same digest and options give the same ID; any change of content or of
/// an option that changes what is deployed (namespaces, templated values, overlays,
/// kustomize dir, chart, release name, …) gives a new ID. As in Fleet, `diff` and
/// `correctDrift` are left out: they govern drift handling, not what is deployed. Cluster
/// labels only reach the ID through the values they template, so a label no template reads
/// leaves the ID unchanged.
pub fn deployment_id(content_digest: &str, options: &BundleDeploymentOptions) -> String {
    let mut sanitized = options.clone();
    sanitized.diff = None;
    sanitized.correct_drift = None;
    let json = serde_json::to_value(&sanitized).unwrap_or_default();
    let canonical = canonical_json(&json);
    format!("s-{content_digest}:{}", sha256_hex(canonical.as_bytes()))
}

/// JSON with object keys sorted at every level, so the options hash does not depend on the
/// order in which values were written or merged.
fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap_or_default(),
                        canonical_json(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{HelmOptions, KustomizeOptions, YamlOptions};
    use crate::target::{select, ClusterInfo};

    fn res(name: &str, content: &str) -> BundleResource {
        BundleResource {
            name: name.into(),
            content: content.into(),
            encoding: String::new(),
        }
    }

    #[test]
    fn blob_is_canonical_and_verifiable() {
        let (a, da) = content_blob(&[res("b.yaml", "B"), res("a.yaml", "A")]);
        let (b, db) = content_blob(&[res("a.yaml", "A"), res("b.yaml", "B")]);
        assert_eq!(a, b);
        assert_eq!(da, db);
        assert_eq!(sha256_hex(&a), da);
        let back: BundleContent = serde_json::from_slice(&a).unwrap();
        assert_eq!(back.resources[0].name, "a.yaml");
        let (_, dc) = content_blob(&[res("a.yaml", "A2"), res("b.yaml", "B")]);
        assert_ne!(da, dc);
    }

    fn with_values(v: serde_json::Value) -> BundleDeploymentOptions {
        BundleDeploymentOptions {
            helm: Some(HelmOptions {
                values: Some(v),
                ..HelmOptions::default()
            }),
            ..BundleDeploymentOptions::default()
        }
    }

    #[test]
    fn same_input_same_id() {
        let o = with_values(serde_json::json!({"a": 1, "b": {"c": 2}}));
        assert_eq!(deployment_id("d", &o), deployment_id("d", &o.clone()));
        let reordered = with_values(serde_json::json!({"b": {"c": 2}, "a": 1}));
        assert_eq!(deployment_id("d", &o), deployment_id("d", &reordered));
        assert!(deployment_id("d", &o).starts_with("s-d:"));
    }

    #[test]
    fn every_relevant_change_gives_a_new_id() {
        let base = BundleDeploymentOptions::default();
        let id = deployment_id("d", &base);
        assert_ne!(id, deployment_id("e", &base), "content");
        let variants = [
            BundleDeploymentOptions {
                target_namespace: "x".into(),
                ..base.clone()
            },
            BundleDeploymentOptions {
                default_namespace: "x".into(),
                ..base.clone()
            },
            BundleDeploymentOptions {
                yaml: Some(YamlOptions {
                    overlays: vec!["o".into()],
                }),
                ..base.clone()
            },
            BundleDeploymentOptions {
                kustomize: Some(KustomizeOptions { dir: "k".into() }),
                ..base.clone()
            },
            BundleDeploymentOptions {
                helm: Some(HelmOptions {
                    release_name: "r".into(),
                    ..HelmOptions::default()
                }),
                ..base.clone()
            },
            BundleDeploymentOptions {
                helm: Some(HelmOptions {
                    version: "1.2.3".into(),
                    ..HelmOptions::default()
                }),
                ..base.clone()
            },
            with_values(serde_json::json!({"a": 1})),
        ];
        let mut ids = std::collections::BTreeSet::from([id.clone()]);
        for v in &variants {
            assert!(ids.insert(deployment_id("d", v)), "{v:?} collided");
        }
    }

    #[test]
    fn drift_settings_do_not_change_the_id() {
        let base = BundleDeploymentOptions::default();
        let drift = BundleDeploymentOptions {
            correct_drift: Some(crate::bundle::CorrectDrift {
                enabled: true,
                ..Default::default()
            }),
            diff: Some(crate::bundle::DiffOptions::default()),
            ..base.clone()
        };
        assert_eq!(deployment_id("d", &base), deployment_id("d", &drift));
    }

    #[test]
    fn templated_labels_reach_the_id_unread_labels_do_not() {
        let spec: crate::bundle::BundleSpec = serde_yaml::from_str(
            "helm: {values: {env: '${ .ClusterLabels.env }'}}\ntargets: [{name: all, clusterSelector: {}}]\n",
        )
        .unwrap();
        let cluster = |env: &str, other: &str| ClusterInfo {
            name: "c1".into(),
            labels: [
                ("env".to_string(), env.to_string()),
                ("other".to_string(), other.to_string()),
            ]
            .into(),
            ..ClusterInfo::default()
        };
        let id = |c: &ClusterInfo| deployment_id("d", &select(&spec, c).unwrap().unwrap().options);
        assert_eq!(id(&cluster("dev", "1")), id(&cluster("dev", "2")));
        assert_ne!(id(&cluster("dev", "1")), id(&cluster("prod", "1")));
    }
}
