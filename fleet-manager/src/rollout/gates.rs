//! Health gates: when a partition may hand over to the next, and when it halts the
//! rollout instead.
//!
//! A gated rollout (any of `soakTime`, `maxFailures`, `healthyReports`,
//! `progressDeadline`, `rollback` in `rolloutStrategy`) judges each promoted cluster by
//! *health checks*: a check is a new status report from the cluster for the bundle, or
//! the leader re-reading the standing report after [`CHECK_INTERVAL_S`]. A cluster is
//!
//! - **healthy** after `healthyReports` consecutive checks Ready at the new deploymentID;
//! - **failed** after `healthyReports` consecutive ErrApplied checks at it, or when it has
//!   never been healthy `progressDeadline` after its promotion, or, once healthy, after
//!   `healthyReports` consecutive checks that are not Ready;
//! - **pending** otherwise. A flapping cluster therefore decides nothing until its state
//!   holds for `healthyReports` checks (or the deadline says it never settled).
//!
//! A partition whose failed clusters exceed `maxFailures` halts the rollout. A partition
//! whose every promoted cluster is healthy (or failed within `maxFailures`) is Ready; the
//! next partition starts once it has stayed Ready for `soakTime`.
//!
//! Everything here is pure: times are seconds since the Unix epoch passed in.

use std::collections::{BTreeMap, BTreeSet};

use fleet_bundle::bundle::{IntOrString, RollbackMode, RolloutStrategy};
use fleet_bundle::deployment::{BundleState, ResourceStatus};
use serde::{Deserialize, Serialize};

use super::{RolloutError, TargetInput};

/// How often a standing report counts as a new health check (the leader's pass).
pub const CHECK_INTERVAL_S: i64 = 5;
/// `progressDeadline` when a gate is set but the deadline is not.
const DEFAULT_PROGRESS_DEADLINE_S: i64 = 600;

/// A strategy's health gates, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    pub soak_s: i64,
    pub max_failures: IntOrString,
    pub healthy_reports: u32,
    pub progress_deadline_s: i64,
    pub rollback: RollbackMode,
}

impl Gates {
    /// The gates of a strategy; `None` when it sets none of them (a Fleet rollout).
    pub fn of(strategy: Option<&RolloutStrategy>) -> Result<Option<Gates>, RolloutError> {
        let Some(s) = strategy else { return Ok(None) };
        if s.soak_time.is_none()
            && s.max_failures.is_none()
            && s.healthy_reports.is_none()
            && s.progress_deadline.is_none()
            && s.rollback.is_none()
        {
            return Ok(None);
        }
        let seconds =
            |v: &Option<String>, field: &'static str| -> Result<Option<i64>, RolloutError> {
                v.as_deref()
                    .map(|d| {
                        crate::resources::parse_duration(d)
                            .map(|d| d.as_secs() as i64)
                            .map_err(|message| RolloutError::Invalid { field, message })
                    })
                    .transpose()
            };
        let max_failures = s.max_failures.clone().unwrap_or(IntOrString::Int(0));
        max_failures
            .scaled(1, false)
            .map_err(|message| RolloutError::Invalid {
                field: "maxFailures",
                message,
            })?;
        if s.healthy_reports == Some(0) {
            return Err(RolloutError::Invalid {
                field: "healthyReports",
                message: "must be at least 1".into(),
            });
        }
        Ok(Some(Gates {
            soak_s: seconds(&s.soak_time, "soakTime")?.unwrap_or(0),
            max_failures,
            healthy_reports: s.healthy_reports.unwrap_or(1),
            progress_deadline_s: seconds(&s.progress_deadline, "progressDeadline")?
                .unwrap_or(DEFAULT_PROGRESS_DEADLINE_S),
            rollback: s.rollback.unwrap_or_default(),
        }))
    }

    /// How many of `count` clusters may fail (percentages round down).
    pub fn failures_allowed(&self, count: usize) -> usize {
        self.max_failures.scaled(count, false).unwrap_or(0)
    }
}

/// A cluster's latest report for the bundle, as the gates read it.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The deploymentID the report is about.
    pub deployment_id: String,
    /// The deploymentID actually applied.
    pub applied: String,
    pub state: BundleState,
    /// The agent's sequence for this bundle's status (moves with every change).
    pub sequence: u64,
    pub message: String,
    /// The first resource that is not ready, with its message.
    pub first_failing: Option<ResourceStatus>,
}

/// What one health check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Ready,
    Error,
    NotReady,
}

/// A promoted cluster's health history at its current deploymentID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterHealth {
    pub deployment_id: String,
    /// When the cluster was first seen promoted to it.
    pub since: i64,
    /// Consecutive Ready checks.
    pub ready: u32,
    /// Consecutive ErrApplied checks.
    pub errors: u32,
    /// Consecutive checks that were not Ready.
    pub not_ready: u32,
    /// Has been healthy at this deploymentID once.
    pub proven: bool,
    /// The report sequence and time of the last counted check.
    pub sequence: u64,
    pub checked_at: i64,
}

/// A cluster's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    Pending,
    Failed,
}

impl ClusterHealth {
    /// Counts a check of `report` at `current` (the deploymentID the cluster is given),
    /// starting over when the deploymentID changed. A check counts when the report is new
    /// (its sequence moved) or [`CHECK_INTERVAL_S`] passed since the last counted one.
    pub fn observe(
        previous: Option<&ClusterHealth>,
        current: &str,
        report: Option<&HealthReport>,
        now: i64,
    ) -> ClusterHealth {
        let mut h = match previous {
            Some(p) if p.deployment_id == current => p.clone(),
            _ => ClusterHealth {
                deployment_id: current.to_string(),
                since: now,
                ..Default::default()
            },
        };
        let Some(r) = report else { return h };
        let fresh = h.checked_at == 0 && h.sequence == 0;
        if !fresh && r.sequence == h.sequence && now - h.checked_at < CHECK_INTERVAL_S {
            return h;
        }
        h.sequence = r.sequence;
        h.checked_at = now;
        let check = if r.applied == current && r.state == BundleState::Ready {
            Check::Ready
        } else if r.deployment_id == current && r.state == BundleState::ErrApplied {
            Check::Error
        } else {
            Check::NotReady
        };
        match check {
            Check::Ready => {
                h.ready += 1;
                h.errors = 0;
                h.not_ready = 0;
            }
            Check::Error => {
                h.ready = 0;
                h.errors += 1;
                h.not_ready += 1;
            }
            Check::NotReady => {
                h.ready = 0;
                h.errors = 0;
                h.not_ready += 1;
            }
        }
        h
    }

    /// Healthy, failed or still undecided under `gates` at `now`; marks it proven.
    pub fn verdict(&mut self, gates: &Gates, now: i64) -> Verdict {
        let n = gates.healthy_reports;
        if self.ready >= n {
            self.proven = true;
            return Verdict::Healthy;
        }
        if self.errors >= n || (self.proven && self.not_ready >= n) {
            return Verdict::Failed;
        }
        if !self.proven && now - self.since >= gates.progress_deadline_s {
            return Verdict::Failed;
        }
        Verdict::Pending
    }
}

/// What the gates keep between passes, inside the rollout state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateState {
    /// Promoted clusters' health, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub health: BTreeMap<String, ClusterHealth>,
    /// When each partition (by name) became Ready and has stayed so.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ready_since: BTreeMap<String, i64>,
}

/// A cluster that failed its gate, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedCluster {
    pub name: String,
    pub state: String,
    /// The first failing resource (`Kind namespace/name`) and its message, else the
    /// bundle's message, else why the gate judged it failed.
    pub resource: String,
    pub message: String,
}

/// A partition that halted the rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub partition: String,
    pub clusters: Vec<FailedCluster>,
}

/// A partition's gate, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GateVerdict {
    /// Not every cluster promoted or healthy yet.
    Waiting,
    /// Ready; the next partition waits until the given time.
    Soaking {
        until: i64,
    },
    /// Ready and soaked: the next partition may start.
    Open,
    Failed,
}

/// The gates' decision for one pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Partitions (by name) whose gate lets the rollout go past them.
    pub open: BTreeSet<String>,
    pub verdicts: Vec<(String, GateVerdict)>,
    /// The first partition that failed, if any.
    pub failure: Option<Failure>,
}

/// Updates `state` from the latest reports and judges every partition in order.
/// `parts` are the partitions' names and members as [`super::plan`] splits them;
/// clusters not promoted are not judged (they run the previous version).
pub fn judge(
    gates: &Gates,
    state: &mut GateState,
    parts: &[(String, Vec<&TargetInput>)],
    reports: &BTreeMap<String, HealthReport>,
    now: i64,
) -> Decision {
    let mut health = BTreeMap::new();
    let mut open = BTreeSet::new();
    let mut verdicts = Vec::new();
    let mut failure = None;
    for (name, members) in parts {
        let mut failed = Vec::new();
        let mut waiting = members.is_empty();
        for t in members {
            if !t.promoted {
                waiting = true;
                continue;
            }
            let report = reports.get(&t.name);
            let mut h =
                ClusterHealth::observe(state.health.get(&t.name), &t.current_id, report, now);
            match h.verdict(gates, now) {
                Verdict::Healthy => {}
                Verdict::Pending => waiting = true,
                Verdict::Failed => failed.push(failed_cluster(&t.name, &h, report, gates, now)),
            }
            health.insert(t.name.clone(), h);
        }
        let verdict = if failed.len() > gates.failures_allowed(members.len()) {
            if failure.is_none() {
                failure = Some(Failure {
                    partition: name.clone(),
                    clusters: failed,
                });
            }
            state.ready_since.remove(name);
            GateVerdict::Failed
        } else if waiting {
            state.ready_since.remove(name);
            GateVerdict::Waiting
        } else {
            let since = *state.ready_since.entry(name.clone()).or_insert(now);
            if now - since >= gates.soak_s {
                open.insert(name.clone());
                GateVerdict::Open
            } else {
                GateVerdict::Soaking {
                    until: since + gates.soak_s,
                }
            }
        };
        verdicts.push((name.clone(), verdict));
    }
    state.health = health;
    Decision {
        open,
        verdicts,
        failure,
    }
}

fn failed_cluster(
    name: &str,
    h: &ClusterHealth,
    report: Option<&HealthReport>,
    gates: &Gates,
    now: i64,
) -> FailedCluster {
    let why = if h.errors >= gates.healthy_reports {
        format!("{} consecutive ErrApplied reports", h.errors)
    } else if h.proven {
        format!(
            "{} consecutive reports not Ready after being healthy",
            h.not_ready
        )
    } else {
        format!(
            "not healthy {}s after promotion (progressDeadline {}s)",
            now - h.since,
            gates.progress_deadline_s
        )
    };
    let Some(r) = report else {
        return FailedCluster {
            name: name.to_string(),
            state: "NoReport".into(),
            resource: String::new(),
            message: format!("no status report; {why}"),
        };
    };
    let (resource, message) = match &r.first_failing {
        Some(res) => {
            let at = if res.namespace.is_empty() {
                res.name.clone()
            } else {
                format!("{}/{}", res.namespace, res.name)
            };
            let message = if res.message.is_empty() {
                why
            } else {
                res.message.clone()
            };
            (format!("{} {at}", res.kind), message)
        }
        None if !r.message.is_empty() => (String::new(), r.message.clone()),
        None => (String::new(), why),
    };
    FailedCluster {
        name: name.to_string(),
        state: r.state.as_str().to_string(),
        resource,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(yaml: &str) -> Gates {
        let s: RolloutStrategy = serde_yaml::from_str(yaml).unwrap();
        Gates::of(Some(&s)).unwrap().expect("gated")
    }

    fn report(state: BundleState, seq: u64) -> HealthReport {
        HealthReport {
            deployment_id: "new".into(),
            applied: "new".into(),
            state,
            sequence: seq,
            message: String::new(),
            first_failing: None,
        }
    }

    fn promoted(name: &str) -> TargetInput {
        TargetInput {
            name: name.into(),
            labels: BTreeMap::new(),
            groups: vec![],
            current_id: "new".into(),
            previous_id: Some("old".into()),
            promoted: true,
            status: None,
        }
    }

    #[test]
    fn fleet_strategies_have_no_gates() {
        let s: RolloutStrategy = serde_yaml::from_str("maxUnavailable: 1\n").unwrap();
        assert_eq!(Gates::of(Some(&s)).unwrap(), None);
        assert_eq!(Gates::of(None).unwrap(), None);
    }

    #[test]
    fn gate_fields_parse_with_defaults() {
        let g = gates("soakTime: 2m\nrollback: auto\n");
        assert_eq!(g.soak_s, 120);
        assert_eq!(g.healthy_reports, 1);
        assert_eq!(g.progress_deadline_s, 600);
        assert_eq!(g.rollback, RollbackMode::Auto);
        assert_eq!(g.failures_allowed(10), 0);
        let g = gates("maxFailures: 25%\nhealthyReports: 3\nprogressDeadline: 90s\n");
        assert_eq!(g.failures_allowed(10), 2);
        assert_eq!(g.failures_allowed(3), 0);
        assert_eq!(g.healthy_reports, 3);
        assert_eq!(g.progress_deadline_s, 90);
        assert_eq!(gates("maxFailures: 2\n").failures_allowed(5), 2);
    }

    #[test]
    fn bad_gate_fields_name_the_field() {
        let bad = |yaml: &str| {
            let s: RolloutStrategy = serde_yaml::from_str(yaml).unwrap();
            Gates::of(Some(&s)).unwrap_err().to_string()
        };
        assert!(bad("soakTime: soon\n").starts_with("rolloutStrategy.soakTime:"));
        assert!(bad("maxFailures: lots\n").starts_with("rolloutStrategy.maxFailures:"));
        assert!(bad("healthyReports: 0\n").contains("at least 1"));
        assert!(bad("progressDeadline: x\n").starts_with("rolloutStrategy.progressDeadline:"));
    }

    #[test]
    fn healthy_needs_consecutive_ready_checks() {
        let g = gates("healthyReports: 3\n");
        let mut h = ClusterHealth::observe(None, "new", Some(&report(BundleState::Ready, 1)), 100);
        assert_eq!(h.verdict(&g, 100), Verdict::Pending);
        // The same report re-read within the check interval is not a new check.
        h = ClusterHealth::observe(Some(&h), "new", Some(&report(BundleState::Ready, 1)), 102);
        assert_eq!(h.ready, 1);
        // Re-read after the interval, it is.
        h = ClusterHealth::observe(Some(&h), "new", Some(&report(BundleState::Ready, 1)), 105);
        assert_eq!(h.ready, 2);
        h = ClusterHealth::observe(Some(&h), "new", Some(&report(BundleState::Ready, 2)), 106);
        assert_eq!(h.verdict(&g, 106), Verdict::Healthy);
    }

    #[test]
    fn flapping_decides_nothing_until_the_deadline() {
        let g = gates("healthyReports: 2\nprogressDeadline: 60s\n");
        let mut h = ClusterHealth::observe(None, "new", None, 0);
        let mut seq = 0;
        for t in 1..59 {
            seq += 1;
            let state = if t % 2 == 0 {
                BundleState::Ready
            } else {
                BundleState::ErrApplied
            };
            h = ClusterHealth::observe(Some(&h), "new", Some(&report(state, seq)), t);
            assert_eq!(h.verdict(&g, t), Verdict::Pending, "check {t}: {h:?}");
        }
        // Never held Ready for two checks: failed once the deadline passes.
        assert_eq!(h.verdict(&g, 60), Verdict::Failed);
    }

    #[test]
    fn a_proven_cluster_survives_a_blip_but_not_a_lasting_failure() {
        let g = gates("healthyReports: 2\nprogressDeadline: 10s\n");
        let mut h = ClusterHealth::observe(None, "new", Some(&report(BundleState::Ready, 1)), 0);
        h = ClusterHealth::observe(Some(&h), "new", Some(&report(BundleState::Ready, 2)), 1);
        assert_eq!(h.verdict(&g, 1), Verdict::Healthy);
        h = ClusterHealth::observe(
            Some(&h),
            "new",
            Some(&report(BundleState::NotReady, 3)),
            100,
        );
        assert_eq!(
            h.verdict(&g, 100),
            Verdict::Pending,
            "one blip, past the deadline"
        );
        h = ClusterHealth::observe(Some(&h), "new", Some(&report(BundleState::Ready, 4)), 101);
        h = ClusterHealth::observe(
            Some(&h),
            "new",
            Some(&report(BundleState::NotReady, 5)),
            102,
        );
        h = ClusterHealth::observe(
            Some(&h),
            "new",
            Some(&report(BundleState::NotReady, 6)),
            103,
        );
        assert_eq!(h.verdict(&g, 103), Verdict::Failed);
    }

    #[test]
    fn consecutive_errors_fail_before_the_deadline() {
        let g = gates("healthyReports: 2\n");
        let mut h =
            ClusterHealth::observe(None, "new", Some(&report(BundleState::ErrApplied, 1)), 0);
        assert_eq!(h.verdict(&g, 0), Verdict::Pending);
        h = ClusterHealth::observe(
            Some(&h),
            "new",
            Some(&report(BundleState::ErrApplied, 2)),
            1,
        );
        assert_eq!(h.verdict(&g, 1), Verdict::Failed);
    }

    #[test]
    fn reports_about_the_old_version_are_not_ready() {
        let g = gates("healthyReports: 1\n");
        let mut old = report(BundleState::Ready, 1);
        old.applied = "old".into();
        old.deployment_id = "old".into();
        let mut h = ClusterHealth::observe(None, "new", Some(&old), 0);
        assert_eq!(h.verdict(&g, 0), Verdict::Pending);
        // An ErrApplied about the old deploymentID does not count against the new one.
        old.state = BundleState::ErrApplied;
        old.sequence = 2;
        h = ClusterHealth::observe(Some(&h), "new", Some(&old), 1);
        assert_eq!(h.errors, 0);
    }

    #[test]
    fn a_new_deployment_starts_the_history_over() {
        let mut h = ClusterHealth::observe(None, "new", Some(&report(BundleState::Ready, 1)), 0);
        assert_eq!(h.ready, 1);
        h = ClusterHealth::observe(Some(&h), "newer", Some(&report(BundleState::Ready, 1)), 50);
        assert_eq!(
            (h.ready, h.since, h.deployment_id.as_str()),
            (0, 50, "newer")
        );
    }

    #[test]
    fn soak_holds_the_next_partition() {
        let g = gates("soakTime: 30s\n");
        let a = promoted("a");
        let parts = vec![("canary".to_string(), vec![&a])];
        let reports = BTreeMap::from([("a".to_string(), report(BundleState::Ready, 1))]);
        let mut state = GateState::default();
        let d = judge(&g, &mut state, &parts, &reports, 1000);
        assert_eq!(d.verdicts[0].1, GateVerdict::Soaking { until: 1030 });
        assert!(d.open.is_empty());
        let d = judge(&g, &mut state, &parts, &reports, 1029);
        assert!(d.open.is_empty());
        let d = judge(&g, &mut state, &parts, &reports, 1030);
        assert!(d.open.contains("canary"));
    }

    #[test]
    fn soak_starts_over_when_the_partition_stops_being_ready() {
        let g = gates("soakTime: 30s\nhealthyReports: 2\n");
        let a = promoted("a");
        let parts = vec![("canary".to_string(), vec![&a])];
        let mut reports = BTreeMap::from([("a".to_string(), report(BundleState::Ready, 1))]);
        let mut state = GateState::default();
        judge(&g, &mut state, &parts, &reports, 0);
        reports.insert("a".into(), report(BundleState::Ready, 2));
        let d = judge(&g, &mut state, &parts, &reports, 1);
        assert_eq!(d.verdicts[0].1, GateVerdict::Soaking { until: 31 });
        // One blip: not failed (it must hold for two checks), but no longer Ready.
        reports.insert("a".into(), report(BundleState::NotReady, 3));
        let d = judge(&g, &mut state, &parts, &reports, 20);
        assert_eq!(d.verdicts[0].1, GateVerdict::Waiting);
        reports.insert("a".into(), report(BundleState::Ready, 4));
        judge(&g, &mut state, &parts, &reports, 25);
        reports.insert("a".into(), report(BundleState::Ready, 5));
        let d = judge(&g, &mut state, &parts, &reports, 26);
        assert_eq!(d.verdicts[0].1, GateVerdict::Soaking { until: 56 });
    }

    #[test]
    fn unpromoted_members_keep_the_gate_closed() {
        let g = gates("soakTime: 0s\n");
        let a = promoted("a");
        let mut b = promoted("b");
        b.promoted = false;
        let parts = vec![("p".to_string(), vec![&a, &b])];
        let reports = BTreeMap::from([("a".to_string(), report(BundleState::Ready, 1))]);
        let d = judge(&g, &mut GateState::default(), &parts, &reports, 0);
        assert_eq!(d.verdicts[0].1, GateVerdict::Waiting);
    }

    #[test]
    fn failures_over_max_failures_halt_and_name_the_resource() {
        let g = gates("maxFailures: 1\nprogressDeadline: 60s\n");
        let (a, b, c) = (promoted("a"), promoted("b"), promoted("c"));
        let parts = vec![("p".to_string(), vec![&a, &b, &c])];
        let mut bad = report(BundleState::NotReady, 1);
        bad.first_failing = Some(ResourceStatus {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: "web".into(),
            name: "frontend".into(),
            message: "0 of 2 replicas available".into(),
        });
        let mut reports = BTreeMap::from([
            ("a".to_string(), bad.clone()),
            ("b".to_string(), report(BundleState::Ready, 1)),
            ("c".to_string(), report(BundleState::Ready, 1)),
        ]);
        let mut state = GateState::default();
        judge(&g, &mut state, &parts, &reports, 0);
        // One failure is within maxFailures: the partition is Ready.
        let d = judge(&g, &mut state, &parts, &reports, 60);
        assert_eq!(d.failure, None);
        assert!(d.open.contains("p"));
        // A second one halts it.
        bad.sequence = 2;
        reports.insert("c".into(), bad);
        let d = judge(&g, &mut state, &parts, &reports, 61);
        let f = d.failure.expect("halted");
        assert_eq!(f.partition, "p");
        let names: Vec<_> = f.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(f.clusters[0].resource, "Deployment web/frontend");
        assert_eq!(f.clusters[0].message, "0 of 2 replicas available");
        assert_eq!(d.verdicts[0].1, GateVerdict::Failed);
    }

    #[test]
    fn a_silent_cluster_fails_at_the_deadline() {
        let g = gates("progressDeadline: 30s\n");
        let a = promoted("a");
        let parts = vec![("p".to_string(), vec![&a])];
        let mut state = GateState::default();
        let d = judge(&g, &mut state, &parts, &BTreeMap::new(), 0);
        assert_eq!(d.failure, None);
        let d = judge(&g, &mut state, &parts, &BTreeMap::new(), 30);
        let f = d.failure.expect("halted");
        assert_eq!(f.clusters[0].state, "NoReport");
        assert!(
            f.clusters[0].message.contains("progressDeadline 30s"),
            "{f:?}"
        );
    }
}
