//! Dashboard sessions: the admin token typed on the login page becomes an HttpOnly,
//! SameSite=Strict cookie, and every dashboard call is authenticated by that cookie or,
//! like the admin API, by an `Authorization: Bearer` admin token or (when configured)
//! OIDC token. The pages themselves (the HTML shell) need the cookie or an admin token:
//! a browser sends no OIDC bearer of its own.
//!
//! The cookie is sealed (AES-256-GCM) with a key kept in the data directory, and holds
//! the sha256 of the token (never the token), an expiry and a random session id. Each
//! request re-checks that hash against the live tokens, so a revoked token ends its
//! sessions at once, and sessions survive a manager restart (the live page reconnects
//! without a new login). Logout forgets the session id until its expiry.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};

use super::Dashboard;
use crate::api::error::ApiFailure;
use crate::auth::{self, Caller, Role};
use crate::manager::Manager;
use crate::store::{now, StoreError};

/// Name of the session cookie.
pub const COOKIE: &str = "fleet_session";
/// How long a session lasts.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// The key file in the data directory.
const KEY_FILE: &str = "dashboard-session.key";

/// Why the session key cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("reading or creating {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} does not hold a base64 32-byte key: delete it to generate a new one (this logs everyone out)")]
    BadKey { path: String },
}

/// What a session cookie carries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Claims {
    /// sha256 (hex) of the admin token that logged in.
    h: String,
    /// Expiry, unix seconds.
    e: i64,
    /// Random session id, the key of the logout list.
    s: String,
}

/// Seals and opens session cookies, and remembers logged-out sessions.
pub struct Sessions {
    key: LessSafeKey,
    logged_out: Mutex<HashMap<String, i64>>,
}

impl Sessions {
    /// Loads the key from `data_dir`, creating it (mode 0600) on first use.
    pub fn load(data_dir: &Path) -> Result<Sessions, SessionError> {
        let path = data_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        let io = |source| SessionError::KeyFile {
            path: shown.clone(),
            source,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut raw = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut raw);
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                match auth::write_private_file(&path, &encoded) {
                    Ok(()) => encoded,
                    // Another replica sharing the directory created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::read_to_string(&path).map_err(io)?
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| SessionError::BadKey {
                path: shown.clone(),
            })?;
        let key = UnboundKey::new(&AES_256_GCM, &raw).map_err(|_| SessionError::BadKey {
            path: shown.clone(),
        })?;
        Ok(Sessions {
            key: LessSafeKey::new(key),
            logged_out: Mutex::new(HashMap::new()),
        })
    }

    /// A new sealed session for the token with this hash.
    pub fn issue(&self, token_hash: &str) -> String {
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let claims = Claims {
            h: token_hash.to_string(),
            e: now() + SESSION_SECONDS,
            s: hex::encode(id),
        };
        self.seal(&claims)
    }

    fn seal(&self, claims: &Claims) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Serializing a struct of strings and integers cannot fail.
        let mut data = serde_json::to_vec(claims).unwrap_or_default();
        if self
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(COOKIE),
                &mut data,
            )
            .is_err()
        {
            return String::new();
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The claims of a cookie value, if it is ours, intact, unexpired and not logged out.
    fn open(&self, value: &str) -> Option<Claims> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(COOKIE), &mut data)
            .ok()?;
        let claims: Claims = serde_json::from_slice(plain).ok()?;
        if claims.e <= now() {
            return None;
        }
        let logged_out = self.logged_out.lock().ok()?;
        (!logged_out.contains_key(&claims.s)).then_some(claims)
    }

    /// Ends the session of this cookie value (until its expiry, or a restart).
    pub fn logout(&self, value: &str) {
        if let Some(c) = self.open(value) {
            if let Ok(mut l) = self.logged_out.lock() {
                let at = now();
                l.retain(|_, exp| *exp > at);
                l.insert(c.s, c.e);
            }
        }
    }
}

/// The value of our cookie in the request headers.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session. `Secure` when the page was reached over HTTPS.
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The admin caller behind a token hash: the bootstrap token or a live named token.
pub async fn caller_of_hash(manager: &Manager, hash: &str) -> Result<Option<Caller>, StoreError> {
    if auth::secrets_equal(hash, &manager.config.admin_token_hash) {
        return Ok(Some(Caller {
            name: "admin".into(),
            role: Role::Admin,
        }));
    }
    Ok(manager
        .store
        .find_admin_token(hash)
        .await?
        .and_then(|(name, role)| Role::parse(&role).map(|role| Caller { name, role })))
}

/// Authenticates a request by bearer token or session cookie; `None` when neither is
/// valid.
pub async fn authenticate(
    dash: &Dashboard,
    headers: &HeaderMap,
) -> Result<Option<Caller>, StoreError> {
    if let Some(token) = auth::bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    ) {
        return dash.manager.authenticate_admin(token).await;
    }
    let Some(claims) = cookie_value(headers).and_then(|v| dash.sessions.open(v)) else {
        return Ok(None);
    };
    caller_of_hash(&dash.manager, &claims.h).await
}

/// An authenticated reader of the dashboard API (read-only tokens may read; the
/// dashboard never changes anything).
pub struct Viewer(pub Caller);

impl FromRequestParts<Arc<Dashboard>> for Viewer {
    type Rejection = ApiFailure;

    async fn from_request_parts(
        parts: &mut Parts,
        dash: &Arc<Dashboard>,
    ) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(ApiFailure::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the dashboard API is read-only",
            ));
        }
        // A bearer token is checked as on the admin API, OIDC included (the server
        // puts the verifier in the extensions), so a refused JWT says why.
        if let Some(token) = auth::bearer(
            parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
        ) {
            return crate::api::admin::authenticate_bearer(&dash.manager, &parts.extensions, token)
                .await
                .map(Viewer);
        }
        authenticate(dash, &parts.headers)
            .await?
            .map(Viewer)
            .ok_or_else(|| {
                ApiFailure::unauthorized(
                    "invalid_session",
                    "log in at /login, or send an admin token as Authorization: Bearer <token>",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_and_resist_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::load(dir.path()).unwrap();
        let v = s.issue("abc");
        let claims = s.open(&v).unwrap();
        assert_eq!(claims.h, "abc");
        assert!(!v.contains("abc"), "the cookie is sealed");
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&v)
            .unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(s
            .open(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
            .is_none());
        assert!(s.open("garbage").is_none());
        // Same key after a restart; another key refuses it.
        assert!(Sessions::load(dir.path()).unwrap().open(&v).is_some());
        let other = tempfile::tempdir().unwrap();
        assert!(Sessions::load(other.path()).unwrap().open(&v).is_none());
        s.logout(&v);
        assert!(s.open(&v).is_none());
        let expired = s.seal(&Claims {
            h: "abc".into(),
            e: now() - 1,
            s: "x".into(),
        });
        assert!(s.open(&expired).is_none());
    }

    #[test]
    fn cookie_header_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=b; fleet_session=XYZ; c=d".parse().unwrap(),
        );
        assert_eq!(cookie_value(&h), Some("XYZ"));
        h.insert(header::COOKIE, "fleet_session=".parse().unwrap());
        assert_eq!(cookie_value(&h), None);
        assert!(set_cookie("v", false).contains("HttpOnly; SameSite=Strict"));
        assert!(set_cookie("v", true).ends_with("; Secure"));
    }
}
