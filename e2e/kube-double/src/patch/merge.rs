//! RFC 7386 JSON merge patches (`application/merge-patch+json`): maps merge, `null` deletes,
//! lists are replaced whole.

use serde_json::Value;

use crate::api_status::ApiError;

/// Apply a merge patch to `original`.
///
/// # Errors
/// 400 when the body is not JSON.
pub fn apply(original: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = original.clone();
    json_patch::merge(&mut doc, &patch);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_deletes_and_maps_merge() {
        let cm = json!({"metadata": {"labels": {"app": "x", "tier": "a"}}, "data": {"k": "v"}});
        let out = apply(
            &cm,
            br#"{"data":{"k2":"v"},"metadata":{"labels":{"tier":null}}}"#,
        )
        .expect("ok");
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"app": "x"}}, "data": {"k": "v", "k2": "v"}})
        );
    }
}
