//! Fleet's Bundle API types (`fleet.cattle.io/v1alpha1`), with Fleet's JSON field names so
//! that existing `fleet.yaml` files and Bundle manifests read and print unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::selector::LabelSelector;

/// The API version of every Fleet object we read or print.
pub const API_VERSION: &str = "fleet.cattle.io/v1alpha1";

/// `skip_serializing_if` predicate for a `bool` that Fleet's Go types mark `omitempty`:
/// a false field is left out, so the objects we print match what Fleet prints.
pub fn is_false(b: &bool) -> bool {
    !*b
}

/// `skip_serializing_if` predicate for an integer that Fleet's Go types mark `omitempty`:
/// a zero field is left out, so the objects we print match what Fleet prints.
pub fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A Bundle: the resources of one directory of a Git repo plus how and where to deploy them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: BundleSpec,
}

/// The metadata Fleet sets on the objects we produce.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `BundleSpec`: deployment options shared by every target, then the targets and the resources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleSpec {
    #[serde(flatten)]
    pub options: BundleDeploymentOptions,
    #[serde(default, skip_serializing_if = "is_false")]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_strategy: Option<RolloutStrategy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<BundleResource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<BundleTarget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_restrictions: Vec<BundleTargetRestriction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<BundleRef>,
    /// How `targetCustomizations` apply to a cluster several of them match.
    #[serde(default, skip_serializing_if = "TargetCustomizationMode::is_default")]
    pub target_customization_mode: TargetCustomizationMode,
}

/// Fleet's `targetCustomizationMode` (pkg/apis/fleet.cattle.io/v1alpha1/bundle_types.go).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetCustomizationMode {
    /// The first matching customization replaces the target's options (Fleet's default).
    #[default]
    FirstMatch,
    /// Every matching customization is merged over the target's options, in list order.
    AllMatches,
}

impl TargetCustomizationMode {
    fn is_default(&self) -> bool {
        *self == TargetCustomizationMode::FirstMatch
    }
}

/// How a bundle is deployed; set on the bundle and overridden per target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleDeploymentOptions {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub default_namespace: String,
    /// `namespace` in fleet.yaml: every namespaced resource is forced into it.
    #[serde(
        default,
        rename = "namespace",
        skip_serializing_if = "String::is_empty"
    )]
    pub target_namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yaml: Option<YamlOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmOptions>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_namespace: Option<bool>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub force_sync_generation: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffOptions>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_resources: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_namespace: bool,
    #[serde(default, rename = "ignore", skip_serializing_if = "Option::is_none")]
    pub ignore: Option<IgnoreOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correct_drift: Option<CorrectDrift>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub namespace_annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete_crd_resources: bool,
}

/// `yaml:` options: overlay directories under `overlays/`, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct YamlOptions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<String>,
}

/// `kustomize:` options: the directory (relative to the bundle) to build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizeOptions {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dir: String,
}

/// `helm:` options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HelmOptions {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub chart: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repo: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout_seconds: i64,
    /// Free-form values; strings may reference cluster labels (`${ .ClusterLabels.env }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFrom>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub template_values: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub take_ownership: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_history: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub wait_for_jobs: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub atomic: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_pre_process: bool,
    #[serde(default, rename = "disableDNS", skip_serializing_if = "is_false")]
    pub disable_dns: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub skip_schema_validation: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_dependency_update: bool,
}

/// `helm.valuesFrom`: values read from a ConfigMap or Secret key in the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesFrom {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
}

/// A key of a named ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
}

/// `diff:` options: patches applied before comparing, to silence known drift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffOptions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compare_patches: Vec<ComparePatch>,
}

/// One `comparePatches` entry: which object, and JSON pointers or operations to ignore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparePatch {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
}

/// A JSON-patch-like operation of a compare patch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `ignore:` options: status conditions that do not make a resource non-ready.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnoreOptions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<BTreeMap<String, String>>,
}

/// `correctDrift:` options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrectDrift {
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep_fail_history: bool,
}

/// One file of a bundle: its path relative to the bundle directory and its content.
///
/// `encoding` is empty for plain UTF-8 text, or `base64` / `base64+gz` as Fleet writes
/// binary or large files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleResource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub encoding: String,
}

/// A target (from `targetCustomizations` or the GitRepo's `targets`): which clusters, and
/// the options that override the bundle's for them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleTarget {
    #[serde(flatten)]
    pub options: BundleDeploymentOptions,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_group_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub do_not_deploy: bool,
}

/// A restriction from `overrideTargets` or the GitRepo `targets`: only these clusters may
/// be targeted at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleTargetRestriction {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_group_selector: Option<LabelSelector>,
}

/// `dependsOn`: another bundle (by name or selector) that must be ready first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_states: Vec<crate::deployment::BundleState>,
}

/// An integer or a percentage (`intstr.IntOrString`), as rollout limits are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl IntOrString {
    /// Resolves against `total` as Kubernetes does (`GetScaledValueFromIntOrPercent`),
    /// rounding percentages up when `round_up`. A malformed percentage is an error.
    pub fn scaled(&self, total: usize, round_up: bool) -> Result<usize, String> {
        match self {
            IntOrString::Int(n) => Ok(usize::try_from(*n).unwrap_or(0)),
            IntOrString::String(s) => {
                let pct = s
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<u64>().ok())
                    .ok_or_else(|| {
                        format!(
                            "invalid value {s:?}: expected an integer or a percentage like \"25%\""
                        )
                    })?;
                let scaled = total as u64 * pct;
                let value = if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                };
                Ok(value as usize)
            }
        }
    }
}

/// `rolloutStrategy`: how a new deploymentID spreads over the targeted clusters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable_partitions: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_partition_size: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_partition_threshold: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<Partition>,
    /// Ours, not Fleet's: how long a partition must stay healthy before the next one
    /// starts (a Go duration such as `"10m"`; none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soak_time: Option<String>,
    /// Ours: how many clusters of a partition may fail (a count or a percentage of the
    /// partition) before the rollout halts there; 0 when any health gate is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<IntOrString>,
    /// Ours: how many consecutive Ready health checks make a cluster healthy, and how
    /// many consecutive failing ones make it failed, so a flapping resource decides
    /// nothing (1 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_reports: Option<u32>,
    /// Ours: how long a promoted cluster may take to become healthy before it counts as
    /// failed (a Go duration; `"10m"` by default once any health gate is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline: Option<String>,
    /// Ours: what a halted rollout does with the clusters of the failing partition:
    /// `auto` moves them back to the last good version, `manual` (default) leaves them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackMode>,
}

/// `rolloutStrategy.rollback`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollbackMode {
    /// A halted partition's clusters go back to the last good version at once.
    Auto,
    /// A halted rollout waits for `fleet-manager rollout resume|abort|promote`.
    #[default]
    Manual,
}

/// One explicit rollout partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Partition {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cluster_group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_group_selector: Option<LabelSelector>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_or_percent_scales_like_kubernetes() {
        assert_eq!(IntOrString::Int(3).scaled(10, true), Ok(3));
        assert_eq!(IntOrString::String("25%".into()).scaled(10, true), Ok(3));
        assert_eq!(IntOrString::String("25%".into()).scaled(10, false), Ok(2));
        assert_eq!(IntOrString::String("100%".into()).scaled(7, true), Ok(7));
        assert!(IntOrString::String("lots".into()).scaled(10, true).is_err());
    }

    #[test]
    fn options_use_fleet_field_names() {
        let spec: BundleSpec = serde_yaml::from_str(
            "namespace: ns1\ndefaultNamespace: d\nhelm: {releaseName: r, disableDNS: true}\nkeepResources: true\n",
        )
        .unwrap();
        assert_eq!(spec.options.target_namespace, "ns1");
        assert_eq!(spec.options.default_namespace, "d");
        assert!(spec.options.keep_resources);
        let helm = spec.options.helm.as_ref().unwrap();
        assert!(helm.disable_dns);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["namespace"], "ns1");
        assert_eq!(json["helm"]["releaseName"], "r");
    }
}
