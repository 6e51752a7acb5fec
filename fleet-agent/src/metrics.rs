//! Prometheus metrics and `/healthz` on a local port, for the cluster's own monitoring.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Errors of the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot register metric: {0}")]
    Register(#[from] prometheus::Error),
    #[error("cannot listen on {addr} for metrics: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// The agent's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub bundles: IntGaugeVec,
    pub applies: IntCounter,
    pub apply_errors: IntCounter,
    pub drift_corrections: IntCounter,
    pub manager_connected: IntGauge,
    pub last_report: IntGauge,
    pub reconcile_seconds: Histogram,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let bundles = IntGaugeVec::new(
            Opts::new(
                "fleet_agent_bundles",
                "Bundles on this cluster by Fleet state",
            ),
            &["state"],
        )?;
        let applies = IntCounter::new("fleet_agent_applies_total", "Bundle deployments applied")?;
        let apply_errors = IntCounter::new(
            "fleet_agent_apply_errors_total",
            "Bundle deployments that failed to apply",
        )?;
        let drift_corrections = IntCounter::new(
            "fleet_agent_drift_corrections_total",
            "Drifted resources re-applied",
        )?;
        let manager_connected = IntGauge::new(
            "fleet_agent_manager_connected",
            "1 when the last call to the manager succeeded",
        )?;
        let last_report = IntGauge::new(
            "fleet_agent_last_status_report_timestamp_seconds",
            "Unix time of the last status report the manager accepted",
        )?;
        let reconcile_seconds = Histogram::with_opts(HistogramOpts::new(
            "fleet_agent_reconcile_seconds",
            "Duration of one reconcile pass over all bundles",
        ))?;
        registry.register(Box::new(bundles.clone()))?;
        registry.register(Box::new(applies.clone()))?;
        registry.register(Box::new(apply_errors.clone()))?;
        registry.register(Box::new(drift_corrections.clone()))?;
        registry.register(Box::new(manager_connected.clone()))?;
        registry.register(Box::new(last_report.clone()))?;
        registry.register(Box::new(reconcile_seconds.clone()))?;
        Ok(Metrics {
            registry,
            bundles,
            applies,
            apply_errors,
            drift_corrections,
            manager_connected,
            last_report,
            reconcile_seconds,
        })
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Binds `addr` and serves `/metrics` and `/healthz` until the task is dropped.
    /// Returns the bound address (useful with port 0).
    pub async fn serve(
        self,
        addr: SocketAddr,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), MetricsError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let app = Router::new()
            .route("/metrics", get(metrics_handler))
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(Arc::new(self));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics endpoint stopped");
            }
        });
        Ok((bound, task))
    }
}

async fn metrics_handler(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let metrics = Metrics::new().unwrap();
        metrics.applies.inc();
        metrics.bundles.with_label_values(&["Ready"]).set(2);
        let text = metrics.render();
        assert!(text.contains("fleet_agent_applies_total 1"), "{text}");
        assert!(
            text.contains("fleet_agent_bundles{state=\"Ready\"} 2"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn serves_healthz_and_metrics() {
        let metrics = Metrics::new().unwrap();
        let (addr, task) = metrics.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let body = reqwest::get(format!("http://{addr}/healthz"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "ok\n");
        let body = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains("fleet_agent_manager_connected"));
        task.abort();
    }
}
