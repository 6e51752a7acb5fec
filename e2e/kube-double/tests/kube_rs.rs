//! The double driven by kube-rs: typed and dynamic APIs, watcher, SSA, status simulation.

mod common;

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use kube::runtime::watcher;
use kube::Api;
use serde_json::json;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"}
    }))
    .expect("configmap")
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_configmap_crud_with_server_semantics() {
    let double = common::start().await;
    let client = common::client(&double).await;
    namespace(&client, "demo").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");

    let created = api
        .create(
            &PostParams::default(),
            &cm("cm1", &[("app", "x"), ("tier", "a")]),
        )
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some(), "server sets uid");
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1 = created.metadata.resource_version.clone().expect("rv");

    let again = api_error(
        api.create(&PostParams::default(), &cm("cm1", &[]))
            .await
            .expect_err("duplicate"),
    );
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));

    api.create(&PostParams::default(), &cm("cm2", &[("app", "y")]))
        .await
        .expect("create 2");
    api.create(&PostParams::default(), &cm("cm3", &[("app", "z")]))
        .await
        .expect("create 3");

    let selected = api
        .list(&ListParams::default().labels("app in (x,z),tier"))
        .await
        .expect("list");
    let names: Vec<_> = selected
        .items
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    assert_eq!(names, ["cm1"]);
    let by_field = api
        .list(&ListParams::default().fields("metadata.name=cm2"))
        .await
        .expect("list");
    assert_eq!(by_field.items.len(), 1);
    let bad = api_error(
        api.list(&ListParams::default().labels("app in x"))
            .await
            .expect_err("bad selector"),
    );
    assert_eq!(bad.code, 400);
    assert_eq!(
        bad.message,
        "unable to parse requirement: found 'x' expected: '('"
    );

    let page = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page");
    assert_eq!(page.items.len(), 2);
    let token = page.metadata.continue_.clone().expect("continue token");
    let rest = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("rest");
    assert_eq!(rest.items.len(), 1);

    // Optimistic concurrency.
    let mut stale = created.clone();
    stale.metadata.resource_version = Some("1".into());
    let conflict = api_error(
        api.replace("cm1", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!((conflict.code, conflict.reason.as_str()), (409, "Conflict"));
    let mut current = created.clone();
    current.data = Some(BTreeMap::from([("k".to_string(), "v2".to_string())]));
    let replaced = api
        .replace("cm1", &PostParams::default(), &current)
        .await
        .expect("replace");
    assert_ne!(
        replaced.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );

    // Merge and JSON patches.
    let merged = api
        .patch(
            "cm1",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k2": "v"}, "metadata": {"labels": {"tier": null}}})),
        )
        .await
        .expect("merge patch");
    assert_eq!(
        merged
            .data
            .as_ref()
            .and_then(|d| d.get("k2"))
            .map(String::as_str),
        Some("v")
    );
    assert!(!merged
        .metadata
        .labels
        .as_ref()
        .expect("labels")
        .contains_key("tier"));
    let patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/data/k", "value": "v3"}]))
            .expect("patch");
    let jsonp = api
        .patch("cm1", &PatchParams::default(), &Patch::Json::<()>(patch))
        .await
        .expect("json patch");
    assert_eq!(
        jsonp
            .data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("v3")
    );

    // Dry run leaves nothing behind.
    api.create(
        &PostParams {
            dry_run: true,
            ..Default::default()
        },
        &cm("ghost", &[]),
    )
    .await
    .expect("dry run");
    assert!(api.get_opt("ghost").await.expect("get").is_none());

    // Deleting twice: Success then NotFound.
    api.delete("cm2", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = api_error(
        api.delete("cm2", &DeleteParams::default())
            .await
            .expect_err("gone"),
    );
    assert_eq!((gone.code, gone.reason.as_str()), (404, "NotFound"));

    // Namespaces must exist.
    let ghost: Api<ConfigMap> = Api::namespaced(client.clone(), "ghost");
    let missing = api_error(
        ghost
            .create(&PostParams::default(), &cm("a", &[]))
            .await
            .expect_err("no ns"),
    );
    assert_eq!(missing.message, "namespaces \"ghost\" not found");

    // Invalid names are 422 with a cause.
    let invalid = api_error(
        api.create(&PostParams::default(), &cm("Bad_Name", &[]))
            .await
            .expect_err("invalid"),
    );
    assert_eq!((invalid.code, invalid.reason.as_str()), (422, "Invalid"));
    let causes = invalid.details.expect("details").causes;
    assert_eq!(causes[0].field, "metadata.name");
    double.shutdown().await;
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let double = common::start().await;
    let client = common::client(&double).await;
    namespace(&client, "demo").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    let mut held = cm("fin", &[]);
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held)
        .await
        .expect("create");
    let first = api
        .delete("fin", &DeleteParams::default())
        .await
        .expect("delete");
    let terminating = first
        .left()
        .expect("object returned while finalizers remain");
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert!(
        api.get_opt("fin").await.expect("get").is_some(),
        "still there"
    );
    api.patch(
        "fin",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("unfinalize");
    assert!(
        api.get_opt("fin").await.expect("get").is_none(),
        "gone once finalizers are removed"
    );
    double.shutdown().await;
}

fn deployment(replicas: i32, ports: bool) -> serde_json::Value {
    let mut container = json!({"name": "web", "image": "nginx:1.25"});
    if ports {
        container["ports"] = json!([{"containerPort": 80}]);
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}})
}

#[tokio::test]
async fn server_side_apply_ownership_conflicts_and_status() {
    let double = common::start().await;
    let client = common::client(&double).await;
    namespace(&client, "demo").await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    let agent = PatchParams::apply("fleet-agent").force();

    let created = api
        .patch("web", &agent, &Patch::Apply(deployment(2, true)))
        .await
        .expect("apply creates");
    assert_eq!(created.metadata.generation, Some(1));
    let managed = created
        .metadata
        .managed_fields
        .clone()
        .expect("managedFields");
    assert_eq!(managed[0].manager.as_deref(), Some("fleet-agent"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_value(&managed[0].fields_v1).expect("fields");
    assert!(
        fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]["f:ports"]
            .get("k:{\"containerPort\":80,\"protocol\":\"TCP\"}")
            .is_some(),
        "{fields}"
    );

    // Re-applying the same configuration is a no-op.
    let same = api
        .patch("web", &agent, &Patch::Apply(deployment(2, true)))
        .await
        .expect("reapply");
    assert_eq!(same.metadata.generation, Some(1));

    // Another manager takes replicas; applying without force conflicts.
    api.patch(
        "web",
        &PatchParams {
            field_manager: Some("kubectl-edit".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .expect("edit");
    let conflict = api_error(
        api.patch(
            "web",
            &PatchParams::apply("fleet-agent"),
            &Patch::Apply(deployment(2, true)),
        )
        .await
        .expect_err("conflict"),
    );
    assert_eq!(conflict.code, 409);
    assert_eq!(conflict.message, "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas");
    let forced = api
        .patch("web", &agent, &Patch::Apply(deployment(2, true)))
        .await
        .expect("force");
    assert_eq!(forced.spec.as_ref().and_then(|s| s.replicas), Some(2));
    assert_eq!(forced.metadata.generation, Some(3));

    // Dropping a field from the applied configuration removes it.
    let dropped = api
        .patch("web", &agent, &Patch::Apply(deployment(2, false)))
        .await
        .expect("drop ports");
    let container = &dropped
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .as_ref()
        .expect("pod")
        .containers[0];
    assert!(container.ports.is_none());

    // Missing field manager.
    let missing = api_error(
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Apply(deployment(2, false)),
        )
        .await
        .expect_err("needs manager"),
    );
    assert_eq!(missing.code, 422);

    // The status simulator makes it available with the current generation observed.
    let ready = common::eventually(|| {
        let api = api.clone();
        async move {
            let d = api.get("web").await.ok()?;
            let status = d.status?;
            (status.observed_generation == d.metadata.generation
                && status.available_replicas == Some(2))
            .then_some(status)
        }
    })
    .await;
    assert!(ready
        .conditions
        .expect("conditions")
        .iter()
        .any(|c| c.type_ == "Available" && c.status == "True"));

    // Status on the main resource is ignored; the status subresource ignores spec.
    let ignored = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 99}})),
        )
        .await
        .expect("patch");
    assert_ne!(ignored.status.and_then(|s| s.replicas), Some(99));
    let status_only = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"replicas": 9}})),
        )
        .await
        .expect("status patch");
    assert_eq!(status_only.spec.and_then(|s| s.replicas), Some(2));
    assert_eq!(status_only.status.and_then(|s| s.replicas), Some(9));
    double.shutdown().await;
}

#[tokio::test]
async fn not_ready_hold_keeps_a_deployment_unavailable() {
    let double = common::start().await;
    let client = common::client(&double).await;
    namespace(&client, "demo").await;
    double.set_not_ready("apps", "Deployment", "demo", "web", true);
    let api: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    api.patch(
        "web",
        &PatchParams::apply("t").force(),
        &Patch::Apply(deployment(1, false)),
    )
    .await
    .expect("apply");
    let status = common::eventually(|| {
        let api = api.clone();
        async move {
            api.get("web")
                .await
                .ok()?
                .status
                .filter(|s| s.observed_generation == Some(1))
        }
    })
    .await;
    assert_eq!(status.available_replicas, None);
    assert!(status
        .conditions
        .expect("conditions")
        .iter()
        .any(|c| c.type_ == "Available" && c.status == "False"));
    double.set_not_ready("apps", "Deployment", "demo", "web", false);
    common::eventually(|| {
        let api = api.clone();
        async move { (api.get("web").await.ok()?.status?.available_replicas == Some(1)).then_some(()) }
    })
    .await;
    double.shutdown().await;
}

#[tokio::test]
async fn jobs_complete_and_the_simulator_can_be_switched_off() {
    let double = common::start().await;
    let client = common::client(&double).await;
    namespace(&client, "demo").await;
    let jobs: Api<k8s_openapi::api::batch::v1::Job> = Api::namespaced(client.clone(), "demo");
    let job = serde_json::from_value(json!({"metadata": {"name": "once"}, "spec": {"template": {"spec": {"restartPolicy": "Never",
        "containers": [{"name": "j", "image": "busybox:1.36"}]}}}}))
    .expect("job");
    jobs.create(&PostParams::default(), &job)
        .await
        .expect("create job");
    let status = common::eventually(|| {
        let jobs = jobs.clone();
        async move {
            jobs.get("once")
                .await
                .ok()?
                .status
                .filter(|s| s.succeeded == Some(1))
        }
    })
    .await;
    assert!(status
        .conditions
        .expect("conditions")
        .iter()
        .any(|c| c.type_ == "Complete" && c.status == "True"));
    assert!(status.completion_time.is_some());
    double.shutdown().await;

    let quiet = common::start_with(|c| c.simulate_status = false).await;
    let client = common::client(&quiet).await;
    namespace(&client, "demo").await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    deployments
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment(1, false)),
        )
        .await
        .expect("apply");
    // Well past the simulator's delay, nothing has reported status.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let d = deployments.get("web").await.expect("get");
    assert_eq!(d.status.and_then(|s| s.observed_generation), None);
    quiet.shutdown().await;
}

#[tokio::test]
async fn crd_is_established_and_serves_a_dynamic_api() {
    let double = common::start().await;
    let client = common::client(&double).await;
    namespace(&client, "demo").await;
    let crd_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
        "customresourcedefinitions",
    );
    let crds: Api<DynamicObject> = Api::all_with(client.clone(), &crd_ar);
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]}
    }))
    .expect("crd");
    let created = crds
        .create(&PostParams::default(), &crd)
        .await
        .expect("create crd");
    assert!(
        created.data["status"]["conditions"].is_null(),
        "conditions are set by the server afterwards"
    );
    let established = common::eventually(|| {
        let crds = crds.clone();
        async move {
            let c = crds.get("widgets.example.com").await.ok()?;
            let conds = c.data["status"]["conditions"].as_array()?.clone();
            conds
                .iter()
                .any(|x| x["type"] == "Established" && x["status"] == "True")
                .then_some(c)
        }
    })
    .await;
    assert_eq!(
        established.data["status"]["acceptedNames"]["kind"],
        "Widget"
    );

    let discovery = kube::Discovery::new(client.clone())
        .run_aggregated()
        .await
        .expect("aggregated discovery");
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("widget discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "demo", &ar);
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3, "unknown": 1}})).expect("widget");
    let stored = widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("create widget");
    assert_eq!(
        stored.data["spec"],
        json!({"size": 3}),
        "unknown fields pruned"
    );
    let bad: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": "big"}})).expect("widget");
    let err = api_error(
        widgets
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("invalid"),
    );
    assert_eq!(err.code, 422);
    assert_eq!(err.message, "Widget.example.com \"w2\" is invalid: spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"");
    let unknown = api_error(
        Api::<DynamicObject>::namespaced_with(
            client.clone(),
            "demo",
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
                "gadgets",
            ),
        )
        .list(&ListParams::default())
        .await
        .expect_err("unknown kind"),
    );
    assert_eq!(unknown.code, 404);
    double.shutdown().await;
}

#[tokio::test]
async fn watcher_sees_changes_and_unauthenticated_requests_get_401() {
    let double = common::start().await;
    let client = common::client(&double).await;
    namespace(&client, "demo").await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    let mut stream = watcher(api.clone(), watcher::Config::default().labels("app=w")).boxed();
    // The initial listing completes before changes are made.
    loop {
        match stream.next().await.expect("event").expect("ok") {
            watcher::Event::InitDone => break,
            _ => continue,
        }
    }
    api.create(&PostParams::default(), &cm("w1", &[("app", "w")]))
        .await
        .expect("create");
    api.create(&PostParams::default(), &cm("other", &[("app", "x")]))
        .await
        .expect("create unrelated");
    api.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .expect("patch");
    api.delete("w1", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
            .await
            .expect("in time")
            .expect("event")
            .expect("ok");
        match ev {
            watcher::Event::Apply(o) => seen.push(format!(
                "apply {} {:?}",
                o.metadata.name.unwrap_or_default(),
                o.data.and_then(|d| d.get("a").cloned())
            )),
            watcher::Event::Delete(o) => {
                seen.push(format!("delete {}", o.metadata.name.unwrap_or_default()))
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["apply w1 None", "apply w1 Some(\"b\")", "delete w1"]);

    // Streaming lists: initial events end with a bookmark before changes follow.
    let mut streaming = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(5), streaming.next())
            .await
            .expect("in time")
            .expect("event")
            .expect("ok")
        {
            watcher::Event::InitApply(o) => initial.push(o.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["other"]);

    let http = reqwest_like_get(double.url(), double.ca_pem().expect("ca")).await;
    assert_eq!(http, 401);
    double.shutdown().await;
}

/// A GET without credentials, through kube-rs with an empty token.
async fn reqwest_like_get(url: &str, ca_pem: &str) -> u16 {
    let mut config = kube::Config::new(url.parse().expect("url"));
    config.root_cert = Some(vec![pem_to_der(ca_pem)]);
    let client = kube::Client::try_from(config).expect("client");
    match client.list_api_groups().await {
        Err(kube::Error::Api(s)) => s.code,
        other => panic!("expected 401, got {other:?}"),
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("pem")
}
