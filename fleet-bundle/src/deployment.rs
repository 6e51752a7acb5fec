//! BundleDeployments: what one cluster should run and what it reports back, and the wire
//! contract of the agent API that carries them between `fleet-manager` and `fleet-agent`.
//!
//! The agent API (all JSON, the credential as `Authorization: Bearer <credential>`):
//!
//! | call | body | answer |
//! |---|---|---|
//! | `POST /agent/v1/register` (registration token as bearer) | [`RegisterRequest`] | [`RegisterResponse`] |
//! | `GET /agent/v1/desired?wait=SECONDS` with `If-None-Match: "<etag>"` | | [`DesiredState`] with `ETag`, or `304` after up to `wait` seconds with no change |
//! | `GET /agent/v1/content/<sha256>` | | the [`BundleContent`] bytes whose sha256 is the digest (immutable, cacheable) |
//! | `POST /agent/v1/status` | [`StatusReport`] | `204`; idempotent |
//!
//! A `401` with [`ApiError::code`] `unknown_credential` tells the agent to register again.
//!
//! Status is sent when it changes, not re-sent on a short timer: each poll carries the
//! [`StatusReport::sequence`] the manager last acknowledged
//! ([`STATUS_ACKNOWLEDGED_HEADER`]), and a manager whose store lacks that report (a
//! restored backup, a failover that lost recent commits) answers the poll at once with
//! [`REPORT_WANTED_HEADER`], and the agent sends its status again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::bundle::{BundleDeploymentOptions, BundleRef, BundleResource};

/// Path prefix of the agent API.
pub const AGENT_API_PREFIX: &str = "/agent/v1";

/// Request header of a desired-state poll: the [`StatusReport::sequence`] of the newest
/// report the manager acknowledged to this agent (decimal).
pub const STATUS_ACKNOWLEDGED_HEADER: &str = "fleet-status-acknowledged";

/// Response header of a desired-state poll (value `true`): the manager does not hold the
/// report the poll said was acknowledged; the agent should send its status again.
pub const REPORT_WANTED_HEADER: &str = "fleet-report-wanted";

/// A periodic wait of the agent protocol (a long-poll's expiry, a heartbeat), drawn
/// between three quarters of `period` and all of it. A push answers every agent at the
/// same moment; without this the fleet would renew and heartbeat in lockstep from then
/// on, in bursts of the whole fleet instead of a steady trickle. The kube-apiserver
/// spreads watch timeouts the same way.
pub fn spread(period: std::time::Duration) -> std::time::Duration {
    period.mul_f64(1.0 - rand::random::<f64>() / 4.0)
}

/// Fleet's states of one bundle on one cluster, from best to worst as Fleet ranks them
/// when rolling up (`Ready` < ... < `ErrApplied`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BundleState {
    /// Applied and every resource is ready.
    Ready,
    /// Applied; some resources are not ready yet.
    NotReady,
    /// The cluster has not applied the current deploymentID yet.
    WaitApplied,
    /// Applying failed.
    ErrApplied,
    /// Applied content differs from the desired deploymentID (e.g. held by a rollout).
    OutOfSync,
    /// Waiting to be scheduled (rollout partition, dependsOn, paused).
    Pending,
    /// Resources were changed in the cluster (drift) or are missing.
    Modified,
}

impl BundleState {
    /// Every state, in the order the dashboard and summaries list them.
    pub const ALL: [BundleState; 7] = [
        BundleState::Ready,
        BundleState::NotReady,
        BundleState::WaitApplied,
        BundleState::ErrApplied,
        BundleState::OutOfSync,
        BundleState::Pending,
        BundleState::Modified,
    ];

    /// Fleet's rank used to pick the "worst" state of a roll-up (higher is worse).
    pub fn rank(self) -> u8 {
        match self {
            BundleState::Ready => 0,
            BundleState::NotReady => 1,
            BundleState::Pending => 2,
            BundleState::OutOfSync => 3,
            BundleState::Modified => 4,
            BundleState::WaitApplied => 5,
            BundleState::ErrApplied => 6,
        }
    }

    /// The state's name as Fleet spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            BundleState::Ready => "Ready",
            BundleState::NotReady => "NotReady",
            BundleState::WaitApplied => "WaitApplied",
            BundleState::ErrApplied => "ErrApplied",
            BundleState::OutOfSync => "OutOfSync",
            BundleState::Pending => "Pending",
            BundleState::Modified => "Modified",
        }
    }
}

impl std::fmt::Display for BundleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /agent/v1/register`: the agent presents a registration token (as bearer) and
/// describes its cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// Requested cluster name; the manager derives one when empty.
    #[serde(default)]
    pub cluster_name: String,
    /// Labels the agent reports for its cluster (merged under the token's labels).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub agent_version: String,
}

/// The answer to a registration: the per-cluster credential, shown exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub cluster_name: String,
    /// Workspace (Fleet namespace such as `fleet-default`) the cluster belongs to.
    pub namespace: String,
    pub credential: String,
}

/// What a cluster should run: the answer to `GET /agent/v1/desired`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredState {
    pub cluster_name: String,
    /// The cluster's labels and annotations as the manager knows them; used to template
    /// Helm values (`global.fleet.clusterLabels`, `${ .ClusterLabels.x }`).
    #[serde(default)]
    pub cluster_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub cluster_annotations: BTreeMap<String, String>,
    pub deployments: Vec<BundleDeployment>,
}

/// One bundle targeted at one cluster (Fleet's `BundleDeployment` spec).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleDeployment {
    /// Bundle name, unique in its workspace; also the Helm release name's default.
    pub bundle: String,
    /// Workspace of the bundle.
    pub namespace: String,
    /// Identity of what the cluster must run: content + effective options.
    #[serde(rename = "deploymentID")]
    pub deployment_id: String,
    /// sha256 of the [`BundleContent`] blob, fetched from `/agent/v1/content/<digest>`.
    pub content_digest: String,
    /// The bundle's options merged with the matching target customization.
    pub options: BundleDeploymentOptions,
    #[serde(default)]
    pub depends_on: Vec<BundleRef>,
    #[serde(default)]
    pub paused: bool,
    /// The GitRepo commit the content came from, for display.
    #[serde(default)]
    pub commit: String,
}

/// The files of a bundle, served by digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleContent {
    pub resources: Vec<BundleResource>,
}

/// `POST /agent/v1/status`: the heartbeat and the state of every bundle on the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub agent_version: String,
    pub bundles: Vec<BundleDeploymentStatus>,
    /// The agent's status sequence this report covers: it moves with every change,
    /// removals included, and never goes back (0 from agents that do not send it).
    #[serde(default)]
    pub sequence: u64,
}

/// The state of one bundle on the reporting cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleDeploymentStatus {
    pub bundle: String,
    pub namespace: String,
    /// The deploymentID this report is about; the manager ignores a report for an older
    /// deploymentID than the one it already holds a report for.
    #[serde(rename = "deploymentID")]
    pub deployment_id: String,
    /// The deploymentID actually applied (may lag behind while applying).
    #[serde(default, rename = "appliedDeploymentID")]
    pub applied_deployment_id: String,
    pub state: BundleState,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub non_ready: Vec<ResourceStatus>,
    #[serde(default)]
    pub modified: Vec<ModifiedResource>,
    /// Helm release name and revision recording this deployment on the cluster.
    #[serde(default)]
    pub release: String,
    /// Monotonic per agent, so an out-of-order report is recognised.
    #[serde(default)]
    pub sequence: u64,
}

/// A resource that is not ready, with why.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub message: String,
}

/// A resource that drifted from what was applied, is missing, or is extra.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModifiedResource {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub namespace: String,
    pub name: String,
    /// The resource is in the bundle but not in the cluster.
    #[serde(default)]
    pub missing: bool,
    /// The resource is in the cluster but should be deleted.
    #[serde(default)]
    pub delete: bool,
    /// Field paths (`spec.replicas`, `spec.template.spec.containers[name=web].image`) whose
    /// live value differs from the applied one.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// The body of every 4xx/5xx answer of the manager's APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// Machine-readable cause, e.g. `unknown_credential`, `invalid_token`, `not_found`.
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_spread_over_their_last_quarter() {
        let period = std::time::Duration::from_secs(60);
        let waits: Vec<std::time::Duration> = (0..200).map(|_| spread(period)).collect();
        assert!(waits
            .iter()
            .all(|w| *w <= period && *w >= std::time::Duration::from_secs(45)));
        let min = waits.iter().min().copied().unwrap_or_default();
        let max = waits.iter().max().copied().unwrap_or_default();
        assert!(
            max - min > std::time::Duration::from_secs(5),
            "{min:?}..{max:?}"
        );
    }

    #[test]
    fn states_rank_errors_worst() {
        let worst = BundleState::ALL.iter().max_by_key(|s| s.rank()).unwrap();
        assert_eq!(*worst, BundleState::ErrApplied);
        assert_eq!(BundleState::Ready.rank(), 0);
    }

    #[test]
    fn status_wire_names_match_fleet() {
        let s = BundleDeploymentStatus {
            bundle: "b".into(),
            namespace: "fleet-default".into(),
            deployment_id: "s-1:2".into(),
            applied_deployment_id: String::new(),
            state: BundleState::WaitApplied,
            message: String::new(),
            non_ready: vec![],
            modified: vec![],
            release: String::new(),
            sequence: 7,
        };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["deploymentID"], "s-1:2");
        assert_eq!(json["state"], "WaitApplied");
        let back: BundleDeploymentStatus = serde_json::from_value(json).unwrap();
        assert_eq!(back, s);
    }
}
