//! Helm hooks of a chart bundle, end to end against the Kubernetes API double: the order
//! Helm runs them in (weights, before and after the manifest, post hooks only once the
//! workloads are ready), delete policies, test hooks never run, delete hooks on uninstall,
//! and the release record's `hooks` as the real `helm get hooks` reads them.

mod support;

use std::io::Read;
use std::time::Duration;

use base64::Engine;
use fleet_bundle::bundle::{BundleDeploymentOptions, HelmOptions};
use fleet_bundle::deployment::BundleState;
use futures::TryStreamExt;
use kube::api::{DynamicObject, WatchEvent, WatchParams};
use serde_json::{json, Value};
use support::{deployment, eventually, World};

const LIMIT: Duration = Duration::from_secs(60);

const CHART: &str = "apiVersion: v2\nname: hooked\nversion: 0.1.0\n";

const APP: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: app
data:
  version: {{ .Values.version | quote }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
";

/// Against kind order (ConfigMap before Job), the weights put the Job first.
const PRE: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    \"helm.sh/hook\": pre-install
    \"helm.sh/hook-weight\": \"-5\"
    \"helm.sh/hook-delete-policy\": hook-succeeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: seed
  annotations:
    \"helm.sh/hook\": pre-install,pre-upgrade
    \"helm.sh/hook-weight\": \"5\"
data:
  release: {{ .Release.Name }}
";

/// Against name order, the weights put `z-first` first.
const POST: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: a-second
  annotations:
    \"helm.sh/hook\": post-install,post-upgrade
    \"helm.sh/hook-weight\": \"10\"
    \"helm.sh/hook-delete-policy\": hook-succeeded
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: z-first
  annotations:
    \"helm.sh/hook\": post-install,post-upgrade
    \"helm.sh/hook-weight\": \"-10\"
    \"helm.sh/hook-delete-policy\": before-hook-creation
";

const DELETE: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: cleanup
  annotations:
    \"helm.sh/hook\": pre-delete
    \"helm.sh/hook-delete-policy\": hook-succeeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: cleanup
        image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: farewell
  annotations:
    \"helm.sh/hook\": post-delete
";

const SMOKE: &str = "apiVersion: v1
kind: Pod
metadata:
  name: smoke
  annotations:
    \"helm.sh/hook\": test
spec:
  restartPolicy: Never
  containers:
  - name: wget
    image: busybox
";

fn options(version: &str) -> BundleDeploymentOptions {
    BundleDeploymentOptions {
        default_namespace: "shop".into(),
        helm: Some(HelmOptions {
            values: Some(json!({"version": version})),
            ..HelmOptions::default()
        }),
        ..BundleDeploymentOptions::default()
    }
}

/// One event of the double's watch history: `(resourceVersion, type, kind/name)`.
type Step = (u64, String, String);

/// What happened to objects of `kinds` in `namespace` after resourceVersion `after`, oldest
/// first. Every write bumps the double's one global resourceVersion, so the events of
/// different kinds interleave into the order the agent wrote them in.
async fn steps(world: &World, namespace: &str, kinds: &[(&str, &str)], after: u64) -> Vec<Step> {
    let mut out = Vec::new();
    for (api_version, kind) in kinds {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        let (resource, _) = kube::discovery::pinned_kind(&world.kube, &gvk)
            .await
            .unwrap();
        let api: kube::Api<DynamicObject> =
            kube::Api::namespaced_with(world.kube.clone(), namespace, &resource);
        let stream = api
            .watch(&WatchParams::default(), &after.to_string())
            .await
            .unwrap();
        futures::pin_mut!(stream);
        // The backlog comes at once; a quiet stream means it is all here.
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(300), stream.try_next())
                .await
                .map(Result::unwrap)
        {
            let (kind_of_event, obj) = match event {
                WatchEvent::Added(o) => ("ADDED", o),
                WatchEvent::Modified(o) => ("MODIFIED", o),
                WatchEvent::Deleted(o) => ("DELETED", o),
                _ => continue,
            };
            let rv = obj.metadata.resource_version.clone().unwrap_or_default();
            out.push((
                rv.parse().unwrap(),
                kind_of_event.to_string(),
                format!("{kind}/{}", obj.metadata.name.clone().unwrap_or_default()),
            ));
        }
    }
    out.sort();
    out
}

/// The resourceVersion of the first `event` of `object` in `steps`.
fn at(steps: &[Step], event: &str, object: &str) -> u64 {
    steps
        .iter()
        .find(|(_, e, o)| e == event && o == object)
        .unwrap_or_else(|| panic!("no {event} of {object} in {steps:#?}"))
        .0
}

fn count(steps: &[Step], event: &str, object: &str) -> usize {
    steps
        .iter()
        .filter(|(_, e, o)| e == event && o == object)
        .count()
}

const KINDS: &[(&str, &str)] = &[
    ("v1", "ConfigMap"),
    ("batch/v1", "Job"),
    ("apps/v1", "Deployment"),
    ("v1", "Pod"),
];

/// The decoded release record `revision` of `hooked`, as JSON.
async fn record(world: &World, revision: u32) -> Value {
    let secret = world
        .get(
            "v1",
            "Secret",
            "fleet-system",
            &format!("sh.helm.release.v1.hooked.v{revision}"),
        )
        .await
        .expect("release record");
    let b64 = base64::engine::general_purpose::STANDARD;
    let stored = b64
        .decode(secret["data"]["release"].as_str().unwrap())
        .unwrap();
    let gzipped = b64.decode(stored).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_string(&mut json)
        .unwrap();
    serde_json::from_str(&json).unwrap()
}

fn hook_record<'a>(release: &'a Value, name: &str) -> &'a Value {
    release["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap_or_else(|| panic!("no hook {name} in {}", release["hooks"]))
}

async fn reported(world: &World, id: &str) {
    eventually(&format!("hooked Ready at {id}"), LIMIT, || async {
        match world.manager.status_of("hooked") {
            Some(s) if s.applied_deployment_id == id && s.state == BundleState::Ready => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_hooks_run_as_helm_runs_them() {
    let mut world = World::start().await;
    // The same chart for both revisions; the values differ.
    let content = world.manager.add_content(&[
        ("Chart.yaml", CHART),
        ("templates/app.yaml", APP),
        ("templates/pre.yaml", PRE),
        ("templates/post.yaml", POST),
        ("templates/delete.yaml", DELETE),
        ("templates/tests/smoke.yaml", SMOKE),
    ]);
    // The workload stays NotReady until released: post-install hooks must wait for it.
    world
        .double
        .set_not_ready("apps", "Deployment", "shop", "web", true);
    world
        .manager
        .publish(vec![deployment("hooked", "h1", &content, options("one"))]);
    world.start_agent(world.config()).await;

    // --- install: pre-install hooks, the manifest, then (once ready) post-install.
    eventually("the manifest applied", LIMIT, || async {
        match world.get("apps/v1", "Deployment", "shop", "web").await {
            Some(_) => Ok(()),
            None => Err("no Deployment web yet".to_string()),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        world
            .get("v1", "ConfigMap", "shop", "z-first")
            .await
            .is_none(),
        "post-install hooks wait until the workloads are ready"
    );
    world
        .double
        .set_not_ready("apps", "Deployment", "shop", "web", false);
    reported(&world, "h1").await;

    let install = steps(&world, "shop", KINDS, 1).await;
    let migrate = at(&install, "ADDED", "Job/migrate");
    let seed = at(&install, "ADDED", "ConfigMap/seed");
    let app = at(&install, "ADDED", "ConfigMap/app");
    let web = at(&install, "ADDED", "Deployment/web");
    let z_first = at(&install, "ADDED", "ConfigMap/z-first");
    let a_second = at(&install, "ADDED", "ConfigMap/a-second");
    assert!(
        migrate < seed && seed < app.min(web),
        "pre-install by weight, before the manifest: {install:#?}"
    );
    assert!(
        app.max(web) < z_first && z_first < a_second,
        "post-install after the manifest, by weight: {install:#?}"
    );
    // hook-succeeded: deleted once every hook of the event succeeded, not before.
    assert!(
        at(&install, "DELETED", "Job/migrate") > seed,
        "{install:#?}"
    );
    assert!(at(&install, "DELETED", "ConfigMap/a-second") > a_second);
    assert!(world
        .get("batch/v1", "Job", "shop", "migrate")
        .await
        .is_none());
    assert!(world
        .get("v1", "ConfigMap", "shop", "a-second")
        .await
        .is_none());
    assert!(world.get("v1", "ConfigMap", "shop", "seed").await.is_some());
    assert!(world
        .get("v1", "ConfigMap", "shop", "z-first")
        .await
        .is_some());
    // Neither test nor delete hooks run on install.
    for never in ["Pod/smoke", "Job/cleanup", "ConfigMap/farewell"] {
        assert_eq!(count(&install, "ADDED", never), 0, "{never}: {install:#?}");
    }

    // --- what Helm reads back.
    let hooks = world.helm(&["-n", "fleet-system", "get", "hooks", "hooked"]);
    for name in [
        "migrate", "seed", "a-second", "z-first", "cleanup", "farewell", "smoke",
    ] {
        assert!(
            hooks.contains(&format!("name: {name}\n")),
            "{name}: {hooks}"
        );
    }
    assert!(
        hooks.contains("# Source: hooked/templates/tests/smoke.yaml\n"),
        "{hooks}"
    );
    // The chart's rendered text, not the agent's bookkeeping.
    assert!(hooks.contains("\"helm.sh/hook\": test\n"), "{hooks}");
    assert!(!hooks.contains("meta.helm.sh/release-name"), "{hooks}");
    let manifest = world.helm(&["-n", "fleet-system", "get", "manifest", "hooked"]);
    assert!(
        manifest.contains("name: app") && !manifest.contains("helm.sh/hook"),
        "{manifest}"
    );
    let v1 = record(&world, 1).await;
    let smoke = hook_record(&v1, "smoke");
    assert_eq!(smoke["events"], json!(["test"]));
    assert_eq!(
        smoke["last_run"],
        json!({"phase": ""}),
        "test hooks never run"
    );
    assert!(smoke.get("delete_policies").is_none() && smoke.get("weight").is_none());
    assert_eq!(smoke["path"], "hooked/templates/tests/smoke.yaml");
    let migrate_record = hook_record(&v1, "migrate");
    assert_eq!(migrate_record["kind"], "Job");
    assert_eq!(migrate_record["weight"], -5);
    assert_eq!(migrate_record["delete_policies"], json!(["hook-succeeded"]));
    assert_eq!(migrate_record["last_run"]["phase"], "Succeeded");
    assert!(migrate_record["last_run"]["started_at"].is_string());
    assert!(migrate_record["last_run"]["completed_at"].is_string());
    // Helm records its default policy once the hook has run.
    assert_eq!(
        hook_record(&v1, "seed")["delete_policies"],
        json!(["before-hook-creation"])
    );
    assert_eq!(
        hook_record(&v1, "cleanup")["last_run"],
        json!({"phase": ""})
    );

    // --- upgrade: pre-upgrade, the manifest, post-upgrade; pre-install does not run.
    let mark = install.last().unwrap().0;
    world
        .manager
        .publish(vec![deployment("hooked", "h2", &content, options("two"))]);
    reported(&world, "h2").await;
    assert_eq!(
        world.get("v1", "ConfigMap", "shop", "app").await.unwrap()["data"]["version"],
        "two"
    );
    let upgrade = steps(&world, "shop", KINDS, mark).await;
    // before-hook-creation: the object of the last run goes first.
    let seed_gone = at(&upgrade, "DELETED", "ConfigMap/seed");
    let seed_again = at(&upgrade, "ADDED", "ConfigMap/seed");
    let app_changed = at(&upgrade, "MODIFIED", "ConfigMap/app");
    let z_again = at(&upgrade, "ADDED", "ConfigMap/z-first");
    let a_again = at(&upgrade, "ADDED", "ConfigMap/a-second");
    assert!(
        seed_gone < seed_again
            && seed_again < app_changed
            && app_changed < at(&upgrade, "DELETED", "ConfigMap/z-first")
            && at(&upgrade, "DELETED", "ConfigMap/z-first") < z_again
            && z_again < a_again
            && a_again < at(&upgrade, "DELETED", "ConfigMap/a-second"),
        "{upgrade:#?}"
    );
    assert_eq!(count(&upgrade, "ADDED", "Job/migrate"), 0, "{upgrade:#?}");
    assert_eq!(count(&upgrade, "ADDED", "Pod/smoke"), 0, "{upgrade:#?}");
    let v2 = record(&world, 2).await;
    assert_eq!(hook_record(&v2, "seed")["last_run"]["phase"], "Succeeded");
    assert_eq!(
        hook_record(&v2, "migrate")["last_run"],
        json!({"phase": ""}),
        "pre-install hooks do not run on upgrade"
    );

    // --- uninstall: pre-delete, the objects, post-delete.
    let mark = upgrade.last().unwrap().0;
    world.manager.publish(vec![]);
    eventually("the release uninstalled", LIMIT, || async {
        let list = world.helm_json(&["-n", "fleet-system", "ls"]);
        if list.as_array().is_some_and(Vec::is_empty) {
            Ok(())
        } else {
            Err(list.to_string())
        }
    })
    .await;
    let uninstall = steps(&world, "shop", KINDS, mark).await;
    let cleanup = at(&uninstall, "ADDED", "Job/cleanup");
    let app_gone = at(&uninstall, "DELETED", "ConfigMap/app");
    let farewell = at(&uninstall, "ADDED", "ConfigMap/farewell");
    assert!(
        cleanup < app_gone && app_gone < farewell,
        "pre-delete, objects, post-delete: {uninstall:#?}"
    );
    assert!(at(&uninstall, "DELETED", "Job/cleanup") < app_gone);
    let farewell = world
        .get("v1", "ConfigMap", "shop", "farewell")
        .await
        .expect("a post-delete hook with the default policy stays");
    assert_eq!(farewell["metadata"]["namespace"], "shop");
    assert_eq!(count(&uninstall, "ADDED", "Pod/smoke"), 0);
    world.kill_agent().await;
}

const FAILING: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: prep
  annotations:
    \"helm.sh/hook\": pre-install
    \"helm.sh/hook-weight\": \"-1\"
    \"helm.sh/hook-delete-policy\": hook-succeeded
---
apiVersion: batch/v1
kind: Job
metadata:
  name: gate
  annotations:
    \"helm.sh/hook\": pre-install
    \"helm.sh/hook-delete-policy\": hook-failed
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: gate
        image: busybox
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_fails_the_revision_and_follows_its_policies() {
    let mut world = World::start().await;
    let content = world.manager.add_content(&[
        ("Chart.yaml", CHART),
        ("templates/app.yaml", APP),
        ("templates/pre.yaml", FAILING),
    ]);
    // The Job never completes: it fails once `helm.timeoutSec` is up.
    world
        .double
        .set_not_ready("batch", "Job", "shop", "gate", true);
    let mut opts = options("one");
    if let Some(helm) = opts.helm.as_mut() {
        helm.timeout_seconds = 2;
    }
    world
        .manager
        .publish(vec![deployment("hooked", "h1", &content, opts)]);
    world.start_agent(world.config()).await;

    let v1 = eventually("revision 1 recorded failed", LIMIT, || async {
        let Some(secret) = world
            .get(
                "v1",
                "Secret",
                "fleet-system",
                "sh.helm.release.v1.hooked.v1",
            )
            .await
        else {
            return Err("no record yet".to_string());
        };
        match secret["metadata"]["labels"]["status"].as_str() {
            Some("failed") => Ok(record(&world, 1).await),
            other => Err(format!("status {other:?}")),
        }
    })
    .await;
    let description = v1["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("gate") && description.contains("not finished within 2s"),
        "{description}"
    );
    assert_eq!(hook_record(&v1, "gate")["last_run"]["phase"], "Failed");
    assert_eq!(hook_record(&v1, "prep")["last_run"]["phase"], "Succeeded");
    let history = steps(&world, "shop", KINDS, 1).await;
    // A failed pre-install hook stops the install before the manifest.
    let failed = at(&history, "DELETED", "Job/gate");
    assert!(
        at(&history, "ADDED", "Job/gate") < failed
            && history
                .iter()
                .filter(|(_, e, o)| e == "ADDED" && o == "ConfigMap/app")
                .all(|(rv, _, _)| *rv > failed),
        "hook-failed deletes the Job, the manifest waits: {history:#?}"
    );
    // hook-succeeded applies only when the whole event succeeded.
    assert_eq!(
        count(&history, "DELETED", "ConfigMap/prep"),
        0,
        "{history:#?}"
    );
    assert!(world.get("v1", "ConfigMap", "shop", "prep").await.is_some());
    world.kill_agent().await;
}
