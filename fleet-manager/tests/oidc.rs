//! OIDC bearer tokens against a tiny OIDC provider served by the test itself (discovery
//! and JWKS over axum, RS256 keys from `tests/fixtures/oidc`, ES256 keys generated here):
//! groups to roles, the audit log naming the OIDC user, every kind of bad token refused
//! with 401 and its reason, and key rotation picked up on an unknown `kid`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing;
use axum::{Json, Router};
use base64::Engine;
use fleet_manager::auth::oidc::OidcConfig;
use fleet_manager::server::{self, Running, ServeOptions};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use rustls_pki_types::pem::PemObject;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "test-admin-token-oidc-0123456789";
const AUDIENCE: &str = "fleet-manager";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key of the test provider and its public JWK.
#[derive(Clone)]
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl TestKey {
    fn rsa(fixture: &str, kid: &str) -> TestKey {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc");
        let der =
            rustls_pki_types::PrivatePkcs1KeyDer::from_pem_file(dir.join(format!("{fixture}.pem")))
                .expect("fixture key");
        let mut jwk: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{fixture}.jwk.json"))).expect("fixture jwk"),
        )
        .expect("jwk json");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!("RS256");
        TestKey {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_der(der.secret_pkcs1_der()),
            jwk,
        }
    }

    fn ec(kid: &str) -> TestKey {
        let key = rcgen::KeyPair::generate().expect("P-256 key");
        let raw = key.public_key_raw();
        assert_eq!(raw.len(), 65, "uncompressed P-256 point");
        TestKey {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(&key.serialize_der()),
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                        "x": b64(&raw[1..33]), "y": b64(&raw[33..65])}),
        }
    }

    /// A token signed with this key (header `kid` as given).
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

/// The OIDC provider: discovery and a JWKS that the test can change.
struct Provider {
    issuer: String,
    keys: Arc<Mutex<Vec<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl Provider {
    async fn start(keys: &[&TestKey]) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!(
            "http://127.0.0.1:{}/realms/test",
            listener.local_addr().expect("addr").port()
        );
        let jwks: Arc<Mutex<Vec<Value>>> =
            Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        });
        let (served, counted) = (jwks.clone(), fetches.clone());
        let app = Router::new()
            .route(
                "/realms/test/.well-known/openid-configuration",
                routing::get(move || {
                    let d = discovery.clone();
                    async move { Json(d) }
                }),
            )
            .route(
                "/realms/test/protocol/openid-connect/certs",
                routing::get(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let keys = served.lock().expect("keys").clone();
                    async move { Json(json!({ "keys": keys })) }
                }),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Provider {
            issuer,
            keys: jwks,
            jwks_fetches: fetches,
            _task: task,
        }
    }

    fn serve_keys(&self, keys: &[&TestKey]) {
        *self.keys.lock().expect("keys") = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a valid token for `email` in `groups`.
    fn claims(&self, email: &str, groups: &[&str]) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": format!("sub-{email}"),
            "email": email,
            "email_verified": true,
            "groups": groups,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
        })
    }
}

async fn start_manager(provider: &Provider, min_refresh: Duration) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().to_path_buf(),
    );
    opts.admin_token = Some(ADMIN_TOKEN.into());
    let mut oidc = OidcConfig::new(&provider.issuer, AUDIENCE);
    oidc.admin_groups = vec!["fleet-admins".into()];
    oidc.readonly_groups = vec!["fleet-viewers".into()];
    oidc.min_refresh_interval = min_refresh;
    opts.oidc = Some(oidc);
    (server::start(opts).await.expect("manager starts"), dir)
}

/// `(status, body)` of a call with `token`.
async fn call(
    mgr: &Running,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://{}{path}", mgr.addr))
        .bearer_auth(token)
        .timeout(Duration::from_secs(30));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(mgr: &Running, path: &str, token: &str) -> (StatusCode, Value) {
    call(mgr, reqwest::Method::GET, path, token, None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_map_to_roles_and_mutations_are_audited_with_the_oidc_name() {
    let rsa = TestKey::rsa("rsa-1", "rsa-1");
    let ec = TestKey::ec("ec-1");
    let provider = Provider::start(&[&rsa, &ec]).await;
    let (mgr, _dir) = start_manager(&provider, Duration::from_secs(10)).await;

    // An admin (RS256) may mutate; the audit log names the OIDC user.
    let alice = rsa.sign(&provider.claims("alice@example.com", &["dev", "fleet-admins"]));
    let (s, v) = call(
        &mgr,
        reqwest::Method::POST,
        "/api/v1/admintokens",
        &alice,
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = call(
        &mgr,
        reqwest::Method::POST,
        "/api/v1/tokens",
        &alice,
        Some(json!({"ttl": "1h"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, audit) = get(&mgr, "/api/v1/audit", ADMIN_TOKEN).await;
    assert_eq!(s, StatusCode::OK);
    let entries = audit["items"].as_array().expect("items");
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "oidc:alice@example.com" && e["action"] == "create-admin-token"),
        "{audit}"
    );

    // A read-only member (ES256) reads the admin and dashboard APIs, and may not mutate.
    let bob = ec.sign(&provider.claims("bob@example.com", &["fleet-viewers"]));
    assert_eq!(get(&mgr, "/api/v1/clusters", &bob).await.0, StatusCode::OK);
    assert_eq!(
        get(&mgr, "/api/v1/dashboard/overview", &bob).await.0,
        StatusCode::OK
    );
    let (s, v) = call(
        &mgr,
        reqwest::Method::POST,
        "/api/v1/tokens",
        &bob,
        Some(json!({"ttl": "1h"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("oidc:bob@example.com"),
        "{v}"
    );

    // A valid token whose groups map to no role: 403, on the admin and dashboard APIs.
    let carol = rsa.sign(&provider.claims("carol@example.com", &["sales"]));
    for path in ["/api/v1/clusters", "/api/v1/dashboard/overview"] {
        let (s, v) = get(&mgr, path, &carol).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
    }

    // Fleet admin tokens keep working beside OIDC, and an unknown one is still a 401.
    assert_eq!(
        get(&mgr, "/api/v1/clusters", ADMIN_TOKEN).await.0,
        StatusCode::OK
    );
    let (s, v) = get(&mgr, "/api/v1/clusters", "fleet-admin-not-a-real-token").await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_401_with_their_reason() {
    let rsa = TestKey::rsa("rsa-1", "rsa-1");
    let other = TestKey::rsa("rsa-2", "rsa-2");
    let provider = Provider::start(&[&rsa]).await;
    let (mgr, _dir) = start_manager(&provider, Duration::from_secs(60)).await;
    let good = provider.claims("alice@example.com", &["fleet-admins"]);
    assert_eq!(
        get(&mgr, "/api/v1/clusters", &rsa.sign(&good)).await.0,
        StatusCode::OK
    );

    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let now = chrono::Utc::now().timestamp();
    let header_none = b64(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#);
    let payload = b64(good.to_string().as_bytes());
    let hs256 = jsonwebtoken::encode(
        &Header {
            kid: Some("rsa-1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &good,
        &EncodingKey::from_secret(b"the public key is no secret"),
    )
    .expect("hs256");
    let mut no_email = good.clone();
    no_email.as_object_mut().expect("object").remove("email");
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong audience",
            rsa.sign(&with("aud", json!("someone-else"))),
            "aud",
        ),
        (
            "wrong issuer",
            rsa.sign(&with("iss", json!("https://evil.example.com"))),
            "issuer",
        ),
        (
            "expired",
            rsa.sign(&with("exp", json!(now - 3600))),
            "expired",
        ),
        (
            "not yet valid",
            rsa.sign(&with("nbf", json!(now + 3600))),
            "nbf",
        ),
        ("bad signature", other.sign_as("rsa-1", &good), "signature"),
        ("unknown kid", other.sign(&good), "kid"),
        ("alg none", format!("{header_none}.{payload}."), "none"),
        ("HS256 with a guessable secret", hs256, "HS256"),
        ("no user name", rsa.sign(&no_email), "email"),
        (
            "unverified email",
            rsa.sign(&with("email_verified", json!(false))),
            "verified",
        ),
    ];
    for (what, token, reason) in &cases {
        for path in ["/api/v1/clusters", "/api/v1/dashboard/overview"] {
            let (s, v) = get(&mgr, path, token).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{what} on {path}: {v}");
            let message = v["message"].as_str().unwrap_or_default();
            assert!(message.contains(reason), "{what}: {v}");
            assert!(
                !v.to_string().contains(token.as_str()),
                "{what}: the token is echoed"
            );
        }
    }

    // A flood of unknown kids does not turn into a flood of JWKS fetches.
    let before = provider.fetches();
    for i in 0..20 {
        let token = other.sign_as(&format!("forged-{i}"), &good);
        assert_eq!(
            get(&mgr, "/api/v1/clusters", &token).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(
        provider.fetches() <= before + 1,
        "{} fetches",
        provider.fetches() - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_are_fetched_on_an_unknown_kid_and_retired_ones_stop_working() {
    let old = TestKey::rsa("rsa-1", "2025-key");
    let new = TestKey::rsa("rsa-2", "2026-key");
    let provider = Provider::start(&[&old]).await;
    let (mgr, _dir) = start_manager(&provider, Duration::from_millis(300)).await;
    let claims = provider.claims("alice@example.com", &["fleet-admins"]);
    assert_eq!(
        get(&mgr, "/api/v1/clusters", &old.sign(&claims)).await.0,
        StatusCode::OK
    );

    // The provider rotates: the new key replaces the old one.
    provider.serve_keys(&[&new]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (s, v) = get(&mgr, "/api/v1/clusters", &new.sign(&claims)).await;
    assert_eq!(s, StatusCode::OK, "new key after rotation: {v}");
    let (s, v) = get(&mgr, "/api/v1/clusters", &old.sign(&claims)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "retired key: {v}");
}
