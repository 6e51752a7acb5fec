//! Rollouts as Fleet does them: a new bundle version reaches the clusters partition by
//! partition, only as fast as `maxUnavailable`, `maxUnavailablePartitions` and the
//! readiness of the clusters already moved allow.
//!
//! State is per bundle, not per cluster: the previous version and the set of clusters
//! already promoted to the current one ([`RolloutState`]); every other targeted cluster
//! keeps the previous version's deploymentID (or gets nothing, shown as Pending). When
//! every target is promoted the rollout settles and the state is dropped.
//!
//! [`plan`] is the pure decision (Fleet's `UpdatePartitions` over our state); the leader
//! runs it after each push and on every status change ([`crate::server`]).
//!
//! Ours on top of Fleet: health gates ([`gates`]) judge each partition; a partition
//! that fails its gate halts the rollout ([`Halt`]), and with `rollback: auto` its
//! clusters go back to the previous version, which is the last good one: a gated rollout
//! only settles once every target was healthy at the new version.

use std::collections::{BTreeMap, BTreeSet};

use fleet_bundle::bundle::{IntOrString, RolloutStrategy};
use fleet_bundle::deployment::BundleState;
use serde::{Deserialize, Serialize};

use crate::targeting::{criteria_match, BundleVersion, TargetCriteria};

pub mod gates;

pub use gates::{FailedCluster, GateState};

/// Fleet's defaults.
const DEFAULT_AUTO_PARTITION_SIZE: &str = "25%";
const DEFAULT_AUTO_PARTITION_THRESHOLD: i64 = 200;

/// A bundle's rollout in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// What unpromoted clusters keep running; `None` for a first deployment.
    pub previous: Option<BundleVersion>,
    /// Clusters (names) moved to the current version.
    pub promoted: BTreeSet<String>,
    /// Health-gate bookkeeping (gated strategies only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub gates: GateState,
    /// Set when a partition failed its gate: nobody is promoted until a new version,
    /// `rollout resume` or `rollout promote`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt: Option<Halt>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Why and where a rollout stopped, and what was undone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Halt {
    pub partition: String,
    /// When it halted (seconds since the Unix epoch).
    pub at: i64,
    /// The commit that failed.
    #[serde(default)]
    pub commit: String,
    pub clusters: Vec<FailedCluster>,
    /// Clusters moved back to the previous version (`rollback: auto` or `rollout abort`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rolled_back: Vec<String>,
    /// The commit they were moved back to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rolled_back_to: String,
    /// `rollout abort` ended it: every cluster keeps the previous version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
}

/// Why a rollout cannot be planned (a malformed strategy in fleet.yaml).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RolloutError {
    #[error("rolloutStrategy.{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

/// One targeted cluster as the planner sees it.
#[derive(Debug, Clone)]
pub struct TargetInput {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub groups: Vec<String>,
    /// The deploymentID of the current version for this cluster.
    pub current_id: String,
    /// The deploymentID it runs while not promoted (`None`: nothing before).
    pub previous_id: Option<String>,
    pub promoted: bool,
    /// The cluster's latest report for this bundle: (appliedDeploymentID, state).
    pub status: Option<(String, BundleState)>,
}

impl TargetInput {
    /// The deploymentID the cluster is currently given, if any.
    fn deployment(&self) -> Option<&str> {
        if self.promoted {
            Some(&self.current_id)
        } else {
            self.previous_id.as_deref()
        }
    }

    /// Fleet's `isUnavailable`: not applied at the given deploymentID, or not Ready. A
    /// cluster with nothing deployed yet counts as unavailable for promotion (a new
    /// deployment is never held back), but not in the initial count.
    fn unavailable(&self) -> bool {
        match self.deployment() {
            None => true,
            Some(id) => {
                !matches!(&self.status, Some((applied, BundleState::Ready)) if applied == id)
            }
        }
    }
}

/// A partition's outcome, for the bundle status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionStatus {
    pub name: String,
    pub count: usize,
    pub max_unavailable: usize,
    pub unavailable: usize,
}

/// The planner's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Clusters to promote now.
    pub promote: Vec<String>,
    pub partitions: Vec<PartitionStatus>,
    /// Every target is promoted after this plan: the rollout can settle.
    pub complete: bool,
}

/// Fleet's `limit`: the first value given, else 100%; a percentage rounds down but never
/// below 1; an integer is clamped to `[0, count]`.
pub fn limit(
    count: usize,
    values: &[Option<&IntOrString>],
    field: &'static str,
) -> Result<usize, RolloutError> {
    if count == 0 {
        return Ok(1);
    }
    let value = values.iter().flatten().next().copied();
    match value {
        Some(IntOrString::Int(n)) => Ok((*n).clamp(0, count as i64) as usize),
        Some(IntOrString::String(s)) => {
            if let Ok(n) = s.trim().parse::<i64>() {
                return Ok(n.clamp(0, count as i64) as usize);
            }
            let pct: f64 = s
                .strip_suffix('%')
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| RolloutError::Invalid {
                    field,
                    message: format!("{s:?} must be an integer or a percentage like \"25%\""),
                })?;
            if pct <= 0.0 {
                return Ok(1);
            }
            let i = (count as f64 * pct) as usize / 100;
            Ok(i.clamp(1, count))
        }
        None => Ok(count),
    }
}

/// A partition: its name, its clusters and how many of them may be unavailable.
type PartitionMembers<'a> = (String, Vec<&'a TargetInput>, usize);

/// The partitions' names and members, as [`plan`] splits `targets`.
pub fn partition_members<'a>(
    strategy: Option<&RolloutStrategy>,
    targets: &'a [TargetInput],
    group_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<(String, Vec<&'a TargetInput>)>, RolloutError> {
    let default = RolloutStrategy::default();
    Ok(
        partitions(strategy.unwrap_or(&default), targets, group_labels)?
            .into_iter()
            .map(|(name, members, _)| (name, members))
            .collect(),
    )
}

/// Splits targets into partitions: explicit `partitions` by their criteria, else
/// automatic slices of `autoPartitionSize` (25%) once there are at least
/// `autoPartitionThreshold` (200) targets, else one partition.
fn partitions<'a>(
    strategy: &RolloutStrategy,
    targets: &'a [TargetInput],
    group_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Vec<PartitionMembers<'a>>, RolloutError> {
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    if !strategy.partitions.is_empty() {
        for p in &strategy.partitions {
            let criteria: TargetCriteria<'_> = p.into();
            let members: Vec<&TargetInput> = targets
                .iter()
                .filter(|t| {
                    let groups: Vec<(&str, &BTreeMap<String, String>)> = t
                        .groups
                        .iter()
                        .map(|g| (g.as_str(), group_labels.get(g).unwrap_or(&empty)))
                        .collect();
                    criteria_match(&t.name, &t.labels, &groups, &criteria)
                })
                .collect();
            let max = limit(
                members.len(),
                &[
                    p.max_unavailable.as_ref(),
                    strategy.max_unavailable.as_ref(),
                ],
                "partitions.maxUnavailable",
            )?;
            out.push((p.name.clone(), members, max));
        }
        return Ok(out);
    }
    let all: Vec<&TargetInput> = targets.iter().collect();
    let disabled = matches!(strategy.auto_partition_size, Some(IntOrString::Int(n)) if n <= 0);
    let threshold = strategy
        .auto_partition_threshold
        .unwrap_or(DEFAULT_AUTO_PARTITION_THRESHOLD);
    if disabled || threshold <= 0 || (all.len() as i64) < threshold {
        let max = limit(
            all.len(),
            &[strategy.max_unavailable.as_ref()],
            "maxUnavailable",
        )?;
        out.push(("All".to_string(), all, max));
        return Ok(out);
    }
    let default_size = IntOrString::String(DEFAULT_AUTO_PARTITION_SIZE.to_string());
    let size = limit(
        all.len(),
        &[strategy.auto_partition_size.as_ref(), Some(&default_size)],
        "autoPartitionSize",
    )?
    .max(1);
    let mut offset = 0;
    for chunk in all.chunks(size) {
        let max = limit(
            chunk.len(),
            &[strategy.max_unavailable.as_ref()],
            "maxUnavailable",
        )?;
        out.push((
            format!("Partition {} - {}", offset, offset + chunk.len()),
            chunk.to_vec(),
            max,
        ));
        offset += chunk.len();
    }
    Ok(out)
}

/// Decides which clusters move to the current version now.
///
/// Follows Fleet: partitions in order; inside each, an out-of-sync cluster is promoted
/// while the bundle-wide and the partition's unavailable counts are under their maxima
/// (promoting an available cluster makes it unavailable until it reports Ready at the new
/// deploymentID; an already unavailable one is always promoted). After a partition, if
/// more of its clusters than its maximum are not up to date and ready, it counts as
/// unavailable; more unavailable partitions than `maxUnavailablePartitions` (default 0)
/// stop the rollout there, so later partitions wait. A paused bundle promotes nobody.
///
/// `targets` must be sorted by cluster name, so every replica plans the same partitions.
pub fn plan(
    strategy: Option<&RolloutStrategy>,
    paused: bool,
    targets: &[TargetInput],
    group_labels: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Plan, RolloutError> {
    plan_gated(strategy, paused, targets, group_labels, None)
}

/// [`plan`] under health gates: with `open` (the partitions whose gate passed, from
/// [`gates::judge`]), a partition's gate, not its unavailable count, decides whether the
/// rollout goes past it, and the rollout is complete only once every gate is open.
pub fn plan_gated(
    strategy: Option<&RolloutStrategy>,
    paused: bool,
    targets: &[TargetInput],
    group_labels: &BTreeMap<String, BTreeMap<String, String>>,
    open: Option<&BTreeSet<String>>,
) -> Result<Plan, RolloutError> {
    let default = RolloutStrategy::default();
    let strategy = strategy.unwrap_or(&default);
    let bundle_max = limit(
        targets.len(),
        &[strategy.max_unavailable.as_ref()],
        "maxUnavailable",
    )?;
    let mut bundle_unavailable = targets
        .iter()
        .filter(|t| t.deployment().is_some() && t.unavailable())
        .count();
    let parts = partitions(strategy, targets, group_labels)?;
    let zero = IntOrString::Int(0);
    let max_unavailable_partitions = limit(
        parts.len(),
        &[strategy.max_unavailable_partitions.as_ref(), Some(&zero)],
        "maxUnavailablePartitions",
    )?;
    let mut promoted: BTreeSet<&str> = targets
        .iter()
        .filter(|t| t.promoted)
        .map(|t| t.name.as_str())
        .collect();
    let mut promote = Vec::new();
    let mut statuses = Vec::new();
    let mut unavailable_partitions = 0;
    let mut stopped = false;
    for (name, members, max) in &parts {
        let mut part_unavailable = members
            .iter()
            .filter(|t| t.deployment().is_some() && t.unavailable())
            .count();
        if !stopped && !paused {
            for t in members {
                if promoted.contains(t.name.as_str()) {
                    continue;
                }
                let unavailable = t.unavailable();
                // An unavailable cluster always moves (it cannot get worse); an available
                // one only while both the bundle and the partition have room.
                if unavailable || (bundle_unavailable < bundle_max && part_unavailable < *max) {
                    if !unavailable {
                        bundle_unavailable += 1;
                        part_unavailable += 1;
                    }
                    promoted.insert(&t.name);
                    promote.push(t.name.clone());
                }
            }
        }
        // A partition is judged by up-to-date *and* ready clusters, stricter than above.
        let not_ready = members
            .iter()
            .filter(|t| {
                let now_promoted = promoted.contains(t.name.as_str());
                let ready_at_current = matches!(&t.status, Some((applied, BundleState::Ready)) if *applied == t.current_id);
                !(now_promoted && ready_at_current)
            })
            .count();
        statuses.push(PartitionStatus {
            name: name.clone(),
            count: members.len(),
            max_unavailable: *max,
            unavailable: not_ready,
        });
        match open {
            Some(open) => stopped |= !open.contains(name),
            None => {
                if not_ready > *max {
                    unavailable_partitions += 1;
                }
                if unavailable_partitions > max_unavailable_partitions {
                    stopped = true;
                }
            }
        }
    }
    let complete = targets.iter().all(|t| promoted.contains(t.name.as_str()))
        && open.is_none_or(|open| parts.iter().all(|(name, _, _)| open.contains(name)));
    Ok(Plan {
        promote,
        partitions: statuses,
        complete,
    })
}

/// Whether a strategy lets every target move at once whatever their state, so a new
/// version needs no staged rollout (Fleet's default: `maxUnavailable` 100%).
pub fn is_immediate(strategy: Option<&RolloutStrategy>, target_count: usize) -> bool {
    let Some(s) = strategy else { return true };
    if gates::Gates::of(strategy).ok().flatten().is_some() {
        // Health gates judge even a rollout that moves everyone at once.
        return false;
    }
    let full = |v: Option<&IntOrString>| match v {
        None => true,
        Some(v) => {
            limit(target_count, &[Some(v)], "maxUnavailable").is_ok_and(|n| n >= target_count)
        }
    };
    full(s.max_unavailable.as_ref())
        && s.partitions
            .iter()
            .all(|p| p.max_unavailable.is_none() || full(p.max_unavailable.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(name: &str, promoted: bool, status: Option<(&str, BundleState)>) -> TargetInput {
        TargetInput {
            name: name.to_string(),
            labels: BTreeMap::from([("name".to_string(), name.to_string())]),
            groups: vec![],
            current_id: "new".into(),
            previous_id: Some("old".into()),
            promoted,
            status: status.map(|(a, s)| (a.to_string(), s)),
        }
    }

    fn strategy(yaml: &str) -> RolloutStrategy {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn limits_follow_fleet() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(limit(10, &[None], "x").unwrap(), 10);
        assert_eq!(limit(10, &[Some(&pct("25%"))], "x").unwrap(), 2);
        assert_eq!(limit(3, &[Some(&pct("10%"))], "x").unwrap(), 1);
        assert_eq!(limit(10, &[Some(&IntOrString::Int(50))], "x").unwrap(), 10);
        assert_eq!(limit(0, &[None], "x").unwrap(), 1);
        assert!(limit(10, &[Some(&pct("many"))], "x").is_err());
    }

    #[test]
    fn default_strategy_promotes_everyone() {
        let targets: Vec<_> = (0..5)
            .map(|i| target(&format!("c{i}"), false, Some(("old", BundleState::Ready))))
            .collect();
        let p = plan(None, false, &targets, &BTreeMap::new()).unwrap();
        assert_eq!(p.promote.len(), 5);
        assert!(p.complete);
        assert!(is_immediate(None, 5));
    }

    #[test]
    fn partitions_advance_only_when_ready() {
        let s = strategy(
            "maxUnavailable: 1\npartitions:\n- name: canary\n  clusterSelector: {matchLabels: {name: a}}\n- name: rest\n  clusterSelector: {matchExpressions: [{key: name, operator: NotIn, values: [a]}]}\n",
        );
        assert!(!is_immediate(Some(&s), 3));
        let mut targets = vec![
            target("a", false, Some(("old", BundleState::Ready))),
            target("b", false, Some(("old", BundleState::Ready))),
            target("c", false, Some(("old", BundleState::Ready))),
        ];
        // First pass: the canary moves; the canary partition is then not ready (it has not
        // applied the new version), which stops the rollout before "rest".
        let p = plan(Some(&s), false, &targets, &BTreeMap::new()).unwrap();
        assert_eq!(p.promote, vec!["a"]);
        assert!(!p.complete);
        targets[0].promoted = true;
        // Still applying: nothing more moves.
        targets[0].status = Some(("new".into(), BundleState::NotReady));
        let p = plan(Some(&s), false, &targets, &BTreeMap::new()).unwrap();
        assert!(p.promote.is_empty(), "{p:?}");
        // Ready at the new deploymentID: the next partition starts, one at a time.
        targets[0].status = Some(("new".into(), BundleState::Ready));
        let p = plan(Some(&s), false, &targets, &BTreeMap::new()).unwrap();
        assert_eq!(p.promote, vec!["b"]);
        targets[1].promoted = true;
        targets[1].status = Some(("new".into(), BundleState::Ready));
        let p = plan(Some(&s), false, &targets, &BTreeMap::new()).unwrap();
        assert_eq!(p.promote, vec!["c"]);
        assert!(p.complete);
    }

    #[test]
    fn gated_plans_wait_for_the_gate_not_readiness() {
        let s = strategy(
            "soakTime: 1m\npartitions:\n- name: canary\n  clusterName: a\n- name: rest\n  clusterName: b\n",
        );
        assert!(!is_immediate(Some(&s), 2));
        let mut targets = vec![
            target("a", true, Some(("new", BundleState::Ready))),
            target("b", false, Some(("old", BundleState::Ready))),
        ];
        // Ready, but the canary is still soaking: "rest" waits.
        let none = BTreeSet::new();
        let p = plan_gated(Some(&s), false, &targets, &BTreeMap::new(), Some(&none)).unwrap();
        assert!(p.promote.is_empty() && !p.complete, "{p:?}");
        let canary = BTreeSet::from(["canary".to_string()]);
        let p = plan_gated(Some(&s), false, &targets, &BTreeMap::new(), Some(&canary)).unwrap();
        assert_eq!(p.promote, vec!["b"]);
        // Everyone promoted is not complete until the last gate opens too.
        targets[1].promoted = true;
        let p = plan_gated(Some(&s), false, &targets, &BTreeMap::new(), Some(&canary)).unwrap();
        assert!(!p.complete);
        let both = BTreeSet::from(["canary".to_string(), "rest".to_string()]);
        let p = plan_gated(Some(&s), false, &targets, &BTreeMap::new(), Some(&both)).unwrap();
        assert!(p.complete);
    }

    #[test]
    fn paused_bundles_promote_nobody() {
        let targets = vec![target("a", false, Some(("old", BundleState::Ready)))];
        let p = plan(None, true, &targets, &BTreeMap::new()).unwrap();
        assert!(p.promote.is_empty());
        assert!(!p.complete);
    }

    #[test]
    fn new_clusters_are_never_held_back() {
        let s = strategy("maxUnavailable: 1\n");
        let mut fresh = target("z", false, None);
        fresh.previous_id = None;
        let targets = vec![
            target("a", false, Some(("old", BundleState::NotReady))),
            fresh,
        ];
        let p = plan(Some(&s), false, &targets, &BTreeMap::new()).unwrap();
        // "a" is already unavailable, so it moves; "z" has nothing yet, so it moves too.
        assert_eq!(p.promote, vec!["a", "z"]);
    }

    #[test]
    fn auto_partitions_above_threshold() {
        let s = strategy("maxUnavailable: 0\nautoPartitionThreshold: 4\nautoPartitionSize: 50%\n");
        let targets: Vec<_> = (0..4)
            .map(|i| target(&format!("c{i}"), false, Some(("old", BundleState::Ready))))
            .collect();
        let p = plan(Some(&s), false, &targets, &BTreeMap::new()).unwrap();
        assert_eq!(p.partitions.len(), 2);
        assert_eq!(p.partitions[0].name, "Partition 0 - 2");
        // maxUnavailable 0 → limit rounds to 0 for ints: nobody available may move.
        assert!(p.promote.is_empty());
    }
}
