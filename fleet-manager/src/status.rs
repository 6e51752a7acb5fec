//! Status roll-ups: the state of each bundle on each cluster, summarized per bundle,
//! GitRepo, cluster and cluster group with Fleet's summary counts, plus agent last-seen,
//! version and offline detection.
//!
//! Every listing here is filterable and paginated ([`Filter`], [`Page`]) so the CLI, the
//! admin API and the dashboard share the same queries.

use std::collections::BTreeMap;

use fleet_bundle::deployment::{BundleDeployment, BundleState};
use fleet_bundle::selector::LabelSelector;
use serde::Serialize;

use crate::manager::{parse_state, Manager, ManagerError};
use crate::resources::Kind;
use crate::store::{now, StatusRecord};

/// Fleet's `BundleSummary` counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub desired_ready: u64,
    pub ready: u64,
    pub non_ready: u64,
    pub wait_applied: u64,
    pub err_applied: u64,
    pub out_of_sync: u64,
    pub modified: u64,
    pub pending: u64,
}

impl Summary {
    pub fn add(&mut self, state: BundleState, n: u64) {
        match state {
            BundleState::Ready => self.ready += n,
            BundleState::NotReady => self.non_ready += n,
            BundleState::WaitApplied => self.wait_applied += n,
            BundleState::ErrApplied => self.err_applied += n,
            BundleState::OutOfSync => self.out_of_sync += n,
            BundleState::Modified => self.modified += n,
            BundleState::Pending => self.pending += n,
        }
    }

    pub fn merge(&mut self, o: &Summary) {
        self.desired_ready += o.desired_ready;
        self.ready += o.ready;
        self.non_ready += o.non_ready;
        self.wait_applied += o.wait_applied;
        self.err_applied += o.err_applied;
        self.out_of_sync += o.out_of_sync;
        self.modified += o.modified;
        self.pending += o.pending;
    }

    /// The worst state present (Fleet's ranking), `Ready` when all are ready.
    pub fn worst(&self) -> BundleState {
        BundleState::ALL
            .into_iter()
            .filter(|s| self.count(*s) > 0)
            .max_by_key(|s| s.rank())
            .unwrap_or(BundleState::Ready)
    }

    pub fn count(&self, s: BundleState) -> u64 {
        match s {
            BundleState::Ready => self.ready,
            BundleState::NotReady => self.non_ready,
            BundleState::WaitApplied => self.wait_applied,
            BundleState::ErrApplied => self.err_applied,
            BundleState::OutOfSync => self.out_of_sync,
            BundleState::Modified => self.modified,
            BundleState::Pending => self.pending,
        }
    }
}

/// What a bundle row's STATE says: `ErrApplied` when it failed to build, `NoTargets`
/// when no cluster is targeted (an empty summary is not Ready), else the worst state.
pub fn bundle_display_state(summary: &Summary, build_error: &str) -> &'static str {
    if !build_error.is_empty() {
        BundleState::ErrApplied.as_str()
    } else if summary.desired_ready == 0 {
        "NoTargets"
    } else {
        summary.worst().as_str()
    }
}

/// Filters shared by the listings; every field is optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub namespace: Option<String>,
    /// Substring of the name.
    pub name: Option<String>,
    /// Only rows whose (worst) state is this one.
    pub state: Option<BundleState>,
    /// Label selector in `k=v,k2=v2` form (clusters).
    pub labels: Option<String>,
    /// Only clusters of this group.
    pub group: Option<String>,
    #[serde(default)]
    pub offset: usize,
    pub limit: Option<usize>,
}

impl Filter {
    fn selector(&self) -> Result<Option<LabelSelector>, ManagerError> {
        match &self.labels {
            None => Ok(None),
            Some(l) if l.trim().is_empty() => Ok(None),
            Some(l) => {
                let labels = fleet_bundle::selector::parse_labels([l.as_str()])
                    .map_err(ManagerError::BadRequest)?;
                Ok(Some(LabelSelector {
                    match_labels: labels,
                    match_expressions: vec![],
                }))
            }
        }
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }

    fn name_ok(&self, name: &str) -> bool {
        self.name.as_deref().is_none_or(|n| name.contains(n))
    }
}

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

fn paginate<T>(mut all: Vec<T>, f: &Filter) -> Page<T> {
    let total = all.len();
    let limit = f.limit();
    let items: Vec<T> = all.drain(f.offset.min(total)..).take(limit).collect();
    Page {
        items,
        total,
        offset: f.offset,
        limit,
    }
}

/// The state of one bundle on one cluster.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentState {
    pub bundle: String,
    pub namespace: String,
    #[serde(rename = "deploymentID")]
    pub deployment_id: String,
    pub state: BundleState,
    pub message: String,
    pub non_ready: Vec<fleet_bundle::deployment::ResourceStatus>,
    pub modified: Vec<fleet_bundle::deployment::ModifiedResource>,
    pub updated_at: i64,
}

/// A cluster's state for one desired deployment, from its latest report: no report, or a
/// report about another deploymentID, is WaitApplied; a report at the desired ID carries
/// its own state unless it has not been applied yet.
pub fn derive_state(desired: &BundleDeployment, report: Option<&StatusRecord>) -> DeploymentState {
    let (state, message, non_ready, modified, updated_at) = match report {
        None => (
            BundleState::WaitApplied,
            "waiting for the agent to report".to_string(),
            vec![],
            vec![],
            0,
        ),
        Some(r) if r.deployment_id != desired.deployment_id => (
            BundleState::WaitApplied,
            format!(
                "agent reports {} while {} is desired",
                r.deployment_id, desired.deployment_id
            ),
            vec![],
            vec![],
            r.updated_at,
        ),
        Some(r) => {
            let state = parse_state(&r.state);
            let applied = r.report.applied_deployment_id.is_empty()
                || r.report.applied_deployment_id == desired.deployment_id;
            let state = if !applied && state != BundleState::ErrApplied {
                BundleState::WaitApplied
            } else {
                state
            };
            (
                state,
                r.report.message.clone(),
                r.report.non_ready.clone(),
                r.report.modified.clone(),
                r.updated_at,
            )
        }
    };
    DeploymentState {
        bundle: desired.bundle.clone(),
        namespace: desired.namespace.clone(),
        deployment_id: desired.deployment_id.clone(),
        state,
        message,
        non_ready,
        modified,
        updated_at,
    }
}

/// A cluster row of the cluster listing.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSummary {
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

/// A cluster with the state of each of its bundles.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterDetail {
    #[serde(flatten)]
    pub cluster: ClusterSummary,
    pub bundles: Vec<DeploymentState>,
}

/// The cluster's deployments with their states.
async fn cluster_states(
    manager: &Manager,
    ns: &str,
    name: &str,
) -> Result<Vec<DeploymentState>, ManagerError> {
    let Some(id) = manager.index.cluster_id(ns, name) else {
        return Err(ManagerError::NotFound(format!(
            "cluster {ns}/{name} not found"
        )));
    };
    let Some((_, desired)) = manager.index.desired(id) else {
        return Err(ManagerError::NotFound(format!(
            "cluster {ns}/{name} not found"
        )));
    };
    let reports: BTreeMap<(String, String), StatusRecord> = manager
        .store
        .statuses_of_cluster(ns, name)
        .await?
        .into_iter()
        .map(|r| ((r.bundle_namespace.clone(), r.bundle.clone()), r))
        .collect();
    Ok(desired
        .deployments
        .iter()
        .map(|v| {
            let d = &v.deployment;
            derive_state(d, reports.get(&(d.namespace.clone(), d.bundle.clone())))
        })
        .collect())
}

fn summarize(states: &[DeploymentState]) -> Summary {
    let mut s = Summary {
        desired_ready: states.len() as u64,
        ..Default::default()
    };
    for st in states {
        s.add(st.state, 1);
    }
    s
}

/// Clusters, filtered and paginated, each with the summary of its bundles.
pub async fn clusters(manager: &Manager, f: &Filter) -> Result<Page<ClusterSummary>, ManagerError> {
    let selector = f.selector()?;
    let offline_before = now() - manager.config.offline_after.as_secs() as i64;
    let views: Vec<_> = manager
        .index
        .clusters(f.namespace.as_deref(), selector.as_ref())
        .into_iter()
        .filter(|c| f.name_ok(&c.name))
        .filter(|c| f.group.as_ref().is_none_or(|g| c.groups.contains(g)))
        .collect();
    // States need the store; without a state filter only the page is looked up.
    let needs_all = f.state.is_some();
    let mut rows = Vec::new();
    let page_views: Vec<_> = if needs_all {
        views
    } else {
        let p = paginate(views, f);
        let total = p.total;
        let mut out = Vec::new();
        for v in p.items {
            let states = cluster_states(manager, &v.namespace, &v.name).await?;
            let summary = summarize(&states);
            out.push(ClusterSummary {
                offline: v.last_seen < offline_before,
                state: summary.worst(),
                summary,
                namespace: v.namespace,
                name: v.name,
                labels: v.labels,
                groups: v.groups,
                agent_version: v.agent_version,
                last_seen: v.last_seen,
            });
        }
        return Ok(Page {
            items: out,
            total,
            offset: f.offset,
            limit: f.limit(),
        });
    };
    for v in page_views {
        let states = cluster_states(manager, &v.namespace, &v.name).await?;
        let summary = summarize(&states);
        if f.state.is_some_and(|s| s != summary.worst()) {
            continue;
        }
        rows.push(ClusterSummary {
            offline: v.last_seen < offline_before,
            state: summary.worst(),
            summary,
            namespace: v.namespace,
            name: v.name,
            labels: v.labels,
            groups: v.groups,
            agent_version: v.agent_version,
            last_seen: v.last_seen,
        });
    }
    Ok(paginate(rows, f))
}

/// One cluster with its bundles' states.
pub async fn cluster(
    manager: &Manager,
    ns: &str,
    name: &str,
) -> Result<ClusterDetail, ManagerError> {
    let f = Filter {
        namespace: Some(ns.to_string()),
        ..Default::default()
    };
    let view = manager
        .index
        .clusters(f.namespace.as_deref(), None)
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| ManagerError::NotFound(format!("cluster {ns}/{name} not found")))?;
    let states = cluster_states(manager, ns, name).await?;
    let summary = summarize(&states);
    let offline_before = now() - manager.config.offline_after.as_secs() as i64;
    Ok(ClusterDetail {
        cluster: ClusterSummary {
            offline: view.last_seen < offline_before,
            state: summary.worst(),
            summary,
            namespace: view.namespace,
            name: view.name,
            labels: view.labels,
            groups: view.groups,
            agent_version: view.agent_version,
            last_seen: view.last_seen,
        },
        bundles: states,
    })
}

/// A bundle row: its summary over the clusters it targets, its build error, rollout.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleSummary {
    pub namespace: String,
    pub name: String,
    pub gitrepo: String,
    pub commit: String,
    pub content_digest: String,
    pub error: String,
    pub rolling_out: bool,
    pub state: BundleState,
    /// [`bundle_display_state`]: what tables show.
    pub display_state: &'static str,
    pub summary: Summary,
}

/// Bundles, filtered and paginated, with Fleet's summary. Clusters targeted without a
/// report (at any deploymentID) count as WaitApplied.
pub async fn bundles(manager: &Manager, f: &Filter) -> Result<Page<BundleSummary>, ManagerError> {
    let targeted = manager.index.targeted_counts();
    let current = manager.index.current_deployment_ids();
    let mut reported: BTreeMap<(String, String), Summary> = BTreeMap::new();
    for (ns, bundle, deployment_id, state, n) in manager.store.status_counts_by_deployment().await?
    {
        let key = (ns, bundle);
        // A report about a deploymentID no cluster should run any more (the cluster has
        // not applied the new one yet) counts as WaitApplied, as `derive_state` does.
        let state = if current
            .get(&key)
            .is_some_and(|ids| ids.contains(&deployment_id))
        {
            parse_state(&state)
        } else {
            BundleState::WaitApplied
        };
        reported.entry(key).or_default().add(state, n.max(0) as u64);
    }
    let mut rows = Vec::new();
    for b in manager.store.list_bundles(f.namespace.as_deref()).await? {
        if !f.name_ok(&b.name) {
            continue;
        }
        let key = (b.namespace.clone(), b.name.clone());
        let mut summary = reported.get(&key).cloned().unwrap_or_default();
        let desired = targeted.get(&key).copied().unwrap_or(0) as u64;
        summary.desired_ready = desired;
        let counted: u64 = BundleState::ALL.iter().map(|s| summary.count(*s)).sum();
        summary.wait_applied += desired.saturating_sub(counted);
        let state = if b.error.is_empty() {
            summary.worst()
        } else {
            BundleState::ErrApplied
        };
        if f.state.is_some_and(|s| s != state) {
            continue;
        }
        rows.push(BundleSummary {
            rolling_out: b.rollout.is_some(),
            state,
            display_state: bundle_display_state(&summary, &b.error),
            summary,
            namespace: b.namespace,
            name: b.name,
            gitrepo: b.gitrepo,
            commit: b.commit,
            content_digest: b.content_digest,
            error: b.error,
        });
    }
    Ok(paginate(rows, f))
}

/// A GitRepo row: its fetch status and the roll-up of its bundles.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitRepoSummary {
    pub namespace: String,
    pub name: String,
    pub repo: String,
    pub commit: String,
    pub fetch_error: String,
    /// Why the fetched commit could not be scanned into bundles (a missing path…).
    pub scan_error: String,
    pub bundle_errors: Vec<String>,
    pub bundles: usize,
    pub ready_bundles: usize,
    pub state: BundleState,
    pub summary: Summary,
}

/// GitRepos with their roll-ups.
pub async fn gitrepos(manager: &Manager, f: &Filter) -> Result<Page<GitRepoSummary>, ManagerError> {
    let all_bundles = bundles(
        manager,
        &Filter {
            namespace: f.namespace.clone(),
            limit: Some(usize::MAX),
            ..Default::default()
        },
    )
    .await?;
    let mut rows = Vec::new();
    for o in manager
        .store
        .list_objects(Kind::GitRepo.as_str(), f.namespace.as_deref())
        .await?
    {
        if !f.name_ok(&o.name) {
            continue;
        }
        let mut summary = Summary::default();
        let mut count = 0;
        let mut ready = 0;
        for b in all_bundles
            .items
            .iter()
            .filter(|b| b.namespace == o.namespace && b.gitrepo == o.name)
        {
            summary.merge(&b.summary);
            count += 1;
            if b.state == BundleState::Ready {
                ready += 1;
            }
        }
        let s = |k: &str| {
            o.status
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let fetch_error = s("fetchError");
        let bundle_errors: Vec<String> = o
            .status
            .get("bundleErrors")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let scan_error = s("scanError");
        let state =
            if !fetch_error.is_empty() || !scan_error.is_empty() || !bundle_errors.is_empty() {
                BundleState::ErrApplied
            } else {
                summary.worst()
            };
        if f.state.is_some_and(|st| st != state) {
            continue;
        }
        rows.push(GitRepoSummary {
            repo: o
                .spec
                .pointer("/spec/repo")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            commit: s("commit"),
            fetch_error,
            scan_error,
            bundle_errors,
            bundles: count,
            ready_bundles: ready,
            state,
            summary,
            namespace: o.namespace,
            name: o.name,
        });
    }
    Ok(paginate(rows, f))
}

/// A cluster group row: member count, non-ready members and the members' bundle summary.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummary {
    pub namespace: String,
    pub name: String,
    pub cluster_count: usize,
    pub non_ready_cluster_count: usize,
    pub summary: Summary,
}

/// Cluster groups with their roll-ups (members are looked up in the index).
pub async fn groups(manager: &Manager, f: &Filter) -> Result<Page<GroupSummary>, ManagerError> {
    let mut rows = Vec::new();
    for o in manager
        .store
        .list_objects(Kind::ClusterGroup.as_str(), f.namespace.as_deref())
        .await?
    {
        if !f.name_ok(&o.name) {
            continue;
        }
        let members = clusters(
            manager,
            &Filter {
                namespace: Some(o.namespace.clone()),
                group: Some(o.name.clone()),
                limit: Some(usize::MAX),
                ..Default::default()
            },
        )
        .await?;
        let mut summary = Summary::default();
        let mut non_ready = 0;
        for c in &members.items {
            summary.merge(&c.summary);
            if c.state != BundleState::Ready {
                non_ready += 1;
            }
        }
        rows.push(GroupSummary {
            namespace: o.namespace,
            name: o.name,
            cluster_count: members.total,
            non_ready_cluster_count: non_ready,
            summary,
        });
    }
    Ok(paginate(rows, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_targeted_at_no_cluster_is_not_ready() {
        let mut s = Summary::default();
        assert_eq!(bundle_display_state(&s, ""), "NoTargets");
        assert_eq!(bundle_display_state(&s, "bad chart"), "ErrApplied");
        s.desired_ready = 2;
        s.add(BundleState::Ready, 2);
        assert_eq!(bundle_display_state(&s, ""), "Ready");
        s.add(BundleState::Modified, 1);
        assert_eq!(bundle_display_state(&s, ""), "Modified");
    }

    #[test]
    fn summary_worst_follows_fleet_ranking() {
        let mut s = Summary::default();
        assert_eq!(s.worst(), BundleState::Ready);
        s.add(BundleState::Ready, 3);
        s.add(BundleState::NotReady, 1);
        assert_eq!(s.worst(), BundleState::NotReady);
        s.add(BundleState::ErrApplied, 1);
        assert_eq!(s.worst(), BundleState::ErrApplied);
    }

    #[test]
    fn stale_reports_are_wait_applied() {
        let d = BundleDeployment {
            bundle: "b".into(),
            namespace: "fleet-default".into(),
            deployment_id: "s-new".into(),
            ..Default::default()
        };
        assert_eq!(derive_state(&d, None).state, BundleState::WaitApplied);
        let report = |id: &str, applied: &str, state: BundleState| StatusRecord {
            cluster_namespace: "fleet-default".into(),
            cluster: "c".into(),
            bundle_namespace: "fleet-default".into(),
            bundle: "b".into(),
            deployment_id: id.into(),
            state: state.as_str().into(),
            report: fleet_bundle::deployment::BundleDeploymentStatus {
                bundle: "b".into(),
                namespace: "fleet-default".into(),
                deployment_id: id.into(),
                applied_deployment_id: applied.into(),
                state,
                message: String::new(),
                non_ready: vec![],
                modified: vec![],
                release: String::new(),
                sequence: 1,
            },
            sequence: 1,
            updated_at: 1,
        };
        assert_eq!(
            derive_state(&d, Some(&report("s-old", "s-old", BundleState::Ready))).state,
            BundleState::WaitApplied
        );
        assert_eq!(
            derive_state(&d, Some(&report("s-new", "s-new", BundleState::Ready))).state,
            BundleState::Ready
        );
        assert_eq!(
            derive_state(&d, Some(&report("s-new", "s-old", BundleState::Ready))).state,
            BundleState::WaitApplied
        );
        assert_eq!(
            derive_state(&d, Some(&report("s-new", "s-old", BundleState::ErrApplied))).state,
            BundleState::ErrApplied
        );
    }
}
