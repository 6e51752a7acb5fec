//! Tests of Fleet's YAML overlays and the patch kinds they use.

use super::*;
use serde_json::json;

fn files(entries: &[(&str, &str)]) -> BundleFiles {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

fn yaml(files: &BundleFiles, name: &str) -> Value {
    serde_yaml::from_slice(&files[name]).unwrap()
}

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - {name: app, image: app:1, env: [{name: A, value: a}]}\n      - {name: side, image: side:1}\n";

#[test]
fn patch_targets_follow_fleet_naming() {
    assert_eq!(patch_target("svc_patch.yaml").as_deref(), Some("svc.yaml"));
    assert_eq!(
        patch_target("dir/a_patch.b_patch.yml").as_deref(),
        Some("dir/a.b_patch.yml")
    );
    assert_eq!(patch_target("plain.yaml"), None);
}

#[test]
fn replacement_patch_and_order_of_overlays() {
    let f = files(&[
        ("deploy.yaml", DEPLOY),
        ("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: NodePort, ports: [{port: 80}]}\n"),
        ("gone.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
        ("overlays/lb/svc_patch.yaml", "spec:\n  type: LoadBalancer\n"),
        ("overlays/scale/deploy_patch.yaml", "spec:\n  replicas: 3\n"),
        ("overlays/scale5/deploy_patch.yaml", "spec:\n  replicas: 5\n"),
        ("overlays/empty/gone.yaml", ""),
        ("overlays/add/new.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\n"),
    ]);
    let out = apply(
        &f,
        &[
            "lb".into(),
            "scale".into(),
            "scale5".into(),
            "empty".into(),
            "add".into(),
        ],
    )
    .unwrap();
    assert!(out.keys().all(|k| !k.starts_with("overlays/")));
    assert_eq!(yaml(&out, "svc.yaml")["spec"]["type"], "LoadBalancer");
    assert_eq!(yaml(&out, "deploy.yaml")["spec"]["replicas"], 5);
    assert!(out["gone.yaml"].is_empty());
    assert!(out.contains_key("new.yaml"));
    // Unused overlays change nothing but are still dropped.
    let untouched = apply(&f, &[]).unwrap();
    assert_eq!(untouched["deploy.yaml"], DEPLOY.as_bytes());
    assert_eq!(untouched.len(), 3);
}

#[test]
fn strategic_merge_merges_containers_by_name() {
    let patched = apply_patch(
        serde_yaml::from_str(DEPLOY).unwrap(),
        &json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "b"}]},
            {"name": "side", "$patch": "delete"},
            {"name": "new", "image": "new:1"}
        ]}}}}),
    )
    .unwrap();
    let containers = &patched["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers,
        &json!([
            {"name": "app", "image": "app:2", "env": [{"name": "A", "value": "a"}, {"name": "B", "value": "b"}]},
            {"name": "new", "image": "new:1"}
        ])
    );
}

#[test]
fn custom_resources_get_json_merge_and_lists_json_patch() {
    let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"items": [{"name": "a", "v": 1}], "keep": 1, "drop": 2}});
    let merged = apply_patch(
        cr.clone(),
        &json!({"spec": {"items": [{"name": "b"}], "drop": null}}),
    )
    .unwrap();
    assert_eq!(merged["spec"], json!({"items": [{"name": "b"}], "keep": 1}));
    let patched = apply_patch(
        cr,
        &json!([{"op": "replace", "path": "/spec/keep", "value": 9}]),
    )
    .unwrap();
    assert_eq!(patched["spec"]["keep"], 9);
}

#[test]
fn missing_base_and_bad_patches_are_errors() {
    let f = files(&[("overlays/o/nothere_patch.yaml", "a: 1\n")]);
    let err = apply(&f, &["o".into()]).unwrap_err().to_string();
    assert_eq!(
        err,
        "overlay o: failed to find base file nothere.yaml to patch"
    );
    let f = files(&[
        ("a.yaml", "x: 1\n"),
        ("overlays/o/a_patch.yaml", "[unclosed\n"),
    ]);
    let err = apply(&f, &["o".into()]).unwrap_err().to_string();
    assert!(
        err.contains("failed to convert overlays/o/a_patch.yaml to json"),
        "{err}"
    );
    let f = files(&[
        ("a.yaml", "x: 1\n"),
        ("overlays/o/a_patch.yaml", "- {op: remove, path: /nope}\n"),
    ]);
    let err = apply(&f, &["o".into()]).unwrap_err().to_string();
    assert!(err.contains("failed to patch a.yaml"), "{err}");
}

#[test]
fn mismatched_kind_is_an_error() {
    let err = apply_patch(
        json!({"apiVersion": "v1", "kind": "Service"}),
        &json!({"kind": "Deployment"}),
    )
    .unwrap_err();
    assert!(err.contains("does not match"), "{err}");
}
