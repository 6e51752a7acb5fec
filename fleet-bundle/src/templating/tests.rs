//! Tests of cluster values templating.

use super::*;
use crate::target::ClusterInfo;
use serde_json::json;

fn cluster() -> ClusterInfo {
    ClusterInfo {
        name: "c1".into(),
        namespace: "fleet-default".into(),
        labels: [
            ("env".to_string(), "prod".to_string()),
            ("replicas".to_string(), "3".to_string()),
            ("objectset.rio.cattle.io/hash".to_string(), "x".to_string()),
            ("fleet.cattle.io/cluster".to_string(), "c1".to_string()),
        ]
        .into(),
        annotations: [("region".to_string(), "eu-west".to_string())].into(),
        template_values: json!({"tier": "gold"}).as_object().unwrap().clone(),
        ..ClusterInfo::default()
    }
}

fn run(values: serde_json::Value) -> Result<serde_json::Value, TemplateError> {
    let mut opts = BundleDeploymentOptions {
        helm: Some(HelmOptions {
            values: Some(values),
            ..HelmOptions::default()
        }),
        ..BundleDeploymentOptions::default()
    };
    preprocess_helm_values(&mut opts, &cluster())?;
    Ok(opts.helm.unwrap().values.unwrap())
}

#[test]
fn cluster_label_prefix_values() {
    let out = run(json!({
        "env": "global.fleet.clusterLabels.env",
        "missing": "global.fleet.clusterLabels.nope",
        "nested": {"list": [{"e": "global.fleet.clusterLabels.env"}]},
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({"env": "prod", "missing": "", "nested": {"list": [{"e": "prod"}]}})
    );
}

#[test]
fn go_templates_over_cluster_facts() {
    let out = run(json!({
        "name": "${ .ClusterName }",
        "ns": "ns-${ .ClusterNamespace }",
        "env": "${ .ClusterLabels.env | upper }",
        "replicas": "${ .ClusterLabels.replicas }",
        "region": "${ index .ClusterAnnotations \"region\" }",
        "tier": "${ .ClusterValues.tier | default \"bronze\" | quote }",
        "fleetLabel": "${ get_or_nothing }",
    }));
    // An unknown function is an error, as in Go.
    let err = out.unwrap_err().to_string();
    assert!(
        err.contains("function \"get_or_nothing\" not defined"),
        "{err}"
    );
    let out = run(json!({
        "name": "${ .ClusterName }",
        "ns": "ns-${ .ClusterNamespace }",
        "env": "${ .ClusterLabels.env | upper }",
        "replicas": "${ .ClusterLabels.replicas }",
        "region": "${ index .ClusterAnnotations \"region\" }",
        "tier": "${ .ClusterValues.tier | default \"bronze\" }",
        "fleet": "${ index .ClusterLabels \"fleet.cattle.io/cluster\" }",
        "untouched": "plain",
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({"name": "c1", "ns": "ns-fleet-default", "env": "PROD", "replicas": 3,
               "region": "eu-west", "tier": "gold", "fleet": "c1", "untouched": "plain"})
    );
}

#[test]
fn missing_label_is_fleets_error() {
    let err = run(json!({"x": "${ .ClusterLabels.region }"}))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("failed to render helm values template: template: values:1:")
            && err.ends_with(
                "executing \"values\" at <.ClusterLabels.region>: map has no entry for key \"region\""
            ),
        "{err}"
    );
}

// Fleet: internal/cmd/controller/target/builder.go `processTemplateValues` (the values'
// YAML is one template, read back as YAML) and fleet-test-data helm-cluster-values
// (`${ list "one" "two" "three" | uniq | toJson }` is a list; the whole Sprig set).
#[test]
fn rendered_json_is_read_back_as_yaml() {
    let out = run(json!({
        "hostnames": "${ list \"one\" \"two\" \"one\" | uniq | toJson }",
        "labels": "${ .ClusterLabels | toJson }",
        "n": {"replicas": "${ .ClusterLabels.replicas }"},
    }))
    .unwrap();
    assert_eq!(out["hostnames"], json!(["one", "two"]));
    assert_eq!(out["labels"]["env"], "prod");
    assert_eq!(out["n"]["replicas"], 3);
    // Helm's own functions are not Sprig's: Fleet does not offer them.
    let err = run(json!({"x": "${ toYaml .ClusterLabels }"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("function \"toYaml\" not defined"), "{err}");
}

#[test]
fn bookkeeping_labels_are_not_exposed() {
    let out = run(json!({"x": "${ index .ClusterLabels \"objectset.rio.cattle.io/hash\" | default \"none\" }"}))
        .unwrap();
    assert_eq!(out, json!({"x": "none"}));
}

#[test]
fn disable_pre_process_keeps_templates_but_substitutes_labels() {
    let mut opts = BundleDeploymentOptions {
        helm: Some(HelmOptions {
            values: Some(json!({"t": "${ .ClusterName }", "l": "global.fleet.clusterLabels.env"})),
            disable_pre_process: true,
            ..HelmOptions::default()
        }),
        ..BundleDeploymentOptions::default()
    };
    preprocess_helm_values(&mut opts, &cluster()).unwrap();
    assert_eq!(
        opts.helm.unwrap().values.unwrap(),
        json!({"t": "${ .ClusterName }", "l": "prod"})
    );
}

#[test]
fn template_values_become_top_level_values() {
    let mut opts = BundleDeploymentOptions {
        helm: Some(HelmOptions {
            template_values: [(
                "cfg".to_string(),
                "a: ${ .ClusterLabels.env }\nb: 2".to_string(),
            )]
            .into(),
            ..HelmOptions::default()
        }),
        ..BundleDeploymentOptions::default()
    };
    preprocess_helm_values(&mut opts, &cluster()).unwrap();
    assert_eq!(
        opts.helm.unwrap().values.unwrap(),
        json!({"cfg": {"a": "prod", "b": 2}})
    );
}

#[test]
fn no_labels_means_no_processing() {
    let mut opts = BundleDeploymentOptions {
        helm: Some(HelmOptions {
            values: Some(json!({"t": "${ .ClusterLabels.x }"})),
            ..HelmOptions::default()
        }),
        ..BundleDeploymentOptions::default()
    };
    let c = ClusterInfo::default();
    preprocess_helm_values(&mut opts, &c).unwrap();
    assert_eq!(
        opts.helm.unwrap().values.unwrap(),
        json!({"t": "${ .ClusterLabels.x }"})
    );
}

#[test]
fn deep_values_are_bounded() {
    let mut v = json!("global.fleet.clusterLabels.env");
    for _ in 0..60 {
        v = json!({ "n": v });
    }
    assert_eq!(run(v).unwrap_err(), TemplateError::TooDeep);
}

#[test]
fn malformed_templates_fail_clearly() {
    assert!(matches!(
        run(json!({"x": "${ .ClusterName "})),
        Err(TemplateError::Parse { .. })
    ));
    assert!(matches!(
        run(json!({"x": "${ (upper .ClusterName }"})),
        Err(TemplateError::Parse { .. })
    ));
    let out = run(json!({"x": "a ${- \" b \" -} c", "y": "${ printf \"%s-%d\" .ClusterName 7 }"}))
        .unwrap();
    assert_eq!(out, json!({"x": "a b c", "y": "c1-7"}));
}

#[test]
fn control_structures_and_dict_functions() {
    let out = run(json!({
        "tier": "${ if hasKey .ClusterValues \"tier\" }${ .ClusterValues.tier }${ else }none${ end }",
        "region": "${ if eq .ClusterLabels.env \"dev\" }d${ else if eq .ClusterLabels.env \"prod\" }p${ else }x${ end }",
        "display": "${ get .ClusterLabels \"missing\" | default \"n/a\" }",
        "with": "${ with .ClusterValues }${ .tier }${ end }",
        "list": "${ range keys .ClusterAnnotations }${ . };${ end }",
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({"tier": "gold", "region": "p", "display": "n/a", "with": "gold", "list": "region;"})
    );
    assert!(matches!(
        run(json!({"x": "${ if true }open"})),
        Err(TemplateError::Parse { .. })
    ));
    assert!(matches!(
        run(json!({"x": "${ end }"})),
        Err(TemplateError::Parse { .. })
    ));
}
