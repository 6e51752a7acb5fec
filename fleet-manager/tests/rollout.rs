//! Rollouts over the real agent API: a new deploymentID reaches the next partition only
//! when the previous one is ready; held clusters keep their previous deploymentID.

mod support;

use fleet_bundle::deployment::BundleState;
use serde_json::json;
use support::*;
use test_servers::GitDaemon;

const STRATEGY: &str = "defaultNamespace: web\nrolloutStrategy:\n  maxUnavailable: 1\n  partitions:\n  - name: canary\n    clusterSelector:\n      matchLabels: {canary: \"true\"}\n  - name: rest\n    clusterSelector:\n      matchExpressions:\n      - {key: canary, operator: DoesNotExist}\n";

async fn deployment_id(agent: &Agent) -> String {
    agent
        .state()
        .await
        .deployments
        .iter()
        .find(|d| d.bundle == "apps-web")
        .map(|d| d.deployment_id.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_advance_only_when_ready() {
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
    // Every cluster has labels: Fleet's value preprocessing (and so the deploymentID)
    // differs for clusters without any.
    let b = api
        .register("fleet-default", "b", json!({"tier": "rest"}))
        .await;
    let c = api
        .register("fleet-default", "c", json!({"tier": "rest"}))
        .await;
    api.apply(&gitrepo("apps", "fleet-default", &url, "")).await;

    // A first deployment is never held back.
    let v1 = eventually(30, "v1 everywhere", || async {
        let ids = [
            deployment_id(&canary).await,
            deployment_id(&b).await,
            deployment_id(&c).await,
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

    // v2: only the canary moves.
    work.write("web/cm.yaml", &configmap("web", "v2"));
    work.commit_and_push("second");
    let v2 = eventually(30, "canary gets v2", || async {
        let id = deployment_id(&canary).await;
        if id != v1 && !id.is_empty() {
            Ok(id)
        } else {
            Err(id)
        }
    })
    .await;
    assert_eq!(deployment_id(&b).await, v1, "b is held at v1");
    assert_eq!(deployment_id(&c).await, v1, "c is held at v1");
    let bundle = api.get("/api/v1/bundles?name=apps-web").await;
    assert_eq!(bundle["items"][0]["rollingOut"], true, "{bundle}");

    // The canary applies but is not ready: the rest stays at v1 (rollout loop woken by
    // the report; a second report makes sure it ran at least once after the first).
    canary
        .report(vec![canary.entry("apps-web", &v2, BundleState::NotReady)])
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    canary
        .report(vec![canary.entry("apps-web", &v2, BundleState::NotReady)])
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(deployment_id(&b).await, v1);
    assert_eq!(deployment_id(&c).await, v1);

    // Ready: the next partition starts, one cluster at a time (maxUnavailable 1).
    canary
        .report(vec![canary.entry("apps-web", &v2, BundleState::Ready)])
        .await;
    eventually(30, "b gets v2", || async {
        let id = deployment_id(&b).await;
        if id == v2 {
            Ok(())
        } else {
            Err(id)
        }
    })
    .await;
    assert_eq!(deployment_id(&c).await, v1, "c waits for b");
    b.report(vec![b.entry("apps-web", &v2, BundleState::Ready)])
        .await;
    eventually(30, "c gets v2", || async {
        let id = deployment_id(&c).await;
        if id == v2 {
            Ok(())
        } else {
            Err(id)
        }
    })
    .await;
    c.report(vec![c.entry("apps-web", &v2, BundleState::Ready)])
        .await;
    eventually(30, "rollout settles", || async {
        let bundle = api.get("/api/v1/bundles?name=apps-web").await;
        if bundle["items"][0]["rollingOut"] == false {
            Ok(())
        } else {
            Err(bundle.to_string())
        }
    })
    .await;
}
