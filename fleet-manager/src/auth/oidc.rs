//! OIDC bearer tokens for the admin API and the dashboard API: an ID token (or a JWT
//! access token) from the organisation's identity provider instead of a Fleet admin
//! token, with the role taken from the token's groups.
//!
//! Off unless `--oidc-issuer-url` is given; the flags follow kube-apiserver's. The
//! verifier fetches `<issuer>/.well-known/openid-configuration` and its `jwks_uri`,
//! keeps the keys in memory, and fetches them again when a token names an unknown
//! `kid` (at most once per [`OidcConfig::min_refresh_interval`], so a flood of forged
//! `kid`s cannot turn the manager into a load generator against the provider) and
//! every [`OidcConfig::refresh_interval`] (so keys the provider retired stop working).
//!
//! Only asymmetric signatures are accepted (RS*, PS*, ES256, ES384, EdDSA); `alg: none`
//! and HMAC (which would let anyone holding the public key forge tokens) are refused,
//! and JWKS entries of type `oct` are never loaded. `iss` must equal the issuer, `aud`
//! must contain the client ID, and `exp`/`nbf` are checked with a small leeway.
//! Signatures are checked by `jsonwebtoken` (ring), not here.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Caller, Role};

/// Largest discovery document or JWKS accepted from the provider.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// How tokens are checked and mapped to callers.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The `iss` of accepted tokens; discovery is read below it.
    pub issuer_url: String,
    /// The audience (`aud`) tokens must carry: the client ID registered at the provider.
    pub client_id: String,
    /// Claim holding the user name shown in the audit log (`email` by default).
    pub username_claim: String,
    /// Put before the user name, so an OIDC user never looks like a Fleet token name.
    pub username_prefix: String,
    /// Claim holding the user's groups (a list of strings, or one string).
    pub groups_claim: String,
    /// Groups whose members get the admin role.
    pub admin_groups: Vec<String>,
    /// Groups whose members get the read-only role (admin wins when in both).
    pub readonly_groups: Vec<String>,
    /// Extra CA (PEM) to trust for the provider's HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// Least time between two key fetches caused by unknown `kid`s.
    pub min_refresh_interval: Duration,
    /// Keys are fetched again this often regardless.
    pub refresh_interval: Duration,
}

impl OidcConfig {
    /// The defaults for `issuer_url` and `client_id` (no group mapped yet).
    pub fn new(issuer_url: &str, client_id: &str) -> OidcConfig {
        OidcConfig {
            issuer_url: issuer_url.to_string(),
            client_id: client_id.to_string(),
            username_claim: "email".into(),
            username_prefix: "oidc:".into(),
            groups_claim: "groups".into(),
            admin_groups: Vec::new(),
            readonly_groups: Vec::new(),
            ca_file: None,
            leeway: Duration::from_secs(30),
            min_refresh_interval: Duration::from_secs(10),
            refresh_interval: Duration::from_secs(3600),
        }
    }
}

/// Why OIDC cannot be set up, or the provider's keys cannot be fetched.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("{what} {url:?} must be an https URL (plain http only on a loopback address)")]
    InsecureUrl { what: &'static str, url: String },
    #[error("--oidc-client-id must not be empty: it is the audience tokens are checked for")]
    NoClientId,
    #[error("no group is mapped to a role: set --oidc-admin-groups and/or --oidc-readonly-groups")]
    NoGroups,
    #[error("reading --oidc-ca-file {path}: {source}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--oidc-ca-file {path} is not a PEM certificate: {source}")]
    CaCert {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("building the OIDC HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the discovery document names issuer {found:?}, not the configured {expected:?}")]
    DiscoveryIssuer { expected: String, found: String },
}

/// Why a JWT bearer token was refused. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "alg {0:?} is not accepted: asymmetric signatures only (RS*, PS*, ES256, ES384, EdDSA)"
    )]
    Algorithm(String),
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("no signing key with kid {0:?} at the issuer")]
    UnknownKey(String),
    #[error("the issuer's signing keys cannot be fetched")]
    KeysUnavailable,
    #[error("bad signature")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token issued by another issuer")]
    Issuer,
    #[error("token not meant for this manager (aud lacks {0:?})")]
    Audience(String),
    #[error("token lacks the {0:?} claim")]
    MissingClaim(String),
    #[error("the token's email is not verified (email_verified is false)")]
    EmailNotVerified,
    #[error("{user} is in no group mapped to a role")]
    NoRole { user: String },
}

impl TokenError {
    /// Whether the token is valid and only its groups lack a role (403, not 401).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, TokenError::NoRole { .. })
    }
}

/// The parts of a JWT header that decide whether and how it is checked.
#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The header of a token shaped like a JWT (three base64url parts, the first a JSON
/// object with `alg`); `None` for anything else, such as Fleet's own tokens.
fn jwt_header(token: &str) -> Option<RawHeader> {
    let mut parts = token.split('.');
    let header = parts.next()?;
    parts.next()?;
    parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The signature algorithms accepted: asymmetric ones only.
fn accepted_algorithm(alg: &str) -> Option<Algorithm> {
    Some(match alg {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// One verification key of the provider.
struct SigningKey {
    key: DecodingKey,
    /// The JWK's `alg`, when it names one: then only that algorithm may use the key.
    alg: Option<Algorithm>,
}

/// The provider's keys as last fetched.
#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<SigningKey>>,
    /// Every key, for tokens without a `kid`.
    all: Vec<Arc<SigningKey>>,
    loaded: bool,
}

impl KeySet {
    /// Loads the usable signature keys of a JWKS, skipping (and naming in the log)
    /// encryption keys, symmetric keys and keys this library cannot read.
    fn from_jwks(keys: &[Value]) -> KeySet {
        let mut set = KeySet {
            loaded: true,
            ..KeySet::default()
        };
        for raw in keys {
            let kid = raw.get("kid").and_then(Value::as_str).unwrap_or("");
            let jwk: Jwk = match serde_json::from_value(raw.clone()) {
                Ok(j) => j,
                Err(e) => {
                    tracing::debug!(kid, error = %e, "OIDC: JWKS entry skipped");
                    continue;
                }
            };
            if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
                || matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
            {
                tracing::debug!(kid, "OIDC: symmetric or encryption key skipped");
                continue;
            }
            let alg = match jwk.common.key_algorithm.map(|a| a.to_string()) {
                None => None,
                Some(a) => match accepted_algorithm(&a) {
                    Some(alg) => Some(alg),
                    None => {
                        tracing::debug!(kid, alg = %a, "OIDC: key for an unaccepted algorithm skipped");
                        continue;
                    }
                },
            };
            let key = match DecodingKey::from_jwk(&jwk) {
                Ok(k) => Arc::new(SigningKey { key: k, alg }),
                Err(e) => {
                    tracing::debug!(kid, error = %e, "OIDC: unreadable key skipped");
                    continue;
                }
            };
            if let Some(kid) = &jwk.common.key_id {
                set.by_kid.insert(kid.clone(), key.clone());
            }
            set.all.push(key);
        }
        set
    }

    /// The keys a token with this `kid` may be signed with.
    fn candidates(&self, kid: Option<&str>) -> Vec<Arc<SigningKey>> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned().into_iter().collect(),
            None => self.all.clone(),
        }
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Value>,
}

/// Checks OIDC bearer tokens against one provider; shared by every request.
pub struct OidcVerifier {
    config: OidcConfig,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// When keys were last fetched (or tried); held during a fetch, so concurrent
    /// tokens with a new `kid` cause one fetch.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.config.issuer_url)
            .finish_non_exhaustive()
    }
}

/// Whether `url` is https, or http to a loopback address (test providers).
fn check_url(what: &'static str, url: &str) -> Result<(), OidcError> {
    let insecure = || OidcError::InsecureUrl {
        what,
        url: url.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| insecure())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(insecure())
            }
        }
        _ => Err(insecure()),
    }
}

impl OidcVerifier {
    /// A verifier for `config`; keys are fetched on first use or by
    /// [`refresh_loop`](Self::refresh_loop), so a provider that is down does not stop
    /// the manager from starting (Fleet admin tokens keep working).
    pub fn new(config: OidcConfig) -> Result<Arc<OidcVerifier>, OidcError> {
        check_url("--oidc-issuer-url", &config.issuer_url)?;
        if config.client_id.trim().is_empty() {
            return Err(OidcError::NoClientId);
        }
        if config.admin_groups.is_empty() && config.readonly_groups.is_empty() {
            return Err(OidcError::NoGroups);
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("fleet-manager/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let shown = path.display().to_string();
            let pem = std::fs::read(path).map_err(|source| OidcError::CaFile {
                path: shown.clone(),
                source,
            })?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|source| OidcError::CaCert {
                    path: shown,
                    source,
                })?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(Arc::new(OidcVerifier {
            http: builder.build().map_err(OidcError::Client)?,
            config,
            keys: RwLock::new(Arc::new(KeySet::default())),
            last_fetch: tokio::sync::Mutex::new(None),
        }))
    }

    /// The configuration this verifier checks against.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// Authenticates a bearer token.
    ///
    /// Returns `Ok(None)` when the token is not shaped like a JWT (it may be a Fleet
    /// admin token: the caller checks those next), the caller when the token is valid
    /// and its groups map to a role.
    ///
    /// # Errors
    /// A [`TokenError`] saying why a JWT was refused; [`TokenError::is_forbidden`] for a
    /// valid token whose groups map to no role.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Caller>, TokenError> {
        let Some(header) = jwt_header(token) else {
            return Ok(None);
        };
        let alg = accepted_algorithm(&header.alg)
            .ok_or_else(|| TokenError::Algorithm(header.alg.clone()))?;
        let mut candidates = self.keys().candidates(header.kid.as_deref());
        if candidates.is_empty() {
            // A new kid after the provider rotated its keys, or keys never fetched yet.
            self.refresh(false).await;
            let keys = self.keys();
            if !keys.loaded {
                return Err(TokenError::KeysUnavailable);
            }
            candidates = keys.candidates(header.kid.as_deref());
        }
        if candidates.is_empty() {
            return Err(TokenError::UnknownKey(header.kid.unwrap_or_default()));
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.config.issuer_url]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        let mut last = TokenError::Signature;
        for key in candidates {
            if key.alg.is_some_and(|a| a != alg) {
                last = TokenError::Algorithm(header.alg.clone());
                continue;
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return self.caller(&data.claims).map(Some),
                Err(e) => last = self.token_error(e, &header.alg),
            }
        }
        Err(last)
    }

    fn token_error(&self, e: jsonwebtoken::errors::Error, alg: &str) -> TokenError {
        use jsonwebtoken::errors::ErrorKind;
        match e.into_kind() {
            ErrorKind::InvalidSignature => TokenError::Signature,
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::Issuer,
            ErrorKind::InvalidAudience => TokenError::Audience(self.config.client_id.clone()),
            ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c),
            // The key's type does not fit the alg (an RSA key for ES256, say).
            ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                TokenError::Algorithm(alg.to_string())
            }
            other => TokenError::Malformed(format!("{other:?}")),
        }
    }

    /// The caller named by verified claims.
    fn caller(&self, claims: &Map<String, Value>) -> Result<Caller, TokenError> {
        let c = &self.config;
        let user = claims
            .get(&c.username_claim)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| TokenError::MissingClaim(c.username_claim.clone()))?;
        // As kube-apiserver: an email is a user name only when the provider vouches
        // for it.
        if c.username_claim == "email"
            && claims.get("email_verified").and_then(Value::as_bool) == Some(false)
        {
            return Err(TokenError::EmailNotVerified);
        }
        let name = format!("{}{user}", c.username_prefix);
        let groups: Vec<&str> = match claims.get(&c.groups_claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => vec![one.as_str()],
            _ => Vec::new(),
        };
        let member = |mapped: &[String]| groups.iter().any(|g| mapped.iter().any(|m| m == g));
        let role = if member(&c.admin_groups) {
            Role::Admin
        } else if member(&c.readonly_groups) {
            Role::ReadOnly
        } else {
            return Err(TokenError::NoRole { user: name });
        };
        Ok(Caller { name, role })
    }

    fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Fetches the keys again, unless a fetch happened less than
    /// `min_refresh_interval` ago (`force` skips that limit). A failed fetch keeps the
    /// keys already known.
    async fn refresh(&self, force: bool) {
        let mut last = self.last_fetch.lock().await;
        if !force && last.is_some_and(|t| t.elapsed() < self.config.min_refresh_interval) {
            return;
        }
        *last = Some(Instant::now());
        match self.fetch_keys().await {
            Ok(set) => {
                tracing::info!(issuer = %self.config.issuer_url, keys = set.all.len(), "OIDC signing keys loaded");
                match self.keys.write() {
                    Ok(mut k) => *k = Arc::new(set),
                    Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
                }
            }
            Err(e) => {
                tracing::warn!(issuer = %self.config.issuer_url, error = %e, "cannot fetch the OIDC signing keys")
            }
        }
    }

    /// Fetches the keys now and then every `refresh_interval`; runs until aborted.
    pub async fn refresh_loop(self: Arc<Self>) {
        loop {
            self.refresh(true).await;
            tokio::time::sleep(self.config.refresh_interval).await;
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, OidcError> {
        let issuer = self.config.issuer_url.trim_end_matches('/');
        let discovery: Discovery = self
            .get_json(&format!("{issuer}/.well-known/openid-configuration"))
            .await?;
        if discovery.issuer.trim_end_matches('/') != issuer {
            return Err(OidcError::DiscoveryIssuer {
                expected: self.config.issuer_url.clone(),
                found: discovery.issuer,
            });
        }
        check_url("the provider's jwks_uri", &discovery.jwks_uri)?;
        let jwks: Jwks = self.get_json(&discovery.jwks_uri).await?;
        Ok(KeySet::from_jwks(&jwks.keys))
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let fail = |reason: String| OidcError::Fetch {
            url: url.to_string(),
            reason,
        };
        let mut resp = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(format!("{e}")))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(format!("{e}")))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(fail(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| fail(format!("not the expected JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn only_jwt_shaped_tokens_are_ours() {
        assert!(jwt_header("fleet-admin-abcdef").is_none());
        assert!(jwt_header("a.b").is_none());
        assert!(jwt_header(&format!("{}.e30.", b64("{}"))).is_none());
        let h = jwt_header(&format!("{}.e30.", b64(r#"{"alg":"none"}"#))).unwrap();
        assert_eq!((h.alg.as_str(), h.kid), ("none", None));
        assert!(jwt_header(&format!("{}.e30.x.y", b64(r#"{"alg":"RS256"}"#))).is_none());
    }

    #[test]
    fn symmetric_and_none_algorithms_are_refused() {
        for alg in ["none", "HS256", "HS512", "rs256", ""] {
            assert!(accepted_algorithm(alg).is_none(), "{alg}");
        }
        assert_eq!(accepted_algorithm("ES256"), Some(Algorithm::ES256));
    }

    #[test]
    fn issuer_urls_must_be_https_except_on_loopback() {
        assert!(check_url("x", "https://idp.example.com").is_ok());
        assert!(check_url("x", "http://127.0.0.1:5556/dex").is_ok());
        assert!(check_url("x", "http://localhost:5556").is_ok());
        assert!(check_url("x", "http://[::1]:5556").is_ok());
        assert!(check_url("x", "http://idp.example.com").is_err());
        assert!(check_url("x", "ftp://idp.example.com").is_err());
        assert!(check_url("x", "not a url").is_err());
    }

    #[test]
    fn symmetric_keys_in_a_jwks_are_never_loaded() {
        let set = KeySet::from_jwks(&[
            serde_json::json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "XYZ", "kid": "weird"}),
        ]);
        assert!(set.loaded && set.all.is_empty() && set.by_kid.is_empty());
    }

    fn verifier() -> Arc<OidcVerifier> {
        let mut c = OidcConfig::new("https://idp.example.com", "fleet");
        c.admin_groups = vec!["ops".into()];
        c.readonly_groups = vec!["dev".into()];
        OidcVerifier::new(c).unwrap()
    }

    #[test]
    fn groups_map_to_roles() {
        let v = verifier();
        let claims = |groups: Value| {
            serde_json::json!({"email": "a@example.com", "groups": groups})
                .as_object()
                .cloned()
                .unwrap()
        };
        let c = v
            .caller(&claims(serde_json::json!(["dev", "ops"])))
            .unwrap();
        assert_eq!(
            (c.name.as_str(), c.role),
            ("oidc:a@example.com", Role::Admin)
        );
        let c = v.caller(&claims(serde_json::json!("dev"))).unwrap();
        assert_eq!(c.role, Role::ReadOnly);
        let e = v.caller(&claims(serde_json::json!(["sales"]))).unwrap_err();
        assert!(e.is_forbidden(), "{e}");
        let mut unverified = claims(serde_json::json!(["ops"]));
        unverified.insert("email_verified".into(), Value::Bool(false));
        assert_eq!(v.caller(&unverified), Err(TokenError::EmailNotVerified));
        assert_eq!(
            v.caller(&Map::new()),
            Err(TokenError::MissingClaim("email".into()))
        );
    }

    #[test]
    fn configuration_mistakes_are_named() {
        let c = OidcConfig::new("http://idp.example.com", "fleet");
        assert!(matches!(
            OidcVerifier::new(c),
            Err(OidcError::InsecureUrl { .. })
        ));
        let c = OidcConfig::new("https://idp.example.com", " ");
        assert!(matches!(OidcVerifier::new(c), Err(OidcError::NoClientId)));
        let c = OidcConfig::new("https://idp.example.com", "fleet");
        assert!(matches!(OidcVerifier::new(c), Err(OidcError::NoGroups)));
    }
}
