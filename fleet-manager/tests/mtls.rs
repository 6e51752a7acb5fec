//! mTLS for agents (`--client-ca`), with certificates generated here: an agent needs a
//! client certificate from the client CA that names its cluster, at registration and on
//! every call; no certificate, one from another CA, or another cluster's certificate
//! with a stolen credential get nothing. The admin API keeps working on tokens alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fleet_manager::server::{self, Running, ServeOptions, ServerError};
use fleet_manager::tls::ClientCertMode;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "test-admin-token-mtls-0123456789";

/// A CA that signs certificates.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("ca");
        Ca { cert, key }
    }

    /// `(certificate PEM, key PEM)` of a leaf with subject `CN=cn[, O=org]` and `dns` SANs.
    fn leaf(&self, cn: &str, org: Option<&str>, dns: &[&str], client: bool) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(o) = org {
            params.distinguished_name.push(DnType::OrganizationName, o);
        }
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("leaf");
        (cert.pem(), key.serialize_pem())
    }
}

/// The PKI of a test: the server's CA and certificate, the agents' CA and a CA nobody
/// trusts.
struct Pki {
    dir: tempfile::TempDir,
    server_ca: Ca,
    agents_ca: Ca,
    rogue_ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::tempdir().expect("tempdir"),
            server_ca: Ca::new("server CA"),
            agents_ca: Ca::new("agents CA"),
            rogue_ca: Ca::new("rogue CA"),
        };
        let (cert, key) = pki.server_ca.leaf("localhost", None, &["localhost"], false);
        pki.write("tls.crt", &cert);
        pki.write("tls.key", &key);
        pki.write("agents-ca.pem", &pki.agents_ca.cert.pem());
        pki
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    async fn start(&self, mode: ClientCertMode) -> Running {
        let mut opts = ServeOptions::new(
            "127.0.0.1:0".parse().expect("addr"),
            self.dir.path().join(format!("data-{}", mode.as_str())),
        );
        opts.admin_token = Some(ADMIN_TOKEN.into());
        opts.tls_cert = Some(self.path("tls.crt"));
        opts.tls_key = Some(self.path("tls.key"));
        opts.client_ca = Some(self.path("agents-ca.pem"));
        opts.client_cert_mode = mode;
        server::start(opts).await.expect("manager starts with mTLS")
    }

    /// An HTTPS client of `mgr` trusting the server CA, presenting `identity` if given.
    fn client(&self, mgr: &Running, identity: Option<&(String, String)>) -> Client {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.server_ca.cert.pem().as_bytes()).expect("ca"),
            )
            .resolve("localhost", mgr.addr)
            .timeout(Duration::from_secs(20));
        if let Some((cert, key)) = identity {
            builder = builder.identity(
                reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).expect("identity"),
            );
        }
        Client {
            http: builder.build().expect("client"),
            base: format!("https://localhost:{}", mgr.addr.port()),
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(method, path, token, body)
            .await
            .unwrap_or_else(|e| panic!("{path}: {e:?}"))
    }

    async fn register(&self, token: &str, name: &str) -> (StatusCode, Value) {
        self.ok(
            reqwest::Method::POST,
            "/agent/v1/register",
            token,
            Some(json!({"clusterName": name, "agentVersion": "test"})),
        )
        .await
    }

    async fn desired(&self, credential: &str) -> (StatusCode, Value) {
        self.ok(reqwest::Method::GET, "/agent/v1/desired", credential, None)
            .await
    }

    async fn report(&self, credential: &str) -> (StatusCode, Value) {
        self.ok(
            reqwest::Method::POST,
            "/agent/v1/status",
            credential,
            Some(json!({"agentVersion": "test", "bundles": []})),
        )
        .await
    }
}

/// A registration token from the admin API (over TLS, without a client certificate).
async fn registration_token(admin: &Client, max_uses: i64) -> String {
    let (s, v) = admin
        .ok(
            reqwest::Method::POST,
            "/api/v1/tokens",
            ADMIN_TOKEN,
            Some(json!({"ttl": "1h", "maxUses": max_uses})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["token"].as_str().expect("token").to_string()
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_need_a_certificate_naming_their_cluster() {
    let pki = Pki::new();
    let mgr = pki.start(ClientCertMode::Required).await;
    let cert_a = pki.agents_ca.leaf("edge-a", None, &[], true);
    let cert_b = pki.agents_ca.leaf("edge-b", None, &["edge-b"], true);
    let rogue_a = pki.rogue_ca.leaf("edge-a", None, &[], true);
    let (admin, none) = (pki.client(&mgr, None), pki.client(&mgr, None));
    let (agent_a, agent_b) = (
        pki.client(&mgr, Some(&cert_a)),
        pki.client(&mgr, Some(&cert_b)),
    );

    // No certificate: refused before the registration token is looked at.
    let token = registration_token(&admin, 1).await;
    let (s, v) = none.register(&token, "edge-a").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNAUTHORIZED, "client_certificate_required"),
        "{v}"
    );
    // Another cluster's name: 403, and the single-use token is not spent.
    let (s, v) = agent_a.register(&token, "edge-b").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "client_certificate_mismatch"),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CN=edge-a"),
        "{v}"
    );
    // No name: the certificate's.
    let (s, v) = agent_a.register(&token, "").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["clusterName"], "edge-a");
    let cred_a = v["credential"].as_str().expect("credential").to_string();
    let token = registration_token(&admin, 1).await;
    let (s, v) = agent_b.register(&token, "edge-b").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let cred_b = v["credential"].as_str().expect("credential").to_string();

    // The agent API with the right certificate and credential.
    assert_eq!(agent_a.desired(&cred_a).await.0, StatusCode::OK);
    assert_eq!(agent_a.report(&cred_a).await.0, StatusCode::NO_CONTENT);
    assert_eq!(agent_b.desired(&cred_b).await.0, StatusCode::OK);

    // A stolen credential alone is not enough ...
    let (s, v) = none.desired(&cred_a).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::UNAUTHORIZED, "client_certificate_required"),
        "{v}"
    );
    // ... nor with another cluster's certificate, to read or to write.
    let (s, v) = agent_b.desired(&cred_a).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "client_certificate_mismatch"),
        "{v}"
    );
    let (s, v) = agent_b.report(&cred_a).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "client_certificate_mismatch"),
        "{v}"
    );
    let (s, _) = agent_b
        .ok(
            reqwest::Method::GET,
            &format!("/agent/v1/content/{}", "0".repeat(64)),
            &cred_a,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A certificate pinned to another workspace by O= does not serve fleet-default.
    let pinned_a = pki.agents_ca.leaf("edge-a", Some("team-x"), &[], true);
    let (s, v) = pki.client(&mgr, Some(&pinned_a)).desired(&cred_a).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "client_certificate_mismatch"),
        "{v}"
    );
    let pinned_a = pki
        .agents_ca
        .leaf("edge-a", Some("fleet-default"), &[], true);
    assert_eq!(
        pki.client(&mgr, Some(&pinned_a)).desired(&cred_a).await.0,
        StatusCode::OK
    );

    // A certificate from another CA fails the TLS handshake, whatever the endpoint.
    let rogue = pki.client(&mgr, Some(&rogue_a));
    let err = rogue
        .call(reqwest::Method::GET, "/agent/v1/desired", &cred_a, None)
        .await
        .expect_err("a rogue certificate is refused");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    assert!(rogue
        .call(reqwest::Method::GET, "/api/v1/clusters", ADMIN_TOKEN, None)
        .await
        .is_err());

    // The admin API and the dashboard need no client certificate.
    let (s, v) = admin
        .ok(reqwest::Method::GET, "/api/v1/clusters", ADMIN_TOKEN, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        admin.ok(reqwest::Method::GET, "/healthz", "", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_mode_serves_agents_without_a_certificate_but_checks_one_that_is_sent() {
    let pki = Pki::new();
    let mgr = pki.start(ClientCertMode::Optional).await;
    let (admin, none) = (pki.client(&mgr, None), pki.client(&mgr, None));
    let token = registration_token(&admin, 0).await;
    let (s, v) = none.register(&token, "legacy").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let legacy = v["credential"].as_str().expect("credential").to_string();
    assert_eq!(none.desired(&legacy).await.0, StatusCode::OK);
    let other = pki.client(&mgr, Some(&pki.agents_ca.leaf("edge-z", None, &[], true)));
    let (s, v) = other.desired(&legacy).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, "client_certificate_mismatch"),
        "{v}"
    );
}

#[tokio::test]
async fn client_ca_mistakes_are_named_at_start() {
    let pki = Pki::new();
    let dir = |name: &str| pki.dir.path().join(name);
    let mut opts = ServeOptions::new("127.0.0.1:0".parse().expect("addr"), dir("d1"));
    opts.admin_token = Some(ADMIN_TOKEN.into());
    opts.client_ca = Some(pki.path("agents-ca.pem"));
    assert!(matches!(
        server::start(opts.clone()).await.err(),
        Some(ServerError::ClientCaWithoutTls)
    ));
    opts.tls_cert = Some(pki.path("tls.crt"));
    opts.tls_key = Some(pki.path("tls.key"));
    let garbage: &Path = &pki.write("garbage.pem", "not a certificate\n");
    opts.client_ca = Some(garbage.to_path_buf());
    let err = server::start(opts).await.err().expect("refused");
    assert!(err.to_string().contains("garbage.pem"), "{err}");
}
