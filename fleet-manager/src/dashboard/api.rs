//! The dashboard's JSON API under `/api/v1/dashboard` (what the pages and
//! `fleet-manager status` read) and its server-sent event stream.
//!
//! Same authentication as the admin API (an admin bearer token, read-only allowed) or
//! the dashboard session cookie; every endpoint only reads.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;

use super::queries::{self, ListQuery, QueryError};
use super::session::Viewer;
use super::Dashboard;
use crate::api::error::ApiFailure;
use crate::store::now;

/// Path prefix of the dashboard API.
pub const PREFIX: &str = "/api/v1/dashboard";

/// How long a disconnected page waits before reconnecting to the event stream.
const RECONNECT: Duration = Duration::from_secs(1);

pub fn routes() -> Router<Arc<Dashboard>> {
    Router::new()
        .route("/api/v1/dashboard/overview", get(overview))
        .route(
            "/api/v1/dashboard/gitrepos/{namespace}/{name}",
            get(gitrepo),
        )
        .route("/api/v1/dashboard/bundles/{namespace}/{name}", get(bundle))
        .route("/api/v1/dashboard/clusters", get(clusters))
        .route(
            "/api/v1/dashboard/clusters/{namespace}/{name}",
            get(cluster),
        )
        .route(
            "/api/v1/dashboard/clusters/{namespace}/{name}/bundles/{bundle_namespace}/{bundle}",
            get(deployment),
        )
        .route("/api/v1/dashboard/events", get(events))
        .layer(axum::middleware::from_fn(super::pages::security_headers))
}

impl From<QueryError> for ApiFailure {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::NotFound(_) => ApiFailure::not_found(e.to_string()),
            QueryError::UnknownState(_) | QueryError::BadLabelFilter(_) => {
                ApiFailure::bad_request(e.to_string())
            }
            QueryError::Manager(m) => m.into(),
        }
    }
}

/// `GET /api/v1/dashboard/overview`.
async fn overview(State(dash): State<Arc<Dashboard>>, Viewer(_): Viewer) -> Response {
    let s = dash.board.snapshot();
    Json(queries::overview(&dash.manager, &s, now())).into_response()
}

/// `GET /api/v1/dashboard/gitrepos/{namespace}/{name}`.
async fn gitrepo(
    State(dash): State<Arc<Dashboard>>,
    Viewer(_): Viewer,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let s = dash.board.snapshot();
    Ok(Json(queries::gitrepo(&dash.manager, &s, &ns, &name)?).into_response())
}

/// `GET /api/v1/dashboard/bundles/{namespace}/{name}?state=&q=&label=&group=&offset=&limit=`.
async fn bundle(
    State(dash): State<Arc<Dashboard>>,
    Viewer(_): Viewer,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiFailure> {
    let s = dash.board.snapshot();
    Ok(Json(queries::bundle(&dash.manager, &s, &ns, &name, &q, now())?).into_response())
}

/// `GET /api/v1/dashboard/clusters?state=&q=&label=&group=&namespace=&offset=&limit=`.
async fn clusters(
    State(dash): State<Arc<Dashboard>>,
    Viewer(_): Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiFailure> {
    let s = dash.board.snapshot();
    Ok(Json(queries::clusters(&s, &q, now())?).into_response())
}

/// `GET /api/v1/dashboard/clusters/{namespace}/{name}`.
async fn cluster(
    State(dash): State<Arc<Dashboard>>,
    Viewer(_): Viewer,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let s = dash.board.snapshot();
    Ok(Json(queries::cluster(&s, &ns, &name, now())?).into_response())
}

/// `GET /api/v1/dashboard/clusters/{namespace}/{name}/bundles/{bundle_namespace}/{bundle}`.
async fn deployment(
    State(dash): State<Arc<Dashboard>>,
    Viewer(_): Viewer,
    Path((ns, name, bns, bundle)): Path<(String, String, String, String)>,
) -> Result<Response, ApiFailure> {
    let s = dash.board.snapshot();
    Ok(
        Json(queries::deployment(&dash.manager, &s, (&ns, &name), (&bns, &bundle), now()).await?)
            .into_response(),
    )
}

/// `GET /api/v1/dashboard/events`: `event: change` with the picture's version each time
/// it moves (the first event carries the current one), so a page re-fetches what it
/// shows. Browsers reconnect by themselves, through a manager restart too.
async fn events(State(dash): State<Arc<Dashboard>>, Viewer(_): Viewer) -> Response {
    let rx = dash.board.subscribe();
    let first = *rx.borrow();
    let hello = futures::stream::once(async move {
        Ok::<Event, Infallible>(
            Event::default()
                .event("change")
                .data(first.to_string())
                .retry(RECONNECT),
        )
    });
    let changes = futures::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let v = *rx.borrow_and_update();
        Some((Ok(Event::default().event("change").data(v.to_string())), rx))
    });
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        Box::pin(futures::StreamExt::chain(hello, changes));
    let mut resp = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Tell proxies not to buffer the stream.
    resp.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    resp
}
