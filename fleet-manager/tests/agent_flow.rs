//! Push a commit to a real `git daemon` → bundles → per-cluster desired state over the
//! real agent API; label changes retarget; a failing bundle does not block the others
//! and keeps its previous content; agents only see what they are targeted with.

mod support;

use fleet_bundle::deployment::BundleState;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;
use test_servers::GitDaemon;

const PROD_ONLY: &str = "targetCustomizations:\n- name: not-prod\n  clusterSelector:\n    matchExpressions:\n    - {key: env, operator: NotIn, values: [prod]}\n  doNotDeploy: true\n";

fn seed(repo: &WorkRepo) -> String {
    repo.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"))
        .write("db/fleet.yaml", "defaultNamespace: db\n")
        .write("db/cm.yaml", &configmap("db", "v1"))
        .write("prodonly/fleet.yaml", PROD_ONLY)
        .write("prodonly/cm.yaml", &configmap("prod", "v1"))
        .commit_and_push("first")
}

/// The setup several tests share: a `git daemon` serving the seeded repository, a
/// manager with a GitRepo for it, and one registered agent.
struct Seeded {
    work: WorkRepo,
    mgr: fleet_manager::server::Running,
    api: Api,
    agent: Agent,
    _daemon: GitDaemon,
    _dir: tempfile::TempDir,
}

/// Waits until `agent`'s desired state holds `n` bundles.
async fn until_bundles(agent: &Agent, n: usize) {
    eventually(30, "bundles on the agent", || async {
        match agent.bundles().await.len() {
            got if got == n => Ok(()),
            got => Err(format!("{got} bundles")),
        }
    })
    .await;
}

async fn seeded(cluster: &str, labels: serde_json::Value) -> Seeded {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8 path"));
    seed(&work);
    let (mgr, dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    api.apply(&gitrepo("apps", "fleet-default", &url, "")).await;
    let agent = api.register("fleet-default", cluster, labels).await;
    Seeded {
        work,
        mgr,
        api,
        agent,
        _daemon: daemon,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_desired_state_and_retargeting() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8 path"));
    let commit = seed(&work);
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    api.apply(&gitrepo("apps", "fleet-default", &url, "")).await;
    let prod = api
        .register("fleet-default", "prod-1", json!({"env": "prod"}))
        .await;
    let dev = api
        .register("fleet-default", "dev-1", json!({"env": "dev"}))
        .await;

    let want_prod = vec![
        "apps-db".to_string(),
        "apps-prodonly".into(),
        "apps-web".into(),
    ];
    eventually(30, "bundles on prod-1", || async {
        let b = prod.bundles().await;
        if b == want_prod {
            Ok(())
        } else {
            Err(format!("{b:?}"))
        }
    })
    .await;
    assert_eq!(
        dev.bundles().await,
        vec!["apps-db".to_string(), "apps-web".into()]
    );
    let state = prod.state().await;
    assert_eq!(state.cluster_name, "prod-1");
    assert_eq!(
        state.cluster_labels.get("env").map(String::as_str),
        Some("prod")
    );
    assert!(state.deployments.iter().all(|d| d.commit == commit));

    // Content by digest: the cluster's own is served and matches its sha256; content it
    // is not targeted with is not, even with a valid credential.
    let prod_only = state
        .deployments
        .iter()
        .find(|d| d.bundle == "apps-prodonly")
        .expect("prodonly")
        .clone();
    let (s, bytes) = prod.content(&prod_only.content_digest).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        fleet_bundle::digest::sha256_hex(&bytes),
        prod_only.content_digest
    );
    let content: fleet_bundle::deployment::BundleContent =
        serde_json::from_slice(&bytes).expect("content json");
    assert!(content
        .resources
        .iter()
        .any(|r| r.content.contains("name: prod")));
    assert_eq!(
        dev.content(&prod_only.content_digest).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(dev.content("nothex").await.0, StatusCode::BAD_REQUEST);

    // ETags: unchanged state is a 304; a long poll wakes on a label change.
    let (s, etag, _) = dev.desired(None, 0).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        dev.desired(Some(&etag), 0).await.0,
        StatusCode::NOT_MODIFIED
    );
    let waiting = {
        let dev = dev.clone();
        let etag = etag.clone();
        tokio::spawn(async move { dev.desired(Some(&etag), 20).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    api.post(
        "/api/v1/clusters/fleet-default/dev-1/labels",
        json!({"set": {"env": "prod"}}),
    )
    .await;
    let (s, new_etag, body) = waiting.await.expect("long poll");
    assert_eq!(
        s,
        StatusCode::OK,
        "the long poll answers with the new state"
    );
    assert_ne!(new_etag, etag);
    let mut names: Vec<String> = body
        .expect("body")
        .deployments
        .into_iter()
        .map(|d| d.bundle)
        .collect();
    names.sort();
    assert_eq!(names, want_prod);
    // And back.
    api.post(
        "/api/v1/clusters/fleet-default/dev-1/labels",
        json!({"remove": ["env"]}),
    )
    .await;
    assert_eq!(
        dev.bundles().await,
        vec!["apps-db".to_string(), "apps-web".into()]
    );

    // Status reports roll up per bundle and per cluster.
    assert_eq!(
        prod.report_all(BundleState::Ready).await,
        StatusCode::NO_CONTENT
    );
    let c = api.get("/api/v1/clusters/fleet-default/prod-1").await;
    assert_eq!(c["state"], "Ready", "{c}");
    assert_eq!(c["summary"]["ready"], 3);
    let bundles = api
        .get("/api/v1/bundles?namespace=fleet-default&name=apps-web")
        .await;
    assert_eq!(
        bundles["items"][0]["summary"]["desiredReady"], 2,
        "{bundles}"
    );
    assert_eq!(bundles["items"][0]["summary"]["ready"], 1);
    assert_eq!(bundles["items"][0]["summary"]["waitApplied"], 1);

    // Metrics and probes.
    let http = reqwest::Client::new();
    let metrics = http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("fleet_desired_state_answers_total{code=\"304\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fleet_bundle_deployments{state=\"Ready\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("fleet_manager_leader 1"), "{metrics}");
    for probe in ["/healthz", "/readyz"] {
        let s = http
            .get(format!("{}{probe}", api.base))
            .send()
            .await
            .expect("probe")
            .status();
        assert_eq!(s, StatusCode::OK, "{probe}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_bundle_keeps_previous_content_and_others_go_out() {
    // Bound by reference: the daemon and the manager live as long as `fleet`.
    let fleet = seeded("c1", json!({"env": "prod"})).await;
    let Seeded {
        work, api, agent, ..
    } = &fleet;
    let first = eventually(30, "first commit deployed", || async {
        let s = agent.state().await;
        if s.deployments.len() == 3 {
            Ok(s)
        } else {
            Err(format!("{:?}", s.deployments.len()))
        }
    })
    .await;
    let digest_of = |s: &fleet_bundle::deployment::DesiredState, b: &str| {
        s.deployments
            .iter()
            .find(|d| d.bundle == b)
            .map(|d| d.content_digest.clone())
            .unwrap_or_default()
    };

    // Break db's fleet.yaml and change web in the same commit.
    work.write("db/fleet.yaml", "helm: [this is not a mapping\n")
        .write("web/cm.yaml", &configmap("web", "v2"));
    let second = work.commit_and_push("second");
    let after = eventually(30, "web at the second commit", || async {
        let s = agent.state().await;
        let web = s
            .deployments
            .iter()
            .find(|d| d.bundle == "apps-web")
            .map(|d| d.commit.clone());
        if web.as_deref() == Some(second.as_str()) {
            Ok(s)
        } else {
            Err(format!("{web:?}"))
        }
    })
    .await;
    assert_ne!(digest_of(&after, "apps-web"), digest_of(&first, "apps-web"));
    assert_eq!(
        digest_of(&after, "apps-db"),
        digest_of(&first, "apps-db"),
        "db keeps its previous good content"
    );
    let repo = api.get("/api/v1/gitrepos/fleet-default/apps").await;
    let errors = repo["status"]["bundleErrors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(errors.len(), 1, "{repo}");
    assert!(
        errors[0].as_str().unwrap_or_default().contains("db"),
        "{repo}"
    );
    let bundles = api.get("/api/v1/bundles?name=apps-db").await;
    assert!(!bundles["items"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    assert_eq!(bundles["items"][0]["state"], "ErrApplied");

    // A report for the old deploymentID arriving late does not overwrite the new one.
    let web_now = after
        .deployments
        .iter()
        .find(|d| d.bundle == "apps-web")
        .expect("web")
        .clone();
    let web_old = first
        .deployments
        .iter()
        .find(|d| d.bundle == "apps-web")
        .expect("web")
        .clone();
    agent
        .report(vec![agent.entry(
            "apps-web",
            &web_now.deployment_id,
            BundleState::Ready,
        )])
        .await;
    agent
        .report(vec![agent.entry(
            "apps-web",
            &web_old.deployment_id,
            BundleState::ErrApplied,
        )])
        .await;
    let c = api.get("/api/v1/clusters/fleet-default/c1").await;
    let web_state = c["bundles"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["bundle"] == "apps-web")
        .cloned()
        .unwrap_or_default();
    assert_eq!(web_state["state"], "Ready", "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_tokens_are_enforced() {
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let http = reqwest::Client::new();
    let base = api.base.clone();

    // Admin API: missing or wrong tokens are 401 with a JSON reason.
    let (s, v) = api
        .with_token("wrong")
        .raw(Method::GET, "/api/v1/clusters", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["code"], "invalid_token");
    let s = http
        .get(format!("{base}/api/v1/gitrepos"))
        .send()
        .await
        .expect("get")
        .status();
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Agent API: wrong credential → 401 unknown_credential (the agent re-registers).
    let agent = api.register("fleet-default", "c1", json!({})).await;
    let mut forged = agent.clone();
    forged.credential = "fleet-agent-forged".into();
    let (s, _, _) = forged.desired(None, 0).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A cluster credential is not an admin token, and an admin token is not a credential.
    let (s, _) = api
        .with_token(&agent.credential)
        .raw(Method::GET, "/api/v1/clusters", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let mut as_admin = agent.clone();
    as_admin.credential = ADMIN_TOKEN.into();
    assert_eq!(as_admin.desired(None, 0).await.0, StatusCode::UNAUTHORIZED);

    // Registration tokens: unknown → 401; used up → 401; expired → 401.
    let reg = |token: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/agent/v1/register"))
                .bearer_auth(token)
                .json(&json!({"clusterName": "x1"}))
                .send()
                .await
                .expect("register")
                .status()
        }
    };
    assert_eq!(reg("fleet-reg-nope".into()).await, StatusCode::UNAUTHORIZED);
    let once = api
        .post("/api/v1/tokens", json!({"ttl": "1h", "maxUses": 1}))
        .await;
    let once = once["token"].as_str().expect("token").to_string();
    assert_eq!(reg(once.clone()).await, StatusCode::CREATED);
    assert_eq!(reg(once).await, StatusCode::UNAUTHORIZED);
    let (s, v) = api
        .raw(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"ttl": "soon"}).to_string()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Rotation: the old credential stops working, the new one works.
    let rotated = api
        .post("/api/v1/clusters/fleet-default/c1/credential", json!({}))
        .await;
    assert_eq!(agent.desired(None, 0).await.0, StatusCode::UNAUTHORIZED);
    let mut renewed = agent.clone();
    renewed.credential = rotated["credential"].as_str().expect("credential").into();
    assert_eq!(renewed.desired(None, 0).await.0, StatusCode::OK);

    // Read-only admin tokens read but do not write; revoked tokens stop working.
    let ro = api
        .post(
            "/api/v1/admintokens",
            json!({"name": "viewer", "role": "read-only"}),
        )
        .await;
    let viewer = api.with_token(ro["token"].as_str().expect("token"));
    assert_eq!(
        viewer.raw(Method::GET, "/api/v1/clusters", None).await.0,
        StatusCode::OK
    );
    let (s, v) = viewer
        .raw(
            Method::POST,
            "/api/v1/apply",
            Some(gitrepo("x", "fleet-default", "https://example.org/x", "")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(
        api.raw(Method::DELETE, "/api/v1/admintokens/viewer", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        viewer.raw(Method::GET, "/api/v1/clusters", None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Every mutation is audited.
    let audit = api.get("/api/v1/audit").await;
    let actions: Vec<String> = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["action"].as_str().unwrap_or_default().to_string())
        .collect();
    for a in [
        "create-registration-token",
        "register-cluster",
        "rotate-credential",
        "create-admin-token",
        "revoke-admin-token",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_clear_errors() {
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let agent = api.register("fleet-default", "c1", json!({})).await;
    let http = reqwest::Client::new();
    let post = |body: Vec<u8>| {
        http.post(format!("{}/agent/v1/status", api.base))
            .bearer_auth(&agent.credential)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let resp = post(b"{\"bundles\": [".to_vec()).await.expect("post");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: serde_json::Value = resp.json().await.expect("json error body");
    assert_eq!(v["code"], "malformed_json");
    // The server answers 413 without reading the rest and closes that connection, so
    // this request gets a client of its own (no pooled connection reused after it).
    let resp = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
        .post(format!("{}/agent/v1/status", api.base))
        .bearer_auth(&agent.credential)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 << 20])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let http = reqwest::Client::new();
    // Bad registrations and bad applies name the problem.
    let token = api.registration_token("fleet-default", json!({})).await;
    let resp = http
        .post(format!("{}/agent/v1/register", api.base))
        .bearer_auth(&token)
        .json(&json!({"clusterName": "Not A Valid Name"}))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (s, v) = api
        .raw(
            Method::POST,
            "/api/v1/apply",
            Some("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n".into()),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unsupported"),
        "{v}"
    );
    let (s, _) = api.raw(Method::GET, "/api/v1/nonsense", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A status for a bundle the cluster is not targeted with is ignored, not stored.
    let s = agent
        .report(vec![agent.entry(
            "someone-elses",
            "s-x:y",
            BundleState::Ready,
        )])
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let c = api.get("/api/v1/clusters/fleet-default/c1").await;
    assert_eq!(c["bundles"].as_array().map(Vec::len), Some(0));
    // Secrets are accepted but never returned.
    api.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: hunter2}\n",
    )
    .await;
    let v = api.get("/api/v1/secrets/fleet-default/creds").await;
    assert!(!v.to_string().contains("hunter2"), "{v}");
    let v = api.get("/api/v1/secrets").await;
    assert!(!v.to_string().contains("hunter2"), "{v}");
    // The OpenAPI document is served.
    let doc = api.get("/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.0.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_tls_with_rustls() {
    let pki = test_servers::TestPki::issue("localhost").expect("test PKI");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tls.crt"), &pki.cert_pem).expect("write");
    std::fs::write(dir.path().join("tls.key"), &pki.key_pem).expect("write");
    let mut opts = fleet_manager::server::ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().join("data"),
    );
    opts.admin_token = Some(ADMIN_TOKEN.into());
    opts.tls_cert = Some(dir.path().join("tls.crt"));
    opts.tls_key = Some(dir.path().join("tls.key"));
    let mgr = fleet_manager::server::start(opts)
        .await
        .expect("starts with TLS");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).expect("ca"))
        .resolve("localhost", mgr.addr)
        .build()
        .expect("client");
    let url = format!("https://localhost:{}/api/v1/clusters", mgr.addr.port());
    let resp = client
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("https call");
    assert_eq!(resp.status(), StatusCode::OK);
    // The admin CLI trusts the private CA through --ca-file, and only through it.
    std::fs::write(dir.path().join("ca.crt"), &pki.ca_pem).expect("write");
    let cli_args = |ca_file: Option<std::path::PathBuf>| fleet_manager::cli::ClientArgs {
        server: format!("https://localhost:{}", mgr.addr.port()),
        token: Some(ADMIN_TOKEN.into()),
        ca_file,
    };
    let cli = fleet_manager::cli::Client::new(&cli_args(Some(dir.path().join("ca.crt"))))
        .expect("client with --ca-file");
    cli.call(reqwest::Method::GET, "/api/v1/clusters", None)
        .await
        .expect("the CLI reaches the manager through its private CA");
    let untrusting = fleet_manager::cli::Client::new(&cli_args(None)).expect("client");
    assert!(untrusting
        .call(reqwest::Method::GET, "/api/v1/clusters", None)
        .await
        .is_err());
    let missing = fleet_manager::cli::Client::new(&cli_args(Some(dir.path().join("nope.crt"))))
        .err()
        .expect("a missing CA file is refused");
    assert!(format!("{missing:#}").contains("nope.crt"), "{missing:#}");
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", mgr.addr))
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await;
    assert!(plain.is_err() || !plain.expect("resp").status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_dropped_and_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let mut slow = tokio::net::TcpStream::connect(mgr.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Meanwhile everyone else is served.
    assert_eq!(
        api.raw(Method::GET, "/api/v1/clusters", None).await.0,
        StatusCode::OK
    );
    // The unfinished request is cut off after the header-read timeout.
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(30), slow.read(&mut buf)).await;
    match read {
        Ok(Ok(n)) => {
            let text = String::from_utf8_lossy(&buf[..n]);
            assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
        }
        Ok(Err(_)) => {}
        Err(_) => panic!("the server kept a slowloris connection open for 30 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_records_a_new_agent_version() {
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let agent = api.register("fleet-default", "edge-1", json!({})).await;
    let version = || async {
        api.get("/api/v1/clusters/fleet-default/edge-1").await["agentVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(version().await, "test");
    let resp = agent
        .http
        .post(format!("{}/agent/v1/status", agent.base))
        .bearer_auth(&agent.credential)
        .json(&json!({"agentVersion": "v2.0.1", "bundles": []}))
        .send()
        .await
        .expect("status");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(version().await, "v2.0.1");
    // The store has it too (what a restart or another replica reads).
    let rows = mgr.manager.store.clusters_since(0).await.expect("clusters");
    assert!(rows
        .iter()
        .any(|c| c.name == "edge-1" && c.agent_version == "v2.0.1"));
}

/// A heartbeat re-sending a stored report is answered from memory (no store work), but
/// not across a bundle reload: a bundle deleted and re-created with the same content
/// lost its reports, and the next heartbeat must put them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_are_answered_from_memory_until_bundles_reload() {
    let fleet = seeded("edge-1", json!({"env": "dev"})).await;
    let Seeded { mgr, agent, .. } = &fleet;
    until_bundles(agent, 2).await;
    let store = &mgr.manager.store;
    let metrics = &mgr.manager.metrics;
    let rows = || async {
        store
            .statuses_of_cluster("fleet-default", "edge-1")
            .await
            .expect("statuses")
            .len()
    };
    // What the agent sends, then re-sends unchanged as its heartbeat.
    let report = agent.entries_all(BundleState::Ready).await;
    assert_eq!(agent.report(report.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(rows().await, 2);
    let (stored, unchanged) = (metrics.status_stored.get(), metrics.status_unchanged.get());
    assert_eq!(agent.report(report.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(metrics.status_unchanged.get(), unchanged + 1, "a heartbeat");

    // Another replica deletes a bundle and re-creates it, identical: its report row is
    // gone while this replica still remembers having stored it.
    let web = store
        .list_bundles(Some("fleet-default"))
        .await
        .expect("bundles")
        .into_iter()
        .find(|b| b.name == "apps-web")
        .expect("apps-web");
    let epoch = mgr.manager.index.bundle_epoch();
    assert!(store
        .delete_bundle("fleet-default", "apps-web")
        .await
        .expect("delete"));
    store.put_bundle(&web).await.expect("re-create");
    assert_eq!(rows().await, 1);
    eventually(30, "the bundle reload", || async {
        if mgr.manager.index.bundle_epoch() > epoch {
            Ok(())
        } else {
            Err("not reloaded".to_string())
        }
    })
    .await;
    // Without the reload rule this heartbeat would be answered from memory.
    assert_eq!(agent.report(report).await, StatusCode::NO_CONTENT);
    assert_eq!(
        rows().await,
        2,
        "the heartbeat after the reload put the report back"
    );
    assert_eq!(metrics.status_stored.get(), stored + 1);
}

/// A poll naming the report its agent had acknowledged, with the current ETag: (answer,
/// whether the manager asked for the report again).
async fn poll_acknowledging(agent: &Agent, acknowledged: u64, wait: u64) -> (StatusCode, bool) {
    let (_, etag, _) = agent.desired(None, 0).await;
    let resp = agent
        .http
        .get(format!("{}/agent/v1/desired?wait={wait}", agent.base))
        .bearer_auth(&agent.credential)
        .header("if-none-match", etag)
        .header(
            fleet_bundle::deployment::STATUS_ACKNOWLEDGED_HEADER,
            acknowledged,
        )
        .send()
        .await
        .expect("poll");
    let wanted = resp
        .headers()
        .get(fleet_bundle::deployment::REPORT_WANTED_HEADER)
        .is_some_and(|v| v == "true");
    (resp.status(), wanted)
}

/// Starts a manager on a copy of a SQLite database, as an operator restores a backup.
async fn start_on(db: &std::path::Path) -> (fleet_manager::server::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = fleet_manager::server::ServeOptions::new(
        "127.0.0.1:0".parse().expect("addr"),
        dir.path().to_path_buf(),
    );
    opts.database = Some(format!("sqlite://{}", db.display()));
    let running = fleet_manager::server::start(opts)
        .await
        .expect("manager starts");
    (running, dir)
}

/// Agents send their status when it changes, not on a short timer, so a store that lost
/// a report (a backup restored, a failover that lost recent commits) must ask for it:
/// the poll names the report the agent had acknowledged, and a manager without it
/// answers at once and asks for it, once. A manager that has it (a plain restart) asks
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restored_from_backup_asks_agents_for_the_reports_it_lost() {
    let fleet = seeded("edge-1", json!({"env": "dev"})).await;
    let Seeded {
        mgr, agent, _dir, ..
    } = &fleet;
    until_bundles(agent, 2).await;
    let backup = |name: &str| {
        let path = _dir.path().join(name);
        let live = rusqlite::Connection::open(_dir.path().join("fleet.db")).expect("open");
        live.execute("VACUUM INTO ?1", [path.to_str().expect("utf8 path")])
            .expect("backup");
        path
    };
    let before_report = backup("before-report.db");
    let report = agent.entries_all(BundleState::Ready).await;
    let acknowledged = report.iter().map(|b| b.sequence).max().expect("entries");
    assert_eq!(agent.report(report.clone()).await, StatusCode::NO_CONTENT);
    let (status, wanted) = poll_acknowledging(agent, acknowledged, 1).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(!wanted, "this manager stored the report");
    let after_report = backup("after-report.db");
    mgr.shutdown();

    // Restarted on a store that holds the report: nothing is asked.
    let (restarted, _restarted_dir) = start_on(&after_report).await;
    let at_restarted = Agent {
        base: format!("http://{}", restarted.addr),
        ..agent.clone()
    };
    let (_, wanted) = poll_acknowledging(&at_restarted, acknowledged, 1).await;
    assert!(!wanted, "the restarted manager's store holds the report");
    assert_eq!(restarted.manager.metrics.status_wanted.get(), 0);
    restarted.shutdown();

    // Restored from the backup taken before the report: asked for at once.
    let (restored, _restored_dir) = start_on(&before_report).await;
    let at_restored = Agent {
        base: format!("http://{}", restored.addr),
        ..agent.clone()
    };
    let rows = || async {
        restored
            .manager
            .store
            .statuses_of_cluster("fleet-default", "edge-1")
            .await
            .expect("statuses")
            .len()
    };
    assert_eq!(rows().await, 0, "the backup predates the report");
    let asked = std::time::Instant::now();
    let (status, wanted) = poll_acknowledging(&at_restored, acknowledged, 60).await;
    assert!(wanted, "the restored manager lacks the acknowledged report");
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(30),
        "answered at once, not after the wait"
    );
    // The agent sends its status again, unchanged; the store has it back.
    assert_eq!(at_restored.report(report).await, StatusCode::NO_CONTENT);
    assert_eq!(rows().await, 2);
    let (_, wanted) = poll_acknowledging(&at_restored, acknowledged, 1).await;
    assert!(!wanted, "asked once");
    // An agent that has had nothing acknowledged is never asked.
    let (_, wanted) = poll_acknowledging(&at_restored, 0, 1).await;
    assert!(!wanted);
    assert_eq!(restored.manager.metrics.status_wanted.get(), 1);
}

/// The desired-state poll is served outside the router; its errors are the router's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_poll_rejects_bad_requests_like_every_route() {
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let agent = api.register("fleet-default", "c1", json!({})).await;
    let http = reqwest::Client::new();
    let get = |query: &str, credential: Option<&str>| {
        let mut req = http.get(format!("{}/agent/v1/desired{query}", api.base));
        if let Some(c) = credential {
            req = req.bearer_auth(c);
        }
        req.send()
    };
    let resp = get("", None).await.expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let v: serde_json::Value = resp.json().await.expect("json error body");
    assert_eq!(v["code"], "missing_credential");
    let resp = get("", Some("not-a-credential")).await.expect("get");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    for bad in ["?wait=forever", "?wait=-1", "?wait=99999999999999999999999"] {
        let resp = get(bad, Some(&agent.credential)).await.expect("get");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let resp = get("?wait=0", Some(&agent.credential)).await.expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("etag"));
    // Other methods still reach the router, which refuses them.
    let resp = http
        .post(format!("{}/agent/v1/desired", api.base))
        .bearer_auth(&agent.credential)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}
