//! Agent installation over HTTP: `POST /api/v1/joins` (admin) creates a join token and
//! answers the install commands; `GET /install/agent.yaml?token=…` serves the agent
//! chart rendered for that token; `GET /install/fleet-agent.tgz` serves the chart itself.
//! Rendering and the commands are [`crate::install`]'s.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::admin::Admin;
use super::error::{ApiFailure, ApiJson};
use crate::auth;
use crate::install::AgentInstall;
use crate::manager::Manager;
use crate::resources;

/// Body of `POST /api/v1/joins`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    name: String,
    namespace: Option<String>,
    /// Go duration; default one hour.
    ttl: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// The URL agents reach this manager at: `--public-url`, else the scheme this manager
/// serves and the `Host` the caller used.
fn manager_url(manager: &Manager, headers: &HeaderMap) -> Result<String, ApiFailure> {
    if let Some(url) = &manager.config.public_url {
        return Ok(url.clone());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '\'', '"']))
        .ok_or_else(|| {
            ApiFailure::bad_request(
                "no usable Host header to build the manager's URL from; start the manager with --public-url",
            )
        })?;
    let scheme = if manager.config.tls { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}

/// `POST /api/v1/joins`: a join token for one cluster and the commands that install its
/// agent.
pub async fn join(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    headers: HeaderMap,
    ApiJson(req): ApiJson<JoinRequest>,
) -> Result<Response, ApiFailure> {
    let ttl = resources::parse_duration(req.ttl.as_deref().unwrap_or("1h"))
        .map_err(|e| ApiFailure::bad_request(format!("ttl: {e}")))?;
    let ns = req
        .namespace
        .unwrap_or_else(|| resources::DEFAULT_WORKSPACE.to_string());
    let url = manager_url(&manager, &headers)?;
    let created = manager
        .create_join_token(&caller, &ns, &req.name, ttl, req.labels)
        .await?;
    let install = AgentInstall {
        manager_url: url.clone(),
        token: created.token.clone(),
        cluster_name: req.name.clone(),
        ca_pem: manager.config.agent_ca_pem.clone(),
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "cluster": req.name,
            "namespace": created.namespace,
            "id": created.id,
            "token": created.token,
            "expiresAt": created.expires_at,
            "managerUrl": url,
            "caCert": manager.config.agent_ca_pem,
            "kubectl": install.kubectl_command(),
            "helm": install.helm_command(),
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ManifestQuery {
    token: Option<String>,
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

/// `GET /install/agent.yaml?token=…`: the agent's manifests for the cluster the join
/// token names. No admin credential: the token is the capability, and it is checked
/// (not used up) here; an unknown or expired one gets a 403 saying so.
pub async fn manifest(
    State(manager): State<Arc<Manager>>,
    headers: HeaderMap,
    Query(query): Query<ManifestQuery>,
) -> Response {
    let Some(token) = query.token.filter(|t| !t.is_empty()) else {
        return text(
            StatusCode::UNAUTHORIZED,
            "no join token: fetch /install/agent.yaml?token=TOKEN as `fleet-manager cluster join NAME` prints it",
        );
    };
    let found = match manager
        .store
        .usable_registration_token(&auth::hash_token(&token))
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read registration tokens");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the manager's database is unavailable; retry later",
            );
        }
    };
    let Some(found) = found.filter(|t| !t.cluster_name.is_empty()) else {
        return text(
            StatusCode::FORBIDDEN,
            "this join token is unknown, expired or used up: run `fleet-manager cluster join NAME` again for a new one",
        );
    };
    let url = match manager_url(&manager, &headers) {
        Ok(url) => url,
        Err(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "no usable Host header to build the manager's URL from; start the manager with --public-url",
            )
        }
    };
    let install = AgentInstall {
        manager_url: url,
        token,
        cluster_name: found.cluster_name,
        ca_pem: manager.config.agent_ca_pem.clone(),
    };
    match install.manifest() {
        Ok(yaml) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/yaml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            yaml,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render the agent chart");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot render the agent chart: {e}"),
            )
        }
    }
}

/// `GET /install/fleet-agent.tgz`: the agent chart (no secrets in it).
pub async fn chart() -> Response {
    match crate::install::chart_archive() {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/gzip")],
            bytes,
        )
            .into_response(),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot pack the agent chart: {e}"),
        ),
    }
}
