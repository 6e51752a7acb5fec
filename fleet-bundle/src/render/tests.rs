//! Tests of style detection and the render flow.

use super::*;
use crate::bundle::{HelmOptions, KustomizeOptions, YamlOptions};

fn files(names: &[&str]) -> BundleFiles {
    names.iter().map(|n| (n.to_string(), Vec::new())).collect()
}

#[test]
fn style_detection_matches_fleet() {
    let opts = BundleDeploymentOptions::default();
    assert!(Style::detect(&files(&["a.yaml"]), &opts).is_raw_yaml());
    let s = Style::detect(&files(&["Chart.yaml", "templates/a.yaml"]), &opts);
    assert_eq!(s.chart_yaml.as_deref(), Some("Chart.yaml"));
    let s = Style::detect(&files(&["kustomization.yaml"]), &opts);
    assert_eq!(s.kustomization.as_deref(), Some("kustomization.yaml"));

    let helm = BundleDeploymentOptions {
        helm: Some(HelmOptions {
            chart: "./chart".into(),
            ..HelmOptions::default()
        }),
        kustomize: Some(KustomizeOptions {
            dir: "overlays/dev".into(),
        }),
        ..BundleDeploymentOptions::default()
    };
    let s = Style::detect(
        &files(&[
            "chart/Chart.yaml",
            "overlays/dev/kustomization.yaml",
            "kustomization.yaml",
        ]),
        &helm,
    );
    assert_eq!(s.chart_yaml.as_deref(), Some("chart/Chart.yaml"));
    assert_eq!(
        s.kustomization.as_deref(),
        Some("overlays/dev/kustomization.yaml")
    );

    let remote = HelmOptions {
        chart: "https://x/c.tgz".into(),
        ..HelmOptions::default()
    };
    let prefix = crate::chart_source::chart_prefix(&remote);
    let opts = BundleDeploymentOptions {
        helm: Some(remote),
        ..BundleDeploymentOptions::default()
    };
    let chart_yaml = format!("{prefix}/guestbook/Chart.yaml");
    let s = Style::detect(
        &files(&[
            &chart_yaml,
            &format!("{prefix}/guestbook/charts/dep/Chart.yaml"),
        ]),
        &opts,
    );
    assert_eq!(s.chart_yaml.as_deref(), Some(chart_yaml.as_str()));
}

#[test]
fn renders_plain_yaml_with_overlays_and_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("overlays/big")).unwrap();
    std::fs::write(dir.join("fleet.yaml"), "namespace: x\n").unwrap();
    std::fs::write(dir.join("README.md"), "# readme\n").unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: other}\nspec: {replicas: 1}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("crd.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("overlays/big/app_patch.yaml"),
        "spec: {replicas: 4}\n",
    )
    .unwrap();
    let opts = BundleDeploymentOptions {
        target_namespace: "forced".into(),
        yaml: Some(YamlOptions {
            overlays: vec!["big".into()],
        }),
        ..BundleDeploymentOptions::default()
    };
    let out = render(dir, "test", &opts, &ClusterInfo::default()).unwrap();
    assert_eq!(out.namespace, "forced");
    assert_eq!(out.release_name, "test");
    assert_eq!(out.objects.len(), 2);
    assert_eq!(out.objects[0]["spec"]["replicas"], 4);
    assert_eq!(out.objects[0]["metadata"]["namespace"], "forced");
    assert_eq!(
        out.objects[1]["metadata"]["annotations"][RESOURCE_POLICY_ANNOTATION],
        "keep"
    );

    let keep_crds_off = BundleDeploymentOptions {
        delete_crd_resources: true,
        ..BundleDeploymentOptions::default()
    };
    let out = render(dir, "test", &keep_crds_off, &ClusterInfo::default()).unwrap();
    assert!(out.objects[1]["metadata"].get("annotations").is_none());
    assert_eq!(out.objects[0]["metadata"]["namespace"], "other");
    assert_eq!(out.objects[0]["spec"]["replicas"], 1);
    assert_eq!(out.namespace, DEFAULT_NAMESPACE);
}

#[test]
fn release_name_and_namespace_rules() {
    let mut o = BundleDeploymentOptions::default();
    assert_eq!(
        release_name("repo-My_App", &o),
        crate::naming::helm_release_name("repo-My_App")
    );
    o.helm = Some(HelmOptions {
        release_name: "web".into(),
        ..HelmOptions::default()
    });
    assert_eq!(release_name("x", &o), "web");
    o.default_namespace = "d".into();
    assert_eq!(deployment_namespace(&o), "d");
    o.target_namespace = "t".into();
    assert_eq!(deployment_namespace(&o), "t");
}
