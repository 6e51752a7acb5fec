//! Git over real servers: `git http-backend` behind nginx with basic auth, sshd with key
//! auth and known_hosts, and push webhooks that trigger an immediate fetch.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::*;
use test_servers::{GitDaemon, HttpGit, Sshd};

fn secret(name: &str, data: &[(&str, &str)]) -> String {
    let mut s = format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: fleet-default\nstringData:\n");
    for (k, v) in data {
        s.push_str(&format!(
            "  {k}: {}\n",
            serde_json::to_string(v).expect("json string")
        ));
    }
    s
}

async fn gitrepo_status(api: &Api, name: &str) -> serde_json::Value {
    api.get(&format!("/api/v1/gitrepos/fleet-default/{name}"))
        .await["status"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_basic_auth_through_nginx() {
    let server = HttpGit::start().expect("nginx with git http-backend starts");
    let (path, url) = server.repo("apps.git").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"));
    let commit = work.commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let agent = api.register("fleet-default", "c1", json!({})).await;

    // Without credentials the fetch fails and says why, on the GitRepo status.
    api.apply(&gitrepo("nocreds", "fleet-default", &url, ""))
        .await;
    let err = eventually(30, "fetch error on nocreds", || async {
        let s = gitrepo_status(&api, "nocreds").await;
        s["fetchError"]
            .as_str()
            .map(str::to_string)
            .ok_or(s.to_string())
    })
    .await;
    assert!(
        err.contains("credentials") || err.contains("401") || err.contains("auth"),
        "{err}"
    );
    assert!(!err.contains(&server.password));

    // With the right secret it deploys; the secret never shows up in the API.
    api.apply(&secret(
        "http-creds",
        &[("username", &server.user), ("password", &server.password)],
    ))
    .await;
    api.apply(&gitrepo(
        "apps",
        "fleet-default",
        &url,
        "  clientSecretName: http-creds\n",
    ))
    .await;
    eventually(30, "bundle from the http repo", || async {
        let s = agent.state().await;
        if s.deployments
            .iter()
            .any(|d| d.bundle == "apps-web" && d.commit == commit)
        {
            Ok(())
        } else {
            Err(format!("{:?}", s.deployments))
        }
    })
    .await;
    let all = api.get("/api/v1/gitrepos").await.to_string()
        + &api.get("/api/v1/secrets").await.to_string();
    assert!(!all.contains(&server.password));

    // A wrong password is an error naming authentication, not the password.
    api.apply(&secret(
        "bad-creds",
        &[("username", &server.user), ("password", "wrong-password")],
    ))
    .await;
    api.apply(&gitrepo(
        "badcreds",
        "fleet-default",
        &url,
        "  clientSecretName: bad-creds\n",
    ))
    .await;
    let err = eventually(30, "fetch error on badcreds", || async {
        let s = gitrepo_status(&api, "badcreds").await;
        s["fetchError"]
            .as_str()
            .map(str::to_string)
            .ok_or(s.to_string())
    })
    .await;
    assert!(!err.contains("wrong-password"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca_bundle() {
    use base64::Engine;
    let server = HttpGit::start_tls().expect("nginx with git http-backend over TLS starts");
    let (path, url) = server.repo("apps.git").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"));
    work.commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let agent = api.register("fleet-default", "c1", json!({})).await;
    api.apply(&secret(
        "http-creds",
        &[("username", &server.user), ("password", &server.password)],
    ))
    .await;

    // Unknown CA: refused.
    api.apply(&gitrepo(
        "untrusted",
        "fleet-default",
        &url,
        "  clientSecretName: http-creds\n",
    ))
    .await;
    let err = eventually(30, "TLS error without caBundle", || async {
        let s = gitrepo_status(&api, "untrusted").await;
        s["fetchError"]
            .as_str()
            .map(str::to_string)
            .ok_or(s.to_string())
    })
    .await;
    assert!(!err.is_empty());

    // caBundle (base64 of the PEM, as Fleet's bytes field) makes it trusted.
    let ca =
        base64::engine::general_purpose::STANDARD.encode(server.ca_pem.as_deref().expect("ca"));
    let extra = format!("  clientSecretName: http-creds\n  caBundle: {ca}\n");
    api.apply(&gitrepo("trusted", "fleet-default", &url, &extra))
        .await;
    eventually(30, "bundle over https with caBundle", || async {
        let b = agent.bundles().await;
        if b.contains(&"trusted-web".to_string()) {
            Ok(())
        } else {
            Err(format!("{b:?} / {}", gitrepo_status(&api, "trusted").await))
        }
    })
    .await;

    // insecureSkipTLSVerify also works (and is the user's explicit choice).
    api.apply(&gitrepo(
        "insecure",
        "fleet-default",
        &url,
        "  clientSecretName: http-creds\n  insecureSkipTLSVerify: true\n",
    ))
    .await;
    eventually(30, "bundle over https without verification", || async {
        let b = agent.bundles().await;
        if b.contains(&"insecure-web".to_string()) {
            Ok(())
        } else {
            Err(format!("{b:?}"))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_with_key_and_known_hosts() {
    let sshd = Sshd::start().expect("sshd starts");
    let (path, url) = sshd.repo("apps.git").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"));
    let commit = work.commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let agent = api.register("fleet-default", "c1", json!({})).await;

    api.apply(&secret(
        "ssh-creds",
        &[
            ("ssh-privatekey", &sshd.client_key),
            ("known_hosts", &sshd.known_hosts),
        ],
    ))
    .await;
    api.apply(&gitrepo(
        "apps",
        "fleet-default",
        &url,
        "  clientSecretName: ssh-creds\n",
    ))
    .await;
    eventually(30, "bundle from the ssh repo", || async {
        let s = agent.state().await;
        if s.deployments
            .iter()
            .any(|d| d.bundle == "apps-web" && d.commit == commit)
        {
            Ok(())
        } else {
            let st = gitrepo_status(&api, "apps").await;
            Err(format!("{:?} / {st}", s.deployments))
        }
    })
    .await;

    // An unknown host key is refused.
    let other = Sshd::start().expect("sshd starts");
    api.apply(&secret(
        "ssh-wrong-host",
        &[
            ("ssh-privatekey", &sshd.client_key),
            (
                "known_hosts",
                &other
                    .known_hosts
                    .replace(&other.port.to_string(), &sshd.port.to_string()),
            ),
        ],
    ))
    .await;
    api.apply(&gitrepo(
        "wronghost",
        "fleet-default",
        &url,
        "  clientSecretName: ssh-wrong-host\n",
    ))
    .await;
    let err = eventually(30, "host key error", || async {
        let s = gitrepo_status(&api, "wronghost").await;
        s["fetchError"]
            .as_str()
            .map(str::to_string)
            .ok_or(s.to_string())
    })
    .await;
    assert!(
        err.contains("known_hosts") || err.contains("hostkey"),
        "{err}"
    );
}

fn github_signature(body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_trigger_a_fetch_of_matching_repos_only() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"));
    work.commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let agent = api.register("fleet-default", "c1", json!({})).await;
    // Polling every hour: after the first fetch only a webhook brings a new commit.
    let manifest = gitrepo("apps", "fleet-default", &url, "")
        .replace("pollingInterval: 1s", "pollingInterval: 1h");
    api.apply(&manifest).await;
    eventually(30, "first commit", || async {
        let b = agent.bundles().await;
        if b == ["apps-web"] {
            Ok(())
        } else {
            Err(format!("{b:?}"))
        }
    })
    .await;
    work.write("web/cm.yaml", &configmap("web", "v2"));
    let second = work.commit_and_push("second");
    let payload = json!({"ref": "refs/heads/main", "repository": {"clone_url": url, "html_url": "https://example.org/not/ours"}}).to_string();
    let http = reqwest::Client::new();
    let send = |sig: Option<String>, body: String| {
        let mut req = http
            .post(format!("{}/webhooks/git", api.base))
            .header("x-github-event", "push")
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = sig {
            req = req.header("x-hub-signature-256", s);
        }
        req.send()
    };
    // Unsigned and badly signed events change nothing.
    let r = send(None, payload.clone()).await.expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = send(Some(github_signature(b"other body")), payload.clone())
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A signed event for another repository triggers nothing.
    let foreign = json!({"ref": "refs/heads/main", "repository": {"clone_url": "git://127.0.0.1:1/elsewhere"}}).to_string();
    let r = send(Some(github_signature(foreign.as_bytes())), foreign)
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["triggered"], json!([]));
    // The signed event for our repository brings the new commit.
    let r = send(Some(github_signature(payload.as_bytes())), payload)
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["triggered"], json!(["fleet-default/apps"]));
    eventually(30, "second commit via webhook", || async {
        let s = agent.state().await;
        let c = s
            .deployments
            .first()
            .map(|d| d.commit.clone())
            .unwrap_or_default();
        if c == second {
            Ok(())
        } else {
            Err(c)
        }
    })
    .await;
    // Only POST is served.
    let (s, _) = api.raw(Method::GET, "/webhooks/git", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_workspaces_scope_targets() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"));
    work.commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let eu = api
        .register("fleet-default", "eu-1", json!({"region": "eu"}))
        .await;
    let us = api
        .register("fleet-default", "us-1", json!({"region": "us"}))
        .await;
    let local = api
        .register("fleet-local", "local", json!({"region": "eu"}))
        .await;
    api.apply("apiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterGroup\nmetadata: {name: chosen, namespace: fleet-default}\nspec:\n  selector:\n    matchLabels: {region: eu}\n").await;
    api.apply(&gitrepo(
        "apps",
        "fleet-default",
        &url,
        "  targets:\n  - clusterGroup: chosen\n",
    ))
    .await;
    eventually(30, "eu-1 targeted through the group", || async {
        let b = eu.bundles().await;
        if b == ["apps-web"] {
            Ok(())
        } else {
            Err(format!("{b:?}"))
        }
    })
    .await;
    assert!(us.bundles().await.is_empty());
    // Same labels in another workspace: not targeted by a fleet-default GitRepo.
    assert!(local.bundles().await.is_empty());
    // Changing the group's selector retargets.
    api.apply("apiVersion: fleet.cattle.io/v1alpha1\nkind: ClusterGroup\nmetadata: {name: chosen, namespace: fleet-default}\nspec:\n  selector:\n    matchLabels: {region: us}\n").await;
    assert_eq!(us.bundles().await, vec!["apps-web".to_string()]);
    assert!(eu.bundles().await.is_empty());
    let groups = api.get("/api/v1/status").await;
    let chosen = groups["clusterGroups"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"] == "chosen")
        .cloned()
        .unwrap_or_default();
    assert_eq!(chosen["clusterCount"], 1, "{groups}");
    // A GitRepo in fleet-local targets only fleet-local clusters.
    api.apply(&gitrepo("local-apps", "fleet-local", &url, ""))
        .await;
    eventually(30, "local cluster gets fleet-local bundles", || async {
        let b = local.bundles().await;
        if b == ["local-apps-web"] {
            Ok(())
        } else {
            Err(format!("{b:?}"))
        }
    })
    .await;
    assert_eq!(us.bundles().await, vec!["apps-web".to_string()]);
}

/// Two GitRepos on one remote, one pointing at a path not committed yet: its failing
/// scan says `scanError` on its own status and never backs off the shared fetch, so the
/// healthy one takes each new commit within its interval and the other one takes the
/// path on its next poll once it is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_scan_does_not_hold_back_the_remote() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/cm.yaml", &configmap("web", "v1"));
    let first = work.commit_and_push("first");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    api.apply(&gitrepo(
        "good",
        "fleet-default",
        &url,
        "  paths:\n  - web\n",
    ))
    .await;
    api.apply(&gitrepo(
        "late",
        "fleet-default",
        &url,
        "  paths:\n  - later\n",
    ))
    .await;
    let commit_of = |name: &'static str, want: String| {
        let api = api.clone();
        move || {
            let (api, want) = (api.clone(), want.clone());
            async move {
                let s = gitrepo_status(&api, name).await;
                if s["commit"] == want.as_str() && s.get("scanError").is_none() {
                    Ok(())
                } else {
                    Err(s.to_string())
                }
            }
        }
    };
    eventually(30, "good at the first commit", commit_of("good", first)).await;
    let err = eventually(30, "scan error on late", || async {
        let s = gitrepo_status(&api, "late").await;
        match (s["scanError"].as_str(), s.get("fetchError")) {
            (Some(e), None) => Ok(e.to_string()),
            _ => Err(s.to_string()),
        }
    })
    .await;
    assert!(err.contains("later"), "{err}");
    eventually(10, "late ScanFailed on the dashboard", || async {
        let view = api
            .get("/api/v1/dashboard/gitrepos/fleet-default/late")
            .await;
        match view["gitrepo"]["syncState"].as_str() {
            Some("ScanFailed") => Ok(()),
            _ => Err(view.to_string()),
        }
    })
    .await;

    // Long enough for a fetch backoff (2 s, 4 s, 8 s…) to outgrow the 1 s interval.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    work.write("web/cm.yaml", &configmap("web", "v2"));
    let second = work.commit_and_push("second");
    eventually(3, "good at the second commit", commit_of("good", second)).await;

    work.write("later/cm.yaml", &configmap("later", "v1"));
    let third = work.commit_and_push("the late path");
    eventually(3, "late at the third commit", commit_of("late", third)).await;
    let bundles = api.get("/api/v1/bundles").await.to_string();
    assert!(bundles.contains("late-later"), "{bundles}");
}

/// A fresh ed25519 key in `dir`: (private key path, public key line).
fn ssh_keypair(dir: &std::path::Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    run(std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path));
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).expect("public key");
    (path.display().to_string(), public.trim().to_string())
}

/// `spec.verify`: a signed commit is built; an unsigned one, or one signed by a key not
/// allowed, never becomes bundles (the last good commit's stay) and the status names
/// the commit and the key; the next good commit is built again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_commits_signed_by_allowed_keys_are_built() {
    let keys = tempfile::tempdir().expect("tempdir");
    let (alice_key, alice) = ssh_keypair(keys.path(), "alice");
    let (mallory_key, mallory) = ssh_keypair(keys.path(), "mallory");
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("signed").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.config("gpg.format", "ssh")
        .config("commit.gpgsign", "true")
        .config("user.signingkey", &alice_key);
    work.write("web/cm.yaml", &configmap("web", "v1"));
    let first = work.commit_and_push("signed by alice");
    let (mgr, _dir) = start_manager(None).await;
    let api = Api::new(mgr.addr);
    let extra = format!(
        "  paths:\n  - web\n  verify:\n    allowedSigners: {}\n",
        serde_json::to_string(&format!("alice@example.com {alice}")).expect("json")
    );
    api.apply(&gitrepo("signed", "fleet-default", &url, &extra))
        .await;
    let at = |want: String| {
        let api = api.clone();
        move || {
            let (api, want) = (api.clone(), want.clone());
            async move {
                let s = gitrepo_status(&api, "signed").await;
                if s["commit"] == want.as_str() && s.get("scanError").is_none() {
                    Ok(())
                } else {
                    Err(s.to_string())
                }
            }
        }
    };
    eventually(30, "the signed commit built", at(first.clone())).await;
    let refused = |what: &'static str| {
        let api = api.clone();
        move || {
            let api = api.clone();
            async move {
                let s = gitrepo_status(&api, "signed").await;
                match s["scanError"].as_str() {
                    Some(e) => Ok((e.to_string(), s["commit"].clone())),
                    None => Err(format!("{what}: {s}")),
                }
            }
        }
    };

    work.config("commit.gpgsign", "false");
    work.write("web/cm.yaml", &configmap("web", "unsigned"));
    let unsigned = work.commit_and_push("unsigned");
    let (err, commit) = eventually(30, "unsigned refused", refused("unsigned")).await;
    assert!(
        err.contains(&unsigned) && err.contains("not signed"),
        "{err}"
    );
    assert_eq!(commit, first.as_str(), "the last good commit stays");

    work.config("commit.gpgsign", "true")
        .config("user.signingkey", &mallory_key);
    work.write("web/cm.yaml", &configmap("web", "mallory"));
    let forged = work.commit_and_push("signed by mallory");
    let mallory_fp = run(std::process::Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(format!("{mallory_key}.pub")));
    let mallory_fp = mallory_fp.split_whitespace().nth(1).expect("fingerprint");
    let (err, _) = eventually(30, "mallory refused", || {
        let api = api.clone();
        let forged = forged.clone();
        async move {
            let s = gitrepo_status(&api, "signed").await;
            match s["scanError"].as_str() {
                Some(e) if e.contains(&forged) => Ok((e.to_string(), ())),
                _ => Err(s.to_string()),
            }
        }
    })
    .await;
    assert!(
        err.contains(mallory_fp),
        "{err} names {mallory_fp} ({mallory})"
    );

    work.config("user.signingkey", &alice_key);
    work.write("web/cm.yaml", &configmap("web", "v2"));
    let good = work.commit_and_push("signed by alice again");
    eventually(30, "the next signed commit built", at(good)).await;
}
