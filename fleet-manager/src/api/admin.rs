//! The admin API (`/api/v1`): resources (GitRepo, ClusterGroup, Secret names), bundles,
//! clusters, registration and admin tokens, status roll-ups and the audit log.
//!
//! Every call needs an admin token or, when configured, an OIDC bearer token
//! ([`authenticate_bearer`]); read-only callers may only `GET`. Mutations are
//! audited by [`Manager`]. Secrets can be written and deleted, never read back.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Extensions, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::{body_bytes, ApiFailure, ApiJson};
use crate::auth::oidc::{OidcVerifier, TokenError};
use crate::auth::{self, Caller, Role};
use crate::manager::Manager;
use crate::resources::{self, Kind};
use crate::status::{self, Filter};

/// The authenticated admin caller; non-GET calls need the admin role.
pub struct Admin(pub Caller);

impl FromRequestParts<Arc<Manager>> for Admin {
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
                "missing_token",
                "send an admin token as Authorization: Bearer <token>",
            )
        })?;
        let caller = authenticate_bearer(manager, &parts.extensions, token).await?;
        if parts.method != Method::GET && caller.role != Role::Admin {
            return Err(ApiFailure::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{:?} is read-only", caller.name),
            ));
        }
        Ok(Admin(caller))
    }
}

/// The caller behind an admin bearer token: with OIDC configured (the server puts its
/// [`OidcVerifier`] in the request extensions) a token shaped like a JWT must be a
/// valid OIDC token; anything else is looked up as a Fleet admin token.
///
/// # Errors
/// 401 for an unknown admin token or a refused JWT (the reason is logged and returned,
/// the token never), 403 for a valid JWT whose groups map to no role, 503 when the
/// provider's keys were never fetched.
pub async fn authenticate_bearer(
    manager: &Manager,
    extensions: &Extensions,
    token: &str,
) -> Result<Caller, ApiFailure> {
    if let Some(oidc) = extensions.get::<Arc<OidcVerifier>>() {
        match oidc.authenticate(token).await {
            Ok(Some(caller)) => return Ok(caller),
            Ok(None) => {}
            Err(e) => {
                tracing::info!(reason = %e, "OIDC bearer token refused");
                return Err(match e {
                    TokenError::NoRole { .. } => {
                        ApiFailure::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
                    }
                    TokenError::KeysUnavailable => ApiFailure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "oidc_unavailable",
                        "the OIDC provider's signing keys cannot be fetched; retry later",
                    ),
                    _ => ApiFailure::unauthorized(
                        "invalid_token",
                        format!("OIDC token refused: {e}"),
                    ),
                });
            }
        }
    }
    manager
        .authenticate_admin(token)
        .await?
        .ok_or_else(|| ApiFailure::unauthorized("invalid_token", "unknown or revoked admin token"))
}

fn kind_of(plural: &str) -> Result<Kind, ApiFailure> {
    Kind::parse(plural).ok_or_else(|| {
        ApiFailure::not_found(format!(
            "unknown resource type {plural:?}: use gitrepos, clustergroups or secrets"
        ))
    })
}

/// `POST /api/v1/apply`: a YAML or JSON body with one or more documents.
pub async fn apply(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    req: Request,
) -> Result<Response, ApiFailure> {
    let bytes = body_bytes(req, &()).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiFailure::bad_request("the body must be UTF-8 YAML or JSON"))?;
    let docs =
        resources::parse_documents(text).map_err(|e| ApiFailure::bad_request(e.to_string()))?;
    if docs.is_empty() {
        return Err(ApiFailure::bad_request("no document to apply"));
    }
    let applied = manager.apply(&caller, docs).await?;
    Ok(Json(json!({ "applied": applied })).into_response())
}

/// The API view of a stored object, as Fleet writes it; secrets show metadata only.
fn object_json(kind: Kind, o: &crate::store::ObjectRecord) -> serde_json::Value {
    json!({
        "apiVersion": fleet_bundle::bundle::API_VERSION,
        "kind": kind.as_str(),
        "metadata": {
            "name": o.name,
            "namespace": o.namespace,
            "labels": o.spec.get("labels").cloned().unwrap_or_else(|| json!({})),
            "generation": o.generation,
        },
        "spec": o.spec.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": o.status,
    })
}

#[derive(Deserialize, Default)]
pub struct NamespaceQuery {
    namespace: Option<String>,
}

/// `GET /api/v1/{kind}`.
pub async fn list(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Path(plural): Path<String>,
    Query(q): Query<NamespaceQuery>,
) -> Result<Response, ApiFailure> {
    let kind = kind_of(&plural)?;
    let items: Vec<serde_json::Value> = match kind {
        Kind::Secret => manager
            .store
            .list_secrets(q.namespace.as_deref())
            .await?
            .into_iter()
            .map(|(ns, name, updated)| json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "updatedAt": updated}))
            .collect(),
        _ => manager
            .store
            .list_objects(kind.as_str(), q.namespace.as_deref())
            .await?
            .iter()
            .map(|o| object_json(kind, o))
            .collect(),
    };
    Ok(Json(json!({ "items": items })).into_response())
}

/// `GET /api/v1/{kind}/{namespace}/{name}`.
pub async fn get(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Path((plural, ns, name)): Path<(String, String, String)>,
) -> Result<Response, ApiFailure> {
    let kind = kind_of(&plural)?;
    if kind == Kind::Secret {
        return manager
            .store
            .list_secrets(Some(&ns))
            .await?
            .into_iter()
            .find(|(_, n, _)| *n == name)
            .map(|(ns, name, updated)| Json(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "updatedAt": updated})).into_response())
            .ok_or_else(|| ApiFailure::not_found(format!("Secret {ns}/{name} not found")));
    }
    let o = manager
        .store
        .get_object(kind.as_str(), &ns, &name)
        .await?
        .ok_or_else(|| ApiFailure::not_found(format!("{} {ns}/{name} not found", kind.as_str())))?;
    Ok(Json(object_json(kind, &o)).into_response())
}

/// `DELETE /api/v1/{kind}/{namespace}/{name}`.
pub async fn delete(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    Path((plural, ns, name)): Path<(String, String, String)>,
) -> Result<Response, ApiFailure> {
    let kind = kind_of(&plural)?;
    manager.delete(&caller, kind, &ns, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/v1/bundles`.
pub async fn bundles(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Query(f): Query<Filter>,
) -> Result<Response, ApiFailure> {
    Ok(Json(status::bundles(&manager, &f).await?).into_response())
}

/// `GET /api/v1/bundles/{namespace}/{name}`: the bundle (spec without content) and its
/// per-cluster states.
pub async fn bundle(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let record = manager
        .store
        .list_bundles(Some(&ns))
        .await?
        .into_iter()
        .find(|b| b.name == name)
        .ok_or_else(|| ApiFailure::not_found(format!("bundle {ns}/{name} not found")))?;
    let statuses = manager.store.statuses_of_bundle(&ns, &name).await?;
    Ok(Json(json!({
        "apiVersion": fleet_bundle::bundle::API_VERSION,
        "kind": "Bundle",
        "metadata": {"name": record.name, "namespace": record.namespace, "labels": record.labels},
        "spec": record.spec,
        "status": {
            "contentDigest": record.content_digest,
            "commit": record.commit,
            "error": record.error,
            "rollout": record.rollout.as_ref().map(|r| json!({"promoted": r.promoted.len(), "hasPrevious": r.previous.is_some()})),
            "clusters": statuses.iter().map(|s| json!({"cluster": s.cluster, "deploymentID": s.deployment_id, "state": s.state, "message": s.report.message})).collect::<Vec<_>>(),
        }
    }))
    .into_response())
}

/// `GET /api/v1/clusters`.
pub async fn clusters(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Query(f): Query<Filter>,
) -> Result<Response, ApiFailure> {
    Ok(Json(status::clusters(&manager, &f).await?).into_response())
}

/// `GET /api/v1/clusters/{namespace}/{name}`.
pub async fn cluster(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    Ok(Json(status::cluster(&manager, &ns, &name).await?).into_response())
}

/// `DELETE /api/v1/clusters/{namespace}/{name}`.
pub async fn remove_cluster(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    manager.remove_cluster(&caller, &ns, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelChange {
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// `POST /api/v1/clusters/{namespace}/{name}/labels` with `{set: {k: v}, remove: [k]}`.
pub async fn label_cluster(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    Path((ns, name)): Path<(String, String)>,
    ApiJson(change): ApiJson<LabelChange>,
) -> Result<Response, ApiFailure> {
    if change
        .set
        .keys()
        .chain(change.remove.iter())
        .any(|k| k.is_empty())
    {
        return Err(ApiFailure::bad_request("label keys must not be empty"));
    }
    let labels = manager
        .label_cluster(&caller, &ns, &name, change.set, change.remove)
        .await?;
    Ok(Json(json!({ "labels": labels })).into_response())
}

/// `POST /api/v1/clusters/{namespace}/{name}/credential`: a new credential (shown once);
/// the old one stops working at once.
pub async fn rotate_credential(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, ApiFailure> {
    let credential = manager.rotate_credential(&caller, &ns, &name).await?;
    Ok(Json(json!({ "credential": credential })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    #[serde(default)]
    namespace: Option<String>,
    /// Go duration, e.g. `24h`.
    ttl: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    max_uses: i64,
}

/// `POST /api/v1/tokens`: a registration token.
pub async fn create_token(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<Response, ApiFailure> {
    let ttl = resources::parse_duration(&req.ttl)
        .map_err(|e| ApiFailure::bad_request(format!("ttl: {e}")))?;
    let ns = req
        .namespace
        .unwrap_or_else(|| resources::DEFAULT_WORKSPACE.to_string());
    let created = manager
        .create_registration_token(&caller, &ns, ttl, req.max_uses, req.labels)
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `GET /api/v1/tokens`: registration tokens (ids and limits, never the tokens).
pub async fn list_tokens(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
) -> Result<Response, ApiFailure> {
    Ok(Json(json!({ "items": manager.store.list_registration_tokens().await? })).into_response())
}

/// `DELETE /api/v1/tokens/{id}`.
pub async fn delete_token(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiFailure> {
    if !manager.store.delete_registration_token(&id).await? {
        return Err(ApiFailure::not_found(format!(
            "registration token {id} not found"
        )));
    }
    manager
        .audit(&caller, "delete-registration-token", &id)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenRequest {
    name: String,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    "admin".into()
}

/// `POST /api/v1/admintokens`: a named admin token (shown once).
pub async fn create_admin_token(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    ApiJson(req): ApiJson<AdminTokenRequest>,
) -> Result<Response, ApiFailure> {
    resources::validate_name(&req.name)
        .map_err(|m| ApiFailure::bad_request(format!("name: {m}")))?;
    let role = Role::parse(&req.role)
        .ok_or_else(|| ApiFailure::bad_request("role must be admin or read-only"))?;
    let token = auth::new_token("fleet-admin");
    if !manager
        .store
        .create_admin_token(&req.name, &auth::hash_token(&token), role.as_str())
        .await?
    {
        return Err(ApiFailure::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("admin token {:?} exists", req.name),
        ));
    }
    manager
        .audit(&caller, "create-admin-token", &req.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": req.name, "role": role.as_str(), "token": token})),
    )
        .into_response())
}

/// `GET /api/v1/admintokens`.
pub async fn list_admin_tokens(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
) -> Result<Response, ApiFailure> {
    Ok(Json(json!({ "items": manager.store.list_admin_tokens().await? })).into_response())
}

/// `DELETE /api/v1/admintokens/{name}`: revokes at once.
pub async fn revoke_admin_token(
    State(manager): State<Arc<Manager>>,
    Admin(caller): Admin,
    Path(name): Path<String>,
) -> Result<Response, ApiFailure> {
    if !manager.store.revoke_admin_token(&name).await? {
        return Err(ApiFailure::not_found(format!(
            "admin token {name} not found"
        )));
    }
    manager.audit(&caller, "revoke-admin-token", &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<i64>,
}

/// `GET /api/v1/audit`.
pub async fn audit(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiFailure> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    Ok(Json(json!({ "items": manager.store.list_audit(limit).await? })).into_response())
}

/// `GET /api/v1/status`: GitRepos, groups and a fleet-wide summary.
pub async fn overview(
    State(manager): State<Arc<Manager>>,
    Admin(_): Admin,
    Query(f): Query<Filter>,
) -> Result<Response, ApiFailure> {
    let gitrepos = status::gitrepos(&manager, &f).await?;
    let groups = status::groups(&manager, &f).await?;
    let mut total = status::Summary::default();
    for g in &gitrepos.items {
        total.merge(&g.summary);
    }
    Ok(Json(json!({
        "leader": manager.is_leader(),
        "clusters": manager.index.cluster_count(),
        "summary": total,
        "gitrepos": gitrepos,
        "clusterGroups": groups,
    }))
    .into_response())
}
