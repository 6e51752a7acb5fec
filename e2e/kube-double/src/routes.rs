//! HTTP request handling: fault injection, authentication, then discovery, OpenAPI or a
//! resource verb, answered in JSON (Status objects for failures).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{json, Value};

use crate::api_status::ApiError;
use crate::cluster::Cluster;
use crate::patch::PatchType;
use crate::reads::{list_document, list_objects, present, Filter, ListParams};
use crate::registry::ResourceType;
use crate::table::{table, wants_table, IncludeObject};
use crate::writes::{DeleteOptions, Target, WriteOptions};

const BODY_LIMIT: usize = 32 * 1024 * 1024;

fn json_response(code: u16, v: &Value) -> Response {
    json_typed(code, v, "application/json")
}

fn json_typed(code: u16, v: &Value, content_type: &str) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, content_type.to_string())],
        v.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        if let Ok(v) = secs.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

fn page_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Decide whether to inject a failure for this request.
fn injected_fault(cluster: &Cluster) -> Option<ApiError> {
    let f = cluster.faults();
    let roll: u8 = rand::thread_rng().gen_range(0..100);
    if roll < f.error_500_pct {
        return Some(ApiError::internal("injected by kube-double"));
    }
    if roll < f.error_500_pct.saturating_add(f.error_429_pct) {
        return Some(ApiError::too_many_requests(1));
    }
    None
}

/// The single entry point for every request.
pub async fn handle(State(cluster): State<Arc<Cluster>>, req: Request) -> Response {
    let faults = cluster.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if !crate::auth::authorized(&cluster.token, req.headers()) {
        return error_response(&ApiError::unauthorized());
    }
    if let Some(e) = injected_fault(&cluster) {
        return error_response(&e);
    }
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            )))
        }
    };
    let query: HashMap<String, String> = Query::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let path = parts.uri.path().trim_end_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let accept = header_str(&parts.headers, header::ACCEPT).to_string();
    let ctx = RequestContext {
        method: parts.method.clone(),
        query,
        accept,
        content_type: header_str(&parts.headers, header::CONTENT_TYPE).to_string(),
        user_agent: header_str(&parts.headers, header::USER_AGENT).to_string(),
        body,
    };
    tracing::debug!(method = %ctx.method, path = %path, "request");
    match segs.as_slice() {
        ["version"] => json_response(200, &crate::discovery::version()),
        ["healthz"] | ["livez"] | ["readyz"] => (StatusCode::OK, "ok").into_response(),
        ["openapi", "v2"] => openapi_v2(&ctx),
        ["openapi", "v3"] => json_response(200, &crate::openapi::v3_root(&cluster.lock().registry)),
        ["openapi", "v3", "api", v] => openapi_v3(&cluster, "", v),
        ["openapi", "v3", "apis", g, v] => openapi_v3(&cluster, g, v),
        ["api"] => {
            if let Some(v) = crate::discovery::aggregated_version(&ctx.accept) {
                let doc = crate::discovery::aggregated(&cluster.lock().registry, true, v);
                return json_typed(200, &doc, &crate::discovery::aggregated_content_type(v));
            }
            let addr = crate::cluster::lock(&cluster.server_address).clone();
            json_response(200, &crate::discovery::core_versions(&addr))
        }
        ["apis"] => {
            let reg = cluster.lock().registry.clone();
            if let Some(v) = crate::discovery::aggregated_version(&ctx.accept) {
                return json_typed(
                    200,
                    &crate::discovery::aggregated(&reg, false, v),
                    &crate::discovery::aggregated_content_type(v),
                );
            }
            json_response(200, &crate::discovery::group_list(&reg))
        }
        ["apis", g] => match crate::discovery::group(&cluster.lock().registry, g) {
            Some(doc) => json_response(200, &doc),
            None => page_not_found(),
        },
        ["api", "v1"] => discovery_list(&cluster, "", "v1"),
        ["apis", g, v] => discovery_list(&cluster, g, v),
        ["api", "v1", rest @ ..] => resource_request(cluster.clone(), "", "v1", rest, ctx).await,
        ["apis", g, v, rest @ ..] => resource_request(cluster.clone(), g, v, rest, ctx).await,
        _ => page_not_found(),
    }
}

fn discovery_list(cluster: &Cluster, group: &str, version: &str) -> Response {
    match crate::discovery::resource_list(&cluster.lock().registry, group, version) {
        Some(doc) => json_response(200, &doc),
        None => page_not_found(),
    }
}

fn openapi_v2(ctx: &RequestContext) -> Response {
    if ctx.accept.contains("protobuf") {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, crate::openapi::V2_PROTOBUF)],
            crate::openapi::v2_protobuf(),
        )
            .into_response();
    }
    json_response(200, &crate::openapi::v2_json())
}

fn openapi_v3(cluster: &Cluster, group: &str, version: &str) -> Response {
    let reg = cluster.lock().registry.clone();
    if !reg.serves_group_version(group, version) {
        return page_not_found();
    }
    json_response(200, &crate::openapi::v3_group_version(&reg, group, version))
}

struct RequestContext {
    method: Method,
    query: HashMap<String, String>,
    accept: String,
    content_type: String,
    user_agent: String,
    body: Bytes,
}

impl RequestContext {
    fn param(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.param(k), Some("true") | Some("1"))
    }
    fn write_options(&self) -> Result<WriteOptions, ApiError> {
        let dry_run = match self.param("dryRun") {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dry run value: {other}"
                )))
            }
        };
        let (manager, given) = match self.param("fieldManager").filter(|m| !m.is_empty()) {
            Some(m) => (m.to_string(), true),
            None => (
                crate::managed_fields::manager_from_user_agent(&self.user_agent),
                false,
            ),
        };
        let field_validation =
            crate::writes::FieldValidation::parse(self.param("fieldValidation"))?;
        Ok(WriteOptions {
            dry_run,
            manager,
            manager_given: given,
            force: self.flag("force"),
            now: crate::now(),
            field_validation,
        })
    }
    /// Decode a JSON or YAML object body; protobuf is refused.
    fn object_body(&self) -> Result<Value, ApiError> {
        let ct = self
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        match ct {
            crate::protobuf::CONTENT_TYPE => crate::protobuf::decode_object(&self.body),
            "application/yaml" => serde_yaml::from_slice(&self.body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
            _ => serde_json::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
            }),
        }
    }
}

/// `[namespaces/<ns>/]<resource>[/<name>[/<subresource>]]`.
struct ResourcePath<'a> {
    namespace: Option<&'a str>,
    plural: &'a str,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

fn parse_resource_path<'a>(rest: &[&'a str]) -> Option<ResourcePath<'a>> {
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !matches!(*plural, "status" | "finalize") && tail.len() <= 2 =>
        {
            Some(ResourcePath {
                namespace: Some(ns),
                plural,
                name: tail.first().copied(),
                subresource: tail.get(1).copied(),
            })
        }
        [plural, tail @ ..] if tail.len() <= 2 => Some(ResourcePath {
            namespace: None,
            plural,
            name: tail.first().copied(),
            subresource: tail.get(1).copied(),
        }),
        _ => None,
    }
}

async fn resource_request(
    cluster: Arc<Cluster>,
    group: &str,
    version: &str,
    rest: &[&str],
    ctx: RequestContext,
) -> Response {
    let rt = {
        let inner = cluster.lock();
        if !inner.registry.serves_group_version(group, version) {
            return page_not_found();
        }
        let Some(p) = parse_resource_path(rest) else {
            return error_response(&ApiError::resource_not_found());
        };
        match inner.registry.find(group, version, p.plural) {
            Some(rt) => rt.clone(),
            None => return error_response(&ApiError::resource_not_found()),
        }
    };
    let Some(p) = parse_resource_path(rest) else {
        return error_response(&ApiError::resource_not_found());
    };
    if p.namespace.is_some() && !rt.namespaced {
        return page_not_found();
    }
    if p.name.is_some() && p.namespace.is_none() && rt.namespaced {
        return page_not_found();
    }
    match p.subresource {
        None => {}
        Some("status") if rt.status_subresource => {}
        Some("scale") if rt.scale_subresource => {}
        Some(_) => return error_response(&ApiError::resource_not_found()),
    }
    if rt.is_review() {
        let result = match (&ctx.method, p.name) {
            (&Method::POST, None) => ctx
                .object_body()
                .and_then(|b| crate::access_review::answer(&rt, b)),
            (m, _) => Err(ApiError::method_not_supported(
                &rt.group,
                &rt.plural,
                &m.as_str().to_lowercase(),
            )),
        };
        return match result {
            Ok(v) => json_response(201, &v),
            Err(e) => error_response(&e),
        };
    }
    let result = match (&ctx.method, p.name) {
        (&Method::GET, None) if ctx.flag("watch") => return watch(cluster, rt, p.namespace, &ctx),
        (&Method::GET, None) => list(&cluster, &rt, p.namespace, &ctx),
        (&Method::GET, Some(name)) => get(
            &cluster,
            &rt,
            p.namespace.unwrap_or_default(),
            name,
            p.subresource,
            &ctx,
        ),
        (&Method::POST, None) => create(&cluster, &rt, p.namespace.unwrap_or_default(), &ctx),
        (&Method::PUT, Some(name)) => update(
            &cluster,
            &rt,
            p.namespace.unwrap_or_default(),
            name,
            p.subresource,
            &ctx,
        ),
        (&Method::PATCH, Some(name)) => patch(
            &cluster,
            &rt,
            p.namespace.unwrap_or_default(),
            name,
            p.subresource,
            &ctx,
        ),
        (&Method::DELETE, Some(name)) => {
            delete(&cluster, &rt, p.namespace.unwrap_or_default(), name, &ctx)
        }
        (&Method::DELETE, None) => delete_collection(&cluster, &rt, p.namespace, &ctx),
        (m, _) => Err(ApiError::method_not_supported(
            &rt.group,
            &rt.plural,
            &m.as_str().to_lowercase(),
        )),
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

type Answer = Result<(u16, Value), ApiError>;

fn list(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    ctx: &RequestContext,
) -> Answer {
    let params = ListParams {
        label_selector: ctx.param("labelSelector").map(str::to_string),
        field_selector: ctx.param("fieldSelector").map(str::to_string),
        limit: ctx.param("limit").and_then(|l| l.parse().ok()),
        continue_token: ctx.param("continue").map(str::to_string),
    };
    let (items, meta) = list_objects(&cluster.lock(), rt, namespace, &params)?;
    if wants_table(&ctx.accept) {
        let items: Vec<Value> = items.iter().map(|o| present(rt, o)).collect();
        return Ok((
            200,
            table(
                rt,
                &items,
                meta,
                IncludeObject::parse(ctx.param("includeObject")),
            ),
        ));
    }
    Ok((200, list_document(rt, items, meta)))
}

fn get(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    sub: Option<&str>,
    ctx: &RequestContext,
) -> Answer {
    let obj = crate::reads::get(&cluster.lock(), rt, namespace, name)?;
    if sub == Some("scale") {
        return Ok((200, scale_of(&obj)));
    }
    if wants_table(&ctx.accept) {
        let meta = json!({"resourceVersion": obj.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null)});
        return Ok((
            200,
            table(
                rt,
                &[obj],
                meta,
                IncludeObject::parse(ctx.param("includeObject")),
            ),
        ));
    }
    Ok((200, obj))
}

fn create(cluster: &Cluster, rt: &ResourceType, namespace: &str, ctx: &RequestContext) -> Answer {
    let body = ctx.object_body()?;
    let opts = ctx.write_options()?;
    let t = Target {
        rt,
        namespace,
        name: "",
        subresource: "",
    };
    let obj = crate::writes::create(&mut cluster.lock(), &t, body, &opts, false)?;
    Ok((201, present(rt, &obj)))
}

fn update(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    sub: Option<&str>,
    ctx: &RequestContext,
) -> Answer {
    let body = ctx.object_body()?;
    let opts = ctx.write_options()?;
    if sub == Some("scale") {
        let replicas = body
            .pointer("/spec/replicas")
            .cloned()
            .unwrap_or(Value::Null);
        return set_scale(cluster, rt, namespace, name, replicas, &opts);
    }
    let t = Target {
        rt,
        namespace,
        name,
        subresource: sub.unwrap_or_default(),
    };
    let obj = crate::writes::update(&mut cluster.lock(), &t, body, &opts)?;
    Ok((200, present(rt, &obj)))
}

fn patch(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    sub: Option<&str>,
    ctx: &RequestContext,
) -> Answer {
    let Some(pt) = PatchType::from_content_type(&ctx.content_type) else {
        return Err(ApiError::unsupported_media_type(&ctx.content_type));
    };
    let opts = ctx.write_options()?;
    if sub == Some("scale") {
        let current = scale_of(&crate::reads::get(&cluster.lock(), rt, namespace, name)?);
        let patched = crate::patch::apply_patch(
            &current,
            if pt == PatchType::Apply {
                PatchType::Merge
            } else {
                pt
            },
            &ctx.body,
        )?;
        let replicas = patched
            .pointer("/spec/replicas")
            .cloned()
            .unwrap_or(Value::Null);
        return set_scale(cluster, rt, namespace, name, replicas, &opts);
    }
    let t = Target {
        rt,
        namespace,
        name,
        subresource: sub.unwrap_or_default(),
    };
    let (obj, code) = crate::writes::patch(&mut cluster.lock(), &t, pt, &ctx.body, &opts)?;
    Ok((code, present(rt, &obj)))
}

fn scale_of(obj: &Value) -> Value {
    let labels = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        });
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"], "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": labels.unwrap_or_default()}})
}

fn set_scale(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    replicas: Value,
    opts: &WriteOptions,
) -> Answer {
    if !replicas.is_i64() {
        return Err(ApiError::bad_request(
            "Scale spec.replicas must be an integer",
        ));
    }
    let t = Target {
        rt,
        namespace,
        name,
        subresource: "",
    };
    let body = json!({"spec": {"replicas": replicas}}).to_string();
    let (obj, _) = crate::writes::patch(
        &mut cluster.lock(),
        &t,
        PatchType::Merge,
        body.as_bytes(),
        opts,
    )?;
    Ok((200, scale_of(&obj)))
}

impl RequestContext {
    /// The DeleteOptions body as JSON bytes, whatever its encoding.
    fn delete_body(&self) -> Result<Vec<u8>, ApiError> {
        if self.content_type.starts_with(crate::protobuf::CONTENT_TYPE) {
            return Ok(crate::protobuf::decode_delete_options(&self.body)?
                .to_string()
                .into_bytes());
        }
        Ok(self.body.to_vec())
    }
}

fn delete(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
    ctx: &RequestContext,
) -> Answer {
    let (del, body_dry_run) =
        DeleteOptions::from_request(&ctx.delete_body()?, ctx.param("propagationPolicy"))?;
    let mut opts = ctx.write_options()?;
    opts.dry_run |= body_dry_run;
    let t = Target {
        rt,
        namespace,
        name,
        subresource: "",
    };
    let out = crate::writes::delete(&mut cluster.lock(), &t, &del, &opts)?;
    if out.get("kind").and_then(Value::as_str) == Some("Status") {
        return Ok((200, out));
    }
    Ok((200, present(rt, &out)))
}

fn delete_collection(
    cluster: &Cluster,
    rt: &ResourceType,
    namespace: Option<&str>,
    ctx: &RequestContext,
) -> Answer {
    if rt.group.is_empty() && rt.kind == "Namespace" {
        return Err(ApiError::method_not_supported(
            &rt.group,
            &rt.plural,
            "deletecollection",
        ));
    }
    let (del, body_dry_run) =
        DeleteOptions::from_request(&ctx.delete_body()?, ctx.param("propagationPolicy"))?;
    let mut opts = ctx.write_options()?;
    opts.dry_run |= body_dry_run;
    let params = ListParams {
        label_selector: ctx.param("labelSelector").map(str::to_string),
        field_selector: ctx.param("fieldSelector").map(str::to_string),
        ..ListParams::default()
    };
    let mut inner = cluster.lock();
    let (items, meta) = list_objects(&inner, rt, namespace, &params)?;
    let mut deleted = Vec::new();
    for item in items {
        let ns = item
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let t = Target {
            rt,
            namespace: &ns,
            name: &name,
            subresource: "",
        };
        crate::writes::delete(&mut inner, &t, &del, &opts)?;
        deleted.push(item);
    }
    Ok((200, list_document(rt, deleted, meta)))
}

fn watch(
    cluster: Arc<Cluster>,
    rt: ResourceType,
    namespace: Option<&str>,
    ctx: &RequestContext,
) -> Response {
    let filter = match Filter::parse(&rt, ctx.param("labelSelector"), ctx.param("fieldSelector")) {
        Ok(f) => f,
        Err(e) => return error_response(&e),
    };
    let drop_after = cluster.faults().drop_watch_after_s.map(Duration::from_secs);
    let params = crate::watch::WatchParams {
        resource_version: ctx.param("resourceVersion").unwrap_or_default().to_string(),
        bookmarks: ctx.flag("allowWatchBookmarks"),
        timeout: ctx.param("timeoutSeconds").and_then(|t| t.parse().ok()),
        send_initial_events: ctx.flag("sendInitialEvents"),
        namespace: namespace.map(str::to_string),
        filter,
        drop_after,
        bookmark_interval: Duration::from_secs(1),
    };
    match crate::watch::start(cluster, rt, params) {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-cache, private"),
            ],
            body,
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}
