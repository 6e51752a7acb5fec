//! Recognising a status report this replica has already handled, without the database.
//!
//! An idle agent re-sends its whole status as a heartbeat. The store already refuses to
//! rewrite a report it holds (same deploymentID, sequence not higher), but finding that
//! out costs a write transaction on a blocking thread per heartbeat: with 10,000 agents
//! that was most of an idle manager's CPU. Here each cluster keeps the fingerprint of the
//! last report whose records were stored (or found already stored), and an identical
//! report is answered from memory.
//!
//! Why skipping is safe: an agent gives every change a new, higher sequence, so equal
//! (bundle, deploymentID, sequence) lists carry equal contents, and what the first copy
//! stored is still stored unless reports were deleted since. Reports are deleted with
//! their bundle or their cluster; a removed cluster's slot is replaced (its fingerprint
//! starts empty) and every bundle reload moves an epoch that is part of the fingerprint,
//! so the first report after it goes to the store again.

use std::hash::{BuildHasher, Hash, Hasher};

use fleet_bundle::deployment::StatusReport;

/// Keyed fingerprints: the key is random per process, so an agent cannot craft two
/// different reports with the same fingerprint to get one of them dropped.
#[derive(Debug, Default)]
pub struct ReportFingerprints {
    keys: std::collections::hash_map::RandomState,
}

impl ReportFingerprints {
    /// The fingerprint of `report` against the cluster's desired state `desired_etag`
    /// at bundle epoch `epoch`. Never 0, which marks "nothing handled yet".
    pub fn of(&self, epoch: u64, desired_etag: &str, report: &StatusReport) -> u64 {
        let mut h = self.keys.build_hasher();
        epoch.hash(&mut h);
        desired_etag.hash(&mut h);
        report.sequence.hash(&mut h);
        report.bundles.len().hash(&mut h);
        for b in &report.bundles {
            b.namespace.hash(&mut h);
            b.bundle.hash(&mut h);
            b.deployment_id.hash(&mut h);
            b.sequence.hash(&mut h);
        }
        h.finish().max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_bundle::deployment::{BundleDeploymentStatus, BundleState};

    fn report(sequence: u64, deployment: &str) -> StatusReport {
        StatusReport {
            agent_version: "test".into(),
            bundles: vec![BundleDeploymentStatus {
                bundle: "app".into(),
                namespace: "fleet-default".into(),
                deployment_id: deployment.into(),
                applied_deployment_id: deployment.into(),
                state: BundleState::Ready,
                message: String::new(),
                non_ready: vec![],
                modified: vec![],
                release: "app-1".into(),
                sequence,
            }],
            sequence,
        }
    }

    #[test]
    fn equal_reports_share_a_fingerprint_and_any_change_moves_it() {
        let f = ReportFingerprints::default();
        let base = f.of(1, "etag", &report(3, "d1"));
        assert_eq!(base, f.of(1, "etag", &report(3, "d1")));
        assert_ne!(base, f.of(1, "etag", &report(4, "d1")), "a new sequence");
        assert_ne!(
            base,
            f.of(1, "etag", &report(3, "d2")),
            "another deployment"
        );
        assert_ne!(base, f.of(2, "etag", &report(3, "d1")), "a bundle reload");
        assert_ne!(
            base,
            f.of(1, "other", &report(3, "d1")),
            "a new desired state"
        );
        let mut removed = report(3, "d1");
        removed.sequence = 4;
        assert_ne!(
            base,
            f.of(1, "etag", &removed),
            "a report sequence moved by a removal"
        );
        let empty = StatusReport {
            agent_version: "test".into(),
            bundles: vec![],
            sequence: 0,
        };
        assert_ne!(
            f.of(1, "etag", &empty),
            0,
            "0 is reserved for nothing handled"
        );
    }
}
