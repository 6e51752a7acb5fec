//! Tests of scanning checkouts into bundles.

use super::*;

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

fn opts() -> ScanOptions<'static> {
    ScanOptions {
        repo_name: "repo".into(),
        namespace: "fleet-default".into(),
        commit: "abc".into(),
        ..ScanOptions::default()
    }
}

fn names(outcome: &ScanOutcome) -> Vec<&str> {
    outcome
        .bundles
        .iter()
        .map(|b| b.metadata.name.as_str())
        .collect()
}

fn resource_names(bundle: &Bundle) -> Vec<&str> {
    bundle
        .spec
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .collect()
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";

#[test]
fn root_and_subdirectories_with_fleet_yaml_are_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("cm.yaml", CM),
            ("README.md", "# docs"),
            ("plain/x.yaml", CM),
            ("app/fleet.yaml", "namespace: app\n"),
            ("app/cm.yaml", CM),
            ("app/nested/fleet.yaml", "name: custom-name\n"),
            ("app/nested/cm.yaml", CM),
            (".git/config.yaml", CM),
            (".git/sub/fleet.yaml", ""),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(names(&out), ["repo", "repo-app", "custom-name"]);
    let root = &out.bundles[0];
    // Subdirectories that are bundles themselves are carried by the parent too (Fleet's
    // walk), their fleet.yaml included; only a bundle's own fleet.yaml is left out.
    assert_eq!(
        resource_names(root),
        [
            "README.md",
            "app/cm.yaml",
            "app/fleet.yaml",
            "app/nested/cm.yaml",
            "app/nested/fleet.yaml",
            "cm.yaml",
            "plain/x.yaml"
        ]
    );
    assert_eq!(
        resource_names(&out.bundles[1]),
        ["cm.yaml", "nested/cm.yaml", "nested/fleet.yaml"]
    );
    assert_eq!(root.metadata.namespace, "fleet-default");
    assert_eq!(root.metadata.labels[COMMIT_LABEL], "abc");
    assert_eq!(root.api_version, API_VERSION);
    assert_eq!(root.kind, "Bundle");
    assert_eq!(root.spec.targets.len(), 1);
    assert_eq!(root.spec.targets[0].name, "default");
    assert_eq!(root.spec.targets[0].cluster_group, "default");
    assert!(root.spec.target_restrictions.is_empty());
}

#[test]
fn root_without_resources_is_not_a_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[("README.md", "x"), ("a/fleet.yaml", ""), ("a/cm.yaml", CM)],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert_eq!(names(&out), ["repo-a"]);
}

#[test]
fn empty_checkout_is_fleets_no_resources_error() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("README.md", "x")]);
    let err = scan(tmp.path(), &opts()).unwrap_err();
    assert!(matches!(err, ScanError::NoResources { .. }), "{err}");
}

#[test]
fn paths_are_globs_and_name_the_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("apps/a/cm.yaml", CM),
            ("apps/b/fleet.yaml", ""),
            ("apps/b/cm.yaml", CM),
            ("other/cm.yaml", CM),
        ],
    );
    let o = ScanOptions {
        paths: vec!["/apps/*".into()],
        ..opts()
    };
    let out = scan(tmp.path(), &o).unwrap();
    assert_eq!(names(&out), ["repo-apps-a", "repo-apps-b"]);
    let bad = ScanOptions {
        paths: vec!["../outside".into()],
        ..opts()
    };
    assert!(matches!(
        scan(tmp.path(), &bad),
        Err(ScanError::InvalidPath { .. })
    ));
}

#[test]
fn fleetignore_hidden_files_and_values_files_are_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "fleet.yaml",
                "helm:\n  values: {a: 1, n: {x: 1}}\n  valuesFiles: [config/prod.yaml]\n",
            ),
            ("config/prod.yaml", "n: {y: 2}\nb: 3\n"),
            ("prod.yaml", "also ignored by base name, as Fleet does"),
            (".fleetignore", "*.md\nskip/*\n"),
            ("README.md", "x"),
            ("skip/cm.yaml", CM),
            ("keep/cm.yaml", CM),
            ("keep/.hidden.yaml", CM),
            (".hidden/cm.yaml", CM),
            ("cm.yaml", CM),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    let b = &out.bundles[0];
    assert_eq!(resource_names(b), ["cm.yaml", "keep/cm.yaml"]);
    let values = b
        .spec
        .options
        .helm
        .as_ref()
        .unwrap()
        .values
        .clone()
        .unwrap();
    assert_eq!(
        values,
        serde_json::json!({"a": 1, "n": {"x": 1, "y": 2}, "b": 3})
    );
}

#[test]
fn targets_customizations_overrides_and_gitrepo_targets() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("cm.yaml", CM),
            (
                "fleet.yaml",
                "helm: {chart: ./chart, version: 1.0.0}\ntargetCustomizations:\n- {clusterSelector: {matchLabels: {env: dev}}, helm: {values: {a: 1}}}\n- {name: prod, clusterGroup: prod}\n",
            ),
            ("chart/Chart.yaml", "name: c\nversion: 1.0.0\n"),
        ],
    );
    let o = ScanOptions {
        gitrepo_targets: Some(vec![BundleTargetRestriction {
            name: "all".into(),
            cluster_group: "everything".into(),
            ..Default::default()
        }]),
        target_namespace: "forced".into(),
        ..opts()
    };
    let out = scan(tmp.path(), &o).unwrap();
    let spec = &out.bundles[0].spec;
    let target_names: Vec<_> = spec.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(target_names, ["target000", "prod", "all"]);
    assert_eq!(spec.target_restrictions.len(), 1);
    // Chart coordinates propagate to targets with helm options.
    assert_eq!(
        spec.targets[0].options.helm.as_ref().unwrap().chart,
        "./chart"
    );
    assert_eq!(
        spec.targets[0].options.helm.as_ref().unwrap().version,
        "1.0.0"
    );
    assert!(spec
        .targets
        .iter()
        .all(|t| t.options.target_namespace == "forced"));
    assert_eq!(spec.options.target_namespace, "forced");
    // Fleet's printed `correctDrift: {}` is added only when printing: a filled-in target
    // value would replace the GitRepo's correctDrift when options are merged.
    assert_eq!(spec.options.correct_drift, None);
    assert!(spec
        .targets
        .iter()
        .all(|t| t.options.correct_drift.is_none()));
    let mut printed = out.bundles[0].clone();
    fill_fleet_print_defaults(&mut printed);
    assert_eq!(
        printed.spec.options.correct_drift,
        Some(CorrectDrift::default())
    );
    assert!(printed
        .spec
        .targets
        .iter()
        .all(|t| t.options.correct_drift.is_some()));

    write(
        tmp.path(),
        &[("fleet.yaml", "overrideTargets: [{clusterName: one}]\n")],
    );
    let out = scan(tmp.path(), &o).unwrap();
    let spec = &out.bundles[0].spec;
    assert_eq!(spec.targets.len(), 1);
    assert_eq!(spec.targets[0].cluster_name, "one");
    assert_eq!(spec.target_restrictions[0].cluster_name, "one");
}

#[test]
fn a_bad_bundle_does_not_stop_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("good/fleet.yaml", ""),
            ("good/cm.yaml", CM),
            ("bad/fleet.yaml", "paused: [not, a, bool]\n"),
            ("bad/cm.yaml", CM),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert_eq!(names(&out), ["repo-good"]);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.errors[0].path, "bad");
    let msg = out.errors[0].to_string();
    assert!(msg.contains("bad/fleet.yaml:1:"), "{msg}");
}

#[test]
fn unknown_fleet_yaml_keys_are_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[("fleet.yaml", "namespce: typo\n"), ("cm.yaml", CM)],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert_eq!(out.bundles.len(), 1);
    assert_eq!(out.warnings.len(), 1);
    assert!(
        out.warnings[0].to_string().contains("fleet.yaml: namespce"),
        "{}",
        out.warnings[0]
    );
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_checkout_fail_their_bundle() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), CM).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("ok/fleet.yaml", ""),
            ("ok/cm.yaml", CM),
            ("evil/fleet.yaml", ""),
            ("shared/s.yaml", CM),
        ],
    );
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        tmp.path().join("evil/leak.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        tmp.path().join("shared/s.yaml"),
        tmp.path().join("ok/inside.yaml"),
    )
    .unwrap();
    let out = scan(tmp.path(), &opts()).unwrap();
    // The root bundle carries evil/ too (a parent carries its sub-bundles' files), so it
    // fails with it.
    assert_eq!(names(&out), ["repo-ok"]);
    assert!(resource_names(&out.bundles[0]).contains(&"inside.yaml"));
    assert_eq!(out.errors.len(), 2);
    for error in &out.errors {
        let msg = error.to_string();
        assert!(
            msg.contains("evil/leak.yaml") && msg.contains("outside the checkout"),
            "{msg}"
        );
    }
}

#[test]
fn oversized_files_fail_their_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("big/fleet.yaml", ""),
            ("big/huge.yaml", &"x".repeat(2048)),
            ("small/fleet.yaml", ""),
            ("small/cm.yaml", CM),
        ],
    );
    let o = ScanOptions {
        limits: ScanLimits {
            max_file_bytes: 1024,
            max_bundle_bytes: 4096,
        },
        ..opts()
    };
    let out = scan(tmp.path(), &o).unwrap();
    assert_eq!(names(&out), ["repo-small"]);
    let msg = out.errors[0].to_string();
    assert!(
        msg.contains("big/huge.yaml") && msg.contains("over the limit"),
        "{msg}"
    );

    write(
        tmp.path(),
        &[
            ("big/huge.yaml", "x"),
            ("big/a.yaml", &"y".repeat(1000)),
            ("big/b.yaml", &"y".repeat(1000)),
        ],
    );
    let o = ScanOptions {
        limits: ScanLimits {
            max_file_bytes: 1024,
            max_bundle_bytes: 1500,
        },
        ..opts()
    };
    let out = scan(tmp.path(), &o).unwrap();
    assert!(
        out.errors[0].to_string().contains("in total"),
        "{}",
        out.errors[0]
    );
}

#[test]
fn escaping_and_absolute_option_paths_are_rejected() {
    for (fleet_yaml, field) in [
        ("kustomize: {dir: ../../etc}\n", "kustomize.dir"),
        ("yaml: {overlays: [/abs]}\n", "yaml.overlays"),
        ("helm: {chart: ../chart}\n", "helm.chart"),
        ("helm: {valuesFiles: [/etc/passwd]}\n", "helm.valuesFiles"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            &[("b/fleet.yaml", fleet_yaml), ("b/cm.yaml", CM)],
        );
        let out = scan(tmp.path(), &opts()).unwrap();
        assert_eq!(out.errors.len(), 1, "{fleet_yaml}");
        let msg = out.errors[0].to_string();
        assert!(msg.contains(field), "{msg}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("v.yaml"), "a: 1\n").unwrap();
    let rel = format!(
        "../../{}/v.yaml",
        outside.path().file_name().unwrap().to_string_lossy()
    );
    write(
        tmp.path(),
        &[
            (
                "b/fleet.yaml",
                &format!("helm: {{valuesFiles: ['{rel}']}}\n"),
            ),
            ("b/cm.yaml", CM),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert!(!out.errors.is_empty());
}

#[cfg(unix)]
#[test]
fn non_utf8_names_fail_their_bundle() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("b/fleet.yaml", ""),
            ("b/cm.yaml", CM),
            ("ok/fleet.yaml", ""),
            ("ok/cm.yaml", CM),
        ],
    );
    let bad = tmp
        .path()
        .join("b")
        .join(std::ffi::OsStr::from_bytes(b"bad\xff.yaml"));
    if std::fs::write(&bad, CM).is_err() {
        return; // the filesystem refuses such names: nothing to test here
    }
    let out = scan(tmp.path(), &opts()).unwrap();
    assert_eq!(names(&out), ["repo-ok"]);
    assert!(
        out.errors[0].to_string().contains("not valid UTF-8"),
        "{}",
        out.errors[0]
    );
}

#[test]
fn remote_charts_use_the_chart_source() {
    struct Fake;
    impl ChartSource for Fake {
        fn fetch(&self, helm: &HelmOptions) -> Result<Vec<(String, Vec<u8>)>, ChartSourceError> {
            assert_eq!(helm.chart, "https://example.com/guestbook-0.0.1.tgz");
            Ok(vec![(
                "guestbook/Chart.yaml".into(),
                b"name: guestbook\n".to_vec(),
            )])
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[(
            "fleet.yaml",
            "helm: {chart: 'https://example.com/guestbook-0.0.1.tgz'}\n",
        )],
    );
    let o = ScanOptions {
        charts: &Fake,
        ..opts()
    };
    let out = scan(tmp.path(), &o).unwrap();
    let prefix = chart_prefix(out.bundles[0].spec.options.helm.as_ref().unwrap());
    let chart_yaml = format!("{prefix}/guestbook/Chart.yaml");
    assert_eq!(resource_names(&out.bundles[0]), [chart_yaml.as_str()]);

    // Without a chart source the bundle fails with a clear error.
    let out = scan(tmp.path(), &opts()).unwrap();
    assert!(out.bundles.is_empty());
    let msg = out.errors[0].to_string();
    assert!(
        msg.contains("not available") && msg.contains("guestbook-0.0.1.tgz"),
        "{msg}"
    );
}

#[test]
fn large_bundles_are_compressed_like_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let big = format!("# {}\n{CM}", "z".repeat(COMPRESS_THRESHOLD));
    write(tmp.path(), &[("big.yaml", &big), ("cm.yaml", CM)]);
    let out = scan(tmp.path(), &opts()).unwrap();
    assert!(out.bundles[0]
        .spec
        .resources
        .iter()
        .all(|r| r.encoding == "base64+gz"));
    let decoded = crate::content::decode_resource(&out.bundles[0].spec.resources[1]).unwrap();
    assert_eq!(decoded, CM.as_bytes());
}

#[test]
fn chart_dependencies_are_vendored_at_scan_time() {
    struct Repo;
    impl ChartSource for Repo {
        fn fetch(&self, helm: &HelmOptions) -> Result<Vec<(String, Vec<u8>)>, ChartSourceError> {
            assert_eq!(helm.repo, "https://charts.example.com");
            Ok(vec![(
                format!("{}/Chart.yaml", helm.chart),
                format!("apiVersion: v2\nname: {}\nversion: 1.2.3\n", helm.chart).into_bytes(),
            )])
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "chart/Chart.yaml",
                "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- {name: redis, version: '~1.2', repository: 'https://charts.example.com'}\n- {name: local, version: 1.0.0, repository: 'file://../local'}\n- {name: vendored, version: 1.0.0, repository: 'https://charts.example.com'}\n",
            ),
            ("chart/charts/vendored/Chart.yaml", "apiVersion: v2\nname: vendored\nversion: 1.0.0\n"),
            ("local/Chart.yaml", "apiVersion: v2\nname: local\nversion: 1.0.0\n"),
            ("fleet.yaml", "helm: {chart: ./chart}\n"),
        ],
    );
    let o = ScanOptions {
        charts: &Repo,
        ..opts()
    };
    let out = scan(tmp.path(), &o).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(resource_names(&out.bundles[0]).contains(&"chart/charts/redis-1.2.3.tgz"));
    assert!(resource_names(&out.bundles[0]).contains(&"chart/Chart.lock"));
    assert!(resource_names(&out.bundles[0]).contains(&"chart/charts/local-1.0.0.tgz"));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    write(
        tmp.path(),
        &[(
            "fleet.yaml",
            "helm: {chart: ./chart, disableDependencyUpdate: true}\n",
        )],
    );
    let out = scan(tmp.path(), &o).unwrap();
    assert!(!resource_names(&out.bundles[0]).contains(&"chart/charts/redis-1.2.3.tgz"));
}

#[test]
fn duplicate_bundle_names_fail_the_later_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("a/fleet.yaml", "name: same\n"),
            ("a/cm.yaml", CM),
            ("b/fleet.yaml", "name: same\n"),
            ("b/cm.yaml", CM),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert_eq!(names(&out), ["same"]);
    assert_eq!(out.errors[0].path, "b");
    let msg = out.errors[0].to_string();
    assert!(msg.contains("already used by the bundle in a"), "{msg}");
}
