//! Prometheus metrics served at `/metrics`: API latencies, Git sync durations and errors,
//! desired-state answers, targeting recomputations, agents online and bundle states.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Every metric of the manager, registered in one registry.
pub struct Metrics {
    registry: Registry,
    pub api_latency: HistogramVec,
    pub git_sync_seconds: HistogramVec,
    pub git_sync_errors: IntCounterVec,
    pub desired_answers: IntCounterVec,
    /// `desired_answers` for 200 and 304, resolved once (the poll hot path).
    pub desired_200: prometheus::IntCounter,
    pub desired_304: prometheus::IntCounter,
    /// Status reports by outcome: `stored` (a record changed), `unchanged` (a heartbeat).
    pub status_reports: IntCounterVec,
    pub status_stored: prometheus::IntCounter,
    pub status_unchanged: prometheus::IntCounter,
    /// Polls answered at once to ask for a report the store lacks.
    pub status_wanted: prometheus::IntCounter,
    pub targeting_seconds: HistogramVec,
    pub agents_online: IntGauge,
    pub clusters: IntGauge,
    pub bundle_states: IntGaugeVec,
    pub is_leader: IntGauge,
    /// The heap as the allocator sees it, read at each scrape ([`heap`]).
    heap_allocated: IntGauge,
    heap_resident: IntGauge,
}

impl Metrics {
    /// Builds and registers the metrics. Names are fixed and valid, so registration only
    /// fails on a programming error (a duplicate), reported as such.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let api_latency = HistogramVec::new(
            HistogramOpts::new(
                "fleet_api_request_duration_seconds",
                "HTTP API latency by route and status",
            )
            .buckets(vec![
                0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0,
            ]),
            &["route", "status"],
        )?;
        let git_sync_seconds = HistogramVec::new(
            HistogramOpts::new(
                "fleet_git_sync_duration_seconds",
                "Git fetch + bundle build duration by result",
            )
            .buckets(vec![0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0]),
            &["result"],
        )?;
        let git_sync_errors = IntCounterVec::new(
            Opts::new("fleet_git_sync_errors_total", "Failed Git syncs by stage"),
            &["stage"],
        )?;
        let desired_answers = IntCounterVec::new(
            Opts::new(
                "fleet_desired_state_answers_total",
                "Desired-state answers by HTTP status",
            ),
            &["code"],
        )?;
        let status_reports = IntCounterVec::new(
            Opts::new(
                "fleet_status_reports_total",
                "Agent status reports by outcome (stored, or unchanged heartbeats)",
            ),
            &["outcome"],
        )?;
        let status_wanted = prometheus::IntCounter::new(
            "fleet_status_reports_wanted_total",
            "Polls answered at once to ask the agent for a status report the store lacks",
        )?;
        let targeting_seconds = HistogramVec::new(
            HistogramOpts::new(
                "fleet_targeting_recompute_seconds",
                "Time to recompute every cluster's desired state",
            )
            .buckets(vec![0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            &["trigger"],
        )?;
        let agents_online = IntGauge::new(
            "fleet_agents_online",
            "Clusters whose agent called recently",
        )?;
        let clusters = IntGauge::new("fleet_clusters", "Registered clusters")?;
        let bundle_states = IntGaugeVec::new(
            Opts::new(
                "fleet_bundle_deployments",
                "Reported bundle deployments by state",
            ),
            &["state"],
        )?;
        let is_leader = IntGauge::new("fleet_manager_leader", "1 when this replica is the leader")?;
        registry.register(Box::new(api_latency.clone()))?;
        registry.register(Box::new(git_sync_seconds.clone()))?;
        registry.register(Box::new(git_sync_errors.clone()))?;
        registry.register(Box::new(desired_answers.clone()))?;
        registry.register(Box::new(status_reports.clone()))?;
        registry.register(Box::new(status_wanted.clone()))?;
        registry.register(Box::new(targeting_seconds.clone()))?;
        registry.register(Box::new(agents_online.clone()))?;
        registry.register(Box::new(clusters.clone()))?;
        registry.register(Box::new(bundle_states.clone()))?;
        registry.register(Box::new(is_leader.clone()))?;
        let heap_allocated = IntGauge::new(
            "fleet_manager_heap_allocated_bytes",
            "Bytes of heap the manager's data holds (jemalloc stats.allocated)",
        )?;
        let heap_resident = IntGauge::new(
            "fleet_manager_heap_resident_bytes",
            "Bytes of heap pages resident: the data, the allocator's fragmentation and metadata (jemalloc stats.resident)",
        )?;
        registry.register(Box::new(heap_allocated.clone()))?;
        registry.register(Box::new(heap_resident.clone()))?;
        let desired_200 = desired_answers.with_label_values(&["200"]);
        let desired_304 = desired_answers.with_label_values(&["304"]);
        let status_stored = status_reports.with_label_values(&["stored"]);
        let status_unchanged = status_reports.with_label_values(&["unchanged"]);
        Ok(Metrics {
            registry,
            desired_200,
            desired_304,
            status_reports,
            status_stored,
            status_unchanged,
            status_wanted,
            api_latency,
            git_sync_seconds,
            git_sync_errors,
            desired_answers,
            targeting_seconds,
            agents_online,
            clusters,
            bundle_states,
            is_leader,
            heap_allocated,
            heap_resident,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        if let Some(heap) = heap() {
            self.heap_allocated.set(heap.allocated as i64);
            self.heap_resident.set(heap.resident as i64);
        }
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The heap's figures at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Heap {
    /// Bytes handed out and not yet freed: what the manager's data holds.
    pub allocated: u64,
    /// Bytes of heap pages resident, the allocated ones included.
    pub resident: u64,
}

/// jemalloc's statistics, refreshed. The `fleet-manager` binary allocates with jemalloc
/// (its `main.rs`); in a process that does not, such as the unit tests, these are
/// jemalloc's own near-zero figures. `None` if jemalloc cannot say.
///
/// Why they are exported: RSS alone cannot tell a manager holding data from an
/// allocator holding freed pages after a burst, and the two are mended differently.
pub fn heap() -> Option<Heap> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(Heap {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrapes_carry_the_heap_figures() {
        let heap = heap().expect("jemalloc statistics");
        assert!(heap.resident >= heap.allocated, "{heap:?}");
        let text = Metrics::new().expect("metrics").render();
        for name in [
            "fleet_manager_heap_allocated_bytes",
            "fleet_manager_heap_resident_bytes",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name} missing from:\n{text}"
            );
        }
    }
}
