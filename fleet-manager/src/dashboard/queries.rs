//! The questions the dashboard and `fleet-manager status` ask, answered from a
//! [`Snapshot`]: the overview roll-ups, filtered and paginated cluster lists, a bundle's
//! clusters, a cluster's bundles, and one deployment's failing resources.
//!
//! Filters (name substring, state, label selector, group, namespace) run over the
//! in-memory rows, so a filtered page at 10,000 clusters × 100 bundles is one scan; only
//! the resources of a single deployment are read from the store, when asked for.

use std::collections::BTreeMap;

use fleet_bundle::deployment::{BundleState, ModifiedResource, ResourceStatus};
use fleet_bundle::selector::{LabelSelector, LabelSelectorRequirement, SelectorOperator};
use serde::{Deserialize, Serialize};

use super::board::{Cell, ClusterRow, Snapshot};
use super::redact::redact;
use crate::manager::{Manager, ManagerError};
use crate::rollout::{self, PartitionStatus, TargetInput};
use crate::status::{derive_state, Page, Summary};
use crate::store::{BundleRecord, ObjectRecord};

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
/// How many offline clusters the overview names (the count is always complete).
pub const OFFLINE_LISTED: usize = 20;

/// Why a query cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("unknown state {0:?}: use one of Ready, NotReady, WaitApplied, ErrApplied, OutOfSync, Pending, Modified")]
    UnknownState(String),
    #[error("label filter {0:?}: use k=v, k!=v, k or !k, comma separated")]
    BadLabelFilter(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Manager(#[from] ManagerError),
}

impl From<crate::store::StoreError> for QueryError {
    fn from(e: crate::store::StoreError) -> Self {
        QueryError::Manager(ManagerError::Store(e))
    }
}

/// Filters of the listings, as query parameters; every field is optional.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ListQuery {
    pub namespace: Option<String>,
    /// Substring of the cluster name (case-insensitive).
    pub q: Option<String>,
    /// A state name; for a cluster list, the cluster's worst state.
    pub state: Option<String>,
    /// Label filter: `env=prod,region!=eu,gpu,!legacy`.
    pub label: Option<String>,
    /// Cluster group name.
    pub group: Option<String>,
    /// Only clusters whose agent has been silent past the offline limit.
    pub offline: bool,
    pub offset: usize,
    pub limit: Option<usize>,
}

/// A [`ListQuery`] checked and compiled once, then applied to each row.
struct Compiled {
    namespace: Option<String>,
    q: Option<String>,
    state: Option<BundleState>,
    selector: Option<LabelSelector>,
    group: Option<String>,
    offline: bool,
}

impl ListQuery {
    fn compile(&self) -> Result<Compiled, QueryError> {
        let nonempty = |o: &Option<String>| {
            o.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(Compiled {
            namespace: nonempty(&self.namespace),
            q: nonempty(&self.q).map(|q| q.to_lowercase()),
            state: nonempty(&self.state)
                .map(|s| parse_state_name(&s))
                .transpose()?,
            selector: nonempty(&self.label)
                .map(|l| parse_label_filter(&l))
                .transpose()?,
            group: nonempty(&self.group),
            offline: self.offline,
        })
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

impl Compiled {
    /// Whether a cluster passes every filter but the state one.
    fn cluster_matches(&self, s: &Snapshot, c: &ClusterRow, at: i64) -> bool {
        (!self.offline || s.offline(&c.namespace, &c.name, at))
            && self.namespace.as_ref().is_none_or(|ns| &c.namespace == ns)
            && self
                .q
                .as_ref()
                .is_none_or(|q| c.name.to_lowercase().contains(q.as_str()))
            && self.selector.as_ref().is_none_or(|s| s.matches(&c.labels))
            && self
                .group
                .as_ref()
                .is_none_or(|g| c.groups.iter().any(|x| x == g))
    }
}

/// A state name, case-insensitively.
pub fn parse_state_name(s: &str) -> Result<BundleState, QueryError> {
    BundleState::ALL
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| QueryError::UnknownState(s.to_string()))
}

/// `env=prod,region!=eu,gpu,!legacy` as a selector.
pub fn parse_label_filter(text: &str) -> Result<LabelSelector, QueryError> {
    let bad = || QueryError::BadLabelFilter(text.to_string());
    let mut sel = LabelSelector::default();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if let Some((k, v)) = term.split_once("!=") {
            let k = k.trim();
            if k.is_empty() {
                return Err(bad());
            }
            sel.match_expressions.push(LabelSelectorRequirement {
                key: k.to_string(),
                operator: SelectorOperator::NotIn,
                values: vec![v.trim().to_string()],
            });
        } else if let Some((k, v)) = term.split_once('=') {
            let k = k.trim();
            let v = v.strip_prefix('=').unwrap_or(v).trim();
            if k.is_empty() {
                return Err(bad());
            }
            sel.match_labels.insert(k.to_string(), v.to_string());
        } else if let Some(k) = term.strip_prefix('!') {
            if k.trim().is_empty() {
                return Err(bad());
            }
            sel.match_expressions.push(LabelSelectorRequirement {
                key: k.trim().to_string(),
                operator: SelectorOperator::DoesNotExist,
                values: vec![],
            });
        } else {
            sel.match_expressions.push(LabelSelectorRequirement {
                key: term.to_string(),
                operator: SelectorOperator::Exists,
                values: vec![],
            });
        }
    }
    Ok(sel)
}

fn page<T>(items: impl Iterator<Item = T>, total: usize, q: &ListQuery) -> Page<T> {
    let limit = q.limit();
    Page {
        items: items.skip(q.offset).take(limit).collect(),
        total,
        offset: q.offset,
        limit,
    }
}

fn summarize<'a>(cells: impl Iterator<Item = &'a Cell>) -> Summary {
    let mut s = Summary::default();
    for c in cells {
        s.desired_ready += 1;
        s.add(c.state, 1);
    }
    s
}

// ---- views ----

/// A GitRepo with its sync state and the roll-up of its bundles.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepoView {
    pub namespace: String,
    pub name: String,
    /// The repository URL without credentials.
    pub repo: String,
    pub branch: String,
    pub commit: String,
    /// `Synced`, `Syncing`, `FetchFailed`, `ScanFailed`, `BuildFailed` or `Paused`.
    pub sync_state: &'static str,
    /// The fetch error or the bundle build errors, scrubbed of credentials.
    pub error: String,
    pub bundles: usize,
    pub ready_bundles: usize,
    pub state: BundleState,
    pub summary: Summary,
}

/// A bundle with the states of its clusters and its rollout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleView {
    pub namespace: String,
    pub name: String,
    pub gitrepo: String,
    pub commit: String,
    pub error: String,
    pub state: BundleState,
    /// [`crate::status::bundle_display_state`]: what tables show (`NoTargets`…).
    pub display_state: &'static str,
    pub summary: Summary,
    pub rollout: Option<RolloutView>,
}

/// A rollout in progress: how many targets run the new version, per partition.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    pub paused: bool,
    pub promoted: usize,
    pub targets: usize,
    pub partitions: Vec<PartitionStatus>,
    /// Why the partitions cannot be computed (a malformed strategy), if so.
    pub error: String,
}

/// A cluster group: its members by their worst state, and the states of their bundles.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub namespace: String,
    pub name: String,
    pub clusters: usize,
    pub non_ready_clusters: usize,
    /// Each member counted once, in its worst state.
    pub cluster_states: Summary,
    /// Every bundle deployment of the members (Fleet's ClusterGroup summary).
    pub summary: Summary,
}

/// A cluster as the lists show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub namespace: String,
    pub name: String,
    pub labels: std::sync::Arc<BTreeMap<String, String>>,
    pub groups: Vec<String>,
    pub agent_version: String,
    pub last_seen: i64,
    pub offline: bool,
    pub state: BundleState,
    pub summary: Summary,
}

/// The offline agents: how many, and the first few by name.
#[derive(Debug, Clone, Serialize)]
pub struct OfflineView {
    pub count: usize,
    pub items: Vec<ClusterView>,
}

/// Everything the overview page shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub version: u64,
    pub clusters: usize,
    pub summary: Summary,
    pub gitrepos: Vec<GitRepoView>,
    pub bundles: Vec<BundleView>,
    pub groups: Vec<GroupView>,
    pub offline: OfflineView,
}

/// One cluster's state for one bundle.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRow {
    pub cluster_namespace: String,
    pub cluster: String,
    pub bundle_namespace: String,
    pub bundle: String,
    pub gitrepo: String,
    pub state: BundleState,
    pub message: String,
    /// Non-ready plus modified resources in the latest report.
    pub resources: u32,
    #[serde(rename = "deploymentID")]
    pub deployment_id: String,
    #[serde(rename = "appliedDeploymentID")]
    pub applied_deployment_id: String,
    pub updated_at: i64,
    pub offline: bool,
}

/// A GitRepo page: the repo and its bundles.
#[derive(Debug, Clone, Serialize)]
pub struct GitRepoDetail {
    pub version: u64,
    pub gitrepo: GitRepoView,
    pub bundles: Vec<BundleView>,
}

/// A bundle page: the bundle and one page of its clusters.
#[derive(Debug, Clone, Serialize)]
pub struct BundleDetail {
    pub version: u64,
    pub bundle: BundleView,
    pub clusters: Page<DeploymentRow>,
}

/// A cluster page: the cluster and every bundle on it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterDetail {
    pub version: u64,
    pub cluster: ClusterView,
    pub bundles: Vec<DeploymentRow>,
}

/// One deployment with the resources that are not ready or drifted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDetail {
    pub version: u64,
    #[serde(flatten)]
    pub row: DeploymentRow,
    pub non_ready: Vec<ResourceStatus>,
    pub modified: Vec<ModifiedResource>,
}

/// A page of a cluster listing.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterList {
    pub version: u64,
    #[serde(flatten)]
    pub page: Page<ClusterView>,
}

// ---- queries ----

fn cluster_view(s: &Snapshot, c: &ClusterRow, at: i64) -> ClusterView {
    let summary = summarize(c.cells.iter());
    ClusterView {
        namespace: c.namespace.clone(),
        name: c.name.clone(),
        labels: c.labels.clone(),
        groups: c.groups.clone(),
        agent_version: c.agent_version.clone(),
        last_seen: s.last_seen(&c.namespace, &c.name),
        offline: s.offline(&c.namespace, &c.name, at),
        state: c.worst(),
        summary,
    }
}

fn deployment_row(s: &Snapshot, c: &ClusterRow, cell: &Cell, at: i64) -> DeploymentRow {
    let b = &s.bundles[cell.bundle as usize];
    DeploymentRow {
        cluster_namespace: c.namespace.clone(),
        cluster: c.name.clone(),
        bundle_namespace: b.namespace.clone(),
        bundle: b.name.clone(),
        gitrepo: b.gitrepo.clone(),
        state: cell.state,
        message: redact(&cell.message),
        resources: cell.resources,
        deployment_id: cell.deployment_id.to_string(),
        applied_deployment_id: cell.applied_id.to_string(),
        updated_at: cell.updated_at,
        offline: s.offline(&c.namespace, &c.name, at),
    }
}

/// Per-bundle summaries over every cluster, indexed like [`Snapshot::bundles`].
fn bundle_summaries(s: &Snapshot) -> Vec<Summary> {
    let mut out = vec![Summary::default(); s.bundles.len()];
    for c in &s.clusters {
        for cell in &c.cells {
            let sum = &mut out[cell.bundle as usize];
            sum.desired_ready += 1;
            sum.add(cell.state, 1);
        }
    }
    out
}

fn bundle_view(manager: &Manager, s: &Snapshot, b: &BundleRecord, summary: Summary) -> BundleView {
    let state = if b.error.is_empty() {
        summary.worst()
    } else {
        BundleState::ErrApplied
    };
    BundleView {
        namespace: b.namespace.clone(),
        name: b.name.clone(),
        gitrepo: b.gitrepo.clone(),
        commit: b.commit.clone(),
        error: redact(&b.error),
        state,
        display_state: crate::status::bundle_display_state(&summary, &b.error),
        rollout: b.rollout.as_ref().map(|r| rollout_view(manager, s, b, r)),
        summary,
    }
}

/// Partition progress of a rolling bundle, planned the way the leader plans it
/// ([`rollout::plan`]) from the targets and their latest reports.
fn rollout_view(
    manager: &Manager,
    s: &Snapshot,
    b: &BundleRecord,
    state: &rollout::RolloutState,
) -> RolloutView {
    let bi = s.bundle_index(&b.namespace, &b.name);
    let targets = manager.index.targets_of_bundle(&b.namespace, &b.name);
    let inputs: Vec<TargetInput> = targets
        .iter()
        .map(|t| {
            let cell = s.cluster_index(&b.namespace, &t.name).and_then(|ci| {
                s.clusters[ci]
                    .cells
                    .iter()
                    .find(|c| Some(c.bundle as usize) == bi)
                    .cloned()
            });
            TargetInput {
                name: t.name.clone(),
                labels: t.labels.clone(),
                groups: t.groups.clone(),
                current_id: t.current.deployment.deployment_id.clone(),
                previous_id: t
                    .previous
                    .as_ref()
                    .map(|p| p.deployment.deployment_id.clone()),
                promoted: state.promoted.contains(&t.name),
                status: cell.and_then(|c| c.reported.map(|r| (c.applied_id.to_string(), r))),
            }
        })
        .collect();
    let promoted = inputs.iter().filter(|t| t.promoted).count();
    let group_labels = manager.index.group_labels(&b.namespace);
    let (partitions, error) = match rollout::plan(
        b.spec.rollout_strategy.as_ref(),
        b.spec.paused,
        &inputs,
        &group_labels,
    ) {
        Ok(plan) => (plan.partitions, String::new()),
        Err(e) => (Vec::new(), e.to_string()),
    };
    RolloutView {
        paused: b.spec.paused,
        promoted,
        targets: inputs.len(),
        partitions,
        error,
    }
}

fn gitrepo_view(o: &ObjectRecord, bundles: &[(&BundleRecord, &BundleView)]) -> GitRepoView {
    let status = |k: &str| {
        o.status
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let spec = |k: &str| {
        o.spec
            .pointer(&format!("/spec/{k}"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let fetch_error = status("fetchError");
    let scan_error = status("scanError");
    let bundle_errors: Vec<String> = o
        .status
        .get("bundleErrors")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let commit = status("commit");
    let observed = o
        .status
        .get("observedGeneration")
        .and_then(serde_json::Value::as_i64);
    let paused = o
        .spec
        .pointer("/spec/paused")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let sync_state = if !fetch_error.is_empty() {
        "FetchFailed"
    } else if !scan_error.is_empty() {
        "ScanFailed"
    } else if !bundle_errors.is_empty() {
        "BuildFailed"
    } else if paused {
        "Paused"
    } else if commit.is_empty() || observed.is_some_and(|g| g < o.generation) {
        "Syncing"
    } else {
        "Synced"
    };
    let mut summary = Summary::default();
    let mut ready = 0;
    for (_, v) in bundles {
        summary.merge(&v.summary);
        if v.state == BundleState::Ready {
            ready += 1;
        }
    }
    let error = if !fetch_error.is_empty() {
        fetch_error
    } else if !scan_error.is_empty() {
        scan_error
    } else {
        bundle_errors.join("; ")
    };
    let state = if error.is_empty() {
        summary.worst()
    } else {
        BundleState::ErrApplied
    };
    GitRepoView {
        namespace: o.namespace.clone(),
        name: o.name.clone(),
        repo: redact(&spec("repo")),
        branch: spec("branch"),
        commit,
        sync_state,
        error: redact(&error),
        bundles: bundles.len(),
        ready_bundles: ready,
        state,
        summary,
    }
}

/// The overview: GitRepos, bundles, groups, offline agents and the fleet-wide summary.
pub fn overview(manager: &Manager, s: &Snapshot, at: i64) -> Overview {
    let summaries = bundle_summaries(s);
    let bundles: Vec<BundleView> = s
        .bundles
        .iter()
        .zip(summaries)
        .map(|(b, sum)| bundle_view(manager, s, b, sum))
        .collect();
    let gitrepos = s
        .gitrepos
        .iter()
        .map(|o| {
            let mine: Vec<(&BundleRecord, &BundleView)> = s
                .bundles
                .iter()
                .zip(&bundles)
                .filter(|(b, _)| b.namespace == o.namespace && b.gitrepo == o.name)
                .collect();
            gitrepo_view(o, &mine)
        })
        .collect();
    let mut groups: Vec<GroupView> = s
        .groups
        .iter()
        .map(|g| GroupView {
            namespace: g.namespace.clone(),
            name: g.name.clone(),
            clusters: 0,
            non_ready_clusters: 0,
            cluster_states: Summary::default(),
            summary: Summary::default(),
        })
        .collect();
    let group_pos: BTreeMap<(&str, &str), usize> = s
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| ((g.namespace.as_str(), g.name.as_str()), i))
        .collect();
    let mut summary = Summary::default();
    let mut offline = OfflineView {
        count: 0,
        items: Vec::new(),
    };
    for c in &s.clusters {
        let cs = summarize(c.cells.iter());
        summary.merge(&cs);
        for g in &c.groups {
            if let Some(&gi) = group_pos.get(&(c.namespace.as_str(), g.as_str())) {
                let gv = &mut groups[gi];
                gv.clusters += 1;
                if cs.worst() != BundleState::Ready {
                    gv.non_ready_clusters += 1;
                }
                gv.cluster_states.desired_ready += 1;
                gv.cluster_states.add(c.worst(), 1);
                gv.summary.merge(&cs);
            }
        }
        if s.offline(&c.namespace, &c.name, at) {
            offline.count += 1;
            if offline.items.len() < OFFLINE_LISTED {
                offline.items.push(cluster_view(s, c, at));
            }
        }
    }
    Overview {
        version: s.version,
        clusters: s.clusters.len(),
        summary,
        gitrepos,
        bundles,
        groups,
        offline,
    }
}

/// One GitRepo and its bundles.
pub fn gitrepo(
    manager: &Manager,
    s: &Snapshot,
    namespace: &str,
    name: &str,
) -> Result<GitRepoDetail, QueryError> {
    let o = s
        .gitrepos
        .iter()
        .find(|o| o.namespace == namespace && o.name == name)
        .ok_or_else(|| QueryError::NotFound(format!("GitRepo {namespace}/{name}")))?;
    let summaries = bundle_summaries(s);
    let mine: Vec<(&BundleRecord, BundleView)> = s
        .bundles
        .iter()
        .zip(summaries)
        .filter(|(b, _)| b.namespace == namespace && b.gitrepo == name)
        .map(|(b, sum)| (b, bundle_view(manager, s, b, sum)))
        .collect();
    let pairs: Vec<(&BundleRecord, &BundleView)> = mine.iter().map(|(b, v)| (*b, v)).collect();
    Ok(GitRepoDetail {
        version: s.version,
        gitrepo: gitrepo_view(o, &pairs),
        bundles: mine.into_iter().map(|(_, v)| v).collect(),
    })
}

/// One bundle and a filtered page of its clusters (the state filter is the state of
/// this bundle on the cluster).
pub fn bundle(
    manager: &Manager,
    s: &Snapshot,
    namespace: &str,
    name: &str,
    q: &ListQuery,
    at: i64,
) -> Result<BundleDetail, QueryError> {
    let bi = s
        .bundle_index(namespace, name)
        .ok_or_else(|| QueryError::NotFound(format!("bundle {namespace}/{name}")))?;
    let f = q.compile()?;
    let mut summary = Summary::default();
    let mut matching = Vec::new();
    for c in &s.clusters {
        let Some(cell) = c.cells.iter().find(|cell| cell.bundle as usize == bi) else {
            continue;
        };
        summary.desired_ready += 1;
        summary.add(cell.state, 1);
        if f.cluster_matches(s, c, at) && f.state.is_none_or(|st| st == cell.state) {
            matching.push((c, cell));
        }
    }
    let total = matching.len();
    let rows = matching
        .into_iter()
        .map(|(c, cell)| deployment_row(s, c, cell, at));
    Ok(BundleDetail {
        version: s.version,
        bundle: bundle_view(manager, s, &s.bundles[bi], summary),
        clusters: page(rows, total, q),
    })
}

/// A filtered page of clusters (the state filter is the cluster's worst state).
pub fn clusters(s: &Snapshot, q: &ListQuery, at: i64) -> Result<ClusterList, QueryError> {
    let f = q.compile()?;
    let matching: Vec<&ClusterRow> = s
        .clusters
        .iter()
        .map(|c| &**c)
        .filter(|c| f.cluster_matches(s, c, at) && f.state.is_none_or(|st| st == c.worst()))
        .collect();
    let total = matching.len();
    Ok(ClusterList {
        version: s.version,
        page: page(
            matching.into_iter().map(|c| cluster_view(s, c, at)),
            total,
            q,
        ),
    })
}

/// One cluster with every bundle on it.
pub fn cluster(
    s: &Snapshot,
    namespace: &str,
    name: &str,
    at: i64,
) -> Result<ClusterDetail, QueryError> {
    let ci = s
        .cluster_index(namespace, name)
        .ok_or_else(|| QueryError::NotFound(format!("cluster {namespace}/{name}")))?;
    let c = &s.clusters[ci];
    Ok(ClusterDetail {
        version: s.version,
        cluster: cluster_view(s, c, at),
        bundles: c
            .cells
            .iter()
            .map(|cell| deployment_row(s, c, cell, at))
            .collect(),
    })
}

/// One deployment with its non-ready and modified resources, read from the store now
/// (the picture keeps only their count).
pub async fn deployment(
    manager: &Manager,
    s: &Snapshot,
    cluster: (&str, &str),
    bundle: (&str, &str),
    at: i64,
) -> Result<DeploymentDetail, QueryError> {
    let not_found = || {
        QueryError::NotFound(format!(
            "bundle {}/{} on cluster {}/{}",
            bundle.0, bundle.1, cluster.0, cluster.1
        ))
    };
    let ci = s
        .cluster_index(cluster.0, cluster.1)
        .ok_or_else(not_found)?;
    let bi = s.bundle_index(bundle.0, bundle.1).ok_or_else(not_found)?;
    let c = &s.clusters[ci];
    let cell = c
        .cells
        .iter()
        .find(|cell| cell.bundle as usize == bi)
        .ok_or_else(not_found)?;
    let mut row = deployment_row(s, c, cell, at);
    let desired = manager
        .index
        .cluster_id(cluster.0, cluster.1)
        .and_then(|id| manager.index.desired(id))
        .and_then(|(_, d)| d.deployment(bundle.0, bundle.1).cloned())
        .ok_or_else(not_found)?;
    let report = manager
        .store
        .get_status(cluster.0, cluster.1, bundle.0, bundle.1)
        .await?;
    let d = derive_state(&desired, report.as_ref());
    // The fresh read wins over the picture, which may be up to a tick old.
    row.state = d.state;
    row.message = redact(&d.message);
    row.resources = u32::try_from(d.non_ready.len() + d.modified.len()).unwrap_or(u32::MAX);
    row.updated_at = d.updated_at;
    let non_ready = d
        .non_ready
        .into_iter()
        .map(|mut r| {
            r.message = redact(&r.message);
            r
        })
        .collect();
    Ok(DeploymentDetail {
        version: s.version,
        row,
        non_ready,
        modified: d.modified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_filters_cover_equality_inequality_and_existence() {
        let sel = parse_label_filter("env=prod, region!=eu,gpu,!legacy").unwrap();
        assert!(sel.matches(&labels(&[("env", "prod"), ("region", "us"), ("gpu", "1")])));
        assert!(!sel.matches(&labels(&[("env", "prod"), ("region", "eu"), ("gpu", "1")])));
        assert!(!sel.matches(&labels(&[("env", "prod"), ("gpu", "1"), ("legacy", "y")])));
        assert!(!sel.matches(&labels(&[("env", "prod")])));
        assert!(parse_label_filter("env==prod")
            .unwrap()
            .matches(&labels(&[("env", "prod")])));
        assert!(matches!(
            parse_label_filter("=x"),
            Err(QueryError::BadLabelFilter(_))
        ));
        assert!(matches!(
            parse_label_filter("!"),
            Err(QueryError::BadLabelFilter(_))
        ));
    }

    #[test]
    fn state_names_are_case_insensitive_and_checked() {
        assert_eq!(
            parse_state_name("errapplied").unwrap(),
            BundleState::ErrApplied
        );
        assert!(matches!(
            parse_state_name("Broken"),
            Err(QueryError::UnknownState(_))
        ));
    }

    fn row(name: &str, env: &str, states: &[BundleState]) -> std::sync::Arc<ClusterRow> {
        std::sync::Arc::new(ClusterRow {
            namespace: "fleet-default".into(),
            name: name.into(),
            labels: labels(&[("env", env)]).into(),
            groups: vec![format!("{env}-group")],
            agent_version: "v1".into(),
            cells: states
                .iter()
                .enumerate()
                .map(|(i, st)| Cell {
                    deployment_id: "d".into(),
                    applied_id: "d".into(),
                    reported: Some(*st),
                    updated_at: 1,
                    ..Cell::blank(i as u32, *st)
                })
                .collect(),
        })
    }

    fn snapshot() -> Snapshot {
        use BundleState::*;
        let mut s = Snapshot {
            offline_after: 300,
            ..Default::default()
        };
        s.bundles = ["a", "b"]
            .iter()
            .map(|n| BundleRecord {
                namespace: "fleet-default".into(),
                name: n.to_string(),
                ..Default::default()
            })
            .collect();
        s.clusters = vec![
            row("a-1", "prod", &[Ready, Ready]),
            row("a-2", "prod", &[Ready, ErrApplied]),
            row("b-1", "dev", &[Modified, Ready]),
            row("b-2", "dev", &[Ready, Ready]),
        ];
        let mut seen: std::collections::HashMap<(String, String), i64> = s
            .clusters
            .iter()
            .map(|c| ((c.namespace.clone(), c.name.clone()), 1000))
            .collect();
        seen.insert(("fleet-default".into(), "b-2".into()), 1);
        s.last_seen = std::sync::Arc::new(seen);
        s
    }

    #[test]
    fn cluster_lists_filter_then_paginate() {
        let s = snapshot();
        let all = clusters(&s, &ListQuery::default(), 1000).unwrap();
        assert_eq!(all.page.total, 4);
        let q = ListQuery {
            state: Some("ErrApplied".into()),
            ..Default::default()
        };
        let bad = clusters(&s, &q, 1000).unwrap();
        assert_eq!(
            bad.page
                .items
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["a-2"]
        );
        let q = ListQuery {
            label: Some("env=dev".into()),
            q: Some("B-".into()),
            offset: 1,
            limit: Some(1),
            ..Default::default()
        };
        let page = clusters(&s, &q, 1000).unwrap();
        assert_eq!((page.page.total, page.page.items.len()), (2, 1));
        assert_eq!(page.page.items[0].name, "b-2");
        assert!(
            page.page.items[0].offline,
            "last seen at 1, offline after 300 s"
        );
        let q = ListQuery {
            offline: true,
            ..Default::default()
        };
        let off = clusters(&s, &q, 1000).unwrap();
        assert_eq!(
            off.page
                .items
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["b-2"]
        );
        let q = ListQuery {
            group: Some("prod-group".into()),
            ..Default::default()
        };
        assert_eq!(clusters(&s, &q, 1000).unwrap().page.total, 2);
        let q = ListQuery {
            state: Some("nope".into()),
            ..Default::default()
        };
        assert!(clusters(&s, &q, 1000).is_err());
    }

    #[test]
    fn summaries_count_every_cell() {
        let s = snapshot();
        let sums = bundle_summaries(&s);
        assert_eq!(
            (sums[0].desired_ready, sums[0].ready, sums[0].modified),
            (4, 3, 1)
        );
        assert_eq!((sums[1].ready, sums[1].err_applied), (3, 1));
        assert_eq!(sums[1].worst(), BundleState::ErrApplied);
    }

    /// The scale the issue names: 10,000 clusters × 100 bundles (a million cells). The
    /// answers are checked against counts computed independently; the times are printed
    /// (`--nocapture`), never asserted.
    #[tokio::test]
    async fn ten_thousand_clusters_by_a_hundred_bundles() {
        use BundleState::*;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open("sqlite::memory:").await.unwrap();
        let secrets = crate::secrets::SecretBox::load(None, dir.path()).unwrap();
        let manager = Manager::new(
            store,
            secrets,
            crate::manager::Config::new(dir.path().into(), "t"),
        )
        .unwrap();
        let state_of = |c: usize, b: usize| match (c * 7 + b * 13) % 1000 {
            0 => ErrApplied,
            1 | 2 => Modified,
            3..=9 => NotReady,
            _ => Ready,
        };
        let mut s = Snapshot {
            offline_after: 300,
            ..Default::default()
        };
        s.bundles = (0..100)
            .map(|b| BundleRecord {
                namespace: "fleet-default".into(),
                name: format!("bundle-{b:03}"),
                ..Default::default()
            })
            .collect();
        s.clusters = (0..10_000)
            .map(|c| {
                std::sync::Arc::new(ClusterRow {
                    namespace: "fleet-default".into(),
                    name: format!("cluster-{c:05}"),
                    labels: labels(&[("env", if c % 2 == 0 { "prod" } else { "dev" })]).into(),
                    groups: vec![],
                    agent_version: "v1".into(),
                    cells: (0..100)
                        .map(|b| Cell::blank(b as u32, state_of(c, b)))
                        .collect(),
                })
            })
            .collect();

        let started = std::time::Instant::now();
        let o = overview(&manager, &s, 0);
        eprintln!("overview over 10,000 x 100: {:?}", started.elapsed());
        let err_cells = (0..10_000)
            .flat_map(|c| (0..100).map(move |b| (c, b)))
            .filter(|&(c, b)| state_of(c, b) == ErrApplied)
            .count();
        assert_eq!(o.summary.desired_ready, 1_000_000);
        assert_eq!(o.summary.err_applied as usize, err_cells);
        assert_eq!(o.bundles.len(), 100);

        let q = ListQuery {
            state: Some("ErrApplied".into()),
            label: Some("env=prod".into()),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let page = clusters(&s, &q, 0).unwrap();
        eprintln!(
            "cluster filter (worst state + label) over 10,000 x 100: {:?}",
            started.elapsed()
        );
        let expected = (0..10_000)
            .filter(|c| c % 2 == 0 && (0..100).any(|b| state_of(*c, b) == ErrApplied))
            .count();
        assert_eq!(page.page.total, expected);
        assert_eq!(page.page.items.len(), expected.min(DEFAULT_LIMIT));

        let q = ListQuery {
            state: Some("Modified".into()),
            offset: 10,
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let b = bundle(&manager, &s, "fleet-default", "bundle-042", &q, 0).unwrap();
        eprintln!(
            "one bundle's clusters filtered by state: {:?}",
            started.elapsed()
        );
        let expected = (0..10_000).filter(|c| state_of(*c, 42) == Modified).count();
        assert_eq!(b.clusters.total, expected);
        assert_eq!(b.bundle.summary.desired_ready, 10_000);
    }
}
