//! RFC 6902 JSON patches (`application/json-patch+json`).

use serde_json::Value;

use crate::api_status::ApiError;

/// Apply a JSON patch document to `original`.
///
/// # Errors
/// 400 when the body is not a JSON patch; 422 when an operation fails (missing path, failed
/// `test`), which is how kube-apiserver answers those.
pub fn apply(original: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: json_patch::Patch = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = original.clone();
    json_patch::patch(&mut doc, &patch).map_err(|e| ApiError {
        code: 422,
        reason: "Invalid".into(),
        message: format!("the server rejected our request due to an error in our request: {e}"),
        details: None,
        retry_after: None,
    })?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replace_and_failed_test() {
        let cm = json!({"data": {"k": "v"}});
        let out = apply(&cm, br#"[{"op":"replace","path":"/data/k","value":"v3"}]"#).expect("ok");
        assert_eq!(out["data"]["k"], "v3");
        let err = apply(&cm, br#"[{"op":"test","path":"/data/k","value":"nope"}]"#)
            .expect_err("test fails");
        assert_eq!(err.code, 422);
        assert_eq!(apply(&cm, b"{}").expect_err("not a list").code, 400);
    }
}
