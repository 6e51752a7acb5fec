//! Which bundles each cluster runs: the in-memory index of clusters, cluster groups and
//! bundles, and the desired state computed once per distinct target key.
//!
//! A cluster's desired state depends only on its workspace, its labels (which decide its
//! cluster groups), its name when some target names it, and which rolling bundles it
//! still holds at the previous version. That tuple is the [`TargetKey`]; clusters sharing
//! one share a single computed [`Desired`] (one `Arc`), so a million clusters with a few
//! thousand distinct label sets cost a few thousand computations. Bundle deployments are
//! precomputed per (bundle version, matched customization) as [`Variant`]s, so a key's
//! computation is matching plus `Arc` clones, and its ETag hashes variant digests only.
//!
//! Memory per registered cluster is a [`ClusterSlot`] (name, interned workspace, label set
//! and agent version, credential hash, last-seen) plus two map entries: a few hundred
//! bytes.
//!
//! Long-polls wait on a `watch` channel per target key; recomputation notifies only the
//! keys whose ETag changed, and a cluster moving to another key wakes its old key.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use fleet_bundle::bundle::{BundleDeploymentOptions, BundleSpec, BundleTarget};
use fleet_bundle::deployment::BundleDeployment;
use fleet_bundle::selector::LabelSelector;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::store::{now, BundleRecord, ClusterRecord};

/// Labels, interned: clusters with equal labels share one id.
pub type LabelSetId = u32;
/// A cluster's position in the index.
pub type ClusterId = u32;

/// The implicit group of every cluster of a workspace.
pub const DEFAULT_GROUP: &str = "default";

/// Fleet's label carrying a cluster's display name, also matched by `clusterName`.
const DISPLAY_NAME_LABEL: &str = "management.cattle.io/cluster-display-name";

/// One registered cluster, kept small: this is the per-cluster memory cost.
#[derive(Debug)]
pub struct ClusterSlot {
    pub name: Box<str>,
    pub workspace: u16,
    pub labels: LabelSetId,
    pub agent_version: u16,
    pub credential: [u8; 32],
    /// Unix seconds of the last agent call; updated without locks on every poll.
    pub last_seen: AtomicI64,
    /// The last-seen time last written to the store: heartbeats are flushed in batches
    /// and only once they moved by a granularity (see [`Index::heartbeats_due`]).
    pub stored_seen: AtomicI64,
    /// Fingerprint of the last status report handled for this cluster, 0 for none (see
    /// [`crate::report_memory`]).
    pub reported: AtomicU64,
    /// The sequence of the newest status report this replica knows the store holds for
    /// the cluster (see [`Index::report_sequence`]).
    pub report_sequence: AtomicU64,
    /// Desired-state long-polls of this cluster parked right now (see [`Index::park`]).
    pub polls: AtomicU32,
}

impl ClusterSlot {
    /// The cluster's last contact as of `now`: `now` itself while one of its long-polls
    /// is parked, since the agent is connected and waiting; otherwise the last call.
    fn seen(&self, now: i64) -> i64 {
        let last = self.last_seen.load(Ordering::Relaxed);
        if self.polls.load(Ordering::Relaxed) > 0 {
            last.max(now)
        } else {
            last
        }
    }
}

/// A parked long-poll, counted on its cluster's slot while it lives (see
/// [`Index::park`]).
#[must_use = "the poll counts as parked only while the guard lives"]
pub struct ParkedPoll<'a> {
    index: &'a Index,
    id: ClusterId,
}

impl Drop for ParkedPoll<'_> {
    fn drop(&mut self) {
        let now = now();
        self.index.with_slot(self.id, |slot| {
            // Saturating: the slot may have been replaced while the poll was parked.
            let _ = slot
                .polls
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            slot.last_seen.fetch_max(now, Ordering::Relaxed);
        });
    }
}

/// A cluster group as targeting sees it.
#[derive(Debug, Clone)]
pub struct GroupEntry {
    pub workspace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `None` matches no cluster, as a nil selector in Kubernetes.
    pub selector: Option<LabelSelector>,
}

/// One precomputed BundleDeployment: a bundle version with one customization applied.
#[derive(Debug)]
pub struct Variant {
    pub deployment: BundleDeployment,
    /// The deployment serialized once, spliced into desired-state answers.
    pub json: String,
    /// sha256 of `json`, the input of ETags.
    pub digest: [u8; 32],
}

/// A version of a bundle (what a rollout moves clusters from and to).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BundleVersion {
    pub spec: BundleSpec,
    pub content_digest: String,
    pub commit: String,
}

/// A bundle version ready for matching: its targets and one variant per customization.
#[derive(Debug)]
struct CompiledVersion {
    record_name: String,
    record_namespace: String,
    version: BundleVersion,
    /// Index `i` is how target `i`'s options deploy; `None` where it says `doNotDeploy`.
    variants: Vec<Option<OptionsVariant>>,
    /// How many leading `targets` are customizations (the rest are GitRepo targets).
    customizations: usize,
}

/// A bundle in the index.
#[derive(Debug)]
pub struct BundleEntry {
    pub record: BundleRecord,
    workspace: u16,
    current: CompiledVersion,
    previous: Option<CompiledVersion>,
    /// Clusters already moved to `current` while a rollout is in progress.
    promoted: Option<HashSet<ClusterId>>,
}

impl BundleEntry {
    /// True while clusters may still run the previous version.
    pub fn is_rolling(&self) -> bool {
        self.promoted.is_some()
    }
}

/// What decides a cluster's desired state.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetKey {
    pub workspace: u16,
    pub labels: LabelSetId,
    /// Set only when some target or partition names this cluster.
    pub name: Option<ClusterId>,
    /// Rolling bundles (indices) for which this cluster still gets the previous version.
    pub held: Vec<u32>,
}

/// The desired state of every cluster with one [`TargetKey`].
#[derive(Debug)]
pub struct Desired {
    pub etag: String,
    pub labels: Arc<BTreeMap<String, String>>,
    pub deployments: Vec<Arc<Variant>>,
    json: OnceLock<String>,
}

impl Desired {
    /// The JSON array of the deployments, built on first use.
    pub fn deployments_json(&self) -> &str {
        self.json.get_or_init(|| {
            let mut s = String::with_capacity(
                self.deployments
                    .iter()
                    .map(|v| v.json.len() + 1)
                    .sum::<usize>()
                    + 2,
            );
            s.push('[');
            for (i, v) in self.deployments.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&v.json);
            }
            s.push(']');
            s
        })
    }

    /// The deployment of `bundle` in `namespace`, if this state has one.
    pub fn deployment(&self, namespace: &str, bundle: &str) -> Option<&BundleDeployment> {
        self.deployments
            .iter()
            .map(|v| &v.deployment)
            .find(|d| d.bundle == bundle && d.namespace == namespace)
    }

    /// Whether `digest` is the content of one of these deployments: content digests are
    /// not capabilities, an agent reads only content it is targeted with.
    pub fn allows_content(&self, digest: &str) -> bool {
        self.deployments
            .iter()
            .any(|v| v.deployment.content_digest == digest)
    }
}

/// The targeting index. Reads (polls) take the read lock briefly; reloads take the write
/// lock only to apply changes.
#[derive(Default)]
pub struct Index {
    inner: RwLock<Inner>,
    cache: RwLock<HashMap<TargetKey, Arc<Desired>>>,
    watchers: std::sync::Mutex<HashMap<TargetKey, watch::Sender<u64>>>,
    /// Moves on every bundle reload: reports may have been deleted with a bundle, so
    /// remembered report fingerprints ([`crate::report_memory`]) must not match across it.
    bundle_epoch: AtomicU64,
}

#[derive(Default)]
struct Inner {
    workspaces: Vec<String>,
    label_sets: Vec<Arc<BTreeMap<String, String>>>,
    label_ids: HashMap<Arc<BTreeMap<String, String>>, LabelSetId>,
    agent_versions: Vec<String>,
    clusters: Vec<Option<ClusterSlot>>,
    free: Vec<ClusterId>,
    by_name: HashMap<(u16, Box<str>), ClusterId>,
    by_credential: HashMap<[u8; 32], ClusterId>,
    groups: Vec<GroupEntry>,
    bundles: Vec<BundleEntry>,
    /// Cluster names (per workspace) that some target or partition names.
    named: HashMap<u16, HashSet<String>>,
    /// Indices of bundles with a rollout in progress, and their workspace.
    rolling: Vec<(u32, u16)>,
    /// Workspaces with a bundle whose Helm values template `.ClusterName`.
    name_dependent: HashSet<u16>,
    empty_labels: BTreeMap<String, String>,
}

/// A cluster's identity as resolved from its credential.
#[derive(Debug, Clone)]
pub struct ClusterHandle {
    pub id: ClusterId,
    pub namespace: String,
    pub name: String,
}

/// A summary row of one cluster for listings.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    pub namespace: String,
    pub name: String,
    /// The index's interned set: clusters with equal labels share it.
    pub labels: Arc<BTreeMap<String, String>>,
    pub agent_version: String,
    pub last_seen: i64,
    pub groups: Vec<String>,
}

impl Inner {
    fn workspace_id(&mut self, ws: &str) -> u16 {
        if let Some(i) = self.workspaces.iter().position(|w| w == ws) {
            return i as u16;
        }
        self.workspaces.push(ws.to_string());
        (self.workspaces.len() - 1) as u16
    }

    fn find_workspace(&self, ws: &str) -> Option<u16> {
        self.workspaces
            .iter()
            .position(|w| w == ws)
            .map(|i| i as u16)
    }

    fn label_set(&mut self, labels: &BTreeMap<String, String>) -> LabelSetId {
        if let Some(id) = self.label_ids.get(labels) {
            return *id;
        }
        let arc = Arc::new(labels.clone());
        let id = self.label_sets.len() as LabelSetId;
        self.label_sets.push(arc.clone());
        self.label_ids.insert(arc, id);
        id
    }

    fn agent_version_id(&mut self, v: &str) -> u16 {
        if let Some(i) = self.agent_versions.iter().position(|x| x == v) {
            return i as u16;
        }
        self.agent_versions.push(v.to_string());
        (self.agent_versions.len() - 1) as u16
    }

    fn slot(&self, id: ClusterId) -> Option<&ClusterSlot> {
        self.clusters.get(id as usize).and_then(Option::as_ref)
    }

    /// Groups of `ws` whose selector matches `labels`, as (name, group labels). Every
    /// workspace has a `default` group of all its clusters unless one is defined, so
    /// GitRepos without targets (Fleet's default target `clusterGroup: default`) deploy
    /// to the whole workspace.
    fn groups_of(
        &self,
        ws: u16,
        labels: &BTreeMap<String, String>,
    ) -> Vec<(&str, &BTreeMap<String, String>)> {
        let ws_name = &self.workspaces[ws as usize];
        let mut defined_default = false;
        let mut out: Vec<(&str, &BTreeMap<String, String>)> = self
            .groups
            .iter()
            .filter(|g| &g.workspace == ws_name)
            .inspect(|g| defined_default |= g.name == DEFAULT_GROUP)
            .filter(|g| g.selector.as_ref().is_some_and(|s| s.matches(labels)))
            .map(|g| (g.name.as_str(), &g.labels))
            .collect();
        if !defined_default {
            out.push((DEFAULT_GROUP, &self.empty_labels));
        }
        out
    }

    fn key_of(&self, id: ClusterId, slot: &ClusterSlot) -> TargetKey {
        let name = (self.name_dependent.contains(&slot.workspace)
            || self
                .named
                .get(&slot.workspace)
                .is_some_and(|names| names.contains(&*slot.name)))
        .then_some(id);
        let held = self
            .rolling
            .iter()
            .filter(|(_, ws)| *ws == slot.workspace)
            .filter(|(i, _)| {
                self.bundles[*i as usize]
                    .promoted
                    .as_ref()
                    .is_some_and(|p| !p.contains(&id))
            })
            .map(|(i, _)| *i)
            .collect();
        TargetKey {
            workspace: slot.workspace,
            labels: slot.labels,
            name,
            held,
        }
    }

    fn compute(&self, key: &TargetKey) -> Desired {
        let labels = self.label_sets[key.labels as usize].clone();
        let groups = self.groups_of(key.workspace, &labels);
        let cluster_name = key
            .name
            .and_then(|id| self.slot(id))
            .map(|s| s.name.to_string())
            .unwrap_or_default();
        let mut deployments = Vec::new();
        for (i, b) in self.bundles.iter().enumerate() {
            if b.workspace != key.workspace {
                continue;
            }
            let version = if key.held.contains(&(i as u32)) {
                match &b.previous {
                    Some(prev) => prev,
                    None => continue,
                }
            } else {
                &b.current
            };
            let ctx = ClusterCtx {
                name: &cluster_name,
                namespace: &self.workspaces[key.workspace as usize],
                labels: &labels,
                groups: &groups,
            };
            if let Some(v) = version.select(&ctx) {
                deployments.push(v);
            }
        }
        let mut hasher = Sha256::new();
        hasher.update(
            serde_json::to_string(&*labels)
                .unwrap_or_default()
                .as_bytes(),
        );
        for v in &deployments {
            hasher.update(v.digest);
        }
        let etag = format!("\"{}\"", hex::encode(&hasher.finalize()[..16]));
        Desired {
            etag,
            labels,
            deployments,
            json: OnceLock::new(),
        }
    }
}

/// Fleet's cluster matcher: every criterion the target sets must hold; a target with no
/// criterion matches nothing. Group criteria hold when one of the cluster's groups passes.
fn target_matches(
    cluster_name: &str,
    labels: &BTreeMap<String, String>,
    groups: &[(&str, &BTreeMap<String, String>)],
    t: &TargetCriteria<'_>,
) -> bool {
    if t.cluster_name.is_empty()
        && t.cluster_selector.is_none()
        && t.cluster_group.is_empty()
        && t.cluster_group_selector.is_none()
    {
        return false;
    }
    if !t.cluster_name.is_empty()
        && t.cluster_name != cluster_name
        && labels.get(DISPLAY_NAME_LABEL).map(String::as_str) != Some(t.cluster_name)
    {
        return false;
    }
    if let Some(sel) = t.cluster_selector {
        if !sel.matches(labels) {
            return false;
        }
    }
    if t.cluster_group.is_empty() && t.cluster_group_selector.is_none() {
        return true;
    }
    groups.iter().any(|(name, glabels)| {
        (t.cluster_group.is_empty() || t.cluster_group == *name)
            && t.cluster_group_selector
                .as_ref()
                .is_none_or(|s| s.matches(glabels))
    })
}

/// The criteria fields shared by targets, restrictions and partitions.
pub struct TargetCriteria<'a> {
    pub cluster_name: &'a str,
    pub cluster_selector: Option<&'a LabelSelector>,
    pub cluster_group: &'a str,
    pub cluster_group_selector: Option<&'a LabelSelector>,
}

impl<'a> From<&'a BundleTarget> for TargetCriteria<'a> {
    fn from(t: &'a BundleTarget) -> Self {
        TargetCriteria {
            cluster_name: &t.cluster_name,
            cluster_selector: t.cluster_selector.as_ref(),
            cluster_group: &t.cluster_group,
            cluster_group_selector: t.cluster_group_selector.as_ref(),
        }
    }
}

impl<'a> From<&'a fleet_bundle::bundle::BundleTargetRestriction> for TargetCriteria<'a> {
    fn from(t: &'a fleet_bundle::bundle::BundleTargetRestriction) -> Self {
        TargetCriteria {
            cluster_name: &t.cluster_name,
            cluster_selector: t.cluster_selector.as_ref(),
            cluster_group: &t.cluster_group,
            cluster_group_selector: t.cluster_group_selector.as_ref(),
        }
    }
}

impl<'a> From<&'a fleet_bundle::bundle::Partition> for TargetCriteria<'a> {
    fn from(t: &'a fleet_bundle::bundle::Partition) -> Self {
        TargetCriteria {
            cluster_name: &t.cluster_name,
            cluster_selector: t.cluster_selector.as_ref(),
            cluster_group: &t.cluster_group,
            cluster_group_selector: t.cluster_group_selector.as_ref(),
        }
    }
}

/// Whether a partition (or any criteria) selects this cluster.
pub fn criteria_match(
    cluster_name: &str,
    labels: &BTreeMap<String, String>,
    groups: &[(&str, &BTreeMap<String, String>)],
    c: &TargetCriteria<'_>,
) -> bool {
    target_matches(cluster_name, labels, groups, c)
}

/// What a precomputed or templated deployment needs to know about a cluster.
pub struct ClusterCtx<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub groups: &'a [(&'a str, &'a BTreeMap<String, String>)],
}

/// Label prefixes Fleet strips before templating (as `fleet_bundle::templating`).
const EXPORT_STRIPPED_PREFIXES: &[&str] = &["objectset.rio.cattle.io/", "kubectl.kubernetes.io/"];

/// Whether the cluster has labels that templating sees: Fleet's value preprocessing
/// (and so the options, and so the deploymentID) differs for clusters without any.
fn has_template_labels(labels: &BTreeMap<String, String>) -> bool {
    labels
        .keys()
        .any(|k| !EXPORT_STRIPPED_PREFIXES.iter().any(|p| k.starts_with(p)))
}

/// How the deployment of one target's options is obtained for a cluster.
#[derive(Debug)]
enum OptionsVariant {
    /// The options contain no template: two precomputed deployments, for clusters with
    /// and without labels.
    Fixed {
        labelled: Arc<Variant>,
        unlabelled: Arc<Variant>,
    },
    /// Helm values templated per cluster (`${ .ClusterLabels.x }`,
    /// `global.fleet.clusterLabels.x`, `templateValues`): computed per target key.
    Templated {
        options: Box<BundleDeploymentOptions>,
        /// The templates read `.ClusterName`: clusters cannot share the computation.
        needs_name: bool,
    },
}

fn needs_templating(options: &BundleDeploymentOptions) -> Option<bool> {
    let helm = options.helm.as_ref()?;
    let values = serde_json::to_string(&helm.values).unwrap_or_default();
    let templated = !helm.template_values.is_empty()
        || values.contains(fleet_bundle::templating::CLUSTER_LABEL_PREFIX)
        || (!helm.disable_pre_process && values.contains("${"));
    if !templated {
        return None;
    }
    let texts = format!("{values}{:?}", helm.template_values);
    Some(texts.contains("ClusterName"))
}

impl CompiledVersion {
    fn variant(
        record: &BundleRecord,
        version: &BundleVersion,
        options: BundleDeploymentOptions,
    ) -> Arc<Variant> {
        let deployment = BundleDeployment {
            bundle: record.name.clone(),
            namespace: record.namespace.clone(),
            deployment_id: fleet_bundle::digest::deployment_id(&version.content_digest, &options),
            content_digest: version.content_digest.clone(),
            options,
            depends_on: version.spec.depends_on.clone(),
            paused: version.spec.paused,
            commit: version.commit.clone(),
        };
        let json = serde_json::to_string(&deployment).unwrap_or_default();
        let digest = Sha256::digest(json.as_bytes()).into();
        Arc::new(Variant {
            deployment,
            json,
            digest,
        })
    }

    fn compile(record: &BundleRecord, version: &BundleVersion) -> CompiledVersion {
        let spec = &version.spec;
        let customizations = if spec.target_restrictions.is_empty() {
            0
        } else {
            spec.targets
                .len()
                .saturating_sub(spec.target_restrictions.len())
        };
        let variants = spec
            .targets
            .iter()
            .map(|t| {
                if t.do_not_deploy {
                    return None;
                }
                let merged = fleet_bundle::target::merge_options(&spec.options, &t.options);
                Some(match needs_templating(&merged) {
                    Some(needs_name) => OptionsVariant::Templated {
                        options: Box::new(merged),
                        needs_name,
                    },
                    None => {
                        // A template-free preprocessing only normalizes the Helm options
                        // of labelled clusters; any label shows the effect.
                        let mut labelled = merged.clone();
                        let probe = fleet_bundle::target::ClusterInfo {
                            labels: BTreeMap::from([("fleet.cattle.io/probe".into(), "x".into())]),
                            ..Default::default()
                        };
                        if fleet_bundle::templating::preprocess_helm_values(&mut labelled, &probe)
                            .is_err()
                        {
                            labelled = merged.clone();
                        }
                        OptionsVariant::Fixed {
                            labelled: CompiledVersion::variant(record, version, labelled),
                            unlabelled: CompiledVersion::variant(record, version, merged),
                        }
                    }
                })
            })
            .collect();
        CompiledVersion {
            record_name: record.name.clone(),
            record_namespace: record.namespace.clone(),
            version: version.clone(),
            variants,
            customizations,
        }
    }

    /// Whether some variant's templates read the cluster name.
    fn needs_name(&self) -> bool {
        self.variants.iter().flatten().any(|v| {
            matches!(
                v,
                OptionsVariant::Templated {
                    needs_name: true,
                    ..
                }
            )
        })
    }

    /// Fleet's bundle match (as `fleet_bundle::target::select`): targeted when an ordinary
    /// target matches (GitRepo targets; every target for a bundle without restrictions)
    /// and a restriction allows the cluster; a matching customization then supplies the
    /// options; `doNotDeploy` on either means no deployment.
    fn select(&self, c: &ClusterCtx<'_>) -> Option<Arc<Variant>> {
        let spec = &self.version.spec;
        let matches = |t: &BundleTarget| target_matches(c.name, c.labels, c.groups, &t.into());
        let restricted = !spec.target_restrictions.is_empty()
            && !spec
                .target_restrictions
                .iter()
                .any(|r| target_matches(c.name, c.labels, c.groups, &r.into()));
        if restricted {
            return None;
        }
        let ordinary = self.customizations
            + spec.targets[self.customizations..]
                .iter()
                .position(matches)?;
        let chosen = spec.targets[..self.customizations]
            .iter()
            .position(matches)
            .unwrap_or(ordinary);
        if spec.targets[ordinary].do_not_deploy {
            return None;
        }
        let all_matches = spec.target_customization_mode
            == fleet_bundle::bundle::TargetCustomizationMode::AllMatches;
        if all_matches
            && spec.targets[..self.customizations]
                .iter()
                .filter(|t| matches(t))
                .count()
                > 1
        {
            // Several customizations merge: no precomputed variant holds that combination.
            return match fleet_bundle::target::select(spec, &cluster_info(c)) {
                Ok(Some(m)) => Some(self.variant_for(m.options)),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(bundle = %self.record_name, cluster = %c.name, error = %e, "cannot template Helm values for this cluster; not deploying");
                    None
                }
            };
        }
        match self.variants[chosen].as_ref()? {
            OptionsVariant::Fixed {
                labelled,
                unlabelled,
            } => Some(if has_template_labels(c.labels) {
                labelled.clone()
            } else {
                unlabelled.clone()
            }),
            OptionsVariant::Templated { options, .. } => {
                let mut options = (**options).clone();
                match fleet_bundle::templating::preprocess_helm_values(
                    &mut options,
                    &cluster_info(c),
                ) {
                    Ok(()) => Some(self.variant_for(options)),
                    Err(e) => {
                        tracing::warn!(bundle = %self.record_name, cluster = %c.name, error = %e, "cannot template Helm values for this cluster; not deploying");
                        None
                    }
                }
            }
        }
    }
}

impl CompiledVersion {
    /// The deployment of this version with `options` computed for one cluster.
    fn variant_for(&self, options: BundleDeploymentOptions) -> Arc<Variant> {
        CompiledVersion::variant(
            &BundleRecord {
                name: self.record_name.clone(),
                namespace: self.record_namespace.clone(),
                ..Default::default()
            },
            &self.version,
            options,
        )
    }
}

/// What targeting and templating know of the cluster `c`.
fn cluster_info(c: &ClusterCtx<'_>) -> fleet_bundle::target::ClusterInfo {
    fleet_bundle::target::ClusterInfo {
        name: c.name.to_string(),
        namespace: c.namespace.to_string(),
        labels: c.labels.clone(),
        groups: c
            .groups
            .iter()
            .map(|(n, l)| fleet_bundle::target::GroupInfo {
                name: n.to_string(),
                labels: (*l).clone(),
            })
            .collect(),
        ..Default::default()
    }
}

fn version_of(record: &BundleRecord) -> BundleVersion {
    BundleVersion {
        spec: record.spec.clone(),
        content_digest: record.content_digest.clone(),
        commit: record.commit.clone(),
    }
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// Applies cluster changes from the store (new, changed, removed clusters) and
    /// returns the keys of clusters that moved, to wake their old watchers.
    pub fn apply_clusters(&self, records: &[ClusterRecord]) -> Vec<TargetKey> {
        self.apply_cluster_changes(records).moved
    }

    /// [`Index::apply_clusters`], also telling which clusters changed and whether any
    /// was removed.
    pub fn apply_cluster_changes(&self, records: &[ClusterRecord]) -> ClusterChanges {
        let mut changes = ClusterChanges::default();
        let Ok(mut inner) = self.inner.write() else {
            return changes;
        };
        let moved = &mut changes.moved;
        for r in records {
            let ws = inner.workspace_id(&r.namespace);
            let existing = inner.by_name.get(&(ws, r.name.as_str().into())).copied();
            if let Some(id) = existing {
                if let Some(slot) = inner.slot(id) {
                    moved.push(inner.key_of(id, slot));
                    let cred = slot.credential;
                    inner.by_credential.remove(&cred);
                }
                changes.ids.push(id);
                if r.deleted {
                    changes.removed = true;
                    inner.clusters[id as usize] = None;
                    inner.by_name.remove(&(ws, r.name.as_str().into()));
                    inner.free.push(id);
                    continue;
                }
            } else if r.deleted {
                continue;
            }
            let labels = inner.label_set(&r.labels);
            let agent_version = inner.agent_version_id(&r.agent_version);
            let mut credential = [0u8; 32];
            if hex::decode_to_slice(&r.credential_hash, &mut credential).is_err() {
                credential = [0u8; 32];
            }
            // A changed record replaces the slot: keep what only memory knows (the
            // latest contact, parked polls), since the stored last-seen time lags.
            let (seen, polls) =
                existing
                    .and_then(|id| inner.slot(id))
                    .map_or((r.last_seen, 0), |old| {
                        (
                            old.last_seen.load(Ordering::Relaxed).max(r.last_seen),
                            old.polls.load(Ordering::Relaxed),
                        )
                    });
            // A registration starts the stored sequence again (see `upsert_cluster`),
            // so the row's is the one to keep.
            let report_sequence = u64::try_from(r.reported_sequence).unwrap_or(0);
            let slot = ClusterSlot {
                name: r.name.as_str().into(),
                workspace: ws,
                labels,
                agent_version,
                credential,
                last_seen: AtomicI64::new(seen),
                stored_seen: AtomicI64::new(r.last_seen),
                reported: AtomicU64::new(0),
                report_sequence: AtomicU64::new(report_sequence),
                polls: AtomicU32::new(polls),
            };
            let id = match existing {
                Some(id) => {
                    inner.clusters[id as usize] = Some(slot);
                    id
                }
                None => match inner.free.pop() {
                    Some(id) => {
                        inner.clusters[id as usize] = Some(slot);
                        id
                    }
                    None => {
                        inner.clusters.push(Some(slot));
                        (inner.clusters.len() - 1) as ClusterId
                    }
                },
            };
            inner.by_name.insert((ws, r.name.as_str().into()), id);
            if credential != [0u8; 32] {
                inner.by_credential.insert(credential, id);
            }
            changes.ids.push(id);
        }
        changes
    }

    /// After cluster-only changes (bundles and groups unchanged): cached states stay valid
    /// except those keyed by a changed cluster's own id; clusters that moved wake their
    /// old key's long-polls, and their new keys are computed on first use. This keeps a
    /// registration from recomputing the whole fleet.
    pub fn refresh_after_cluster_changes(&self, changes: &ClusterChanges) {
        if let Ok(mut cache) = self.cache.write() {
            cache.retain(|k, _| k.name.is_none_or(|id| !changes.ids.contains(&id)));
        }
        let watchers = match self.watchers.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        for key in &changes.moved {
            if let Some(tx) = watchers.get(key) {
                tx.send_modify(|n| *n += 1);
            }
        }
    }

    /// Replaces the cluster groups.
    pub fn set_groups(&self, groups: Vec<GroupEntry>) {
        if let Ok(mut inner) = self.inner.write() {
            inner.groups = groups;
        }
    }

    /// Replaces the bundles (with their rollout state) and recompiles their variants.
    pub fn set_bundles(&self, records: Vec<BundleRecord>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        self.bundle_epoch.fetch_add(1, Ordering::Relaxed);
        let mut named: HashMap<u16, HashSet<String>> = HashMap::new();
        let mut name_dependent = HashSet::new();
        let mut bundles = Vec::with_capacity(records.len());
        // A bundle that never built has no content: nothing to deploy yet.
        for record in records.into_iter().filter(|r| !r.content_digest.is_empty()) {
            let ws = inner.workspace_id(&record.namespace);
            let current = CompiledVersion::compile(&record, &version_of(&record));
            let (previous, promoted) = match &record.rollout {
                Some(state) => {
                    let previous = state
                        .previous
                        .as_ref()
                        .map(|v| CompiledVersion::compile(&record, v));
                    let promoted = state
                        .promoted
                        .iter()
                        .filter_map(|n| inner.by_name.get(&(ws, n.as_str().into())).copied())
                        .collect();
                    (previous, Some(promoted))
                }
                None => (None, None),
            };
            for t in &record.spec.targets {
                if !t.cluster_name.is_empty() {
                    named.entry(ws).or_default().insert(t.cluster_name.clone());
                }
            }
            for t in &record.spec.target_restrictions {
                if !t.cluster_name.is_empty() {
                    named.entry(ws).or_default().insert(t.cluster_name.clone());
                }
            }
            if let Some(rs) = &record.spec.rollout_strategy {
                for p in &rs.partitions {
                    if !p.cluster_name.is_empty() {
                        named.entry(ws).or_default().insert(p.cluster_name.clone());
                    }
                }
            }
            if current.needs_name() || previous.as_ref().is_some_and(CompiledVersion::needs_name) {
                name_dependent.insert(ws);
            }
            bundles.push(BundleEntry {
                record,
                workspace: ws,
                current,
                previous,
                promoted,
            });
        }
        inner.rolling = bundles
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_rolling())
            .map(|(i, b)| (i as u32, b.workspace))
            .collect();
        inner.bundles = bundles;
        inner.named = named;
        inner.name_dependent = name_dependent;
    }

    /// The cluster holding this credential hash; notes the call as the cluster's
    /// last-seen time (lock-free on the slot, under the same read lock).
    pub fn cluster_by_credential(&self, hash: &[u8; 32]) -> Option<ClusterHandle> {
        let inner = self.inner.read().ok()?;
        let id = *inner.by_credential.get(hash)?;
        let slot = inner.slot(id)?;
        slot.last_seen.store(now(), Ordering::Relaxed);
        Some(ClusterHandle {
            id,
            namespace: inner.workspaces[slot.workspace as usize].clone(),
            name: slot.name.to_string(),
        })
    }

    pub fn cluster_id(&self, namespace: &str, name: &str) -> Option<ClusterId> {
        let inner = self.inner.read().ok()?;
        let ws = inner.find_workspace(namespace)?;
        inner.by_name.get(&(ws, name.into())).copied()
    }

    /// Runs `f` on a cluster's slot under the read lock: the slots' atomics change
    /// without the write lock. `None` when the cluster is gone.
    fn with_slot<T>(&self, id: ClusterId, f: impl FnOnce(&ClusterSlot) -> T) -> Option<T> {
        let inner = self.inner.read().ok()?;
        inner.slot(id).map(f)
    }

    /// Counts a desired-state long-poll of cluster `id` as parked until the guard drops,
    /// when the poll's end is noted as the cluster's last contact. A parked poll is a
    /// live connection: the cluster counts as seen now however long the wait, so the
    /// poll wait may exceed the offline limit.
    pub fn park(&self, id: ClusterId) -> ParkedPoll<'_> {
        self.with_slot(id, |slot| slot.polls.fetch_add(1, Ordering::Relaxed));
        ParkedPoll { index: self, id }
    }

    /// Notes an agent call (lock-free on the slot).
    pub fn touch(&self, id: ClusterId, at: i64) {
        self.with_slot(id, |slot| slot.last_seen.store(at, Ordering::Relaxed));
    }

    /// See [`Index::bundle_epoch`](Index).
    pub fn bundle_epoch(&self) -> u64 {
        self.bundle_epoch.load(Ordering::Relaxed)
    }

    /// The fingerprint of the last report handled for a cluster (0: none).
    pub fn last_report(&self, id: ClusterId) -> u64 {
        self.with_slot(id, |slot| slot.reported.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Remembers the fingerprint of a report whose records the store now holds.
    pub fn set_last_report(&self, id: ClusterId, fingerprint: u64) {
        self.with_slot(id, |slot| {
            slot.reported.store(fingerprint, Ordering::Relaxed)
        });
    }

    /// The sequence of the newest status report this replica knows the store holds for
    /// a cluster: loaded with the cluster, raised by reports handled here and by looking
    /// in the store when a poll names a newer one (reports handled by another replica).
    pub fn report_sequence(&self, id: ClusterId) -> u64 {
        self.with_slot(id, |slot| slot.report_sequence.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Raises a cluster's [`Self::report_sequence`] to `sequence` (never lowers it).
    pub fn note_report_sequence(&self, id: ClusterId, sequence: u64) {
        self.with_slot(id, |slot| {
            slot.report_sequence.fetch_max(sequence, Ordering::Relaxed)
        });
    }

    /// Whether the cluster's recorded agent version is `version` (a report then need not
    /// write it).
    pub fn has_agent_version(&self, id: ClusterId, version: &str) -> bool {
        let Ok(inner) = self.inner.read() else {
            return false;
        };
        inner
            .slot(id)
            .is_some_and(|slot| inner.agent_versions[slot.agent_version as usize] == version)
    }

    /// Records the agent version a cluster reported (after the store has it).
    pub fn set_agent_version(&self, id: ClusterId, version: &str) {
        if let Ok(mut inner) = self.inner.write() {
            let v = inner.agent_version_id(version);
            if let Some(Some(slot)) = inner.clusters.get_mut(id as usize) {
                slot.agent_version = v;
            }
        }
    }

    /// The target key and desired state of a cluster, computing it on a cache miss.
    pub fn desired(&self, id: ClusterId) -> Option<(TargetKey, Arc<Desired>)> {
        let inner = self.inner.read().ok()?;
        let slot = inner.slot(id)?;
        let key = inner.key_of(id, slot);
        if let Some(d) = self.cache.read().ok()?.get(&key) {
            return Some((key, d.clone()));
        }
        let d = Arc::new(inner.compute(&key));
        drop(inner);
        let mut cache = self.cache.write().ok()?;
        let d = cache.entry(key.clone()).or_insert(d).clone();
        Some((key, d))
    }

    /// Subscribes to changes of a key's desired state.
    pub fn watch(&self, key: &TargetKey) -> watch::Receiver<u64> {
        let mut watchers = match self.watchers.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        watchers
            .entry(key.clone())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Recomputes the desired state of every key in use, replaces the cache, and wakes
    /// the watchers of keys whose ETag changed (plus `also_wake`). Returns how many
    /// distinct keys were computed.
    pub fn recompute_all(&self, also_wake: &[TargetKey]) -> usize {
        let Ok(inner) = self.inner.read() else {
            return 0;
        };
        let mut keys: HashSet<TargetKey> = HashSet::new();
        for (id, slot) in inner.clusters.iter().enumerate() {
            if let Some(slot) = slot {
                keys.insert(inner.key_of(id as ClusterId, slot));
            }
        }
        let fresh: HashMap<TargetKey, Arc<Desired>> = keys
            .into_iter()
            .map(|k| {
                let d = Arc::new(inner.compute(&k));
                (k, d)
            })
            .collect();
        drop(inner);
        let count = fresh.len();
        let old = match self.cache.write() {
            Ok(mut cache) => std::mem::replace(&mut *cache, fresh),
            Err(_) => return count,
        };
        let cache = match self.cache.read() {
            Ok(c) => c,
            Err(_) => return count,
        };
        let mut watchers = match self.watchers.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        watchers.retain(|key, tx| {
            if tx.receiver_count() == 0 {
                return false;
            }
            let before = old.get(key).map(|d| d.etag.as_str());
            let after = cache.get(key).map(|d| d.etag.as_str());
            if before != after || after.is_none() || also_wake.contains(key) {
                tx.send_modify(|n| *n += 1);
            }
            true
        });
        count
    }

    /// Every cluster, as listing rows, filtered by namespace and a label selector.
    pub fn clusters(
        &self,
        namespace: Option<&str>,
        selector: Option<&LabelSelector>,
    ) -> Vec<ClusterView> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let now = now();
        let mut out: Vec<ClusterView> = inner
            .clusters
            .iter()
            .flatten()
            .filter(|s| namespace.is_none_or(|ns| inner.workspaces[s.workspace as usize] == ns))
            .filter(|s| {
                selector.is_none_or(|sel| sel.matches(&inner.label_sets[s.labels as usize]))
            })
            .map(|s| {
                let labels = &inner.label_sets[s.labels as usize];
                ClusterView {
                    namespace: inner.workspaces[s.workspace as usize].clone(),
                    name: s.name.to_string(),
                    labels: labels.clone(),
                    agent_version: inner.agent_versions[s.agent_version as usize].clone(),
                    last_seen: s.seen(now),
                    groups: inner
                        .groups_of(s.workspace, labels)
                        .into_iter()
                        .map(|(n, _)| n.to_string())
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        out
    }

    /// Clusters whose in-memory last-seen time moved at least `granularity` seconds past
    /// what the store holds, as (id, namespace, name, last seen): what a heartbeat flush
    /// writes. Polls only touch memory; this keeps the store's copy within `granularity`
    /// (plus the flush interval) of the truth for a fraction of the writes.
    pub fn heartbeats_due(&self, granularity: i64) -> Vec<(ClusterId, String, String, i64)> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let now = now();
        inner
            .clusters
            .iter()
            .enumerate()
            .filter_map(|(id, s)| {
                let s = s.as_ref()?;
                let seen = s.seen(now);
                (seen - s.stored_seen.load(Ordering::Relaxed) >= granularity).then(|| {
                    (
                        id as ClusterId,
                        inner.workspaces[s.workspace as usize].clone(),
                        s.name.to_string(),
                        seen,
                    )
                })
            })
            .collect()
    }

    /// Records that the store now holds `seen` as the last-seen time of cluster `id`.
    pub fn mark_stored(&self, id: ClusterId, seen: i64) {
        self.with_slot(id, |slot| {
            slot.stored_seen.fetch_max(seen, Ordering::Relaxed)
        });
    }

    /// How many clusters were last seen before `before` (unix seconds; a cluster with a
    /// parked poll is seen now, so never counts), without allocating: the dashboard
    /// checks this every tick to notice clusters going offline.
    pub fn count_seen_before(&self, before: i64) -> usize {
        let Ok(inner) = self.inner.read() else {
            return 0;
        };
        inner
            .clusters
            .iter()
            .flatten()
            .filter(|s| s.seen(before) < before)
            .count()
    }

    /// Last-seen times of every cluster.
    pub fn last_seen_all(&self) -> Vec<(String, String, i64)> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let now = now();
        inner
            .clusters
            .iter()
            .flatten()
            .map(|s| {
                (
                    inner.workspaces[s.workspace as usize].clone(),
                    s.name.to_string(),
                    s.seen(now),
                )
            })
            .collect()
    }

    /// The bundles as the index holds them.
    pub fn bundle_records(&self) -> Vec<BundleRecord> {
        self.inner
            .read()
            .map(|i| i.bundles.iter().map(|b| b.record.clone()).collect())
            .unwrap_or_default()
    }

    /// For one bundle: every cluster the *current* version targets, sorted by name, with
    /// its labels, groups, and the deployment it would get now and at the previous
    /// version. This is the input of rollouts and of the bundle status roll-up.
    pub fn targets_of_bundle(&self, namespace: &str, bundle: &str) -> Vec<BundleTargetView> {
        let Ok(inner) = self.inner.read() else {
            return Vec::new();
        };
        let Some(ws) = inner.find_workspace(namespace) else {
            return Vec::new();
        };
        let Some(b) = inner
            .bundles
            .iter()
            .find(|b| b.workspace == ws && b.record.name == bundle)
        else {
            return Vec::new();
        };
        let mut per_labels: HashMap<LabelSetId, Vec<(String, String)>> = HashMap::new();
        let mut out = Vec::new();
        for (id, slot) in inner.clusters.iter().enumerate() {
            let Some(slot) = slot else { continue };
            if slot.workspace != ws {
                continue;
            }
            let labels = &inner.label_sets[slot.labels as usize];
            let groups = inner.groups_of(ws, labels);
            let ctx = ClusterCtx {
                name: &slot.name,
                namespace,
                labels,
                groups: &groups,
            };
            let Some(current) = b.current.select(&ctx) else {
                continue;
            };
            let previous = b.previous.as_ref().and_then(|p| p.select(&ctx));
            let group_names = per_labels
                .entry(slot.labels)
                .or_insert_with(|| {
                    groups
                        .iter()
                        .map(|(n, l)| (n.to_string(), serde_json::to_string(l).unwrap_or_default()))
                        .collect()
                })
                .iter()
                .map(|(n, _)| n.clone())
                .collect();
            out.push(BundleTargetView {
                id: id as ClusterId,
                name: slot.name.to_string(),
                labels: (**labels).clone(),
                groups: group_names,
                current,
                previous,
                promoted: b
                    .promoted
                    .as_ref()
                    .is_none_or(|p| p.contains(&(id as ClusterId))),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Group labels by group name in a workspace (for partition matching).
    pub fn group_labels(&self, namespace: &str) -> BTreeMap<String, BTreeMap<String, String>> {
        self.inner
            .read()
            .map(|i| {
                i.groups
                    .iter()
                    .filter(|g| g.workspace == namespace)
                    .map(|g| (g.name.clone(), g.labels.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many clusters each bundle (namespace, name) is deployed to now, counted per
    /// target key so the cost is one pass over clusters plus one per key.
    pub fn targeted_counts(&self) -> HashMap<(String, String), usize> {
        let mut per_key: HashMap<TargetKey, usize> = HashMap::new();
        let mut ids: HashMap<TargetKey, ClusterId> = HashMap::new();
        if let Ok(inner) = self.inner.read() {
            for (id, slot) in inner.clusters.iter().enumerate() {
                if let Some(slot) = slot {
                    let key = inner.key_of(id as ClusterId, slot);
                    *per_key.entry(key.clone()).or_default() += 1;
                    ids.entry(key).or_insert(id as ClusterId);
                }
            }
        }
        let mut out: HashMap<(String, String), usize> = HashMap::new();
        for (key, n) in per_key {
            let Some(id) = ids.get(&key) else { continue };
            if let Some((_, d)) = self.desired(*id) {
                for v in &d.deployments {
                    *out.entry((v.deployment.namespace.clone(), v.deployment.bundle.clone()))
                        .or_default() += n;
                }
            }
        }
        out
    }

    /// Per bundle, the deploymentIDs some cluster should run right now (one per distinct
    /// target key, the previous one for clusters a rollout still holds). A report about any
    /// other ID is about content no cluster should run any more.
    pub fn current_deployment_ids(&self) -> HashMap<(String, String), HashSet<String>> {
        let mut ids: HashMap<TargetKey, ClusterId> = HashMap::new();
        if let Ok(inner) = self.inner.read() {
            for (id, slot) in inner.clusters.iter().enumerate() {
                if let Some(slot) = slot {
                    ids.entry(inner.key_of(id as ClusterId, slot))
                        .or_insert(id as ClusterId);
                }
            }
        }
        let mut out: HashMap<(String, String), HashSet<String>> = HashMap::new();
        for id in ids.values() {
            if let Some((_, d)) = self.desired(*id) {
                for v in &d.deployments {
                    out.entry((v.deployment.namespace.clone(), v.deployment.bundle.clone()))
                        .or_default()
                        .insert(v.deployment.deployment_id.clone());
                }
            }
        }
        out
    }

    /// Number of registered clusters.
    pub fn cluster_count(&self) -> usize {
        self.inner.read().map(|i| i.by_name.len()).unwrap_or(0)
    }

    /// Number of distinct cached target keys.
    pub fn cached_keys(&self) -> usize {
        self.cache.read().map(|c| c.len()).unwrap_or(0)
    }

    /// Names of rolling bundles (namespace, name).
    pub fn rolling_bundles(&self) -> BTreeSet<(String, String)> {
        self.inner
            .read()
            .map(|i| {
                i.bundles
                    .iter()
                    .filter(|b| b.is_rolling())
                    .map(|b| (b.record.namespace.clone(), b.record.name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What [`Index::apply_cluster_changes`] did.
#[derive(Debug, Default)]
pub struct ClusterChanges {
    /// The previous keys of clusters that changed or left.
    pub moved: Vec<TargetKey>,
    /// Index ids of every changed, added or removed cluster.
    pub ids: Vec<ClusterId>,
    /// Some cluster was removed (its id may be reused, so id-based state is rebuilt).
    pub removed: bool,
}

/// One cluster targeted by a bundle, as rollouts and roll-ups see it.
#[derive(Debug, Clone)]
pub struct BundleTargetView {
    pub id: ClusterId,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub groups: Vec<String>,
    /// What the current version deploys there.
    pub current: Arc<Variant>,
    /// What the previous version deployed there, while a rollout is in progress.
    pub previous: Option<Arc<Variant>>,
    /// Whether the cluster is allowed the current version.
    pub promoted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_bundle::bundle::BundleTargetRestriction;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cluster(name: &str, l: &[(&str, &str)], cred: u8) -> ClusterRecord {
        ClusterRecord {
            namespace: "fleet-default".into(),
            name: name.into(),
            labels: labels(l),
            credential_hash: hex::encode([cred; 32]),
            ..Default::default()
        }
    }

    fn selector(pairs: &[(&str, &str)]) -> Option<LabelSelector> {
        Some(LabelSelector {
            match_labels: labels(pairs),
            match_expressions: vec![],
        })
    }

    fn bundle(
        name: &str,
        targets: Vec<BundleTarget>,
        restrictions: Vec<BundleTargetRestriction>,
    ) -> BundleRecord {
        BundleRecord {
            namespace: "fleet-default".into(),
            name: name.into(),
            spec: BundleSpec {
                targets,
                target_restrictions: restrictions,
                ..Default::default()
            },
            content_digest: "ab".repeat(32),
            ..Default::default()
        }
    }

    fn names(index: &Index, id: ClusterId) -> Vec<String> {
        let (_, d) = index.desired(id).unwrap();
        d.deployments
            .iter()
            .map(|v| v.deployment.bundle.clone())
            .collect()
    }

    #[test]
    fn a_parked_poll_keeps_its_cluster_seen_and_its_end_is_the_last_contact() {
        let index = Index::new();
        // Last contact long ago (the record's default last-seen time is 0).
        index.apply_clusters(&[cluster("a", &[], 1), cluster("b", &[], 2)]);
        let a = index.cluster_id("fleet-default", "a").unwrap();
        let now = chrono::Utc::now().timestamp();
        assert_eq!(index.count_seen_before(now - 300), 2);

        let parked = index.park(a);
        assert_eq!(
            index.count_seen_before(now - 300),
            1,
            "a parked poll is contact"
        );
        let seen = |name: &str| {
            index
                .last_seen_all()
                .into_iter()
                .find(|(_, n, _)| n == name)
                .unwrap()
                .2
        };
        assert!(seen("a") >= now);
        assert_eq!(seen("b"), 0);
        let due: Vec<String> = index
            .heartbeats_due(60)
            .into_iter()
            .map(|(_, _, n, _)| n)
            .collect();
        assert_eq!(due, ["a"], "the store hears of a parked cluster too");

        // A changed record replaces the slot while the poll is parked: still parked.
        index.apply_clusters(&[cluster("a", &[("env", "prod")], 1)]);
        assert_eq!(index.count_seen_before(now - 300), 1);
        drop(parked);
        // The poll's end is remembered as contact; the count does not go below zero.
        assert_eq!(index.count_seen_before(now - 300), 1);
        assert!(seen("a") >= now);
        drop(index.park(a));
        drop(ParkedPoll {
            index: &index,
            id: a,
        });
        let twice = index.park(a);
        assert_eq!(index.count_seen_before(now + 10), 1, "only b: a is parked");
        drop(twice);
        assert_eq!(index.count_seen_before(now + 10), 2);
    }

    #[test]
    fn clusters_with_equal_labels_share_one_computation() {
        let index = Index::new();
        index.apply_clusters(&[
            cluster("a", &[("env", "prod")], 1),
            cluster("b", &[("env", "prod")], 2),
            cluster("c", &[("env", "dev")], 3),
        ]);
        let prod = BundleTargetRestriction {
            cluster_selector: selector(&[("env", "prod")]),
            ..Default::default()
        };
        index.set_bundles(vec![bundle(
            "web",
            vec![BundleTarget {
                cluster_selector: selector(&[("env", "prod")]),
                ..Default::default()
            }],
            vec![prod],
        )]);
        assert_eq!(index.recompute_all(&[]), 2);
        let a = index.cluster_id("fleet-default", "a").unwrap();
        let b = index.cluster_id("fleet-default", "b").unwrap();
        let c = index.cluster_id("fleet-default", "c").unwrap();
        assert!(Arc::ptr_eq(
            &index.desired(a).unwrap().1,
            &index.desired(b).unwrap().1
        ));
        assert_eq!(names(&index, a), vec!["web"]);
        assert!(names(&index, c).is_empty());
        let d = index.desired(a).unwrap().1;
        assert!(d.allows_content(&"ab".repeat(32)));
        assert!(!index.desired(c).unwrap().1.allows_content(&"ab".repeat(32)));
    }

    #[test]
    fn label_change_retargets_and_wakes_the_old_key() {
        let index = Index::new();
        index.apply_clusters(&[cluster("a", &[("env", "dev")], 1)]);
        index.set_bundles(vec![bundle(
            "web",
            vec![BundleTarget {
                cluster_selector: selector(&[("env", "prod")]),
                ..Default::default()
            }],
            vec![],
        )]);
        index.recompute_all(&[]);
        let a = index.cluster_id("fleet-default", "a").unwrap();
        let (key, before) = index.desired(a).unwrap();
        assert!(before.deployments.is_empty());
        let mut rx = index.watch(&key);
        let moved = index.apply_clusters(&[cluster("a", &[("env", "prod")], 1)]);
        index.recompute_all(&moved);
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        assert_eq!(names(&index, a), vec!["web"]);
    }

    #[test]
    fn customizations_pick_options_and_do_not_deploy() {
        let index = Index::new();
        index.apply_clusters(&[
            cluster("a", &[("env", "prod")], 1),
            cluster("b", &[("env", "test")], 2),
            cluster("c", &[("env", "dev")], 3),
        ]);
        let prod_opts = BundleDeploymentOptions {
            target_namespace: "prod-ns".into(),
            ..Default::default()
        };
        let all = BundleTargetRestriction {
            cluster_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        index.set_bundles(vec![bundle(
            "web",
            vec![
                BundleTarget {
                    cluster_selector: selector(&[("env", "prod")]),
                    options: prod_opts,
                    ..Default::default()
                },
                BundleTarget {
                    cluster_selector: selector(&[("env", "test")]),
                    do_not_deploy: true,
                    ..Default::default()
                },
                BundleTarget {
                    cluster_selector: Some(LabelSelector::default()),
                    ..Default::default()
                },
            ],
            vec![all],
        )]);
        index.recompute_all(&[]);
        let id = |n| index.cluster_id("fleet-default", n).unwrap();
        let a = index.desired(id("a")).unwrap().1;
        assert_eq!(
            a.deployments[0].deployment.options.target_namespace,
            "prod-ns"
        );
        assert!(index.desired(id("b")).unwrap().1.deployments.is_empty());
        let c = index.desired(id("c")).unwrap().1;
        assert_eq!(c.deployments[0].deployment.options.target_namespace, "");
        assert_ne!(
            a.deployments[0].deployment.deployment_id,
            c.deployments[0].deployment.deployment_id
        );
    }

    // Fleet: internal/cmd/controller/target/builder.go, AllMatches merges every matching
    // customization over the GitRepo target's options; FirstMatch takes the first alone.
    #[test]
    fn all_matches_customizations_merge_in_the_manager() {
        let index = Index::new();
        index.apply_clusters(&[
            cluster("both", &[("edge", "y"), ("gpu", "y")], 1),
            cluster("gpu", &[("gpu", "y")], 2),
        ]);
        let all = BundleTargetRestriction {
            cluster_selector: Some(LabelSelector::default()),
            ..Default::default()
        };
        let opts = |ns: &str, sa: &str| BundleDeploymentOptions {
            target_namespace: ns.into(),
            service_account: sa.into(),
            ..Default::default()
        };
        let mut record = bundle(
            "web",
            vec![
                BundleTarget {
                    name: "edge".into(),
                    cluster_selector: selector(&[("edge", "y")]),
                    options: opts("edge-ns", ""),
                    ..Default::default()
                },
                BundleTarget {
                    name: "gpu".into(),
                    cluster_selector: selector(&[("gpu", "y")]),
                    options: opts("", "gpu-sa"),
                    ..Default::default()
                },
                BundleTarget {
                    cluster_selector: Some(LabelSelector::default()),
                    ..Default::default()
                },
            ],
            vec![all],
        );
        record.spec.target_customization_mode =
            fleet_bundle::bundle::TargetCustomizationMode::AllMatches;
        index.set_bundles(vec![record]);
        index.recompute_all(&[]);
        let id = |n| index.cluster_id("fleet-default", n).unwrap();
        let both = index.desired(id("both")).unwrap().1;
        let options = &both.deployments[0].deployment.options;
        assert_eq!(options.target_namespace, "edge-ns");
        assert_eq!(options.service_account, "gpu-sa");
        let gpu = index.desired(id("gpu")).unwrap().1;
        let options = &gpu.deployments[0].deployment.options;
        assert_eq!(options.target_namespace, "");
        assert_eq!(options.service_account, "gpu-sa");
    }

    #[test]
    fn groups_target_by_selector() {
        let index = Index::new();
        index.apply_clusters(&[cluster("a", &[("env", "prod")], 1), cluster("b", &[], 2)]);
        index.set_groups(vec![GroupEntry {
            workspace: "fleet-default".into(),
            name: "prod".into(),
            labels: BTreeMap::new(),
            selector: selector(&[("env", "prod")]),
        }]);
        index.set_bundles(vec![bundle(
            "web",
            vec![BundleTarget {
                cluster_group: "prod".into(),
                ..Default::default()
            }],
            vec![],
        )]);
        index.recompute_all(&[]);
        assert_eq!(
            names(&index, index.cluster_id("fleet-default", "a").unwrap()),
            vec!["web"]
        );
        assert!(names(&index, index.cluster_id("fleet-default", "b").unwrap()).is_empty());
        // A target without criteria matches nothing, as in Fleet.
        assert!(!target_matches(
            "a",
            &labels(&[]),
            &[],
            &(&BundleTarget::default()).into()
        ));
    }

    #[test]
    fn cluster_name_targets_only_that_cluster() {
        let index = Index::new();
        index.apply_clusters(&[cluster("a", &[], 1), cluster("b", &[], 2)]);
        index.set_bundles(vec![bundle(
            "web",
            vec![BundleTarget {
                cluster_name: "b".into(),
                ..Default::default()
            }],
            vec![],
        )]);
        index.recompute_all(&[]);
        assert!(names(&index, index.cluster_id("fleet-default", "a").unwrap()).is_empty());
        assert_eq!(
            names(&index, index.cluster_id("fleet-default", "b").unwrap()),
            vec!["web"]
        );
    }

    #[test]
    fn removed_clusters_lose_their_credential() {
        let index = Index::new();
        index.apply_clusters(&[cluster("a", &[], 9)]);
        assert!(index.cluster_by_credential(&[9; 32]).is_some());
        let mut gone = cluster("a", &[], 9);
        gone.deleted = true;
        index.apply_clusters(&[gone]);
        assert!(index.cluster_by_credential(&[9; 32]).is_none());
        assert_eq!(index.cluster_count(), 0);
    }

    #[test]
    fn helm_values_are_templated_per_label_set() {
        let index = Index::new();
        index.apply_clusters(&[
            cluster("a", &[("env", "prod")], 1),
            cluster("b", &[("env", "prod")], 2),
            cluster("c", &[("env", "dev")], 3),
        ]);
        let mut record = bundle(
            "web",
            vec![BundleTarget {
                cluster_selector: Some(LabelSelector::default()),
                ..Default::default()
            }],
            vec![],
        );
        record.spec.options = serde_json::from_value(serde_json::json!({
            "helm": {"values": {"env": "${ .ClusterLabels.env }"}}
        }))
        .unwrap();
        index.set_bundles(vec![record]);
        index.recompute_all(&[]);
        let id = |n| index.cluster_id("fleet-default", n).unwrap();
        let values = |n| {
            let d = index.desired(id(n)).unwrap().1;
            d.deployments[0]
                .deployment
                .options
                .helm
                .clone()
                .unwrap()
                .values
                .unwrap()
        };
        assert_eq!(values("a"), serde_json::json!({"env": "prod"}));
        assert_eq!(values("c"), serde_json::json!({"env": "dev"}));
        // Same labels, same computation (the template does not read the name).
        assert!(Arc::ptr_eq(
            &index.desired(id("a")).unwrap().1,
            &index.desired(id("b")).unwrap().1
        ));
        let da = index.desired(id("a")).unwrap().1;
        let dc = index.desired(id("c")).unwrap().1;
        assert_ne!(
            da.deployments[0].deployment.deployment_id,
            dc.deployments[0].deployment.deployment_id
        );
    }
}
