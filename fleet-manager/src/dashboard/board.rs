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
//! How it stays fresh, event-driven, so an idle fleet costs nothing per cluster:
//! - a stored status report marks its cluster dirty in the manager and wakes the loop
//!   ([`Manager::take_status_dirty`], `board_wake`); the refresh re-reads the reports of
//!   exactly those clusters. Desired-state polls only touch a last-seen atomic and cause
//!   no work here (earlier, every poll made its cluster's reports be re-read: at 10,000
//!   agents polling every 30 s that was most of an idle manager's CPU);
//! - reports written through another replica are found by listing, every
//!   [`REPORT_SCAN`], the clusters with a report stored since the previous listing;
//! - a change of the store's global revision (clusters, bundles, groups) rebuilds the
//!   whole picture (spaced out during bursts, see [`RefreshState`]), as do the first
//!   tick after a start and a rare safety resync ([`RESYNC`]);
//! - GitRepo objects (commit, fetch error) are re-read each tick: their status does not
//!   bump the revision;
//! - clusters going offline are noticed by counting stale last-seen atomics each tick
//!   (no allocation); the last-seen times shown are re-read every tenth of the offline
//!   limit (at most 10 s) or when something else changed.
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
/// After a wake-up, how long to let further changes gather before refreshing, so a
/// push answered by thousands of reports costs a few refreshes, not thousands.
pub const COALESCE: Duration = Duration::from_millis(50);
/// How often the reports stored since the last look are listed (one scan of the
/// `updated_at` index returning cluster names only), to pick up reports written through
/// other replicas.
pub const REPORT_SCAN: Duration = Duration::from_secs(5);
/// How often everything is re-read regardless of change signals: a safety net only, as
/// a full rebuild decodes every report (seconds of CPU at 100,000 clusters).
pub const RESYNC: Duration = Duration::from_secs(300);
/// The shortest time between two full rebuilds triggered by changes. Short, because
/// until the rebuild the picture shows the previous desired state (a push not yet
/// reflected); the real spacing comes from the rebuild's own cost (see
/// [`RefreshState::full_due`]), which only large fleets make long.
pub const MIN_FULL_GAP: Duration = Duration::from_millis(250);

/// The derived state of one bundle on one cluster, as the pages list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Position of the bundle in [`Snapshot::bundles`].
    pub bundle: u32,
    pub state: BundleState,
    pub message: String,
    /// The deploymentID the cluster should run (interned: see [`Interner`]).
    pub deployment_id: Arc<str>,
    /// The deploymentID the agent says it applied (empty: no report).
    pub applied_id: Arc<str>,
    /// The state the agent reported, before derivation (rollouts plan on it).
    pub reported: Option<BundleState>,
    /// How many non-ready and modified resources the report lists.
    pub resources: u32,
    pub updated_at: i64,
}

#[cfg(test)]
impl Cell {
    /// A cell in `state` with nothing else known: the base of the tests' fixtures.
    pub(crate) fn blank(bundle: u32, state: BundleState) -> Cell {
        Cell {
            bundle,
            state,
            message: String::new(),
            deployment_id: "".into(),
            applied_id: "".into(),
            reported: None,
            resources: 0,
            updated_at: 0,
        }
    }
}

/// One cluster and the state of every bundle targeted at it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRow {
    pub namespace: String,
    pub name: String,
    /// Shared with the index and every cluster with the same labels.
    pub labels: Arc<BTreeMap<String, String>>,
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
    /// Last agent contact per (namespace, name), re-read every [`last_seen_refresh`] or
    /// when something else changed, and shared between pictures otherwise (reading it
    /// allocates per cluster: at 100,000 clusters, doing so on every report-driven
    /// refresh was most of a first deployment's manager CPU).
    pub last_seen: Arc<HashMap<(String, String), i64>>,
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
    ///
    /// A tick with nothing to do costs a revision query, the GitRepo list and one pass
    /// over the clusters' last-seen atomics: it allocates nothing per cluster, so an idle
    /// fleet costs the manager next to nothing however large it is.
    pub async fn refresh(
        &self,
        manager: &Manager,
        state: &mut RefreshState,
    ) -> Result<bool, StoreError> {
        let old = self.snapshot();
        let at = now();
        let revision = manager.store.revision().await?;
        let cluster_count = manager.index.cluster_count();
        let full = state.full_due(
            revision != state.revision.unwrap_or(-1) || cluster_count != old.clusters.len(),
        );
        let mut dirty = manager.take_status_dirty();
        if state
            .report_scan
            .is_none_or(|(t, _)| t.elapsed() >= REPORT_SCAN)
        {
            // Seconds resolution: look again at the second the previous scan ran in.
            let since = state.report_scan.map_or(at, |(_, from)| from);
            if state.report_scan.is_some() {
                dirty.extend(manager.store.clusters_reported_since(since).await?);
            }
            state.report_scan = Some((Instant::now(), at - 1));
        }
        let gitrepos = manager
            .store
            .list_objects(Kind::GitRepo.as_str(), None)
            .await?;
        let mut changed = gitrepos
            .iter()
            .map(status_key)
            .ne(old.gitrepos.iter().map(status_key));
        let offline_after = manager.config.offline_after.as_secs() as i64;
        let offline = manager.index.count_seen_before(at - offline_after);
        changed |= offline != state.offline;
        state.offline = offline;
        let last_seen_due = state
            .last_seen_at
            .is_none_or(|t| t.elapsed() >= last_seen_refresh(manager.config.offline_after));
        if !full && !changed && dirty.is_empty() && !last_seen_due {
            return Ok(false);
        }
        let last_seen = if full || changed || last_seen_due {
            state.last_seen_at = Some(Instant::now());
            Arc::new(
                manager
                    .index
                    .last_seen_all()
                    .into_iter()
                    .map(|(ns, n, s)| ((ns, n), s))
                    .collect(),
            )
        } else {
            old.last_seen.clone()
        };
        let mut next = Snapshot {
            version: old.version,
            bundles: Vec::new(),
            clusters: Vec::new(),
            gitrepos,
            groups: Vec::new(),
            last_seen,
            offline_after,
        };
        if full {
            let started = Instant::now();
            // A fresh interner, so IDs no cell holds any more are let go.
            state.ids = Interner::default();
            rebuild(manager, &mut next, &mut state.ids).await?;
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
            // Exactly the clusters whose reports were stored since the previous tick, their
            // reports read in a few queries per workspace.
            let mut by_workspace: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (ns, name) in dirty {
                by_workspace.entry(ns).or_default().push(name);
            }
            for (ns, names) in by_workspace {
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                let mut reports: HashMap<String, HashMap<(String, String), StatusRecord>> =
                    HashMap::new();
                for r in manager.store.statuses_of_clusters(&ns, &names).await? {
                    reports
                        .entry(r.cluster.clone())
                        .or_default()
                        .insert((r.bundle_namespace.clone(), r.bundle.clone()), r);
                }
                let none = HashMap::new();
                for name in names {
                    let Some(i) = next.cluster_index(&ns, name) else {
                        continue;
                    };
                    let mut row = (*next.clusters[i]).clone();
                    let of_cluster = reports.get(name).unwrap_or(&none);
                    row.cells =
                        desired_cells(manager, &next.bundles, &row, of_cluster, &mut state.ids);
                    if *next.clusters[i] != row {
                        next.clusters[i] = Arc::new(row);
                        changed = true;
                    }
                }
            }
        }
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

/// How stale the displayed last-seen times may get while nothing else changes: a tenth
/// of the offline limit, at most 10 s (re-reading them allocates per cluster).
fn last_seen_refresh(offline_after: Duration) -> Duration {
    (offline_after / 10).min(Duration::from_secs(10))
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

/// One shared copy of each deploymentID: every cell names one or two, ~140 bytes each,
/// and at 100,000 clusters the same few strings were held hundreds of thousands of times.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = s.into();
        self.0.insert(shared.clone());
        shared
    }
}

/// What the refresh loop remembers between ticks.
#[derive(Debug, Default)]
pub struct RefreshState {
    revision: Option<i64>,
    last_full: Option<Instant>,
    /// How long the last full rebuild took, which spaces the next ones.
    full_took: Duration,
    /// When reports were last listed by time, and the unix second to list from next.
    report_scan: Option<(Instant, i64)>,
    /// When the displayed last-seen times were last re-read.
    last_seen_at: Option<Instant>,
    /// The deploymentIDs the cells hold, emptied by each full rebuild.
    ids: Interner,
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
        // Woken at once by a stored status report or a reload that changed something;
        // otherwise a cheap tick notices GitRepo status, offline clusters and replicas.
        let wake = manager.board_wake.clone();
        drop(board);
        drop(manager);
        tokio::select! {
            _ = wake.notified() => tokio::time::sleep(COALESCE).await,
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Re-reads clusters, bundles, groups and every report.
async fn rebuild(
    manager: &Manager,
    next: &mut Snapshot,
    ids: &mut Interner,
) -> Result<(), StoreError> {
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
            row.cells = desired_cells(manager, &next.bundles, &row, &HashMap::new(), ids);
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
                *cell = cell_of(bi as u32, &desired, Some(&report), ids);
            }
        }
    }
    next.clusters = rows.into_iter().map(Arc::new).collect();
    Ok(())
}

/// The cells of a cluster: one per deployment the index gives it, in bundle order.
fn desired_cells(
    manager: &Manager,
    bundles: &[BundleRecord],
    row: &ClusterRow,
    reports: &HashMap<(String, String), StatusRecord>,
    ids: &mut Interner,
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
                    ids,
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
    ids: &mut Interner,
) -> Cell {
    let d = derive_state(desired, report);
    let applied_id = report.map_or("", |r| {
        if r.report.applied_deployment_id.is_empty() {
            &r.deployment_id
        } else {
            &r.report.applied_deployment_id
        }
    });
    Cell {
        bundle,
        state: d.state,
        message: d.message,
        deployment_id: ids.get(&d.deployment_id),
        applied_id: ids.get(applied_id),
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
    fn interned_ids_share_one_allocation() {
        let mut ids = Interner::default();
        let a = ids.get("s-abc:def");
        let b = ids.get(&String::from("s-abc:def"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &ids.get("s-other")));
        assert_eq!(&*a, "s-abc:def");
    }

    #[test]
    fn worst_state_follows_fleet_ranking() {
        let cell = |state| Cell::blank(0, state);
        let mut row = ClusterRow {
            namespace: "ns".into(),
            name: "c".into(),
            labels: Default::default(),
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
