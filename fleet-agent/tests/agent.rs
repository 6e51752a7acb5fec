//! The agent against the Kubernetes API double and an in-test manager speaking the agent
//! API: deploy, Helm's view, upgrade and prune, drift, offline operation, restart,
//! dependsOn, CRDs, a corrupted cache and a hostile bundle.

mod support;

use std::time::Duration;

use fleet_bundle::bundle::{BundleDeploymentOptions, BundleRef, CorrectDrift, HelmOptions};
use fleet_bundle::deployment::{BundleDeploymentStatus, BundleState};
use serde_json::json;
use support::{deployment, eventually, World};

const LIMIT: Duration = Duration::from_secs(60);

fn cm(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  key: {value}\n")
}

/// Waits until the manager holds a status of `bundle` for `id` in `state`.
async fn reported(
    world: &World,
    bundle: &str,
    id: &str,
    state: BundleState,
) -> BundleDeploymentStatus {
    eventually(
        &format!("{bundle} reported {state} for {id}"),
        LIMIT,
        || async {
            match world.manager.status_of(bundle) {
                Some(s) if s.applied_deployment_id == id && s.state == state => Ok(s),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

fn shop() -> BundleDeploymentOptions {
    BundleDeploymentOptions {
        default_namespace: "shop".into(),
        namespace_labels: [("team".to_string(), "web".to_string())].into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_upgrades_and_prunes_as_a_helm_release() {
    let mut world = World::start().await;
    let v1 = world
        .manager
        .add_content(&[("a.yaml", &cm("a", "one")), ("b.yaml", &cm("b", "one"))]);
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, shop())]);
    world.start_agent(world.config()).await;

    let status = reported(&world, "web", "d1", BundleState::Ready).await;
    assert_eq!(status.release, "fleet-system/web:1");
    let live = world
        .get("v1", "ConfigMap", "shop", "a")
        .await
        .expect("ConfigMap a deployed");
    assert_eq!(live["data"]["key"], "one");
    assert_eq!(
        live["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "Helm"
    );
    assert_eq!(
        live["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "web"
    );
    assert_eq!(
        live["metadata"]["annotations"]["meta.helm.sh/release-namespace"],
        "fleet-system"
    );
    let ns = world.get("v1", "Namespace", "", "shop").await.unwrap();
    assert_eq!(ns["metadata"]["labels"]["team"], "web");

    let list = world.helm_json(&["-n", "fleet-system", "ls"]);
    assert_eq!(list[0]["name"], "web");
    assert_eq!(list[0]["revision"], "1");
    assert_eq!(list[0]["status"], "deployed");
    let manifest = world.helm(&["-n", "fleet-system", "get", "manifest", "web"]);
    assert!(manifest.contains("name: b"), "{manifest}");
    // The record has Helm's storage shape.
    let record = world
        .get("v1", "Secret", "fleet-system", "sh.helm.release.v1.web.v1")
        .await
        .unwrap();
    assert_eq!(record["type"], "helm.sh/release.v1");
    let labels: Vec<&str> = record["metadata"]["labels"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // Helm's own labels, plus the owning bundle's (as `helm install --labels` adds them).
    assert_eq!(
        labels,
        [
            "fleet.cattle.io/bundle-name",
            "fleet.cattle.io/bundle-namespace",
            "modifiedAt",
            "name",
            "owner",
            "status",
            "version"
        ]
    );
    assert_eq!(record["metadata"]["labels"]["owner"], "helm");
    assert_eq!(record["metadata"]["labels"]["status"], "deployed");

    // Second deploymentID: b removed, a changed.
    let v2 = world.manager.add_content(&[("a.yaml", &cm("a", "two"))]);
    world
        .manager
        .publish(vec![deployment("web", "d2", &v2, shop())]);
    let status = reported(&world, "web", "d2", BundleState::Ready).await;
    assert_eq!(status.release, "fleet-system/web:2");
    assert_eq!(
        world.get("v1", "ConfigMap", "shop", "a").await.unwrap()["data"]["key"],
        "two"
    );
    assert!(
        world.get("v1", "ConfigMap", "shop", "b").await.is_none(),
        "b is pruned"
    );

    let history = world.helm_json(&["-n", "fleet-system", "history", "web"]);
    let statuses: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["revision"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!(1), json!("superseded")),
            (json!(2), json!("deployed"))
        ]
    );
    let status_text = world.helm(&["-n", "fleet-system", "status", "web"]);
    assert!(status_text.contains("REVISION: 2"), "{status_text}");
    let manifest = world.helm(&["-n", "fleet-system", "get", "manifest", "web"]);
    assert!(!manifest.contains("name: b"), "{manifest}");

    // The bundle goes away: its release is uninstalled.
    world.manager.publish(vec![]);
    eventually("release uninstalled", LIMIT, || async {
        let list = world.helm_json(&[
            "-n",
            "fleet-system",
            "ls",
            "--superseded",
            "--failed",
            "--pending",
        ]);
        if list.as_array().is_some_and(|l| l.is_empty())
            && world.get("v1", "ConfigMap", "shop", "a").await.is_none()
        {
            Ok(())
        } else {
            Err(list.to_string())
        }
    })
    .await;
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_reported_corrected_and_held_while_offline() {
    let mut world = World::start().await;
    let fixed = world
        .manager
        .add_content(&[("fixed.yaml", &cm("fixed", "good"))]);
    let watched = world
        .manager
        .add_content(&[("watched.yaml", &cm("watched", "good"))]);
    let correcting = BundleDeploymentOptions {
        correct_drift: Some(CorrectDrift {
            enabled: true,
            ..Default::default()
        }),
        ..shop()
    };
    world.manager.publish(vec![
        deployment("fixer", "f1", &fixed, correcting),
        deployment("reporter", "r1", &watched, shop()),
    ]);
    world.start_agent(world.config()).await;
    reported(&world, "fixer", "f1", BundleState::Ready).await;
    reported(&world, "reporter", "r1", BundleState::Ready).await;

    // Without correctDrift the change is reported with its path.
    world
        .merge_patch(
            "v1",
            "ConfigMap",
            "shop",
            "watched",
            json!({"data": {"key": "evil"}}),
        )
        .await;
    let status = reported(&world, "reporter", "r1", BundleState::Modified).await;
    assert_eq!(status.modified[0].name, "watched");
    assert_eq!(status.modified[0].paths, ["data.key"]);

    // With correctDrift it is undone.
    world
        .merge_patch(
            "v1",
            "ConfigMap",
            "shop",
            "fixed",
            json!({"data": {"key": "evil"}}),
        )
        .await;
    eventually("drift corrected", LIMIT, || async {
        let live = world.get("v1", "ConfigMap", "shop", "fixed").await.unwrap();
        if live["data"]["key"] == "good" {
            Ok(())
        } else {
            Err(live["data"].to_string())
        }
    })
    .await;

    // Cut off from the manager, the agent keeps correcting from its cache...
    world.manager.set_offline(true);
    let reports_before = world.manager.report_count();
    world.delete("v1", "ConfigMap", "shop", "fixed").await;
    eventually("deleted object restored offline", LIMIT, || async {
        match world.get("v1", "ConfigMap", "shop", "fixed").await {
            Some(live) if live["data"]["key"] == "good" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    world
        .merge_patch(
            "v1",
            "ConfigMap",
            "shop",
            "watched",
            json!({"data": {"key": "good"}}),
        )
        .await;
    assert_eq!(
        world.manager.report_count(),
        reports_before,
        "nothing reaches an offline manager"
    );

    // ...and reports on reconnect: the reporter bundle is Ready again.
    world.manager.set_offline(false);
    reported(&world, "reporter", "r1", BundleState::Ready).await;
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_resumes_without_reapplying() {
    let mut world = World::start().await;
    let v1 = world.manager.add_content(&[("a.yaml", &cm("a", "one"))]);
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, shop())]);
    world.start_agent(world.config()).await;
    reported(&world, "web", "d1", BundleState::Ready).await;
    world.kill_agent().await;

    // It restarts while the manager is down: it works from its cache alone.
    world.manager.set_offline(true);
    world.start_agent(world.config()).await;
    world.manager.set_offline(false);
    let registrations = world.manager.state.lock().unwrap().registrations;
    let reports = world.manager.report_count();
    eventually("reports after restart", LIMIT, || async {
        if world.manager.report_count() > reports + 1 {
            Ok(())
        } else {
            Err("no report yet".into())
        }
    })
    .await;
    assert_eq!(
        world.manager.state.lock().unwrap().registrations,
        registrations,
        "the stored credential is reused"
    );
    let list = world.helm_json(&["-n", "fleet-system", "ls"]);
    assert_eq!(
        list[0]["revision"], "1",
        "no new revision for an unchanged bundle"
    );
    let history = world.helm_json(&["-n", "fleet-system", "history", "web"]);
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(
        world.manager.status_of("web").unwrap().state,
        BundleState::Ready
    );
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_orders_bundles_and_crds_come_first() {
    let mut world = World::start().await;
    let crd = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;
    let widget =
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n";
    let db = world
        .manager
        .add_content(&[("crd.yaml", crd), ("widget.yaml", widget)]);
    let app = world.manager.add_content(&[("app.yaml", &cm("app", "on"))]);
    let mut app_deployment = deployment("app", "a1", &app, shop());
    app_deployment.depends_on = vec![BundleRef {
        name: "db".into(),
        ..Default::default()
    }];
    // The dependency is published after its dependent: the agent must still wait.
    world.manager.publish(vec![app_deployment.clone()]);
    world.start_agent(world.config()).await;
    let pending = eventually("app pending", LIMIT, || async {
        match world.manager.status_of("app") {
            Some(s) if s.state == BundleState::Pending => Ok(s),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(pending.message.contains("db"), "{}", pending.message);
    assert!(world.get("v1", "ConfigMap", "shop", "app").await.is_none());

    world
        .manager
        .publish(vec![app_deployment, deployment("db", "b1", &db, shop())]);
    reported(&world, "db", "b1", BundleState::Ready).await;
    let w = world
        .get("example.com/v1", "Widget", "shop", "w1")
        .await
        .expect("custom resource applied");
    assert_eq!(w["spec"]["size"], 3);
    reported(&world, "app", "a1", BundleState::Ready).await;
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_cache_is_recovered() {
    let mut world = World::start().await;
    let v1 = world.manager.add_content(&[("a.yaml", &cm("a", "one"))]);
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, shop())]);
    world.start_agent(world.config()).await;
    reported(&world, "web", "d1", BundleState::Ready).await;
    world.kill_agent().await;

    let dir = world.state_dir.path().to_path_buf();
    std::fs::write(
        dir.join("desired.json"),
        b"fleet-agent-state v1 sha256=00\n{\"torn",
    )
    .unwrap();
    for entry in std::fs::read_dir(dir.join("content")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let before = world.manager.report_count();
    world.start_agent(world.config()).await;
    eventually("agent reports again after recovering", LIMIT, || async {
        match world.manager.status_of("web") {
            Some(s) if world.manager.report_count() > before && s.state == BundleState::Ready => {
                Ok(())
            }
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(std::fs::read(dir.join("desired.json"))
        .unwrap()
        .starts_with(b"fleet-agent-state v1 sha256="));
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bundles_cannot_leave_their_namespaces() {
    let mut world = World::start().await;
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: evil\nrules: []\n";
    let escaping = world
        .manager
        .add_content(&[("role.yaml", role), ("a.yaml", &cm("a", "x"))]);
    let sneaky = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n  namespace: kube-system\nstringData:\n  k: v\n";
    let other_ns = world.manager.add_content(&[("s.yaml", sneaky)]);
    let fenced = BundleDeploymentOptions {
        target_namespace: "team-a".into(),
        ..Default::default()
    };
    world.manager.publish(vec![
        deployment("escaping", "e1", &escaping, fenced),
        deployment("sneaky", "s1", &other_ns, Default::default()),
    ]);
    let mut config = world.config();
    config.allowed_namespaces = vec!["team-*".into()];
    world.start_agent(config).await;

    let escaping = eventually("escaping refused", LIMIT, || async {
        match world.manager.status_of("escaping") {
            Some(s) if s.state == BundleState::ErrApplied => Ok(s),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        escaping.message.contains("cluster-scoped"),
        "{}",
        escaping.message
    );
    let sneaky = eventually("sneaky refused", LIMIT, || async {
        match world.manager.status_of("sneaky") {
            Some(s) if s.state == BundleState::ErrApplied => Ok(s),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(sneaky.message.contains("kube-system"), "{}", sneaky.message);
    assert!(world
        .get("rbac.authorization.k8s.io/v1", "ClusterRole", "", "evil")
        .await
        .is_none());
    assert!(
        world.get("v1", "ConfigMap", "team-a", "a").await.is_none(),
        "nothing of a refused bundle is applied"
    );
    assert!(world
        .get("v1", "Secret", "kube-system", "stolen")
        .await
        .is_none());
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_credential_registers_again() {
    let mut world = World::start().await;
    let v1 = world.manager.add_content(&[("a.yaml", &cm("a", "one"))]);
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, shop())]);
    world.start_agent(world.config()).await;
    reported(&world, "web", "d1", BundleState::Ready).await;
    assert_eq!(world.manager.state.lock().unwrap().registrations, 1);
    world.manager.forget_credentials();
    eventually("registered again", LIMIT, || async {
        let n = world.manager.state.lock().unwrap().registrations;
        if n == 2 {
            Ok(())
        } else {
            Err(format!("{n} registrations"))
        }
    })
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(world.state_dir.path().join("credential.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_seen_through_watches_between_resyncs() {
    let mut world = World::start().await;
    let v1 = world.manager.add_content(&[("a.yaml", &cm("a", "one"))]);
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, shop())]);
    let mut config = world.config();
    // No periodic resync during the test: only the watch can notice the change.
    config.resync_interval = Duration::from_secs(3600);
    world.start_agent(config).await;
    reported(&world, "web", "d1", BundleState::Ready).await;
    world
        .merge_patch(
            "v1",
            "ConfigMap",
            "shop",
            "a",
            json!({"data": {"key": "changed"}}),
        )
        .await;
    let status = reported(&world, "web", "d1", BundleState::Modified).await;
    assert_eq!(status.modified[0].paths, ["data.key"]);
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_run_in_order_and_are_recorded() {
    let mut world = World::start().await;
    let hook = |name: &str, events: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  annotations:\n    helm.sh/hook: {events}\n{extra}data:\n  k: v\n"
        )
    };
    let pre = hook(
        "pre",
        "pre-install",
        "    helm.sh/hook-delete-policy: hook-succeeded\n    helm.sh/hook-weight: \"-5\"\n",
    );
    let post = hook("post", "post-install,post-upgrade", "");
    let test = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: smoke\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers:\n  - name: t\n    image: busybox\n";
    let v1 = world.manager.add_content(&[
        ("main.yaml", &cm("main", "x")),
        ("pre.yaml", &pre),
        ("post.yaml", &post),
        ("test.yaml", test),
    ]);
    world
        .manager
        .publish(vec![deployment("hooked", "h1", &v1, shop())]);
    world.start_agent(world.config()).await;
    reported(&world, "hooked", "h1", BundleState::Ready).await;
    assert!(world.get("v1", "ConfigMap", "shop", "main").await.is_some());
    assert!(
        world.get("v1", "ConfigMap", "shop", "post").await.is_some(),
        "post-install hook ran and stays"
    );
    assert!(
        world.get("v1", "ConfigMap", "shop", "pre").await.is_none(),
        "hook-succeeded deletes it"
    );
    assert!(
        world.get("v1", "Pod", "shop", "smoke").await.is_none(),
        "test hooks do not run"
    );
    let hooks = world.helm(&["-n", "fleet-system", "get", "hooks", "hooked"]);
    assert!(
        hooks.contains("name: pre")
            && hooks.contains("name: post")
            && hooks.contains("name: smoke"),
        "{hooks}"
    );
    let manifest = world.helm(&["-n", "fleet-system", "get", "manifest", "hooked"]);
    assert!(
        manifest.contains("name: main") && !manifest.contains("name: post"),
        "{manifest}"
    );
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_objects_are_adopted_only_when_asked() {
    let mut world = World::start().await;
    world
        .create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}))
        .await;
    world
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "shop"}, "data": {"key": "theirs"}}))
        .await;
    let v1 = world.manager.add_content(&[("a.yaml", &cm("a", "ours"))]);
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, shop())]);
    world.start_agent(world.config()).await;
    let refused = eventually("foreign object refused", LIMIT, || async {
        match world.manager.status_of("web") {
            Some(s) if s.state == BundleState::ErrApplied => Ok(s),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert!(
        refused.message.contains("takeOwnership"),
        "{}",
        refused.message
    );
    assert_eq!(
        world.get("v1", "ConfigMap", "shop", "a").await.unwrap()["data"]["key"],
        "theirs"
    );
    let failed = world.helm_json(&["-n", "fleet-system", "ls", "--failed"]);
    assert_eq!(failed[0]["status"], "failed");

    let adopt = BundleDeploymentOptions {
        helm: Some(HelmOptions {
            take_ownership: true,
            ..Default::default()
        }),
        ..shop()
    };
    world
        .manager
        .publish(vec![deployment("web", "d2", &v1, adopt)]);
    reported(&world, "web", "d2", BundleState::Ready).await;
    let live = world.get("v1", "ConfigMap", "shop", "a").await.unwrap();
    assert_eq!(live["data"]["key"], "ours");
    assert_eq!(
        live["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "web"
    );
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_resources_survive_uninstall_and_values_reach_helm() {
    let mut world = World::start().await;
    let v1 = world.manager.add_content(&[("a.yaml", &cm("a", "one"))]);
    let options = BundleDeploymentOptions {
        keep_resources: true,
        helm: Some(HelmOptions {
            values: Some(json!({"replicas": 3})),
            ..Default::default()
        }),
        ..shop()
    };
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, options)]);
    world.start_agent(world.config()).await;
    reported(&world, "web", "d1", BundleState::Ready).await;
    let values = world.helm_json(&["-n", "fleet-system", "get", "values", "web"]);
    assert_eq!(values, json!({"replicas": 3}));
    world.manager.publish(vec![]);
    eventually("release gone", LIMIT, || async {
        let list = world.helm_json(&["-n", "fleet-system", "ls"]);
        if list.as_array().is_some_and(|l| l.is_empty()) {
            Ok(())
        } else {
            Err(list.to_string())
        }
    })
    .await;
    assert!(
        world.get("v1", "ConfigMap", "shop", "a").await.is_some(),
        "keepResources keeps the objects"
    );
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_trimmed_to_max_history() {
    let mut world = World::start().await;
    let options = BundleDeploymentOptions {
        helm: Some(HelmOptions {
            max_history: 2,
            ..Default::default()
        }),
        ..shop()
    };
    world.start_agent(world.config()).await;
    for (i, value) in ["one", "two", "three"].iter().enumerate() {
        let digest = world.manager.add_content(&[("a.yaml", &cm("a", value))]);
        let id = format!("d{i}");
        world
            .manager
            .publish(vec![deployment("web", &id, &digest, options.clone())]);
        reported(&world, "web", &id, BundleState::Ready).await;
    }
    let history = world.helm_json(&["-n", "fleet-system", "history", "web"]);
    let revisions: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["revision"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        revisions,
        [
            (json!(2), json!("superseded")),
            (json!(3), json!("deployed"))
        ]
    );
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaled_workload_is_scaled_back_with_correct_drift() {
    let mut world = World::start().await;
    let web = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
    let v1 = world.manager.add_content(&[("deploy.yaml", web)]);
    let options = BundleDeploymentOptions {
        target_namespace: "app".into(),
        correct_drift: Some(CorrectDrift {
            enabled: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, options)]);
    let mut config = world.config();
    config.resync_interval = Duration::from_secs(3600);
    world.start_agent(config).await;
    reported(&world, "web", "d1", BundleState::Ready).await;
    world.manager.set_offline(true);
    world.scale("apps/v1", "Deployment", "app", "web", 7).await;
    eventually("scaled back", LIMIT, || async {
        let live = world
            .get("apps/v1", "Deployment", "app", "web")
            .await
            .unwrap();
        if live["spec"]["replicas"] == 2 {
            Ok(())
        } else {
            Err(live["spec"]["replicas"].to_string())
        }
    })
    .await;
    world.kill_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_reported_per_resource() {
    let mut world = World::start().await;
    let web = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n";
    world
        .double
        .set_not_ready("apps", "Deployment", "shop", "web", true);
    let v1 = world
        .manager
        .add_content(&[("deploy.yaml", web), ("cm.yaml", &cm("settings", "x"))]);
    world
        .manager
        .publish(vec![deployment("web", "d1", &v1, shop())]);
    world.start_agent(world.config()).await;
    let status = reported(&world, "web", "d1", BundleState::NotReady).await;
    assert_eq!(status.non_ready.len(), 1, "{status:?}");
    assert_eq!(status.non_ready[0].kind, "Deployment");
    assert_eq!(status.non_ready[0].name, "web");
    assert!(!status.non_ready[0].message.is_empty());
    world
        .double
        .set_not_ready("apps", "Deployment", "shop", "web", false);
    reported(&world, "web", "d1", BundleState::Ready).await;
    world.kill_agent().await;
}
