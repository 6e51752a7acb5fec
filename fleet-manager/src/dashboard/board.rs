//! The dashboard's in-memory picture of the fleet: every cluster with the derived state
//! of each bundle targeted at it, kept fresh by a background loop and versioned so pages
//! can be told "something changed" over server-sent events.
//!
//! Why a picture and not a query per request: the status table has one row per
//! (cluster, bundle), a million rows at 10,000 clusters × 100 bundles, and filtering
//! clusters by their worst state needs all of them. Answering that from SQL on every
//! keystroke would decode every report each time; here each report is decoded when it
//! changes, and a filter is a scan over compact rows in memory.
//!
//! How it stays fresh, using only what the manager already exposes:
//! - every agent call (status report or desired-state poll) touches the cluster's
//!   last-seen time in the targeting index; each tick re-reads the reports of exactly the
//!   clusters seen since the previous tick (a status report always comes with a touch);
//! - a change of the store's global revision (clusters, bundles, groups) rebuilds the
//!   whole picture (spaced out during bursts, see [`RefreshState`]), as do a periodic
//!   resync (reports written through another replica) and the first tick after a start;
//! - GitRepo objects (commit, fetch error) are re-read each tick: their status does not
//!   bump the revision.
//!
//! The version only moves when something a page shows changed (a state, a message, a
//! cluster going offline, a GitRepo status), not on every heartbeat.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use fleet_bundle::deployment::BundleState;
use tokio::sync::watch;

use crate::manager::Manager;
use crate::resources::Kind;
use crate::status::derive_state;
use crate::store::{now, BundleRecord, ObjectRecord, StatusRecord, StoreError};

/// How often the picture is brought up to date (the live-update latency bound).
pub const TICK: Duration = Duration::from_millis(500);
/// How often everything is re-read regardless of change signals.
pub const RESYNC: Duration = Duration::from_secs(30);
/// The shortest time between two full rebuilds triggered by changes.
pub const MIN_FULL_GAP: Duration = Duration::from_secs(2);

/// The derived state of one bundle on one cluster, as the pages list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Position of the bundle in [`Snapshot::bundles`].
    pub bundle: u32,
    pub state: BundleState,
    pub message: String,
    /// The deploymentID the cluster should run.
    pub deployment_id: String,
    /// The deploymentID the agent says it applied (empty: no report).
    pub applied_id: String,
    /// The state the agent reported, before derivation (rollouts plan on it).
    pub reported: Option<BundleState>,
    /// How many non-ready and modified resources the report lists.
    pub resources: u32,
    pub updated_at: i64,
}

/// One cluster and the state of every bundle targeted at it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub groups: Vec<String>,
    pub agent_version: String,
    pub cells: Vec<Cell>,
}

impl ClusterRow {
    /// The worst state of the cluster's bundles by Fleet's ranking; `Ready` with none.
    pub fn worst(&self) -> BundleState {
        self.cells
            .iter()
            .map(|c| c.state)
            .max_by_key(|s| s.rank())
            .unwrap_or(BundleState::Ready)
    }
}

/// One consistent picture of the fleet.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Moves whenever something shown changed; pages re-fetch when it does.
    pub version: u64,
    /// Bundles sorted by (namespace, name).
    pub bundles: Vec<BundleRecord>,
    /// Clusters sorted by (namespace, name).
    pub clusters: Vec<Arc<ClusterRow>>,
    pub gitrepos: Vec<ObjectRecord>,
    pub groups: Vec<ObjectRecord>,
    /// Last agent contact per (namespace, name), refreshed every tick.
    pub last_seen: HashMap<(String, String), i64>,
    /// Seconds without contact after which a cluster is offline.
    pub offline_after: i64,
}

impl Snapshot {
    /// The position of a bundle in [`Snapshot::bundles`].
    pub fn bundle_index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.bundles
            .binary_search_by(|b| (b.namespace.as_str(), b.name.as_str()).cmp(&(namespace, name)))
            .ok()
    }

    /// The position of a cluster in [`Snapshot::clusters`].
    pub fn cluster_index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.clusters
            .binary_search_by(|c| (c.namespace.as_str(), c.name.as_str()).cmp(&(namespace, name)))
            .ok()
    }

    pub fn last_seen(&self, namespace: &str, name: &str) -> i64 {
        self.last_seen
            .get(&(namespace.to_string(), name.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Whether the cluster's agent has been silent for longer than the offline limit.
    pub fn offline(&self, namespace: &str, name: &str, at: i64) -> bool {
        self.last_seen(namespace, name) < at - self.offline_after
    }

    fn offline_count(&self, at: i64) -> usize {
        self.clusters
            .iter()
            .filter(|c| self.offline(&c.namespace, &c.name, at))
            .count()
    }
}

/// The live picture and its change signal.
pub struct Board {
    snapshot: RwLock<Arc<Snapshot>>,
    version: watch::Sender<u64>,
}

impl Board {
    /// An empty board; [`Board::start`] fills it and keeps it fresh.
    pub fn new() -> Board {
        let (version, _) = watch::channel(0);
        Board {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            version,
        }
    }

    /// Starts the refresh loop. It holds only weak references, so it ends once the
    /// manager or the board is dropped (a stopped server leaves no task behind).
    pub fn start(self: &Arc<Board>, manager: &Arc<Manager>) {
        let board = Arc::downgrade(self);
        let manager = Arc::downgrade(manager);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(refresh_loop(board, manager));
            }
            Err(_) => tracing::warn!("no async runtime: the dashboard board will stay empty"),
        }
    }

    /// The current picture (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A receiver that wakes whenever the version moves.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Brings the picture up to date now; `full` re-reads everything. Returns whether
    /// the version moved.
    pub async fn refresh(
        &self,
        manager: &Manager,
        state: &mut RefreshState,
    ) -> Result<bool, StoreError> {
        let old = self.snapshot();
        let at = now();
        let revision = manager.store.revision().await?;
        let seen = manager.index.last_seen_all();
        let full = state
            .full_due(revision != state.revision.unwrap_or(-1) || seen.len() != old.clusters.len());
        let mut next = Snapshot {
            version: old.version,
            bundles: Vec::new(),
            clusters: Vec::new(),
            gitrepos: manager
                .store
                .list_objects(Kind::GitRepo.as_str(), None)
                .await?,
            groups: Vec::new(),
            last_seen: seen
                .iter()
                .map(|(ns, n, s)| ((ns.clone(), n.clone()), *s))
                .collect(),
            offline_after: manager.config.offline_after.as_secs() as i64,
        };
        let mut changed = next
            .gitrepos
            .iter()
            .map(status_key)
            .ne(old.gitrepos.iter().map(status_key));
        if full {
            let started = Instant::now();
            rebuild(manager, &mut next).await?;
            state.full_took = started.elapsed();
            changed |= next.clusters != old.clusters
                || next.bundles != old.bundles
                || next
                    .groups
                    .iter()
                    .map(status_key)
                    .ne(old.groups.iter().map(status_key));
            state.revision = Some(revision);
            state.last_full = Some(Instant::now());
        } else {
            next.bundles = old.bundles.clone();
            next.groups = old.groups.clone();
            next.clusters = old.clusters.clone();
            // Seconds resolution: re-read the clusters seen in the second the previous
            // tick ran as well, so a report landing just after it is not missed.
            let dirty: Vec<(String, String)> = seen
                .into_iter()
                .filter(|(_, _, s)| *s >= state.scanned_from)
                .map(|(ns, n, _)| (ns, n))
                .collect();
            for (ns, name) in dirty {
                let Some(i) = next.cluster_index(&ns, &name) else {
                    continue;
                };
                let row = cluster_row(manager, &next.bundles, &next.clusters[i]).await?;
                if *next.clusters[i] != row {
                    next.clusters[i] = Arc::new(row);
                    changed = true;
                }
            }
        }
        state.scanned_from = at - 1;
        changed |= next.offline_count(at) != state.offline;
        state.offline = next.offline_count(at);
        if changed {
            next.version = old.version + 1;
        }
        let version = next.version;
        match self.snapshot.write() {
            Ok(mut s) => *s = Arc::new(next),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(next),
        }
        if changed {
            self.version.send_replace(version);
        }
        Ok(changed)
    }
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

/// What the refresh loop remembers between ticks.
#[derive(Debug, Default)]
pub struct RefreshState {
    revision: Option<i64>,
    last_full: Option<Instant>,
    /// How long the last full rebuild took, which spaces the next ones.
    full_took: Duration,
    /// Clusters seen at or after this time are re-read on the next tick.
    scanned_from: i64,
    offline: usize,
}

impl RefreshState {
    /// Whether this tick re-reads everything: always the first time; when `changed`
    /// (revision or cluster set), but no more often than every [`MIN_FULL_GAP`] or four
    /// times the last rebuild's duration, so a burst of registrations or pushes does not
    /// keep a core busy rebuilding; and every [`RESYNC`] (or ten rebuild durations).
    fn full_due(&self, changed: bool) -> bool {
        let Some(last) = self.last_full else {
            return true;
        };
        let since = last.elapsed();
        (changed && since >= MIN_FULL_GAP.max(self.full_took * 4))
            || since >= RESYNC.max(self.full_took * 10)
    }
}

fn status_key(o: &ObjectRecord) -> (&str, &str, i64, &serde_json::Value) {
    (&o.namespace, &o.name, o.generation, &o.status)
}

async fn refresh_loop(board: Weak<Board>, manager: Weak<Manager>) {
    let mut state = RefreshState::default();
    loop {
        let (Some(board), Some(manager)) = (board.upgrade(), manager.upgrade()) else {
            tracing::debug!("dashboard board stopped: the manager is gone");
            return;
        };
        let started = Instant::now();
        match board.refresh(&manager, &mut state).await {
            Ok(true) => tracing::debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "dashboard picture changed"
            ),
            Ok(false) => {}
            // The store may be restarting; the next tick retries.
            Err(e) => tracing::warn!(error = %e, "dashboard refresh failed"),
        }
        drop(board);
        drop(manager);
        tokio::time::sleep(TICK).await;
    }
}

/// Re-reads clusters, bundles, groups and every report.
async fn rebuild(manager: &Manager, next: &mut Snapshot) -> Result<(), StoreError> {
    let mut bundles = manager.index.bundle_records();
    bundles.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    next.bundles = bundles;
    next.groups = manager
        .store
        .list_objects(Kind::ClusterGroup.as_str(), None)
        .await?;
    // Rows with the desired deployments first (all WaitApplied), then the reports of one
    // bundle at a time patched in, so only one bundle's reports are decoded at once.
    let mut rows: Vec<ClusterRow> = manager
        .index
        .clusters(None, None)
        .into_iter()
        .map(|v| {
            let mut row = ClusterRow {
                namespace: v.namespace,
                name: v.name,
                labels: v.labels,
                groups: v.groups,
                agent_version: v.agent_version,
                cells: Vec::new(),
            };
            row.cells = desired_cells(manager, &next.bundles, &row, &HashMap::new());
            row
        })
        .collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let position: HashMap<(String, String), usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.namespace.clone(), r.name.clone()), i))
        .collect();
    for (bi, b) in next.bundles.iter().enumerate() {
        let mut reports: HashMap<(String, String), StatusRecord> = manager
            .store
            .statuses_of_bundle(&b.namespace, &b.name)
            .await?
            .into_iter()
            .map(|r| ((r.cluster_namespace.clone(), r.cluster.clone()), r))
            .collect();
        if reports.is_empty() {
            continue;
        }
        for ((ns, cluster), report) in reports.drain() {
            let Some(&ri) = position.get(&(ns, cluster)) else {
                continue;
            };
            let row = &mut rows[ri];
            let Some(cell) = row.cells.iter_mut().find(|c| c.bundle as usize == bi) else {
                continue;
            };
            if let Some(desired) =
                desired_of(manager, &row.namespace, &row.name, &b.namespace, &b.name)
            {
                *cell = cell_of(bi as u32, &desired, Some(&report));
            }
        }
    }
    next.clusters = rows.into_iter().map(Arc::new).collect();
    Ok(())
}

/// A cluster's row re-read from its reports.
async fn cluster_row(
    manager: &Manager,
    bundles: &[BundleRecord],
    old: &ClusterRow,
) -> Result<ClusterRow, StoreError> {
    let reports: HashMap<(String, String), StatusRecord> = manager
        .store
        .statuses_of_cluster(&old.namespace, &old.name)
        .await?
        .into_iter()
        .map(|r| ((r.bundle_namespace.clone(), r.bundle.clone()), r))
        .collect();
    let mut row = old.clone();
    row.cells = desired_cells(manager, bundles, old, &reports);
    Ok(row)
}

/// The cells of a cluster: one per deployment the index gives it, in bundle order.
fn desired_cells(
    manager: &Manager,
    bundles: &[BundleRecord],
    row: &ClusterRow,
    reports: &HashMap<(String, String), StatusRecord>,
) -> Vec<Cell> {
    let Some((_, desired)) = manager
        .index
        .cluster_id(&row.namespace, &row.name)
        .and_then(|id| manager.index.desired(id))
    else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut cells: Vec<Cell> = desired
        .deployments
        .iter()
        .filter_map(|v| {
            let d = &v.deployment;
            let bi = bundles
                .binary_search_by(|b| {
                    (b.namespace.as_str(), b.name.as_str())
                        .cmp(&(d.namespace.as_str(), d.bundle.as_str()))
                })
                .ok()?;
            seen.insert(bi).then(|| {
                cell_of(
                    bi as u32,
                    d,
                    reports.get(&(d.namespace.clone(), d.bundle.clone())),
                )
            })
        })
        .collect();
    cells.sort_by_key(|c| c.bundle);
    cells
}

fn desired_of(
    manager: &Manager,
    cluster_ns: &str,
    cluster: &str,
    bundle_ns: &str,
    bundle: &str,
) -> Option<fleet_bundle::deployment::BundleDeployment> {
    let id = manager.index.cluster_id(cluster_ns, cluster)?;
    let (_, desired) = manager.index.desired(id)?;
    desired.deployment(bundle_ns, bundle).cloned()
}

/// The cell for one deployment and its latest report, derived exactly as the status
/// API derives it ([`crate::status::derive_state`]) so both always agree.
fn cell_of(
    bundle: u32,
    desired: &fleet_bundle::deployment::BundleDeployment,
    report: Option<&StatusRecord>,
) -> Cell {
    let d = derive_state(desired, report);
    let applied_id = report
        .map(|r| {
            if r.report.applied_deployment_id.is_empty() {
                r.deployment_id.clone()
            } else {
                r.report.applied_deployment_id.clone()
            }
        })
        .unwrap_or_default();
    Cell {
        bundle,
        state: d.state,
        message: d.message,
        deployment_id: d.deployment_id,
        applied_id,
        reported: report.map(|r| crate::manager::parse_state(&r.state)),
        resources: u32::try_from(d.non_ready.len() + d.modified.len()).unwrap_or(u32::MAX),
        updated_at: d.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_rebuilds_are_spaced_out_during_bursts() {
        let mut s = RefreshState::default();
        assert!(s.full_due(false), "the first tick always rebuilds");
        s.last_full = Some(Instant::now());
        assert!(!s.full_due(true), "a change right after a rebuild waits");
        assert!(!s.full_due(false));
        s.last_full = Instant::now().checked_sub(MIN_FULL_GAP);
        assert!(s.full_due(true), "a change after the gap rebuilds");
        assert!(!s.full_due(false), "no change and no resync due");
        s.full_took = Duration::from_secs(1);
        assert!(
            !s.full_due(true),
            "a slow rebuild widens the gap to four times its duration"
        );
        s.last_full = Instant::now().checked_sub(RESYNC.max(Duration::from_secs(10)));
        assert!(s.full_due(false), "the periodic resync");
    }

    #[test]
    fn worst_state_follows_fleet_ranking() {
        let cell = |state| Cell {
            bundle: 0,
            state,
            message: String::new(),
            deployment_id: String::new(),
            applied_id: String::new(),
            reported: None,
            resources: 0,
            updated_at: 0,
        };
        let mut row = ClusterRow {
            namespace: "ns".into(),
            name: "c".into(),
            labels: BTreeMap::new(),
            groups: vec![],
            agent_version: String::new(),
            cells: vec![],
        };
        assert_eq!(row.worst(), BundleState::Ready);
        row.cells = vec![
            cell(BundleState::Ready),
            cell(BundleState::Modified),
            cell(BundleState::NotReady),
        ];
        assert_eq!(row.worst(), BundleState::Modified);
        row.cells.push(cell(BundleState::ErrApplied));
        assert_eq!(row.worst(), BundleState::ErrApplied);
    }
}
