//! The agent against a real manager that requires client certificates (`--client-ca`):
//! with a certificate naming its cluster it registers, pulls a bundle pushed to Git,
//! applies it to the Kubernetes API double and reports it Ready, all over mTLS; with a
//! certificate from another CA it never gets in.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fleet_agent::client::{ClientError, ClientTls, ManagerClient};
use fleet_bundle::deployment::RegisterRequest;
use fleet_manager::server::{self, Running, ServeOptions};
use fleet_manager::tls::ClientCertMode;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use serde_json::{json, Value};
use support::{eventually, World};

const ADMIN_TOKEN: &str = "test-admin-token-agent-mtls-0123";
const LIMIT: Duration = Duration::from_secs(60);

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// Writes a leaf for `cn` (client or server) as `<file>.crt` and `<file>.key` in `dir`.
    fn leaf(&self, dir: &Path, file: &str, cn: &str, client: bool) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![cn.to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (c, k) = (
            dir.join(format!("{file}.crt")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.cert.pem()).unwrap();
        path.to_path_buf()
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare repository holding one bundle (`web`, a ConfigMap), as a `file://` URL.
fn repository(root: &Path) -> String {
    let bare = root.join("apps.git");
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(root, &["init", "-q", "--bare", "-b", "main", "apps.git"]);
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(work.join("web")).unwrap();
    std::fs::write(work.join("web/fleet.yaml"), "defaultNamespace: web\n").unwrap();
    std::fs::write(
        work.join("web/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: over-mtls\n",
    )
    .unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "-c",
            "user.email=t@example.org",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "-m",
            "web",
        ],
    );
    git(
        &work,
        &["push", "-q", bare.to_str().unwrap(), "main:refs/heads/main"],
    );
    format!("file://{}", bare.display())
}

/// A manager serving HTTPS for `localhost` that requires agents' client certificates.
async fn manager(dir: &Path, server_ca: &Ca, agents_ca: &Ca) -> Running {
    let (cert, key) = server_ca.leaf(dir, "manager", "localhost", false);
    let mut opts = ServeOptions::new("127.0.0.1:0".parse().unwrap(), dir.join("data"));
    opts.admin_token = Some(ADMIN_TOKEN.into());
    opts.tls_cert = Some(cert);
    opts.tls_key = Some(key);
    opts.client_ca = Some(agents_ca.write(&dir.join("agents-ca.pem")));
    opts.client_cert_mode = ClientCertMode::Required;
    opts.reload_interval = Duration::from_millis(200);
    opts.leader_retry = Duration::from_millis(300);
    server::start(opts).await.unwrap()
}

/// The admin API over TLS (no client certificate needed there).
struct Admin {
    http: reqwest::Client,
    base: String,
}

impl Admin {
    fn new(mgr: &Running, server_ca: &Ca) -> Admin {
        Admin {
            http: reqwest::Client::builder()
                .add_root_certificate(
                    reqwest::Certificate::from_pem(server_ca.cert.pem().as_bytes()).unwrap(),
                )
                .resolve("localhost", mgr.addr)
                .build()
                .unwrap(),
            base: format!("https://localhost:{}", mgr.addr.port()),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<String>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_with_a_client_certificate_deploys_over_mtls_and_a_rogue_one_never_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, agents_ca, rogue_ca) = (
        Ca::new("server CA"),
        Ca::new("agents CA"),
        Ca::new("rogue CA"),
    );
    let mgr = manager(dir.path(), &server_ca, &agents_ca).await;
    let admin = Admin::new(&mgr, &server_ca);
    let repo = repository(dir.path());
    admin
        .call(
            reqwest::Method::POST,
            "/api/v1/apply",
            Some(format!(
                "apiVersion: fleet.cattle.io/v1alpha1\nkind: GitRepo\nmetadata:\n  name: apps\n  namespace: fleet-default\nspec:\n  repo: {repo}\n  branch: main\n  pollingInterval: 1s\n"
            )),
        )
        .await;
    let token = admin
        .call(
            reqwest::Method::POST,
            "/api/v1/tokens",
            Some(json!({"ttl": "1h"}).to_string()),
        )
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let server_ca_file = server_ca.write(&dir.path().join("server-ca.pem"));

    // The agent of c1 with c1's certificate.
    let mut world = World::start().await;
    let (cert, key) = agents_ca.leaf(dir.path(), "c1", "c1", true);
    let mut config = world.config();
    config.manager_url = format!("https://localhost:{}", mgr.addr.port());
    config.registration_token = token.clone();
    config.ca_file = Some(server_ca_file.clone());
    config.client_cert = Some(cert);
    config.client_key = Some(key);
    // `localhost` resolves to the loopback address the manager listens on.
    world.start_agent(config).await;

    let cm = eventually("web-config applied through the agent", LIMIT, || async {
        world
            .get("v1", "ConfigMap", "web", "web-config")
            .await
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(cm["data"]["greeting"], "over-mtls");
    eventually("apps-web Ready on c1 at the manager", LIMIT, || async {
        let v = admin
            .call(
                reqwest::Method::GET,
                "/api/v1/bundles/fleet-default/apps-web",
                None,
            )
            .await;
        let clusters = &v["status"]["clusters"];
        if clusters[0]["cluster"] == "c1" && clusters[0]["state"] == "Ready" {
            Ok(())
        } else {
            Err(clusters.to_string())
        }
    })
    .await;
    world.kill_agent().await;

    // Another agent with a certificate for c2 from a CA the manager does not trust.
    let mut rogue_world = World::start().await;
    let (cert, key) = rogue_ca.leaf(dir.path(), "c2", "c2", true);
    let mut config = rogue_world.config();
    config.manager_url = format!("https://localhost:{}", mgr.addr.port());
    config.registration_token = token;
    config.cluster_name = "c2".into();
    config.ca_file = Some(server_ca_file);
    config.client_cert = Some(cert);
    config.client_key = Some(key);
    rogue_world.start_agent(config).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let clusters = admin
        .call(reqwest::Method::GET, "/api/v1/clusters", None)
        .await;
    let names: Vec<&str> = clusters["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["c1"], "{clusters}");
    rogue_world.kill_agent().await;

    // What an operator reads in the agent's log in either case.
    let url = format!("https://localhost:{}", mgr.addr.port());
    let request = RegisterRequest {
        cluster_name: "c3".into(),
        ..RegisterRequest::default()
    };
    let server_ca_file = dir.path().join("server-ca.pem");
    let (rogue_cert, rogue_key) = rogue_ca.leaf(dir.path(), "c3-rogue", "c3", true);
    let rogue = ManagerClient::with_tls(
        &url,
        &ClientTls {
            ca_file: Some(server_ca_file.clone()),
            client_cert: Some(rogue_cert),
            client_key: Some(rogue_key),
        },
    )
    .unwrap();
    let err = rogue.register("any", &request).await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("UnknownCA") || text.contains("certificate") || text.contains("alert"),
        "the TLS reason is shown: {text}"
    );
    let anonymous = ManagerClient::with_tls(
        &url,
        &ClientTls {
            ca_file: Some(server_ca_file),
            ..ClientTls::default()
        },
    )
    .unwrap();
    let err = anonymous.register("any", &request).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Rejected { status: 401, code, .. } if code == "client_certificate_required"),
        "{err}"
    );
    assert!(err.to_string().contains("--client-cert"), "{err}");
}
