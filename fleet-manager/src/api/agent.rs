//! The agent API (`/agent/v1`, contract in `fleet_bundle::deployment`): registration,
//! desired state with ETag long-polls, content by digest, status reports.
//!
//! The desired-state poll is the hot path: it authenticates by hashing the credential and
//! looking it up in memory, and compares ETags against the cached computation, never
//! touching the database, so 304s are cheap.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fleet_bundle::deployment::{
    RegisterRequest, StatusReport, REPORT_WANTED_HEADER, STATUS_ACKNOWLEDGED_HEADER,
};

use super::error::{ApiFailure, ApiJson};
use crate::auth;
use crate::manager::Manager;
use crate::targeting::ClusterHandle;

/// The authenticated cluster of an agent call.
pub struct AgentCluster(pub ClusterHandle);

impl FromRequestParts<Arc<Manager>> for AgentCluster {
    type Rejection = ApiFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        manager: &Arc<Manager>,
    ) -> Result<Self, Self::Rejection> {
        let token = auth::bearer(
            parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        )
        .ok_or_else(|| {
            ApiFailure::unauthorized(
                "missing_credential",
                "send the cluster credential as Authorization: Bearer <credential>",
            )
        })?;
        let arrived_ms = chrono::Utc::now().timestamp_millis();
        let hash = auth::hash_token_raw(token);
        let handle = match manager.index.cluster_by_credential(&hash) {
            Some(h) => h,
            None => {
                // Maybe registered through another replica a moment ago.
                manager.reload_unless_since(arrived_ms).await?;
                manager.index.cluster_by_credential(&hash).ok_or_else(|| {
                    ApiFailure::unauthorized(
                        "unknown_credential",
                        "unknown or rotated cluster credential: register again",
                    )
                })?
            }
        };
        // With mTLS, the credential counts only with a certificate naming its cluster.
        super::client_cert::authorize_cluster(&parts.extensions, &handle)?;
        Ok(AgentCluster(handle))
    }
}

/// `POST /agent/v1/register`.
pub async fn register(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    peer: super::client_cert::PeerCert,
    ApiJson(mut req): ApiJson<RegisterRequest>,
) -> Result<Response, ApiFailure> {
    let token = auth::bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
    .ok_or_else(|| {
        ApiFailure::unauthorized(
            "missing_token",
            "send the registration token as Authorization: Bearer <token>",
        )
    })?;
    peer.authorize_registration(&mut req.cluster_name)?;
    let resp = manager.register(token, req).await?;
    Ok((StatusCode::CREATED, axum::Json(resp)).into_response())
}

/// The report sequence a poll says its agent had acknowledged (0: none, or not sent).
fn acknowledged(headers: &HeaderMap) -> u64 {
    headers
        .get(STATUS_ACKNOWLEDGED_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[derive(serde::Deserialize)]
pub struct WaitQuery {
    /// Seconds to wait for a change when the client's ETag is current.
    #[serde(default)]
    wait: Option<u64>,
}

/// `GET /agent/v1/desired?wait=SECONDS` with `If-None-Match`.
pub async fn desired(
    State(manager): State<Arc<Manager>>,
    AgentCluster(cluster): AgentCluster,
    Query(q): Query<WaitQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiFailure> {
    Poll::new(&manager, cluster, q.wait, &headers)
        .await
        .answer(manager)
        .await
}

/// A desired-state poll, taken apart into what it keeps while it waits: 10,000 idle
/// agents are 10,000 parked polls, so every byte here is 10 KB of the manager's memory.
/// The request's headers, the cluster's namespace and the authentication are gone
/// before the wait.
struct Poll {
    cluster: crate::targeting::ClusterId,
    name: String,
    /// The agent's `If-None-Match`.
    etag: Option<String>,
    deadline: tokio::time::Instant,
    /// The store lacks the agent's last report: answer at once and ask for it again.
    report_wanted: bool,
}

impl Poll {
    async fn new(
        manager: &Manager,
        cluster: ClusterHandle,
        wait: Option<u64>,
        headers: &HeaderMap,
    ) -> Poll {
        let etag = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string());
        let acknowledged = acknowledged(headers);
        // Boxed: the store read is rare (see `Manager::report_wanted`).
        let report_wanted =
            acknowledged > 0 && Box::pin(manager.report_wanted(&cluster, acknowledged)).await;
        let wait = if report_wanted {
            // Answer at once, so the agent sends its report now.
            Duration::ZERO
        } else {
            spread(Duration::from_secs(wait.unwrap_or(0)).min(manager.config.max_wait))
        };
        Poll {
            cluster: cluster.id,
            name: cluster.name,
            etag,
            deadline: tokio::time::Instant::now() + wait,
            report_wanted,
        }
    }

    /// Answers as soon as the cluster's desired state differs from the agent's ETag, or
    /// with 304 at the deadline.
    async fn answer(self, manager: Arc<Manager>) -> Result<Response, ApiFailure> {
        // While parked the cluster counts as connected, whatever the wait and offline limit.
        let _parked = manager.index.park(self.cluster);
        loop {
            // Only the receiver outlives this block: the key and the desired state are
            // not kept across the wait.
            let mut rx = {
                let (key, desired) = manager.index.desired(self.cluster).ok_or_else(|| {
                    ApiFailure::unauthorized(
                        "unknown_credential",
                        "this cluster was removed: register again",
                    )
                })?;
                if self.etag.as_deref() != Some(desired.etag.as_str()) {
                    return Ok(self.modified(&manager, &desired));
                }
                if tokio::time::Instant::now() >= self.deadline {
                    return Ok(self.not_modified(&manager, &desired));
                }
                // Subscribe, then re-check, so a change between the check and the
                // subscription is not missed.
                let mut rx = manager.index.watch(&key);
                rx.borrow_and_update();
                if manager
                    .index
                    .desired(self.cluster)
                    .is_some_and(|(_, now)| now.etag != desired.etag)
                {
                    continue;
                }
                rx
            };
            // A timeout only means: loop once more, to answer 304 with the current ETag.
            let _ = tokio::time::timeout_at(self.deadline, rx.changed()).await;
        }
    }

    /// 200 with the cluster's desired state.
    fn modified(&self, manager: &Manager, desired: &crate::targeting::Desired) -> Response {
        manager.metrics.desired_200.inc();
        let body = format!(
            "{{\"clusterName\":{},\"clusterLabels\":{},\"clusterAnnotations\":{{}},\"deployments\":{}}}",
            serde_json::to_string(&self.name).unwrap_or_default(),
            serde_json::to_string(&*desired.labels).unwrap_or_default(),
            desired.deployments_json()
        );
        let mut resp = (StatusCode::OK, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.finish(resp, desired)
    }

    /// 304: the agent's state is current.
    fn not_modified(&self, manager: &Manager, desired: &crate::targeting::Desired) -> Response {
        manager.metrics.desired_304.inc();
        self.finish(StatusCode::NOT_MODIFIED.into_response(), desired)
    }

    /// Adds the ETag, and [`REPORT_WANTED_HEADER`] when the report is wanted.
    fn finish(&self, mut resp: Response, desired: &crate::targeting::Desired) -> Response {
        if let Ok(v) = HeaderValue::from_str(&desired.etag) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        if self.report_wanted {
            resp.headers_mut()
                .insert(REPORT_WANTED_HEADER, HeaderValue::from_static("true"));
        }
        resp
    }
}

/// A long-poll's wait, spread as the protocol spreads its periods
/// ([`fleet_bundle::deployment::spread`]); a wait under 4 s is kept exact.
fn spread(wait: Duration) -> Duration {
    if wait < Duration::from_secs(4) {
        return wait;
    }
    fleet_bundle::deployment::spread(wait)
}

/// Whether `req` is a desired-state poll, which [`super::serve`] answers with
/// [`desired_poll`] instead of the router.
pub fn is_desired_poll<B>(req: &axum::http::Request<B>) -> bool {
    req.method() == axum::http::Method::GET && req.uri().path() == "/agent/v1/desired"
}

/// [`desired`] without the router: the same extractors and handler, so the answers
/// (errors included) are the router's.
pub fn desired_poll(
    manager: Arc<Manager>,
    req: axum::extract::Request,
) -> impl std::future::Future<Output = Response> {
    // The request is taken apart in a boxed future that is gone before the wait: what a
    // parked poll keeps is then only the [`Poll`] and its wait, not the request or the
    // authentication future (which may reload the index from the store).
    // Chained, not an async block: a block would keep the `Poll` twice, once moved into
    // the wait.
    use futures::future::{Either, FutureExt};
    Box::pin(prepare_poll(manager.clone(), req)).then(move |prepared| match prepared {
        Ok(poll) => Either::Left(poll.answer(manager).map(IntoResponse::into_response)),
        Err(rejected) => Either::Right(std::future::ready(rejected)),
    })
}

/// The extractors of [`desired`], run as the router would run them, then its [`Poll`].
async fn prepare_poll(
    manager: Arc<Manager>,
    req: axum::extract::Request,
) -> Result<Poll, Response> {
    let (mut parts, _body) = req.into_parts();
    let AgentCluster(cluster) = AgentCluster::from_request_parts(&mut parts, &manager)
        .await
        .map_err(IntoResponse::into_response)?;
    let Query(query) =
        Query::<WaitQuery>::try_from_uri(&parts.uri).map_err(IntoResponse::into_response)?;
    Ok(Poll::new(&manager, cluster, query.wait, &parts.headers).await)
}

/// `GET /agent/v1/content/{digest}`: only content this cluster is targeted with.
pub async fn content(
    State(manager): State<Arc<Manager>>,
    AgentCluster(cluster): AgentCluster,
    Path(digest): Path<String>,
) -> Result<Response, ApiFailure> {
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiFailure::bad_request(
            "content digest must be 64 hex characters (sha256)",
        ));
    }
    let (_, desired) = manager.index.desired(cluster.id).ok_or_else(|| {
        ApiFailure::unauthorized(
            "unknown_credential",
            "this cluster was removed: register again",
        )
    })?;
    // Same answer for "not targeted" and "does not exist": a digest is not a capability
    // and its existence is not disclosed.
    if !desired.allows_content(&digest) {
        return Err(ApiFailure::not_found(format!(
            "no content {digest} for this cluster"
        )));
    }
    let bytes = manager
        .contents
        .get(&manager.store, &digest)
        .await?
        .ok_or_else(|| ApiFailure::not_found(format!("no content {digest} for this cluster")))?;
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{digest}\"")) {
        h.insert(header::ETAG, v);
    }
    Ok(resp)
}

/// `POST /agent/v1/status`.
pub async fn status(
    State(manager): State<Arc<Manager>>,
    AgentCluster(cluster): AgentCluster,
    ApiJson(report): ApiJson<StatusReport>,
) -> Result<Response, ApiFailure> {
    if report.bundles.len() > 10_000 {
        return Err(ApiFailure::bad_request(
            "a status report may carry at most 10000 bundles",
        ));
    }
    manager.report_status(&cluster, report).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every parked poll keeps is this future (plus hyper's stream): 10,000 agents
    /// hold 10,000 of them. It held the request and the authentication future before,
    /// and was 904 bytes until the wait kept only a [`Poll`].
    #[tokio::test]
    async fn a_parked_poll_keeps_a_small_future() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::Store::open("sqlite::memory:")
            .await
            .expect("store");
        let secrets = crate::secrets::SecretBox::load(None, dir.path()).expect("secrets");
        let manager = Manager::new(
            store,
            secrets,
            crate::manager::Config::new(dir.path().into(), "t"),
        )
        .expect("manager");
        let req = axum::http::Request::get("/agent/v1/desired?wait=60")
            .body(axum::body::Body::empty())
            .expect("request");
        let poll = desired_poll(manager, req);
        let size = std::mem::size_of_val(&poll);
        assert!(size <= 512, "a parked poll's future is {size} bytes");
    }

    #[test]
    fn long_poll_waits_are_spread_over_their_last_quarter() {
        let wait = Duration::from_secs(60);
        let waits: Vec<Duration> = (0..200).map(|_| spread(wait)).collect();
        assert!(waits
            .iter()
            .all(|w| *w <= wait && *w >= Duration::from_secs(45)));
        let min = waits.iter().min().copied().unwrap_or_default();
        let max = waits.iter().max().copied().unwrap_or_default();
        assert!(max - min > Duration::from_secs(5), "{min:?}..{max:?}");
        assert_eq!(spread(Duration::from_secs(2)), Duration::from_secs(2));
        assert_eq!(spread(Duration::ZERO), Duration::ZERO);
    }
}
