//! Behaviours Rancher Fleet's own tests check on `fleet apply`, restated on our scanner.
//! Each test names the Fleet file it follows; the trees are ours.

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
        ..ScanOptions::default()
    }
}

fn resources(bundle: &Bundle) -> Vec<&str> {
    bundle
        .spec
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .collect()
}

fn bundle<'a>(out: &'a ScanOutcome, name: &str) -> &'a Bundle {
    // Names with upper case get Fleet's hash suffix: `name-<hash>`.
    let suffixed = |b: &&Bundle| {
        b.metadata
            .name
            .strip_prefix(&format!("{name}-"))
            .is_some_and(|hash| hash.len() == 8 && !hash.contains('-'))
    };
    out.bundles
        .iter()
        .find(|b| b.metadata.name == name)
        .or_else(|| out.bundles.iter().find(suffixed))
        .unwrap_or_else(|| panic!("no bundle {name} in {:?}", out.bundles))
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";

// Fleet: internal/bundlereader/resources.go `ignoreApplyConfigs` and
// integrationtests/cli/apply/apply_test.go ("simple-fleet-yaml": two resources, the
// fleet.yaml not among them). Also when valuesFiles or .fleetignore name it.
#[test]
fn a_bundles_fleet_yaml_is_never_one_of_its_resources() {
    for (file, extra) in [
        ("fleet.yaml", "name: my-great-bundle\n"),
        ("fleet.yml", "name: my-great-bundle\n"),
        (
            "fleet.yaml",
            "name: my-great-bundle\nhelm: {valuesFiles: [fleet.yaml]}\n",
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            &[
                (file, extra),
                ("svc.yaml", CM),
                ("deployment.yaml", CM),
                (".fleetignore", "!fleet.yaml\n"),
            ],
        );
        let out = scan(tmp.path(), &opts()).unwrap();
        assert!(out.errors.is_empty(), "{file}: {:?}", out.errors);
        let b = bundle(&out, "my-great-bundle");
        assert_eq!(resources(b), ["deployment.yaml", "svc.yaml"], "{file}");
    }
}

// Fleet: integrationtests/cli/apply/apply_test.go, "multiple fleet.yaml mixed with simple
// resources in a nested folder" (assets/nested_mixed_two_levels): three bundles; the root
// one carries all six files below it, the sub-bundles' fleet.yaml and resources included.
// Rendering it still skips the sub-bundle directories
// (internal/helmdeployer/render/helm.go `manifests`).
#[test]
fn the_root_bundle_carries_sub_bundles_files_but_renders_only_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let named = |n: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}}}\n");
    write(
        tmp.path(),
        &[
            ("nested/deploymentA/deployment.yaml", &named("a")),
            ("nested/deploymentA/fleet.yaml", "namespace: deploymenta\n"),
            ("nested/deploymentB/svc.yaml", &named("b")),
            ("nested/deploymentC/cm.yaml", &named("c")),
            ("nested/deploymentC/fleet.yaml", "namespace: deploymentc\n"),
            ("nested/deploymentD/deployment.yaml", &named("d")),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert_eq!(out.bundles.len(), 3);
    let root = bundle(&out, "repo");
    assert_eq!(root.spec.resources.len(), 6, "{:?}", resources(root));
    let a = bundle(&out, "repo-nested-deploymenta");
    assert_eq!(resources(a), ["deployment.yaml"]);
    assert_eq!(a.spec.options.target_namespace, "deploymenta");
    assert_eq!(
        resources(bundle(&out, "repo-nested-deploymentc")),
        ["cm.yaml"]
    );

    let dir = tempfile::tempdir().unwrap();
    crate::content::write_bundle_dir(&root.spec.resources, dir.path()).unwrap();
    let rendered = crate::render::render(
        dir.path(),
        "repo",
        &root.spec.options,
        &crate::target::ClusterInfo::default(),
    )
    .unwrap();
    let names: Vec<&str> = rendered
        .objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "d"]);
}

// Fleet: e2e/single-cluster/helm_verify_test.go with fleet-test-data helm-verify, and
// resources.go `parseValuesFiles` (read for every helm block, chart or not): values files
// of a plain-YAML bundle and of a customization without a chart are folded into values.
#[test]
fn values_files_without_a_chart_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "fleet.yaml",
                "helm:\n  values: {a: 1}\n  valuesFiles: [values.yaml]\n\
                 targetCustomizations:\n- name: dev\n  clusterSelector: {matchLabels: {env: dev}}\n  \
                 helm: {valuesFiles: [dev/values.yaml]}\n",
            ),
            ("values.yaml", "b: 2\n"),
            ("dev/values.yaml", "c: 3\n"),
            ("cm.yaml", CM),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let b = &out.bundles[0];
    assert_eq!(resources(b), ["cm.yaml"]);
    let values = |h: &Option<HelmOptions>| h.as_ref().unwrap().values.clone().unwrap();
    assert_eq!(
        values(&b.spec.options.helm),
        serde_json::json!({"a": 1, "b": 2})
    );
    assert_eq!(
        values(&b.spec.targets[0].options.helm),
        serde_json::json!({"c": 3})
    );
}

/// A chart repository double: every chart it is asked for, as an archive of `version`.
struct Repo {
    version: &'static str,
}

impl ChartSource for Repo {
    fn fetch(&self, helm: &HelmOptions) -> Result<Vec<(String, Vec<u8>)>, ChartSourceError> {
        let name = helm
            .chart
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".tgz");
        let mut files = vec![(
            format!("{name}/Chart.yaml"),
            format!("apiVersion: v2\nname: {name}\nversion: {}\n", self.version).into_bytes(),
        )];
        if name == "deps-chart" {
            files[0].1.extend_from_slice(
                b"dependencies:\n- {name: config-chart, version: 0.1.0, repository: 'http://repo.test'}\n",
            );
            files.push((format!("{name}/templates/cm.yaml"), CM.as_bytes().to_vec()));
        }
        Ok(files)
    }
}

// Fleet: integrationtests/cli/apply/apply_test.go, the deps-charts cases
// ("simple-with-fleet-yaml", "-no-deps", "remote-chart-with-deps", "-disabled"): a
// chart's missing dependency is bundled as Chart.lock plus charts/NAME-VERSION.tgz, a
// downloaded chart's own dependencies too, and disableDependencyUpdate bundles neither.
#[test]
fn chart_dependencies_are_bundled_as_helm_dependency_update_writes_them() {
    let repo = Repo { version: "0.1.0" };
    let o = ScanOptions {
        charts: &repo,
        ..opts()
    };
    let chart = "apiVersion: v2\nname: app\nversion: 1.0.0\n\
                 dependencies:\n- {name: config-chart, version: 0.1.0, repository: 'http://repo.test'}\n";
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("local/Chart.yaml", chart),
            ("local/values.yaml", "x: 1\n"),
            ("local/templates/cm.yaml", CM),
            ("local/fleet.yaml", "helm: {releaseName: local}\n"),
            ("off/Chart.yaml", chart),
            ("off/values.yaml", "x: 1\n"),
            ("off/templates/cm.yaml", CM),
            ("off/fleet.yaml", "helm: {disableDependencyUpdate: true}\n"),
            (
                "remote/fleet.yaml",
                "helm: {chart: deps-chart, repo: 'http://repo.test', version: 1.0.0}\n",
            ),
            (
                "remote-off/fleet.yaml",
                "helm: {chart: deps-chart, repo: 'http://repo.test', version: 1.0.0, disableDependencyUpdate: true}\n",
            ),
        ],
    );
    let out = scan(tmp.path(), &o).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let local = bundle(&out, "repo-local");
    assert_eq!(
        resources(local),
        [
            "Chart.lock",
            "Chart.yaml",
            "charts/config-chart-0.1.0.tgz",
            "templates/cm.yaml",
            "values.yaml"
        ]
    );
    let lock = &local.spec.resources[0];
    assert!(
        lock.content
            .contains("- name: config-chart\n  repository: http://repo.test\n  version: 0.1.0\n"),
        "{}",
        lock.content
    );
    assert!(lock.content.contains("digest: sha256:"), "{}", lock.content);
    // The archive is binary, so stored compressed as Fleet stores non-UTF-8 files.
    assert_eq!(local.spec.resources[2].encoding, "base64+gz");
    assert_eq!(bundle(&out, "repo-off").spec.resources.len(), 3);

    let remote = resources(bundle(&out, "repo-remote"));
    assert_eq!(remote.len(), 4, "{remote:?}");
    assert!(remote.iter().any(|r| r.ends_with("/deps-chart/Chart.lock")));
    assert!(remote
        .iter()
        .any(|r| r.ends_with("/deps-chart/charts/config-chart-0.1.0.tgz")));
    assert_eq!(bundle(&out, "repo-remote-off").spec.resources.len(), 2);

    // The bundled archive renders: the chart finds its dependency in it.
    let dir = tempfile::tempdir().unwrap();
    crate::content::write_bundle_dir(&local.spec.resources, dir.path()).unwrap();
    let loaded = crate::helm::load::load(dir.path()).unwrap();
    assert_eq!(loaded.dependencies[0].metadata.name, "config-chart");
}

// Fleet: internal/bundlereader/read.go, imageScans refused while image scanning is
// disabled (its default), with that message; fleet-test-data imagescans.
#[test]
fn image_scans_are_refused_with_fleets_message() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "scan/fleet.yaml",
                "imageScans:\n- image: example/nginx\n  tagName: test-scan\n  interval: 30s\n",
            ),
            ("scan/deployment.yaml", CM),
            ("ok/fleet.yaml", ""),
            ("ok/cm.yaml", CM),
        ],
    );
    let out = scan(tmp.path(), &opts()).unwrap();
    assert_eq!(out.bundles.len(), 1);
    let msg = out.errors[0].to_string();
    assert!(
        msg.contains("scan/fleet.yaml: imagescan is disabled; remove imagescans from your config files, or enable imagescan"),
        "{msg}"
    );
}

// Fleet: integrationtests/cli/apply/apply_test.go "Fleet apply driven" (assets/driven,
// driven2, driven_fleet_yaml_subfolder) and internal/cmd/cli/apply/apply.go
// `CreateBundlesDriven` / `getPathAndFleetYaml` / `bundleFromDir`: each path is one bundle,
// `DIR:FILE` names the options file, which is left out of that bundle only; names carry
// the file's stem; no discovery below the directory.
#[test]
fn driven_scan_makes_one_bundle_per_path_with_its_options_file() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            (
                "driven/kustomize/base/kustomization.yaml",
                "resources: [secret.yaml]\n",
            ),
            ("driven/kustomize/base/secret.yaml", CM),
            (
                "driven/kustomize/overlays/dev/kustomization.yaml",
                "resources: [../../base]\n",
            ),
            (
                "driven/kustomize/overlays/prod/kustomization.yaml",
                "resources: [../../base]\n",
            ),
            (
                "driven/kustomize/dev.yaml",
                "kustomize: {dir: overlays/dev}\n",
            ),
            (
                "driven/kustomize/prod.yaml",
                "kustomize: {dir: overlays/prod}\n",
            ),
            ("driven/kustomize/.fleetignore", "dev.yaml\n"),
            ("driven/simple/svc.yaml", CM),
            ("driven/simple/sub/fleet.yaml", "namespace: never-read\n"),
            ("driven/Camel/fleetDev.yaml", "namespace: dev\n"),
            ("driven/Camel/cm.yaml", CM),
        ],
    );
    let o = ScanOptions {
        repo_name: "assets".into(),
        driven_scan: true,
        paths: vec![
            "driven/simple".into(),
            "driven/kustomize:dev.yaml".into(),
            "driven/kustomize:prod.yaml".into(),
            "driven/Camel:fleetDev.yaml".into(),
        ],
        ..ScanOptions::default()
    };
    let out = scan(tmp.path(), &o).unwrap();
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    let names: Vec<&str> = out
        .bundles
        .iter()
        .map(|b| b.metadata.name.as_str())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let simple = bundle(&out, "assets-driven-simple");
    assert_eq!(resources(simple), ["sub/fleet.yaml", "svc.yaml"]);
    assert!(simple.spec.options.target_namespace.is_empty());
    let dev = bundle(&out, "assets-driven-kustomize-dev");
    let prod = bundle(&out, "assets-driven-kustomize-prod");
    assert_eq!(
        dev.spec.options.kustomize.as_ref().unwrap().dir,
        "overlays/dev"
    );
    assert_eq!(
        prod.spec.options.kustomize.as_ref().unwrap().dir,
        "overlays/prod"
    );
    // dev.yaml is .fleetignored everywhere; prod.yaml only leaves the prod bundle.
    assert_eq!(dev.spec.resources.len(), 5, "{:?}", resources(dev));
    assert!(resources(dev).contains(&"prod.yaml"));
    assert_eq!(prod.spec.resources.len(), 4, "{:?}", resources(prod));
    // Upper case makes Fleet's release-name rules add a hash suffix.
    assert!(
        out.bundles
            .iter()
            .any(|b| b.metadata.name.starts_with("assets-driven-camel-fleetdev-")),
        "{names:?}"
    );

    let bad = ScanOptions {
        driven_scan: true,
        paths: vec!["a:b:c".into()],
        ..opts()
    };
    let err = scan(tmp.path(), &bad).unwrap_err();
    assert!(
        err.to_string().contains("invalid bundle path \"a:b:c\""),
        "{err}"
    );
}
