//! Tests of targeting: matching, customizations, restrictions and option merging.

use super::*;
use crate::bundle::BundleSpec;

fn spec(yaml: &str) -> BundleSpec {
    serde_yaml::from_str(yaml).unwrap()
}

fn cluster(name: &str, labels: &[(&str, &str)], groups: &[&str]) -> ClusterInfo {
    ClusterInfo {
        name: name.into(),
        namespace: "fleet-default".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        groups: groups
            .iter()
            .map(|g| GroupInfo {
                name: g.to_string(),
                labels: BTreeMap::new(),
            })
            .collect(),
        ..ClusterInfo::default()
    }
}

#[test]
fn first_matching_target_wins() {
    let s = spec(
        "namespace: base\ntargets:\n- {name: dev, clusterSelector: {matchLabels: {env: dev}}, namespace: dev-ns}\n- {name: any, clusterSelector: {matchExpressions: [{key: env, operator: Exists}]}}\n",
    );
    let dev = select(&s, &cluster("c", &[("env", "dev")], &[]))
        .unwrap()
        .unwrap();
    assert_eq!(dev.target_name, "dev");
    assert_eq!(dev.options.target_namespace, "dev-ns");
    let prod = select(&s, &cluster("c", &[("env", "prod")], &[]))
        .unwrap()
        .unwrap();
    assert_eq!(prod.target_name, "any");
    assert_eq!(prod.options.target_namespace, "base");
    assert!(select(&s, &cluster("c", &[], &[])).unwrap().is_none());
}

#[test]
fn all_criteria_must_hold_and_empty_target_matches_nothing() {
    let s = spec("targets:\n- {name: empty}\n- {name: both, clusterName: c1, clusterGroup: g}\n");
    assert!(select(&s, &cluster("c1", &[], &[])).unwrap().is_none());
    assert!(select(&s, &cluster("c2", &[], &["g"])).unwrap().is_none());
    let m = select(&s, &cluster("c1", &[], &["other", "g"]))
        .unwrap()
        .unwrap();
    assert_eq!(m.target_name, "both");
}

#[test]
fn cluster_name_matches_rancher_display_name() {
    let s = spec("targets: [{name: t, clusterName: local}]\n");
    let c = cluster("c-xyz", &[(CLUSTER_DISPLAY_NAME_LABEL, "local")], &[]);
    assert!(select(&s, &c).unwrap().is_some());
}

#[test]
fn group_selector_uses_group_labels() {
    let s = spec("targets: [{name: t, clusterGroupSelector: {matchLabels: {region: eu}}}]\n");
    let mut c = cluster("c", &[], &["g1"]);
    assert!(select(&s, &c).unwrap().is_none());
    c.groups[0].labels.insert("region".into(), "eu".into());
    assert!(select(&s, &c).unwrap().is_some());
}

#[test]
fn restrictions_and_customizations_like_a_gitrepo_bundle() {
    // Two customizations from fleet.yaml, then the GitRepo target duplicated as restriction.
    let s = spec(
        r#"
helm: {values: {a: 1, nested: {x: 1}}}
targets:
- {name: prod, clusterSelector: {matchLabels: {env: prod}}, helm: {values: {nested: {y: 2}}}}
- {name: off, clusterSelector: {matchLabels: {env: off}}, doNotDeploy: true}
- {name: edge, clusterGroup: edge}
targetRestrictions:
- {name: edge, clusterGroup: edge}
"#,
    );
    // Customizations alone do not target a cluster outside the GitRepo's targets.
    assert!(select(&s, &cluster("c", &[("env", "prod")], &["core"]))
        .unwrap()
        .is_none());
    let m = select(&s, &cluster("c", &[("env", "prod")], &["edge"]))
        .unwrap()
        .unwrap();
    assert_eq!(m.target_name, "edge");
    assert_eq!(m.customization.as_deref(), Some("prod"));
    let values = m.options.helm.unwrap().values.unwrap();
    assert_eq!(
        values,
        serde_json::json!({"a": 1, "nested": {"x": 1, "y": 2}})
    );
    assert!(select(&s, &cluster("c", &[("env", "off")], &["edge"]))
        .unwrap()
        .is_none());
    let plain = select(&s, &cluster("c", &[("env", "dev")], &["edge"]))
        .unwrap()
        .unwrap();
    assert_eq!(plain.customization, None);
}

#[test]
fn do_not_deploy_target() {
    let s = spec("targets: [{name: t, clusterGroup: default, doNotDeploy: true}]\n");
    assert!(select(&s, &cluster("c", &[], &["default"]))
        .unwrap()
        .is_none());
}

#[test]
fn merge_follows_fleet() {
    let base: BundleDeploymentOptions = serde_yaml::from_str(
        "defaultNamespace: d\nnamespace: n\nserviceAccount: sa\nhelm: {chart: c, version: '1', values: {a: {b: 1, c: [1]}}, force: true}\nyaml: {overlays: [o1]}\n",
    )
    .unwrap();
    let custom: BundleDeploymentOptions = serde_yaml::from_str(
        "namespace: '-'\nserviceAccount: other\nhelm: {version: '2', values: {a: {c: [2], d: 3}}, atomic: true, timeoutSeconds: 30}\nyaml: {overlays: [o2]}\nkustomize: {dir: k}\nkeepResources: true\n",
    )
    .unwrap();
    let m = merge_options(&base, &custom);
    assert_eq!(m.default_namespace, "d");
    assert_eq!(m.target_namespace, "", "- clears");
    assert_eq!(m.service_account, "other");
    let h = m.helm.unwrap();
    assert_eq!(h.chart, "c");
    assert_eq!(h.version, "2");
    assert!(h.force && h.atomic);
    assert_eq!(h.timeout_seconds, 30);
    assert_eq!(
        h.values.unwrap(),
        serde_json::json!({"a": {"b": 1, "c": [2], "d": 3}})
    );
    assert_eq!(m.yaml.unwrap().overlays, ["o1", "o2"]);
    assert_eq!(m.kustomize.unwrap().dir, "k");
    assert!(m.keep_resources);
}

#[test]
fn templating_errors_name_the_cluster() {
    let s = spec(
        "helm: {values: {env: '${ .ClusterLabels.missing }'}}\ntargets: [{name: t, clusterName: c1}]\n",
    );
    let err = select(&s, &cluster("c1", &[("env", "dev")], &[])).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cluster c1 in namespace fleet-default:"),
        "{msg}"
    );
    assert!(
        msg.contains("map has no entry for key \"missing\""),
        "{msg}"
    );
}

// Fleet: internal/cmd/controller/target/builder.go and matcher/bundlematch.go
// (`MatchAllTargetCustomizations`), internal/bundlereader/read_test.go (the mode is read
// from fleet.yaml). Two customizations match; FirstMatch takes the first one alone,
// AllMatches merges both over the GitRepo target's options, later ones winning.
#[test]
fn all_matches_mode_merges_every_matching_customization_in_order() {
    let yaml = |mode: &str| {
        format!(
            "{mode}helm: {{values: {{base: 1}}}}\ntargets:\n\
             - {{name: edge, clusterSelector: {{matchLabels: {{edge: 'y'}}}}, namespace: edge-ns, helm: {{values: {{a: 1, shared: edge}}}}}}\n\
             - {{name: gpu, clusterSelector: {{matchLabels: {{gpu: 'y'}}}}, helm: {{values: {{b: 2, shared: gpu}}}}}}\n\
             - {{name: off, clusterSelector: {{matchLabels: {{off: 'y'}}}}, doNotDeploy: true}}\n\
             - {{name: all, clusterGroup: default, serviceAccount: sa}}\n\
             targetRestrictions:\n- {{name: all, clusterGroup: default}}\n"
        )
    };
    let c = cluster("c", &[("edge", "y"), ("gpu", "y")], &["default"]);

    let first = select(&spec(&yaml("")), &c).unwrap().unwrap();
    assert_eq!(first.customization.as_deref(), Some("edge"));
    let values = first.options.helm.as_ref().unwrap().values.clone().unwrap();
    assert_eq!(
        values,
        serde_json::json!({"base": 1, "a": 1, "shared": "edge"})
    );
    // FirstMatch replaces the target's own options with the customization's.
    assert_eq!(first.options.service_account, "");

    let all = select(&spec(&yaml("targetCustomizationMode: AllMatches\n")), &c)
        .unwrap()
        .unwrap();
    assert_eq!(all.customization.as_deref(), Some("edge,gpu"));
    let values = all.options.helm.as_ref().unwrap().values.clone().unwrap();
    assert_eq!(
        values,
        serde_json::json!({"base": 1, "a": 1, "b": 2, "shared": "gpu"})
    );
    assert_eq!(all.options.target_namespace, "edge-ns");
    assert_eq!(all.options.service_account, "sa");

    // A matching customization with doNotDeploy stops the deployment in either mode.
    let off = cluster("c", &[("gpu", "y"), ("off", "y")], &["default"]);
    assert!(
        select(&spec(&yaml("targetCustomizationMode: AllMatches\n")), &off)
            .unwrap()
            .is_none()
    );
    assert!(serde_yaml::from_str::<BundleSpec>("targetCustomizationMode: Sometimes\n").is_err());
}
