//! Failure answers as the API server words them: `Status` objects with a code, reason and causes.
//!
//! Clients (kubectl, helm, kube-rs) branch on `reason` and `code`, and print `message`
//! verbatim, so every constructor here reproduces the exact wording of kube-apiserver.

use serde_json::{json, Map, Value};

/// One field-level cause inside an `Invalid` or `Conflict` Status.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// Machine readable cause, e.g. `FieldValueInvalid`, `FieldManagerConflict`.
    pub reason: String,
    /// Human readable part of the message.
    pub message: String,
    /// The field path the cause is about, e.g. `metadata.name`.
    pub field: String,
}

impl Cause {
    /// A cause for a value that does not satisfy a rule.
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {}: {detail}", go_quote(value)),
            field: field.into(),
        }
    }

    /// A cause for a value that must be given and is not.
    pub fn required(field: &str, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Self {
            reason: "FieldValueRequired".into(),
            message,
            field: field.into(),
        }
    }

    /// A cause for a value of the wrong JSON type.
    pub fn type_invalid(field: &str, value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueTypeInvalid".into(),
            message: format!("Invalid value: {}: {detail}", go_quote(value)),
            field: field.into(),
        }
    }

    /// A cause for a value outside an enumeration.
    pub fn not_supported(field: &str, value: &str, allowed: &[String]) -> Self {
        let quoted: Vec<String> = allowed.iter().map(|a| go_quote(a)).collect();
        Self {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {}: supported values: {}",
                go_quote(value),
                quoted.join(", ")
            ),
            field: field.into(),
        }
    }

    /// A cause for a field that may not change.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {detail}"),
            field: field.into(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"reason": self.reason, "message": self.message, "field": self.field})
    }
}

/// Quote a string the way Go's `%q` does for the ASCII strings we meet.
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A failed request, rendered as a `Status` object with the matching HTTP code.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status code, repeated as `code` in the body.
    pub code: u16,
    /// `StatusReason`, e.g. `NotFound`.
    pub reason: String,
    /// The message clients print.
    pub message: String,
    /// `details`; absent when the real server leaves it out (boxed: errors travel far).
    pub details: Option<Box<Map<String, Value>>>,
    /// `Retry-After` seconds for 429 and some 5xx answers.
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

fn details(name: Option<&str>, group: &str, kind: &str) -> Map<String, Value> {
    let mut d = Map::new();
    if let Some(name) = name {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    d
}

/// `plural.group` the way `schema.GroupResource.String()` prints it.
pub fn group_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &str, message: String, details: Option<Map<String, Value>>) -> Self {
        Self {
            code,
            reason: reason.into(),
            message,
            details: details.map(Box::new),
            retry_after: None,
        }
    }

    /// 404 for a missing object of a resource.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!(
                "{} {} not found",
                group_resource(group, plural),
                go_quote(name)
            ),
            Some(details(Some(name), group, plural)),
        )
    }

    /// 404 for a path inside a known group version that names no resource.
    pub fn resource_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            Some(Map::new()),
        )
    }

    /// 409 for a create of an existing name.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!(
                "{} {} already exists",
                group_resource(group, plural),
                go_quote(name)
            ),
            Some(details(Some(name), group, plural)),
        )
    }

    /// 409 for an update carrying a stale resourceVersion.
    pub fn conflict(group: &str, plural: &str, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {}: the object has been modified; please apply your changes to the latest version and try again",
                group_resource(group, plural),
                go_quote(name)
            ),
            Some(details(Some(name), group, plural)),
        )
    }

    /// 409 for a write into a namespace that is being deleted.
    pub fn namespace_terminating(group: &str, plural: &str, name: &str, namespace: &str) -> Self {
        let mut d = details(Some(name), group, plural);
        d.insert(
            "causes".into(),
            json!([{"reason": "NamespaceTerminating", "message": format!("namespace {namespace} is being terminated"), "field": "metadata.namespace"}]),
        );
        Self::new(
            403,
            "Forbidden",
            format!(
                "{} {} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                group_resource(group, plural),
                go_quote(name)
            ),
            Some(d),
        )
    }

    /// 409 for server-side apply conflicts between field managers.
    pub fn apply_conflict(message: String, causes: Vec<Cause>) -> Self {
        let mut d = Map::new();
        d.insert(
            "causes".into(),
            Value::Array(causes.iter().map(Cause::to_json).collect()),
        );
        Self::new(409, "Conflict", message, Some(d))
    }

    /// 422 for an object failing validation, listing each cause.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let summary: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if summary.len() == 1 {
            summary[0].clone()
        } else {
            format!("[{}]", summary.join(", "))
        };
        let mut d = details(Some(name), group, kind);
        d.insert(
            "causes".into(),
            Value::Array(causes.iter().map(Cause::to_json).collect()),
        );
        Self::new(
            422,
            "Invalid",
            format!("{qualified} {} is invalid: {joined}", go_quote(name)),
            Some(d),
        )
    }

    /// 400 for malformed requests.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), None)
    }

    /// 401 for a request without valid credentials.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized".into(), None)
    }

    /// 405 for a verb a resource does not support.
    pub fn method_not_supported(group: &str, plural: &str, verb: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind {}",
                go_quote(&group_resource(group, plural))
            ),
            Some(details(None, group, plural)),
        )
    }

    /// 410 for a list continuation or watch older than the retained history.
    pub fn expired(message: String) -> Self {
        Self::new(410, "Expired", message, None)
    }

    /// 415 for request bodies in an encoding the double does not decode.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type}"),
            None,
        )
    }

    /// 500, as fault injection answers.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
            Some({
                let mut d = Map::new();
                d.insert("causes".into(), json!([{"message": "injected fault"}]));
                d
            }),
        )
    }

    /// 429 with `Retry-After`, as fault injection answers.
    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut e = Self::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later".into(),
            Some({
                let mut d = Map::new();
                d.insert("retryAfterSeconds".into(), json!(retry_after));
                d
            }),
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// The `Status` object for this failure.
    pub fn to_status(&self) -> Value {
        let mut status = Map::new();
        status.insert("kind".into(), json!("Status"));
        status.insert("apiVersion".into(), json!("v1"));
        status.insert("metadata".into(), json!({}));
        status.insert("status".into(), json!("Failure"));
        status.insert("message".into(), json!(self.message));
        status.insert("reason".into(), json!(self.reason));
        if let Some(d) = &self.details {
            status.insert("details".into(), Value::Object((**d).clone()));
        }
        status.insert("code".into(), json!(self.code));
        Value::Object(status)
    }
}

/// The `Status` a successful delete answers with once the object is gone.
pub fn delete_success(group: &str, plural: &str, name: &str, uid: &str) -> Value {
    let mut d = details(Some(name), group, plural);
    d.insert("uid".into(), json!(uid));
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": d})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_the_recorded_wording() {
        let s = ApiError::not_found("", "configmaps", "nope").to_status();
        assert_eq!(
            s,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "configmaps \"nope\" not found", "reason": "NotFound",
                "details": {"name": "nope", "kind": "configmaps"}, "code": 404})
        );
    }

    #[test]
    fn invalid_joins_several_causes_in_brackets() {
        let e = ApiError::invalid(
            "apps",
            "Deployment",
            "web",
            vec![
                Cause::required("spec.selector", ""),
                Cause::required("spec.template.spec.containers", ""),
            ],
        );
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.spec.containers: Required value]"
        );
        assert_eq!(e.code, 422);
    }
}
