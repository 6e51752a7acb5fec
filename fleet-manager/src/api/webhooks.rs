//! `POST /webhooks/git`: a verified push event wakes the poller for the GitRepos whose
//! own `repo` and branch match it. Nothing else happens, and nothing from the payload is
//! ever fetched.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::error::{body_bytes, ApiFailure};
use crate::git::{normalize_repo_url, webhook};
use crate::manager::Manager;
use crate::resources::{GitRepoSpec, Kind};

pub async fn git(
    State(manager): State<Arc<Manager>>,
    req: Request,
) -> Result<Response, ApiFailure> {
    let Some(secret) = manager.config.webhook_secret.clone() else {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "webhooks_disabled",
            "webhooks are disabled: start the manager with FLEET_WEBHOOK_SECRET set",
        ));
    };
    let headers = req.headers().clone();
    let body = body_bytes(req, &()).await?;
    let provider = webhook::detect(&headers).map_err(|e| ApiFailure::bad_request(e.to_string()))?;
    webhook::verify(provider, &headers, &body, &secret).map_err(|e| {
        tracing::warn!(?provider, error = %e, "rejected webhook");
        ApiFailure::unauthorized("bad_signature", e.to_string())
    })?;
    let event = webhook::parse_push(provider, &headers, &body)
        .map_err(|e| ApiFailure::bad_request(e.to_string()))?;
    if !event.is_push {
        return Ok((
            StatusCode::OK,
            Json(json!({"triggered": [], "ignored": "not a push event"})),
        )
            .into_response());
    }
    let urls: BTreeSet<String> = event.urls.iter().map(|u| normalize_repo_url(u)).collect();
    let mut triggered = Vec::new();
    for o in manager
        .store
        .list_objects(Kind::GitRepo.as_str(), None)
        .await?
    {
        let Some(spec) = o
            .spec
            .get("spec")
            .and_then(|s| serde_json::from_value::<GitRepoSpec>(s.clone()).ok())
        else {
            continue;
        };
        if !urls.contains(&normalize_repo_url(&spec.repo)) {
            continue;
        }
        let branch = if spec.branch.is_empty() {
            "master"
        } else {
            spec.branch.as_str()
        };
        // A GitRepo pinned to a revision may follow a tag that moved: always look.
        let relevant =
            !spec.revision.is_empty() || event.branch.as_deref().is_none_or(|b| b == branch);
        if relevant {
            manager.git_wake.wake(&o.namespace, &o.name);
            triggered.push(format!("{}/{}", o.namespace, o.name));
        }
    }
    tracing::info!(?provider, branch = ?event.branch, triggered = triggered.len(), "webhook push");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "triggered": triggered })),
    )
        .into_response())
}
