//! Access reviews (`kubectl auth can-i`): every authenticated caller may do everything,
//! since the double enforces no RBAC, and reviews say so in the server's shape.

use serde_json::{json, Value};

use crate::api_status::ApiError;
use crate::registry::ResourceType;

/// Answer a SelfSubjectAccessReview or SelfSubjectRulesReview without storing it.
///
/// # Errors
/// 400 when the body is not an object.
pub fn answer(rt: &ResourceType, body: Value) -> Result<Value, ApiError> {
    let Value::Object(mut review) = body else {
        return Err(ApiError::bad_request(
            "Object 'Kind' is missing in the request body",
        ));
    };
    review.insert("kind".into(), json!(rt.kind));
    review.insert("apiVersion".into(), json!(rt.api_version()));
    review.insert("metadata".into(), json!({"creationTimestamp": null}));
    let status = match rt.kind.as_str() {
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false
        }),
        _ => {
            json!({"allowed": true, "reason": "kube-double authorizes every authenticated request"})
        }
    };
    review.insert("status".into(), status);
    Ok(Value::Object(review))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    #[test]
    fn reviews_allow_and_echo_the_spec() {
        let reg = Registry::builtin();
        let rt = reg
            .find("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
            .expect("served");
        let spec = json!({"resourceAttributes": {"verb": "delete", "resource": "pods", "namespace": "demo"}});
        let out = answer(rt, json!({"spec": spec})).expect("answer");
        assert_eq!(out["status"]["allowed"], true);
        assert_eq!(out["spec"], spec);
        assert_eq!(rt.verbs(), ["create"]);
        assert!(answer(rt, json!([])).is_err());
    }
}
