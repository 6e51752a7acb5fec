//! The dashboard over HTTP against a manager running in this process: its JSON API
//! agrees with what agents reported, authentication (bearer, session cookie, read-only
//! and revoked tokens, logout), the live event stream, no secret in any answer, and
//! `fleet-manager status` printing the failing resources.

mod support;

use std::time::Duration;

use fleet_bundle::deployment::{BundleState, ModifiedResource, ResourceStatus};
use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::*;
use test_servers::GitDaemon;

const SECRET_PASSWORD: &str = "hunter2-do-not-show";

async fn anonymous(base: &str, path: &str) -> StatusCode {
    reqwest::get(format!("{base}{path}"))
        .await
        .expect("request")
        .status()
}

/// The version carried by the next `change` event of a server-sent event stream.
async fn next_change<T: AsRef<[u8]>>(
    events: &mut (impl futures::Stream<Item = Result<T, reqwest::Error>> + Unpin),
    text: &mut String,
) -> Result<u64, tokio::time::error::Elapsed> {
    let read = async {
        loop {
            if let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                if event.contains("event: change") {
                    let data = event
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .unwrap_or_default();
                    return data.trim().parse::<u64>().expect("a version");
                }
                continue;
            }
            let chunk = events
                .next()
                .await
                .expect("the stream stays open")
                .expect("a chunk");
            text.push_str(&String::from_utf8_lossy(chunk.as_ref()));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_api_auth_live_updates_and_status_cli() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8 path"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"))
        .write("db/fleet.yaml", "defaultNamespace: db\n")
        .write("db/cm.yaml", &configmap("db", "v1"))
        .commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    api.apply(&gitrepo("apps", "fleet-default", &url, "")).await;
    // Credentials that must never reach a page: in a repository URL and in a Secret.
    api.apply(&gitrepo(
        "private",
        "fleet-default",
        &format!("https://deploy:{SECRET_PASSWORD}@127.0.0.1:9/private.git"),
        "",
    ))
    .await;
    api.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: git-auth\n  namespace: fleet-default\nstringData:\n  username: deploy\n  password: {SECRET_PASSWORD}\n"
    ))
    .await;
    api.apply("apiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterGroup\nmetadata:\n  name: prod\n  namespace: fleet-default\nspec:\n  selector:\n    matchLabels:\n      env: prod\n")
        .await;

    let c1 = api
        .register("fleet-default", "c1", json!({"env": "prod"}))
        .await;
    let c2 = api
        .register("fleet-default", "c2", json!({"env": "prod"}))
        .await;
    let c3 = api
        .register("fleet-default", "c3", json!({"env": "dev"}))
        .await;
    eventually(30, "both bundles on every cluster", || async {
        let n = c3.bundles().await.len();
        if n == 2 {
            Ok(())
        } else {
            Err(format!("{n} bundles"))
        }
    })
    .await;
    assert_eq!(
        c1.report_all(BundleState::Ready).await,
        StatusCode::NO_CONTENT
    );
    let desired = c2.state().await;
    let entries = desired
        .deployments
        .iter()
        .map(|d| {
            let mut e = c2.entry(&d.bundle, &d.deployment_id, BundleState::Ready);
            if d.bundle == "apps-web" {
                e.state = BundleState::Modified;
                e.message = "drifted".into();
                e.modified = vec![ModifiedResource {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: "web".into(),
                    name: "web".into(),
                    missing: false,
                    delete: false,
                    paths: vec!["data.value".into()],
                }];
            }
            e
        })
        .collect();
    assert_eq!(c2.report(entries).await, StatusCode::NO_CONTENT);
    let desired = c3.state().await;
    let entries = desired
        .deployments
        .iter()
        .map(|d| {
            let mut e = c3.entry(&d.bundle, &d.deployment_id, BundleState::Ready);
            if d.bundle == "apps-db" {
                e.state = BundleState::NotReady;
                e.message =
                    format!("pulling from https://bot:{SECRET_PASSWORD}@registry.example.org/db");
                e.non_ready = vec![ResourceStatus {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    namespace: "db".into(),
                    name: "db".into(),
                    message: "not ready yet".into(),
                }];
            }
            e
        })
        .collect();
    assert_eq!(c3.report(entries).await, StatusCode::NO_CONTENT);

    // The overview agrees with the reports (the picture refreshes within a tick).
    let overview = eventually(20, "the dashboard picture", || async {
        let v = api.get("/api/v1/dashboard/overview").await;
        let web = v["bundles"]
            .as_array()
            .and_then(|b| b.iter().find(|b| b["name"] == "apps-web"))
            .cloned();
        match web {
            Some(w)
                if w["summary"]["modified"] == 1
                    && w["summary"]["ready"] == 2
                    && v["summary"]["nonReady"] == 1 =>
            {
                Ok(v)
            }
            _ => Err(v.to_string()),
        }
    })
    .await;
    assert_eq!(overview["clusters"], 3);
    assert_eq!(overview["summary"]["desiredReady"], 6);
    let web = overview["bundles"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["name"] == "apps-web"))
        .cloned()
        .expect("web");
    assert_eq!(web["state"], "Modified");
    let prod = overview["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "prod"))
        .cloned()
        .expect("prod group");
    assert_eq!(
        (prod["clusters"].as_u64(), prod["nonReadyClusters"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(prod["summary"]["modified"], 1);
    assert_eq!(
        (
            prod["clusterStates"]["ready"].as_u64(),
            prod["clusterStates"]["modified"].as_u64()
        ),
        (Some(1), Some(1)),
        "members by worst state: {prod}"
    );
    let apps = overview["gitrepos"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "apps"))
        .cloned()
        .expect("apps");
    assert_eq!(
        (apps["bundles"].as_u64(), apps["syncState"].as_str()),
        (Some(2), Some("Synced"))
    );
    // The same counts as the admin API's bundle roll-up.
    let bundles = api.get("/api/v1/bundles").await;
    for b in bundles["items"].as_array().expect("items") {
        let mine = overview["bundles"]
            .as_array()
            .and_then(|x| x.iter().find(|m| m["name"] == b["name"]))
            .expect("bundle");
        assert_eq!(mine["summary"], b["summary"], "bundle {}", b["name"]);
    }

    // Filters and drill-down.
    let page = api.get("/api/v1/dashboard/clusters?state=NotReady").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["name"], "c3");
    let page = api
        .get("/api/v1/dashboard/clusters?label=env%3Dprod&limit=1")
        .await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["items"].as_array().map(Vec::len)
        ),
        (Some(2), Some(1))
    );
    let page = api
        .get("/api/v1/dashboard/bundles/fleet-default/apps-web?state=Modified")
        .await;
    assert_eq!(page["clusters"]["items"][0]["cluster"], "c2");
    assert_eq!(page["clusters"]["items"][0]["resources"], 1);
    let d = api
        .get("/api/v1/dashboard/clusters/fleet-default/c2/bundles/fleet-default/apps-web")
        .await;
    assert_eq!(d["modified"][0]["paths"], json!(["data.value"]));
    let (s, v) = api
        .raw(Method::GET, "/api/v1/dashboard/clusters?state=Broken", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = api
        .raw(
            Method::GET,
            "/api/v1/dashboard/clusters/fleet-default/nope",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // No secret in any answer: URL credentials and report messages are scrubbed.
    let c3_detail = api.get("/api/v1/dashboard/clusters/fleet-default/c3").await;
    let private = api
        .get("/api/v1/dashboard/gitrepos/fleet-default/private")
        .await;
    for v in [&overview, &c3_detail, &private] {
        assert!(
            !v.to_string().contains(SECRET_PASSWORD),
            "a secret leaked: {v}"
        );
    }
    assert!(
        private["gitrepo"]["repo"]
            .as_str()
            .is_some_and(|r| r.contains("***@127.0.0.1")),
        "{private}"
    );

    // Authentication.
    assert_eq!(
        anonymous(&api.base, "/api/v1/dashboard/overview").await,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = api
        .with_token("wrong")
        .raw(Method::GET, "/api/v1/dashboard/overview", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let viewer = api
        .post(
            "/api/v1/admintokens",
            json!({"name": "viewer", "role": "read-only"}),
        )
        .await;
    let viewer_token = viewer["token"].as_str().expect("token").to_string();
    let (s, _) = api
        .with_token(&viewer_token)
        .raw(Method::GET, "/api/v1/dashboard/overview", None)
        .await;
    assert_eq!(s, StatusCode::OK, "read-only tokens may read the dashboard");
    let redirect = anonymous(&api.base, "/").await;
    assert!(
        redirect.is_success(),
        "reqwest follows the redirect to the login page: {redirect}"
    );

    // Login with the read-only token: a sealed HttpOnly SameSite=Strict cookie.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = browser
        .post(format!("{}/login", api.base))
        .form(&[("token", viewer_token.as_str()), ("next", "/ui/clusters")])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/ui/clusters");
    let set_cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_string();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(!set_cookie.contains(&viewer_token));
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("cookie pair")
        .to_string();
    let with_cookie = |path: &str| {
        browser
            .get(format!("{}{path}", api.base))
            .header("cookie", cookie.clone())
            .send()
    };
    let shell = with_cookie("/").await.expect("shell");
    assert_eq!(shell.status(), StatusCode::OK);
    let csp = shell.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        with_cookie("/api/v1/dashboard/overview")
            .await
            .expect("api")
            .status(),
        StatusCode::OK
    );
    // A wrong token is refused and not echoed.
    let resp = browser
        .post(format!("{}/login", api.base))
        .form(&[("token", "not-a-token-31337")])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!resp
        .text()
        .await
        .expect("body")
        .contains("not-a-token-31337"));
    // A cross-site form post is refused.
    let resp = browser
        .post(format!("{}/login", api.base))
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Revoking the token ends its sessions at once.
    let (s, _) = api
        .raw(Method::DELETE, "/api/v1/admintokens/viewer", None)
        .await;
    assert!(s.is_success());
    assert_eq!(
        with_cookie("/api/v1/dashboard/overview")
            .await
            .expect("api")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // Logout ends an admin session.
    let resp = browser
        .post(format!("{}/login", api.base))
        .form(&[("token", ADMIN_TOKEN)])
        .send()
        .await
        .expect("login");
    let admin_cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("pair")
        .to_string();
    let get = |c: String| {
        browser
            .get(format!("{}/api/v1/dashboard/overview", api.base))
            .header("cookie", c)
            .send()
    };
    assert_eq!(
        get(admin_cookie.clone()).await.expect("api").status(),
        StatusCode::OK
    );
    let resp = browser
        .post(format!("{}/logout", api.base))
        .header("cookie", admin_cookie.clone())
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .contains("Max-Age=0"));
    assert_eq!(
        get(admin_cookie).await.expect("api").status(),
        StatusCode::UNAUTHORIZED
    );

    // Live: the event stream announces a change after a new report.
    let resp = api
        .http
        .get(format!("{}/api/v1/dashboard/events", api.base))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("events");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut events = resp.bytes_stream();
    let mut text = String::new();
    let first = next_change(&mut events, &mut text)
        .await
        .expect("the first event carries the current version");
    assert_eq!(
        c1.report_all(BundleState::ErrApplied).await,
        StatusCode::NO_CONTENT
    );
    let second = next_change(&mut events, &mut text)
        .await
        .expect("a change is announced");
    assert!(second > first, "{second} > {first}");
    let c1_detail = api.get("/api/v1/dashboard/clusters/fleet-default/c1").await;
    assert_eq!(c1_detail["cluster"]["state"], "ErrApplied");

    // `fleet-manager status`: tables with counts and the failing resources.
    let bin = env!("CARGO_BIN_EXE_fleet-manager");
    let out = run(std::process::Command::new(bin).args([
        "status",
        "cluster",
        "c2",
        "--server",
        &api.base,
        "--token",
        ADMIN_TOKEN,
    ]));
    assert!(
        out.contains("Cluster fleet-default/c2  state: Modified"),
        "{out}"
    );
    assert!(
        out.contains("ConfigMap/web/web") && out.contains("modified: data.value"),
        "{out}"
    );
    let out = run(std::process::Command::new(bin).args([
        "status",
        "--server",
        &api.base,
        "--token",
        ADMIN_TOKEN,
    ]));
    let web_line = out
        .lines()
        .find(|l| l.starts_with("fleet-default/apps-web"))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = web_line.split_whitespace().collect();
    // READY NOTREADY WAITAPPLIED ERRAPPLIED OUTOFSYNC PENDING MODIFIED TOTAL
    assert_eq!(cols[2..], ["1", "0", "0", "1", "0", "0", "1", "3"], "{out}");
    assert!(!out.contains(SECRET_PASSWORD), "{out}");
    let out = run(std::process::Command::new(bin).args([
        "status",
        "bundle",
        "apps-db",
        "-o",
        "json",
        "--server",
        &api.base,
        "--token",
        ADMIN_TOKEN,
    ]));
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["bundle"]["summary"]["nonReady"], 1);
    // c1 now fails everything (ErrApplied, no resources); c3's db is not ready.
    let failing = v["failing"].as_array().expect("failing");
    assert_eq!(failing.len(), 2, "{v}");
    let c3_db = failing.iter().find(|f| f["cluster"] == "c3").expect("c3");
    assert_eq!(c3_db["nonReady"][0]["name"], "db");
    assert!(!out.contains(SECRET_PASSWORD));
}

const STRATEGY: &str = "defaultNamespace: web\nrolloutStrategy:\n  maxUnavailable: 1\n  partitions:\n  - name: canary\n    clusterSelector:\n      matchLabels: {canary: \"true\"}\n  - name: rest\n    clusterSelector:\n      matchExpressions:\n      - {key: canary, operator: DoesNotExist}\n";

fn web_id(state: &fleet_bundle::deployment::DesiredState) -> String {
    state
        .deployments
        .iter()
        .find(|d| d.bundle == "apps-web")
        .map(|d| d.deployment_id.clone())
        .unwrap_or_default()
}

/// A rollout held at its canary partition shows as such: promoted clusters and each
/// partition's size and unavailable count, as the leader plans it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_progress_per_partition() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", STRATEGY)
        .write("web/cm.yaml", &configmap("web", "v1"));
    work.commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let canary = api
        .register("fleet-default", "a-canary", json!({"canary": "true"}))
        .await;
    let b = api
        .register("fleet-default", "b", json!({"tier": "rest"}))
        .await;
    let c = api
        .register("fleet-default", "c", json!({"tier": "rest"}))
        .await;
    api.apply(&gitrepo("apps", "fleet-default", &url, "")).await;
    let v1 = eventually(30, "v1 everywhere", || async {
        let ids = [
            web_id(&canary.state().await),
            web_id(&b.state().await),
            web_id(&c.state().await),
        ];
        if !ids[0].is_empty() && ids.iter().all(|i| *i == ids[0]) {
            Ok(ids[0].clone())
        } else {
            Err(format!("{ids:?}"))
        }
    })
    .await;
    for agent in [&canary, &b, &c] {
        agent.report_all(BundleState::Ready).await;
    }
    work.write("web/cm.yaml", &configmap("web", "v2"));
    work.commit_and_push("second");
    eventually(30, "canary gets v2", || async {
        let id = web_id(&canary.state().await);
        if id != v1 && !id.is_empty() {
            Ok(())
        } else {
            Err(id)
        }
    })
    .await;
    // The canary applies v2 but is not ready: the rollout holds there.
    canary.report_all(BundleState::NotReady).await;
    // New bundles and versions reach the picture within a few seconds (full rebuilds
    // are spaced out), so a 404 first is fine. Waited for: the new version pictured
    // *and* the canary's NotReady report on it (a picture between the two shows the
    // canary WaitApplied, also an unavailable partition member).
    let rollout = eventually(20, "rollout progress on the dashboard", || async {
        let (s, v) = api
            .raw(
                Method::GET,
                "/api/v1/dashboard/bundles/fleet-default/apps-web",
                None,
            )
            .await;
        let r = v["bundle"]["rollout"].clone();
        if s.is_success()
            && r["partitions"].as_array().is_some_and(|p| p.len() == 2)
            && r["partitions"][0]["unavailable"] == 1
            && v["bundle"]["summary"]["nonReady"] == 1
        {
            Ok(r)
        } else {
            Err(format!("{s}: {v}"))
        }
    })
    .await;
    assert_eq!(
        (rollout["promoted"].as_u64(), rollout["targets"].as_u64()),
        (Some(1), Some(3)),
        "{rollout}"
    );
    assert_eq!(rollout["partitions"][0]["name"], "canary");
    assert_eq!(rollout["partitions"][0]["count"], 1);
    assert_eq!(rollout["partitions"][1]["name"], "rest");
    assert_eq!(rollout["partitions"][1]["count"], 2);
    // The held clusters still run v1 and are Ready there; the canary is NotReady.
    let v = api
        .get("/api/v1/dashboard/bundles/fleet-default/apps-web")
        .await;
    assert_eq!(v["bundle"]["summary"]["ready"], 2, "{v}");
    assert_eq!(v["bundle"]["summary"]["nonReady"], 1, "{v}");
    let out = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_fleet-manager")).args([
            "status",
            "bundle",
            "apps-web",
            "--server",
            &api.base,
            "--token",
            ADMIN_TOKEN,
        ]),
    );
    assert!(
        out.contains("1/3 promoted; canary 1/1 unavailable; rest"),
        "{out}"
    );
}
