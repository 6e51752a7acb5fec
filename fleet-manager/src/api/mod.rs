//! The manager's HTTP surface: the admin API (`/api/v1`), the agent API (`/agent/v1`),
//! Git webhooks, health, readiness and metrics; and the server loop that serves them over
//! plain TCP or rustls, with header-read and request timeouts against slow clients.

pub mod admin;
pub mod agent;
pub mod client_cert;
pub mod error;
pub mod install;
pub mod openapi;
pub mod webhooks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

use crate::manager::Manager;
use crate::tls::{ClientCert, TlsServer};

/// Largest agent request body (status reports).
pub const AGENT_BODY_LIMIT: usize = 1 << 20;
/// Largest admin request body (apply).
pub const ADMIN_BODY_LIMIT: usize = 8 << 20;
/// Time a client gets to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a non-long-poll request may take, body upload included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The full router.
pub fn router(manager: Arc<Manager>) -> Router {
    let admin = Router::new()
        .route(
            "/api/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .route("/api/v1/apply", post(admin::apply))
        .route("/api/v1/bundles", get(admin::bundles))
        .route("/api/v1/bundles/{namespace}/{name}", get(admin::bundle))
        .route("/api/v1/clusters", get(admin::clusters))
        .route(
            "/api/v1/clusters/{namespace}/{name}",
            get(admin::cluster).delete(admin::remove_cluster),
        )
        .route(
            "/api/v1/clusters/{namespace}/{name}/labels",
            post(admin::label_cluster),
        )
        .route(
            "/api/v1/clusters/{namespace}/{name}/credential",
            post(admin::rotate_credential),
        )
        .route(
            "/api/v1/tokens",
            post(admin::create_token).get(admin::list_tokens),
        )
        .route("/api/v1/tokens/{id}", delete(admin::delete_token))
        .route("/api/v1/joins", post(install::join))
        .route(
            "/api/v1/admintokens",
            post(admin::create_admin_token).get(admin::list_admin_tokens),
        )
        .route(
            "/api/v1/admintokens/{name}",
            delete(admin::revoke_admin_token),
        )
        .route("/api/v1/audit", get(admin::audit))
        .route("/api/v1/status", get(admin::overview))
        .route("/api/v1/{kind}", get(admin::list))
        .route(
            "/api/v1/{kind}/{namespace}/{name}",
            get(admin::get).delete(admin::delete),
        )
        .route("/webhooks/git", post(webhooks::git))
        .layer(DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    let agent_short = Router::new()
        .route("/agent/v1/register", post(agent::register))
        .route("/agent/v1/content/{digest}", get(agent::content))
        .route("/agent/v1/status", post(agent::status))
        .layer(DefaultBodyLimit::max(AGENT_BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    // No request timeout layer here: the handler bounds its own wait (at most
    // `max_wait`), a GET has no body to stall on, and slow headers are cut by the
    // server's header-read timeout. This keeps the hot path free of a timer per poll.
    let agent_poll = Router::new()
        .route("/agent/v1/desired", get(agent::desired))
        .layer(DefaultBodyLimit::max(AGENT_BODY_LIMIT));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(crate::install::MANIFEST_PATH, get(install::manifest))
        .route(crate::install::CHART_PATH, get(install::chart))
        .merge(admin)
        .merge(agent_short)
        .merge(agent_poll)
        .merge(crate::dashboard::router(manager.clone()))
        .fallback(|| async {
            error::ApiFailure::not_found("no such endpoint; see /api/v1/openapi.json")
        })
        .layer(middleware::from_fn_with_state(manager.clone(), observe))
        .with_state(manager)
}

/// Ready when the store answers.
async fn readyz(State(manager): State<Arc<Manager>>) -> Response {
    match manager.store.revision().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

async fn metrics(State(manager): State<Arc<Manager>>) -> Response {
    // Bundle states are read at scrape time: one grouped query, not one per report.
    match manager.store.status_counts().await {
        Ok(counts) => {
            let mut per_state: std::collections::BTreeMap<String, i64> =
                fleet_bundle::deployment::BundleState::ALL
                    .iter()
                    .map(|s| (s.as_str().to_string(), 0))
                    .collect();
            for (_, _, state, n) in counts {
                *per_state.entry(state).or_default() += n;
            }
            for (state, n) in per_state {
                manager
                    .metrics
                    .bundle_states
                    .with_label_values(&[state.as_str()])
                    .set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read bundle states for metrics"),
    }
    let mut resp = manager.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

/// Records the latency of each call by route and status.
async fn observe(State(manager): State<Arc<Manager>>, req: Request, next: Next) -> Response {
    // MatchedPath is reference-counted: no allocation per request.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let resp = next.run(req).await;
    manager
        .metrics
        .api_latency
        .with_label_values(&[
            route.as_ref().map_or("unmatched", MatchedPath::as_str),
            resp.status().as_str(),
        ])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// TCP keepalive of accepted connections: probes after a minute idle, every 15 s, four
/// unanswered ones close the connection (about two minutes to notice a dead peer).
const AGENT_KEEPALIVE: socket2::TcpKeepalive = socket2::TcpKeepalive::new()
    .with_time(Duration::from_secs(60))
    .with_interval(Duration::from_secs(15))
    .with_retries(4);

/// Serves `app` on `listener` until the process ends. Each connection gets
/// [`HEADER_READ_TIMEOUT`] to send its headers (slowloris clients are dropped).
///
/// With TLS that verifies client certificates, every request of a connection carries
/// that connection's [`ClientCert`] as an extension, for the agent API's mTLS checks
/// ([`client_cert`]).
///
/// The desired-state long-poll, the one request every agent keeps open, skips the
/// router and its middleware ([`agent::desired_poll`]): a parked poll then holds one
/// future inline in its task instead of four boxed layers, about half its memory, and
/// each renewal allocates less.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    manager: Arc<Manager>,
    tls: Option<TlsServer>,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // An agent that vanished (power cut, NAT state lost) never closes its parked
        // poll; kernel keepalive probes find it without a byte of work here.
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&AGENT_KEEPALIVE);
        let app = app.clone();
        let manager = manager.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                Some(tls) => {
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, tls.acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(s)) => {
                            let client = tls
                                .client_cert_mode
                                .map(|mode| ClientCert::of_connection(mode, s.get_ref().1, peer));
                            serve_connection(TokioIo::new(s), app, manager, client).await
                        }
                        // A client certificate from another CA ends here: say so at info,
                        // since it is how a misconfigured agent shows up.
                        Ok(Err(e)) => tracing::info!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
                None => serve_connection(TokioIo::new(stream), app, manager, None).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, app: Router, manager: Arc<Manager>, client: Option<ClientCert>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        if let Some(c) = &client {
            req.extensions_mut().insert(c.clone());
        }
        // Two futures built here, not one async block holding the request: the task of
        // a parked poll holds exactly the poll's future, and the router's is boxed (a
        // task is sized for the largest future it may run).
        if agent::is_desired_poll(&req) {
            futures::future::Either::Left(futures::FutureExt::map(
                agent::desired_poll(manager.clone(), req),
                Ok,
            ))
        } else {
            futures::future::Either::Right(Box::pin(tower::ServiceExt::oneshot(app.clone(), req)))
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    if let Err(e) = builder.serve_connection(io, service).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
