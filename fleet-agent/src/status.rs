//! What the agent tells the manager: the Fleet state of every bundle, kept newest-per-bundle
//! so that reports missed while the manager was unreachable collapse into one on reconnect.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use fleet_bundle::deployment::{BundleDeploymentStatus, BundleState, StatusReport};

/// The agent's version, sent with every report.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The latest status of every bundle on this cluster, and whether the manager has seen it.
#[derive(Debug, Default)]
pub struct StatusBook {
    bundles: BTreeMap<(String, String), BundleDeploymentStatus>,
    sequence: u64,
    /// The sequence of the newest change the manager has acknowledged.
    acknowledged: u64,
}

impl StatusBook {
    /// Records a bundle's status; returns whether it changed (the sequence is not compared).
    pub fn set(&mut self, mut status: BundleDeploymentStatus) -> bool {
        let key = (status.namespace.clone(), status.bundle.clone());
        if let Some(old) = self.bundles.get(&key) {
            status.sequence = old.sequence;
            if *old == status {
                return false;
            }
        }
        self.sequence = self.next_sequence();
        status.sequence = self.sequence;
        self.bundles.insert(key, status);
        true
    }

    /// Forgets a bundle that is no longer deployed here.
    pub fn remove(&mut self, namespace: &str, bundle: &str) -> bool {
        let removed = self
            .bundles
            .remove(&(namespace.to_string(), bundle.to_string()))
            .is_some();
        if removed {
            self.sequence = self.next_sequence();
        }
        removed
    }

    /// Keeps sequences increasing across agent restarts (wall clock in microseconds) and
    /// within one run (never the same twice).
    fn next_sequence(&self) -> u64 {
        let now = u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0);
        now.max(self.sequence + 1)
    }

    /// A bundle's current status.
    pub fn get(&self, namespace: &str, bundle: &str) -> Option<&BundleDeploymentStatus> {
        self.bundles
            .get(&(namespace.to_string(), bundle.to_string()))
    }

    /// Every bundle's status.
    pub fn all(&self) -> impl Iterator<Item = &BundleDeploymentStatus> {
        self.bundles.values()
    }

    /// Whether something changed since the last acknowledged report.
    pub fn has_unsent(&self) -> bool {
        self.sequence > self.acknowledged
    }

    /// The full report (all bundles, their newest state) and the sequence it covers.
    pub fn report(&self) -> (StatusReport, u64) {
        (
            StatusReport {
                agent_version: AGENT_VERSION.to_string(),
                bundles: self.bundles.values().cloned().collect(),
                sequence: self.sequence,
            },
            self.sequence,
        )
    }

    /// The sequence of the newest report the manager accepted (0 before the first): each
    /// poll carries it, so a manager that lost that report asks for it again.
    pub fn acknowledged(&self) -> u64 {
        self.acknowledged
    }

    /// The manager accepted the report covering `sequence`.
    pub fn acknowledge(&mut self, sequence: u64) {
        self.acknowledged = self.acknowledged.max(sequence);
    }

    /// How many bundles are in each state.
    pub fn counts(&self) -> BTreeMap<BundleState, usize> {
        let mut counts = BTreeMap::new();
        for status in self.bundles.values() {
            *counts.entry(status.state).or_insert(0) += 1;
        }
        counts
    }
}

/// The status book shared by the reconciler (writer) and the reporter (reader), locked
/// only for short, non-async moments.
#[derive(Debug, Default)]
pub struct SharedStatus {
    book: Mutex<StatusBook>,
    /// Woken when a status changed and a report is due.
    pub changed: Notify,
}

impl SharedStatus {
    /// Locks the book (recovering it if a panic poisoned the lock: the data stays valid).
    pub fn lock(&self) -> MutexGuard<'_, StatusBook> {
        match self.book.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records a status and wakes the reporter if it changed.
    pub fn set(&self, status: BundleDeploymentStatus) {
        let changed = self.lock().set(status);
        if changed {
            self.changed.notify_one();
        }
    }

    /// Forgets a bundle and wakes the reporter.
    pub fn remove(&self, namespace: &str, bundle: &str) {
        let changed = self.lock().remove(namespace, bundle);
        if changed {
            self.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(bundle: &str, state: BundleState, message: &str) -> BundleDeploymentStatus {
        BundleDeploymentStatus {
            bundle: bundle.into(),
            namespace: "fleet-default".into(),
            deployment_id: "d1".into(),
            applied_deployment_id: "d1".into(),
            state,
            message: message.into(),
            non_ready: vec![],
            modified: vec![],
            release: String::new(),
            sequence: 0,
        }
    }

    #[test]
    fn newest_state_per_bundle_wins() {
        let mut book = StatusBook::default();
        assert!(book.set(status("a", BundleState::WaitApplied, "")));
        assert!(book.set(status("a", BundleState::Modified, "drift")));
        assert!(book.set(status("a", BundleState::Ready, "")));
        assert!(book.set(status("b", BundleState::Ready, "")));
        let (report, seq) = book.report();
        assert_eq!(report.bundles.len(), 2);
        assert_eq!(report.bundles[0].state, BundleState::Ready);
        assert_eq!(report.agent_version, AGENT_VERSION);
        assert_eq!(report.sequence, seq);
        assert!(seq >= report.bundles[1].sequence);
        assert!(report.bundles[0].sequence < report.bundles[1].sequence);
        assert!(book.has_unsent());
        book.acknowledge(seq);
        assert!(!book.has_unsent());
        assert_eq!(book.acknowledged(), seq);
    }

    #[test]
    fn unchanged_status_is_not_a_change() {
        let mut book = StatusBook::default();
        assert!(book.set(status("a", BundleState::Ready, "")));
        let (_, seq) = book.report();
        book.acknowledge(seq);
        assert!(!book.set(status("a", BundleState::Ready, "")));
        assert!(!book.has_unsent());
        assert!(book.remove("fleet-default", "a"));
        assert!(book.has_unsent());
        let (report, after_removal) = book.report();
        assert!(report.bundles.is_empty());
        assert!(after_removal > seq, "a removal moves the report's sequence");
        assert_eq!(book.counts().len(), 0);
    }
}
