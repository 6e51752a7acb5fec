//! The write verbs: create, update, patch (all flavours), delete and deletecollection, with
//! the semantics kube-apiserver applies around them (identity fields, optimistic concurrency,
//! generation, status subresource, finalizers, dry run, managedFields).

use rand::Rng;
use serde_json::{json, Map, Value};

use crate::api_status::{delete_success, go_quote, ApiError};
use crate::apply::{apply, ApplyRequest};
use crate::cluster::Inner;
use crate::fields::Schema;
use crate::managed_fields::{record_update, Scope};
use crate::patch::{apply_patch, PatchType};
use crate::registry::ResourceType;
use crate::store::ObjectKey;

/// Per-request options shared by the write verbs.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything, persist nothing.
    pub dry_run: bool,
    /// The field manager: `fieldManager` or derived from the User-Agent.
    pub manager: String,
    /// Whether `fieldManager` was given explicitly.
    pub manager_given: bool,
    /// `force` for server-side apply.
    pub force: bool,
    /// The request time, RFC 3339.
    pub now: String,
    /// `fieldValidation`: whether unknown fields are an error.
    pub field_validation: FieldValidation,
}

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    #[default]
    Ignore,
    /// Drop them (the server would add a warning).
    Warn,
    /// Reject the request naming them.
    Strict,
}

impl FieldValidation {
    /// Parse the query parameter.
    ///
    /// # Errors
    /// 400 for values other than Ignore, Warn and Strict.
    pub fn parse(p: Option<&str>) -> Result<Self, ApiError> {
        match p {
            None | Some("") | Some("Ignore") => Ok(Self::Ignore),
            Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Valid values are Ignore, Warn and Strict"
            ))),
        }
    }
}

/// The ObjectMeta fields a strict decoder knows.
const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Where a write lands.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The resource.
    pub rt: &'a ResourceType,
    /// Namespace from the URL (empty for cluster scope).
    pub namespace: &'a str,
    /// Name from the URL.
    pub name: &'a str,
    /// `status` or empty.
    pub subresource: &'a str,
}

impl Target<'_> {
    fn key(&self, name: &str) -> ObjectKey {
        ObjectKey {
            group: self.rt.group.clone(),
            plural: self.rt.plural.clone(),
            namespace: if self.rt.namespaced {
                self.namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
    fn scope(&self) -> Scope {
        if self.subresource == "status" {
            Scope::Status
        } else {
            Scope::Main {
                skip_status: self.rt.status_subresource,
            }
        }
    }
}

/// The field-ownership schema of a resource.
pub fn schema_of(rt: &ResourceType) -> Schema {
    match &rt.schema {
        Some(s) if rt.custom => Schema::Custom(s.clone()),
        _ if rt.custom => Schema::Custom(json!({})),
        _ => Schema::Builtin,
    }
}

/// A random RFC 4122 version 4 UID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = rand::thread_rng().gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The metadata map of an object, created when missing.
fn meta(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    let m = obj.as_object_mut()?;
    if !m.get("metadata").is_some_and(Value::is_object) {
        m.insert("metadata".into(), json!({}));
    }
    m.get_mut("metadata").and_then(Value::as_object_mut)
}

fn meta_str(obj: &Value, field: &str) -> String {
    obj.pointer(&format!("/metadata/{field}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Check the body's apiVersion and kind against the URL's resource.
fn check_type(rt: &ResourceType, body: &Value) -> Result<(), ApiError> {
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    if !api_version.is_empty() && api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

fn check_namespace(
    inner: &Inner,
    t: &Target<'_>,
    body: &Value,
    for_create: bool,
) -> Result<(), ApiError> {
    if !t.rt.namespaced {
        return Ok(());
    }
    let body_ns = meta_str(body, "namespace");
    if !body_ns.is_empty() && body_ns != t.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let ns_key = ObjectKey {
        group: String::new(),
        plural: "namespaces".into(),
        namespace: String::new(),
        name: t.namespace.into(),
    };
    match inner.store.get(&ns_key) {
        None => Err(ApiError::not_found("", "namespaces", t.namespace)),
        Some(ns) if for_create && ns.pointer("/metadata/deletionTimestamp").is_some() => {
            Err(ApiError::namespace_terminating(
                &t.rt.group,
                &t.rt.plural,
                &meta_str(body, "name"),
                t.namespace,
            ))
        }
        Some(_) => Ok(()),
    }
}

/// Put apiVersion/kind first and metadata fields in the server's order.
pub fn normalize(rt: &ResourceType, obj: Value) -> Value {
    let Value::Object(mut m) = obj else {
        return obj;
    };
    let mut out = Map::new();
    out.insert("kind".into(), json!(rt.kind));
    out.insert("apiVersion".into(), json!(rt.api_version()));
    m.shift_remove("kind");
    m.shift_remove("apiVersion");
    if let Some(Value::Object(mut md)) = m.shift_remove("metadata") {
        let mut ordered = Map::new();
        for k in [
            "name",
            "generateName",
            "namespace",
            "selfLink",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "labels",
            "annotations",
            "ownerReferences",
            "finalizers",
            "managedFields",
        ] {
            if let Some(v) = md.shift_remove(k) {
                ordered.insert(k.into(), v);
            }
        }
        ordered.extend(md);
        out.insert("metadata".into(), Value::Object(ordered));
    }
    out.extend(m);
    Value::Object(out)
}

/// Defaults, schema pruning and validation; 400 for unknown fields under Strict field
/// validation, 422 for invalid objects.
fn admit(rt: &ResourceType, obj: &mut Value, validation: FieldValidation) -> Result<(), ApiError> {
    let uid = meta_str(obj, "uid");
    crate::defaults::apply_defaults(rt, obj, &uid);
    let mut causes = Vec::new();
    // Unknown metadata fields are dropped, as typed decoding drops them.
    let mut unknown: Vec<String> = Vec::new();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        let extra: Vec<String> = m
            .keys()
            .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in extra {
            m.shift_remove(&k);
            unknown.push(format!("metadata.{k}"));
        }
    }
    if rt.custom {
        if let Some(schema) = &rt.schema {
            let (c, pruned) = crate::schema::validate_prune_report(schema, obj);
            causes.extend(c);
            unknown.extend(pruned);
        }
    }
    if validation == FieldValidation::Strict && !unknown.is_empty() {
        let fields: Vec<String> = unknown
            .iter()
            .map(|f| format!("unknown field {}", go_quote(f)))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{} in version {} cannot be handled as a {}: strict decoding error: {}",
            rt.kind,
            go_quote(&rt.version),
            rt.kind,
            fields.join(", ")
        )));
    }
    causes.extend(crate::validation::validate(rt, obj));
    if rt.kind == "CustomResourceDefinition" {
        causes.extend(crate::crd::validate(obj));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &meta_str(obj, "name"),
            causes,
        ))
    }
}

/// The part of an object whose changes bump `metadata.generation`: everything but metadata,
/// and but status where status is its own subresource (custom resources without a status
/// subresource count status changes too).
fn spec_part(rt: &ResourceType, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        for k in ["metadata", "apiVersion", "kind"] {
            m.shift_remove(k);
        }
        if !rt.custom || rt.status_subresource {
            m.shift_remove("status");
        }
    }
    v
}

const GENERATE_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Create an object (POST). Returns the stored object.
///
/// # Errors
/// 400 for mismatched kind/namespace, 404 for a missing namespace, 409 AlreadyExists, 422
/// Invalid.
pub fn create(
    inner: &mut Inner,
    t: &Target<'_>,
    mut body: Value,
    opts: &WriteOptions,
    applied: bool,
) -> Result<Value, ApiError> {
    check_type(t.rt, &body)?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body",
        ));
    }
    if !applied && !meta_str(&body, "resourceVersion").is_empty() {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    check_namespace(inner, t, &body, true)?;
    let mut name = meta_str(&body, "name");
    if name.is_empty() {
        let generate = meta_str(&body, "generateName");
        if !generate.is_empty() {
            let mut rng = rand::thread_rng();
            let suffix: String = (0..5)
                .map(|_| GENERATE_CHARS[rng.gen_range(0..GENERATE_CHARS.len())] as char)
                .collect();
            name = format!("{generate}{suffix}");
        }
    }
    if let Some(m) = meta(&mut body) {
        m.insert("name".into(), json!(name));
        if t.rt.namespaced {
            m.insert("namespace".into(), json!(t.namespace));
        } else {
            m.shift_remove("namespace");
        }
        for k in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.shift_remove(k);
        }
        if !applied {
            m.shift_remove("managedFields");
        }
        m.insert("uid".into(), json!(new_uid()));
        m.insert("creationTimestamp".into(), json!(opts.now));
        if t.rt.has_generation() {
            m.insert("generation".into(), json!(1));
        } else {
            m.shift_remove("generation");
        }
    }
    if t.rt.status_subresource {
        if let Some(m) = body.as_object_mut() {
            if t.rt.custom {
                m.shift_remove("status");
            } else {
                m.insert("status".into(), json!({}));
            }
        }
    }
    if t.rt.kind == "CustomResourceDefinition" {
        crate::crd::prepare_for_create(&mut body);
    }
    admit(t.rt, &mut body, opts.field_validation)?;
    if !applied {
        record_update(
            None,
            &mut body,
            &opts.manager,
            &t.rt.api_version(),
            t.scope(),
            &schema_of(t.rt),
            &opts.now,
        );
    }
    crate::defaults::prepare_for_create(t.rt, &mut body);
    let key = t.key(&name);
    if inner.store.get(&key).is_some() {
        return Err(ApiError::already_exists(&t.rt.group, &t.rt.plural, &name));
    }
    let body = normalize(t.rt, body);
    if opts.dry_run {
        return Ok(body);
    }
    Ok(inner.commit(key, body))
}

/// How the managedFields of an update are maintained.
enum Ownership {
    /// An Update operation by the request's manager.
    Update,
    /// Server-side apply already rewrote them.
    Applied,
    /// A controller's status update that also sets annotations (the deployment
    /// controller's revision), recorded in its status entry as kube-apiserver does.
    Controller,
}

fn finish_update(
    inner: &mut Inner,
    t: &Target<'_>,
    old: &Value,
    mut new: Value,
    opts: &WriteOptions,
    ownership: Ownership,
) -> Result<Value, ApiError> {
    check_type(t.rt, &new)?;
    let body_name = meta_str(&new, "name");
    if !body_name.is_empty() && body_name != t.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            t.name
        )));
    }
    if t.rt.namespaced {
        let ns = meta_str(&new, "namespace");
        if !ns.is_empty() && ns != t.namespace {
            return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
    }
    let rv = meta_str(&new, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(&t.rt.group, &t.rt.plural, t.name));
    }
    let uid = meta_str(&new, "uid");
    if !uid.is_empty() && uid != meta_str(old, "uid") {
        return Err(ApiError {
            code: 409,
            reason: "Conflict".into(),
            message: format!("Operation cannot be fulfilled on {} {}: Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                crate::api_status::group_resource(&t.rt.group, &t.rt.plural), go_quote(t.name), meta_str(old, "uid")),
            details: None,
            retry_after: None,
        });
    }
    // Identity and server-owned metadata always come from the stored object.
    {
        let old_meta = old
            .get("metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Some(m) = meta(&mut new) else {
            return Err(ApiError::bad_request(
                "Object 'Kind' is missing in the request body",
            ));
        };
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "resourceVersion",
        ] {
            match old_meta.get(k) {
                Some(v) => {
                    m.insert(k.into(), v.clone());
                }
                None => {
                    m.shift_remove(k);
                }
            }
        }
        if matches!(ownership, Ownership::Update | Ownership::Controller) {
            match old_meta.get("managedFields") {
                Some(v) => {
                    m.insert("managedFields".into(), v.clone());
                }
                None => {
                    m.shift_remove("managedFields");
                }
            }
        }
    }
    match t.scope() {
        Scope::Main { skip_status: true } => {
            if let Some(m) = new.as_object_mut() {
                match old.get("status") {
                    Some(s) => {
                        m.insert("status".into(), s.clone());
                    }
                    None => {
                        m.shift_remove("status");
                    }
                }
            }
        }
        Scope::Main { skip_status: false } => {}
        Scope::Status => {
            // Only status changes through the status subresource.
            let status = new.get("status").cloned();
            let managed = new.pointer("/metadata/managedFields").cloned();
            let annotations = new.pointer("/metadata/annotations").cloned();
            new = old.clone();
            if let (Ownership::Controller, Some(a), Some(m)) =
                (&ownership, annotations, meta(&mut new))
            {
                m.insert("annotations".into(), a);
            }
            if let Some(m) = new.as_object_mut() {
                match status {
                    Some(s) => {
                        m.insert("status".into(), s);
                    }
                    None => {
                        m.shift_remove("status");
                    }
                }
            }
            if let (Some(mf), Ownership::Applied, Some(m)) = (managed, &ownership, meta(&mut new)) {
                m.insert("managedFields".into(), mf);
            }
        }
    }
    if t.rt.group.is_empty() && t.rt.kind == "Namespace" && t.subresource != "finalize" {
        // A namespace's spec.finalizers only change through its finalize subresource.
        if let (Some(f), Some(spec)) = (
            old.pointer("/spec/finalizers").cloned(),
            new.get_mut("spec").and_then(Value::as_object_mut),
        ) {
            spec.insert("finalizers".into(), f);
        }
    }
    if old.pointer("/metadata/deletionTimestamp").is_some() {
        // Finalizers may only be removed from a terminating object, not added.
        let old_f = old
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let new_f = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if new_f.iter().any(|f| !old_f.contains(f)) {
            return Err(ApiError::invalid(
                &t.rt.group,
                &t.rt.kind,
                t.name,
                vec![crate::api_status::Cause::forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted",
                )],
            ));
        }
    }
    admit(t.rt, &mut new, opts.field_validation)?;
    if t.rt.has_generation() && spec_part(t.rt, &new) != spec_part(t.rt, old) {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if let Some(m) = meta(&mut new) {
            m.insert("generation".into(), json!(g + 1));
        }
    }
    if matches!(ownership, Ownership::Update | Ownership::Controller) {
        record_update(
            Some(old),
            &mut new,
            &opts.manager,
            &t.rt.api_version(),
            t.scope(),
            &schema_of(t.rt),
            &opts.now,
        );
    }
    let new = normalize(t.rt, new);
    if new == *old {
        return Ok(new);
    }
    let terminating_done = new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        && !(t.rt.kind == "Namespace" && t.rt.group.is_empty());
    if opts.dry_run {
        return Ok(new);
    }
    let key = t.key(t.name);
    if terminating_done {
        let mut gone = new.clone();
        if let Some(m) = gone.get_mut("metadata").and_then(Value::as_object_mut) {
            m.shift_remove("finalizers");
        }
        inner.commit(key.clone(), gone);
        inner.erase(&key);
        return Ok(new);
    }
    Ok(inner.commit(key, new))
}

fn existing(inner: &Inner, t: &Target<'_>) -> Result<Value, ApiError> {
    inner
        .store
        .get(&t.key(t.name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&t.rt.group, &t.rt.plural, t.name))
}

/// Replace an object (PUT).
///
/// # Errors
/// 404 when missing, 409 on a stale resourceVersion, 422 Invalid.
pub fn update(
    inner: &mut Inner,
    t: &Target<'_>,
    body: Value,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body",
        ));
    }
    let old = existing(inner, t)?;
    finish_update(inner, t, &old, body, opts, Ownership::Update)
}

/// Patch an object; server-side apply creates it when missing (answering 201).
///
/// # Errors
/// 404 when missing (non-apply), 409 apply conflicts, 415 strategic patches of custom
/// resources, 422 Invalid or a missing fieldManager for apply.
pub fn patch(
    inner: &mut Inner,
    t: &Target<'_>,
    patch_type: PatchType,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<(Value, u16), ApiError> {
    if opts.force && patch_type != PatchType::Apply {
        return Err(ApiError {
            code: 422,
            reason: "Invalid".into(),
            message: "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch".into(),
            details: Some(Box::new(
                serde_json::from_value(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                    {"reason": "FieldValueForbidden", "message": "Forbidden: may not be specified for non-apply patch", "field": "force"}]}))
                .unwrap_or_default(),
            )),
            retry_after: None,
        });
    }
    if patch_type == PatchType::Strategic && t.rt.custom {
        return Err(ApiError {
            code: 415,
            reason: "UnsupportedMediaType".into(),
            message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
            details: None,
            retry_after: None,
        });
    }
    if patch_type == PatchType::Apply {
        return server_side_apply(inner, t, body, opts);
    }
    let old = existing(inner, t)?;
    let patched = apply_patch(&old, patch_type, body)?;
    finish_update(inner, t, &old, patched, opts, Ownership::Update).map(|v| (v, 200))
}

fn server_side_apply(
    inner: &mut Inner,
    t: &Target<'_>,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<(Value, u16), ApiError> {
    if !opts.manager_given {
        return Err(ApiError {
            code: 422,
            reason: "Invalid".into(),
            message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into(),
            details: Some(Box::new(serde_json::from_value(json!({"group": "meta.k8s.io", "kind": "PatchOptions", "causes": [
                {"reason": "FieldValueRequired", "message": "Required value: is required for apply patch", "field": "fieldManager"}]})).unwrap_or_default())),
            retry_after: None,
        });
    }
    let applied: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !applied.is_object() {
        return Err(ApiError::bad_request("apply patch must be an object"));
    }
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if api_version.is_empty()
        || applied
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
    {
        return Err(ApiError::bad_request("invalid object type: /, Kind="));
    }
    check_type(t.rt, &applied)?;
    let body_name = meta_str(&applied, "name");
    if !body_name.is_empty() && body_name != t.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            t.name
        )));
    }
    let schema = schema_of(t.rt);
    let live = inner.store.get(&t.key(t.name)).cloned();
    let req = ApplyRequest {
        manager: &opts.manager,
        api_version: &api_version,
        force: opts.force,
        scope: t.scope(),
        schema: &schema,
        now: &opts.now,
    };
    match live {
        Some(old) => {
            let merged = apply(Some(&old), &applied, &req)?;
            finish_update(inner, t, &old, merged, opts, Ownership::Applied).map(|v| (v, 200))
        }
        None => {
            if t.subresource == "status" {
                return Err(ApiError::not_found(&t.rt.group, &t.rt.plural, t.name));
            }
            let mut merged = apply(None, &applied, &req)?;
            if let Some(m) = meta(&mut merged) {
                m.insert("name".into(), json!(t.name));
            }
            create(inner, t, merged, opts, true).map(|v| (v, 201))
        }
    }
}

/// Deletion options from the query and the DeleteOptions body.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation: Option<String>,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    /// Read the options of a DELETE: the body (if any) then the query parameter.
    pub fn from_request(
        body: &[u8],
        propagation_param: Option<&str>,
    ) -> Result<(Self, bool), ApiError> {
        let mut o = Self::default();
        let mut dry_run = false;
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v: Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
            o.propagation = v
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string);
            if v.get("orphanDependents").and_then(Value::as_bool) == Some(true)
                && o.propagation.is_none()
            {
                o.propagation = Some("Orphan".into());
            }
            o.uid = v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string);
            o.resource_version = v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string);
            dry_run = v
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All"));
        }
        if let Some(p) = propagation_param {
            o.propagation = Some(p.to_string());
        }
        if let Some(p) = &o.propagation {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(ApiError {
                    code: 422,
                    reason: "Invalid".into(),
                    message: format!("DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"", go_quote(p)),
                    details: None,
                    retry_after: None,
                });
            }
        }
        Ok((o, dry_run))
    }
}

/// Delete one object. Objects with finalizers (or a Foreground deletion) stay with a
/// deletionTimestamp and are returned; others go at once and a Success Status is returned.
///
/// # Errors
/// 404 when missing, 409 when a precondition fails.
pub fn delete(
    inner: &mut Inner,
    t: &Target<'_>,
    del: &DeleteOptions,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let mut obj = existing(inner, t)?;
    let gr = crate::api_status::group_resource(&t.rt.group, &t.rt.plural);
    if let Some(uid) = &del.uid {
        let actual = meta_str(&obj, "uid");
        if *uid != actual {
            return Err(ApiError { code: 409, reason: "Conflict".into(), message: format!(
                "Operation cannot be fulfilled on {gr} {}: Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}", go_quote(t.name)),
                details: None, retry_after: None });
        }
    }
    if let Some(rv) = &del.resource_version {
        let actual = meta_str(&obj, "resourceVersion");
        if *rv != actual {
            return Err(ApiError { code: 409, reason: "Conflict".into(), message: format!(
                "Operation cannot be fulfilled on {gr} {}: Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}", go_quote(t.name)),
                details: None, retry_after: None });
        }
    }
    let key = t.key(t.name);
    let policy = del
        .propagation
        .clone()
        .unwrap_or_else(|| "Background".into());
    let is_namespace = t.rt.group.is_empty() && t.rt.kind == "Namespace";
    let mut finalizers: Vec<Value> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let terminating = obj.pointer("/metadata/deletionTimestamp").is_some();
    if policy == "Orphan" && !opts.dry_run {
        orphan_dependents(inner, &meta_str(&obj, "uid"));
    }
    if policy == "Foreground" && !finalizers.contains(&json!("foregroundDeletion")) {
        finalizers.push(json!("foregroundDeletion"));
    }
    if terminating {
        if finalizers
            != obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            && !opts.dry_run
        {
            if let Some(m) = meta(&mut obj) {
                m.insert("finalizers".into(), Value::Array(finalizers));
            }
            obj = inner.commit(key, obj);
        }
        return Ok(obj);
    }
    if finalizers.is_empty() && !is_namespace {
        let uid = meta_str(&obj, "uid");
        if !opts.dry_run {
            inner.erase(&key);
        }
        return Ok(delete_success(&t.rt.group, &t.rt.plural, t.name, &uid));
    }
    if let Some(m) = meta(&mut obj) {
        m.insert("deletionTimestamp".into(), json!(opts.now));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        if !finalizers.is_empty() {
            m.insert("finalizers".into(), Value::Array(finalizers));
        }
        if t.rt.has_generation() {
            let g = m.get("generation").and_then(Value::as_i64).unwrap_or(0);
            m.insert("generation".into(), json!(g + 1));
        }
    }
    if is_namespace {
        if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
            status.insert("phase".into(), json!("Terminating"));
        }
    }
    let obj = normalize(t.rt, obj);
    if opts.dry_run {
        return Ok(obj);
    }
    Ok(inner.commit(key, obj))
}

/// The resource type stored under a key (its first served version).
pub fn rt_for_key(inner: &Inner, key: &ObjectKey) -> Option<ResourceType> {
    inner
        .registry
        .all()
        .iter()
        .find(|r| r.group == key.group && r.plural == key.plural)
        .cloned()
}

fn controller_opts(manager: &str, now: &str) -> WriteOptions {
    WriteOptions {
        dry_run: false,
        manager: manager.into(),
        manager_given: true,
        force: false,
        now: now.into(),
        field_validation: FieldValidation::Ignore,
    }
}

/// Replace the status of an object the way a controller does: an Update on the status
/// subresource by `manager`. Returns `None` when the object or its kind is gone.
///
/// # Errors
/// The Status error of the write (422 when the status fails validation).
pub fn write_status(
    inner: &mut Inner,
    key: &ObjectKey,
    status: Value,
    annotations: &[(&str, String)],
    manager: &str,
    now: &str,
) -> Result<Option<Value>, ApiError> {
    let (Some(rt), Some(old)) = (rt_for_key(inner, key), inner.store.get(key).cloned()) else {
        return Ok(None);
    };
    let mut new = old.clone();
    if let Some(m) = new.as_object_mut() {
        m.insert("status".into(), status);
    }
    if !annotations.is_empty() {
        if let Some(m) = meta(&mut new) {
            let a = m.entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = a.as_object_mut() {
                for (k, v) in annotations {
                    a.insert((*k).to_string(), json!(v));
                }
            }
        }
    }
    let t = Target {
        rt: &rt,
        namespace: &key.namespace,
        name: &key.name,
        subresource: "status",
    };
    finish_update(
        inner,
        &t,
        &old,
        new,
        &controller_opts(manager, now),
        Ownership::Controller,
    )
    .map(Some)
}

/// Replace the finalizers of an object as a controller does; removing the last finalizer of
/// a terminating object deletes it.
///
/// # Errors
/// The Status error of the write.
pub fn write_finalizers(
    inner: &mut Inner,
    key: &ObjectKey,
    finalizers: Vec<Value>,
    manager: &str,
    now: &str,
) -> Result<(), ApiError> {
    let (Some(rt), Some(old)) = (rt_for_key(inner, key), inner.store.get(key).cloned()) else {
        return Ok(());
    };
    let mut new = old.clone();
    if let Some(m) = meta(&mut new) {
        if finalizers.is_empty() {
            m.shift_remove("finalizers");
        } else {
            m.insert("finalizers".into(), Value::Array(finalizers));
        }
    }
    let t = Target {
        rt: &rt,
        namespace: &key.namespace,
        name: &key.name,
        subresource: "",
    };
    finish_update(
        inner,
        &t,
        &old,
        new,
        &controller_opts(manager, now),
        Ownership::Update,
    )
    .map(|_| ())
}

/// Delete the object under `key` with a propagation policy, as the garbage collector does.
///
/// # Errors
/// The Status error of the delete.
pub fn delete_key(
    inner: &mut Inner,
    key: &ObjectKey,
    policy: &str,
    now: &str,
) -> Result<(), ApiError> {
    let Some(rt) = rt_for_key(inner, key) else {
        inner.erase(key);
        return Ok(());
    };
    let t = Target {
        rt: &rt,
        namespace: &key.namespace,
        name: &key.name,
        subresource: "",
    };
    let del = DeleteOptions {
        propagation: Some(policy.into()),
        ..DeleteOptions::default()
    };
    delete(
        inner,
        &t,
        &del,
        &controller_opts("kube-controller-manager", now),
    )
    .map(|_| ())
}

/// Remove ownerReferences pointing at `owner_uid` from every object.
pub fn orphan_dependents(inner: &mut Inner, owner_uid: &str) {
    let dependents: Vec<(ObjectKey, Value)> = inner
        .store
        .iter()
        .filter(|(_, v)| owner_uids(v).iter().any(|u| u == owner_uid))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (key, mut obj) in dependents {
        if let Some(refs) = obj
            .pointer_mut("/metadata/ownerReferences")
            .and_then(Value::as_array_mut)
        {
            refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
            if refs.is_empty() {
                if let Some(m) = meta(&mut obj) {
                    m.shift_remove("ownerReferences");
                }
            }
        }
        inner.commit(key, obj);
    }
}

/// The uids an object's ownerReferences point at.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::store::Store;

    fn inner() -> Inner {
        let mut inner = Inner {
            store: Store::new(100),
            registry: Registry::builtin(),
        };
        let ns = ObjectKey {
            group: String::new(),
            plural: "namespaces".into(),
            namespace: String::new(),
            name: "demo".into(),
        };
        inner.commit(ns, json!({"metadata": {"name": "demo"}}));
        inner
    }

    fn opts() -> WriteOptions {
        WriteOptions {
            dry_run: false,
            manager: "test".into(),
            manager_given: false,
            force: false,
            now: "2026-01-01T00:00:00Z".into(),
            field_validation: FieldValidation::Strict,
        }
    }

    #[test]
    fn strict_field_validation_names_unknown_fields() {
        let mut inner = inner();
        let reg = Registry::builtin();
        let rt = reg.find("", "v1", "configmaps").expect("cm");
        let t = Target {
            rt,
            namespace: "demo",
            name: "",
            subresource: "",
        };
        let err = create(
            &mut inner,
            &t,
            json!({"metadata": {"name": "a", "lables": {}}}),
            &opts(),
            false,
        )
        .expect_err("strict");
        assert_eq!(err.code, 400);
        assert_eq!(err.message, "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"metadata.lables\"");
        let lenient = WriteOptions {
            field_validation: FieldValidation::Ignore,
            ..opts()
        };
        let ok = create(
            &mut inner,
            &t,
            json!({"metadata": {"name": "a", "lables": {}}}),
            &lenient,
            false,
        )
        .expect("ignored");
        assert!(
            ok["metadata"].get("lables").is_none(),
            "unknown metadata fields are dropped"
        );
    }

    #[test]
    fn stale_update_conflicts_and_current_one_succeeds() {
        let mut inner = inner();
        let reg = Registry::builtin();
        let rt = reg.find("", "v1", "configmaps").expect("cm");
        let t = Target {
            rt,
            namespace: "demo",
            name: "cm1",
            subresource: "",
        };
        let created = create(
            &mut inner,
            &t,
            json!({"metadata": {"name": "cm1"}, "data": {"k": "v"}}),
            &opts(),
            false,
        )
        .expect("create");
        let err = update(
            &mut inner,
            &t,
            json!({"metadata": {"name": "cm1", "resourceVersion": "1"}, "data": {"k": "v2"}}),
            &opts(),
        )
        .expect_err("stale");
        assert_eq!(err.code, 409);
        let rv = created["metadata"]["resourceVersion"].clone();
        let ok = update(
            &mut inner,
            &t,
            json!({"metadata": {"name": "cm1", "resourceVersion": rv}, "data": {"k": "v2"}}),
            &opts(),
        )
        .expect("current");
        assert_eq!(ok["data"]["k"], "v2");
        assert_ne!(
            ok["metadata"]["resourceVersion"],
            created["metadata"]["resourceVersion"]
        );
        assert_eq!(ok["metadata"]["uid"], created["metadata"]["uid"]);
    }

    #[test]
    fn create_refuses_a_resource_version() {
        let mut inner = inner();
        let reg = Registry::builtin();
        let rt = reg.find("", "v1", "configmaps").expect("cm");
        let t = Target {
            rt,
            namespace: "demo",
            name: "",
            subresource: "",
        };
        let err = create(
            &mut inner,
            &t,
            json!({"metadata": {"name": "a", "resourceVersion": "5"}}),
            &opts(),
            false,
        )
        .expect_err("rv");
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                400,
                "resourceVersion should not be set on objects to be created"
            )
        );
    }

    #[test]
    fn generation_moves_on_spec_changes_only() {
        let mut inner = inner();
        let reg = Registry::builtin();
        let rt = reg.find("apps", "v1", "deployments").expect("deploy");
        let t = Target {
            rt,
            namespace: "demo",
            name: "web",
            subresource: "",
        };
        let d = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
        create(&mut inner, &t, d, &opts(), false).expect("create");
        let labeled = patch(
            &mut inner,
            &t,
            PatchType::Merge,
            br#"{"metadata":{"labels":{"x":"y"}}}"#,
            &opts(),
        )
        .expect("label")
        .0;
        assert_eq!(labeled["metadata"]["generation"], 1);
        let scaled = patch(
            &mut inner,
            &t,
            PatchType::Merge,
            br#"{"spec":{"replicas":3}}"#,
            &opts(),
        )
        .expect("scale")
        .0;
        assert_eq!(scaled["metadata"]["generation"], 2);
        let status = patch(
            &mut inner,
            &t,
            PatchType::Merge,
            br#"{"status":{"replicas":3}}"#,
            &opts(),
        )
        .expect("status ignored")
        .0;
        assert_eq!(status["status"], json!({}));
    }
}
