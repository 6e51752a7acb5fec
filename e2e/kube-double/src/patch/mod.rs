//! The PATCH flavours kube-apiserver accepts besides server-side apply.

pub mod json;
pub mod merge;
pub mod strategic;

use serde_json::Value;

use crate::api_status::ApiError;

/// A PATCH body's content type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchType {
    /// RFC 6902 `application/json-patch+json`.
    Json,
    /// RFC 7386 `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`, built-in kinds only.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a Content-Type header, without parameters.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml"
            | "application/apply-patch+json"
            | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Apply a non-apply patch to `original`.
///
/// # Errors
/// 400/422 Status errors for malformed patches, as the server answers them.
pub fn apply_patch(
    original: &Value,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, ApiError> {
    match patch_type {
        PatchType::Json => json::apply(original, body),
        PatchType::Merge => merge::apply(original, body),
        PatchType::Strategic => strategic::apply(original, body),
        PatchType::Apply => Err(ApiError::bad_request(
            "apply patches are handled by server-side apply",
        )),
    }
}
