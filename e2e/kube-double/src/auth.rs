//! Bearer token authentication: the one credential the generated kubeconfig carries.

use axum::http::HeaderMap;

/// Whether the request carries `Authorization: Bearer <token>`.
pub fn authorized(expected: &str, headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), expected.as_bytes()))
}

/// Compare without leaking the position of the first difference through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_exact_token_passes() {
        let mut h = HeaderMap::new();
        assert!(!authorized("s3cret", &h));
        h.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        assert!(authorized("s3cret", &h));
        h.insert("authorization", HeaderValue::from_static("Bearer s3cre"));
        assert!(!authorized("s3cret", &h));
        h.insert("authorization", HeaderValue::from_static("Basic s3cret"));
        assert!(!authorized("s3cret", &h));
    }
}
