//! The `fleet-bundle` command line in the forms Fleet users and their pipelines call, with
//! Fleet's flag names: `build` (`fleet apply`), `target`/`test`, `deploy --dry-run` and
//! `bundlediff`. Each test names the Fleet file whose behaviour it restates; the trees and
//! the checks are ours.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Runs `fleet-bundle ARGS` (stdin fed when given): exit success, stdout, stderr.
fn run(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleet-bundle"))
        .args(args)
        .env_remove("NAMESPACE")
        .env_remove("HELM_USERNAME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running fleet-bundle");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = run(args, None);
    assert!(success, "fleet-bundle {args:?} failed: {stderr}");
    stdout
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, content) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

fn docs(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: b}\n";

// Fleet: internal/cmd/cli/apply.go (flag names) and internal/bundlereader/read.go (what
// each sets); integrationtests/cli/apply/targetsfile_test.go (targets and restrictions
// appended from --targets-file) and apply_test.go ("keepResources").
#[test]
fn build_takes_fleet_apply_flags() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), &[("app/cm.yaml", CM), ("app/fleet.yaml", "")]);
    let side = tempfile::tempdir().unwrap();
    let targets = side.path().join("targets.yaml");
    std::fs::write(
        &targets,
        "targets:\n- {name: target1, clusterName: test1}\ntargetRestrictions:\n- {name: target1, clusterName: test1}\n",
    )
    .unwrap();
    let path = tmp.path().to_str().unwrap();
    let out = ok(&[
        "build",
        path,
        "repo",
        "--targets-file",
        targets.to_str().unwrap(),
        "--target-namespace",
        "team",
        "-a",
        "deployer",
        "--paused",
        "--keep-resources",
        "--delete-namespace",
        "--correct-drift",
        "--correct-drift-force",
        "--correct-drift-keep-fail-history",
        "--sync-generation",
        "3",
        "-c",
        "-o",
        "json",
    ]);
    let bundles: Vec<Value> = serde_json::from_str(&out).unwrap();
    let spec = &bundles[0]["spec"];
    assert_eq!(spec["targets"][0]["name"], "target1");
    assert_eq!(spec["targets"][0]["clusterName"], "test1");
    assert_eq!(spec["targets"].as_array().unwrap().len(), 1);
    assert_eq!(spec["targetRestrictions"][0]["clusterName"], "test1");
    assert_eq!(spec["namespace"], "team");
    assert_eq!(spec["targets"][0]["namespace"], "team");
    assert_eq!(spec["serviceAccount"], "deployer");
    assert_eq!(spec["paused"], true);
    assert_eq!(spec["keepResources"], true);
    assert_eq!(spec["deleteNamespace"], true);
    assert_eq!(
        spec["correctDrift"],
        serde_json::json!({"enabled": true, "force": true, "keepFailHistory": true})
    );
    assert_eq!(spec["forceSyncGeneration"], 3);
    assert_eq!(spec["resources"][0]["encoding"], "base64+gz");

    // Fleet's `-o -` (stdout) and `-o FILE`.
    let stdout = ok(&["build", path, "repo", "-o", "-"]);
    assert_eq!(docs(&stdout)[0]["kind"], "Bundle");
    let file = side.path().join("out.yaml");
    assert_eq!(
        ok(&["build", path, "repo", "-o", file.to_str().unwrap()]),
        ""
    );
    assert_eq!(
        docs(&std::fs::read_to_string(&file).unwrap())[0]["metadata"]["name"],
        "repo-app"
    );
}

// Fleet: integrationtests/cli/apply/apply_test.go "Fleet apply driven" and
// internal/cmd/cli/apply.go (--driven-scan, --driven-scan-sep).
#[test]
fn build_driven_scan_with_separator() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[
            ("k/cm.yaml", CM),
            ("k/dev.yaml", "namespace: dev\n"),
            ("k/prod.yaml", "namespace: prod\n"),
        ],
    );
    let out = ok(&[
        "build",
        tmp.path().to_str().unwrap(),
        "assets",
        "--driven-scan",
        "--driven-scan-sep",
        "+",
        "--paths",
        "k+dev.yaml,k+prod.yaml",
    ]);
    let bundles = docs(&out);
    let names: Vec<&str> = bundles
        .iter()
        .map(|b| b["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["assets-k-dev", "assets-k-prod"]);
    assert_eq!(bundles[0]["spec"]["namespace"], "dev");
    let resources: Vec<&str> = bundles[1]["spec"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["cm.yaml", "dev.yaml"]);
}

// Fleet: internal/cmd/cli/apply.go, `-f FILE` and `-f -` (a Bundle read as it is, the
// name required as the first argument, its namespace from -n).
#[test]
fn build_prints_a_bundle_from_a_file_or_stdin() {
    let bundle = "apiVersion: fleet.cattle.io/v1alpha1\nkind: Bundle\nmetadata: {name: given}\nspec:\n  resources: [{name: cm.yaml, content: x}]\n";
    let (success, out, err) = run(
        &["build", "-f", "-", "-n", "team-ws", "given"],
        Some(bundle),
    );
    assert!(success, "{err}");
    let b = &docs(&out)[0];
    assert_eq!(b["metadata"]["name"], "given");
    assert_eq!(b["metadata"]["namespace"], "team-ws");
    assert_eq!(b["spec"]["resources"][0]["name"], "cm.yaml");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("b.yaml");
    std::fs::write(&file, bundle).unwrap();
    let out = ok(&["build", "-f", file.to_str().unwrap(), "given"]);
    assert_eq!(docs(&out)[0]["metadata"]["namespace"], "fleet-local");
    let (success, _, err) = run(&["build", "-f", file.to_str().unwrap()], None);
    assert!(!success);
    assert!(err.contains("the bundle name is required"), "{err}");
}

/// A Helm repository double on localhost: `index.yaml` and one chart archive, both behind
/// basic auth `user:secret` when `auth`. Serves until the test process ends.
fn helm_repo(auth: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let archive = {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, data) in [
            (
                "config-chart/Chart.yaml",
                "apiVersion: v2\nname: config-chart\nversion: 0.1.0\n",
            ),
            ("config-chart/values.yaml", "name: x\n"),
            ("config-chart/templates/cm.yaml", CM),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, data.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    };
    let index = format!(
        "apiVersion: v1\nentries:\n  config-chart:\n  - name: config-chart\n    version: 0.1.0\n    urls: [{url}/config-chart-0.1.0.tgz]\n"
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = vec![0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            // base64("user:secret")
            let authorized = !auth || request.contains("Basic dXNlcjpzZWNyZXQ=");
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body): (&str, Vec<u8>) = if !authorized {
                ("401 Unauthorized", Vec::new())
            } else if path == "/index.yaml" {
                ("200 OK", index.clone().into_bytes())
            } else if path == "/config-chart-0.1.0.tgz" {
                ("200 OK", archive.clone())
            } else {
                ("404 Not Found", Vec::new())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

// Fleet: integrationtests/cli/apply/helm_test.go ("auth is required": fails without
// credentials, fails when they are given without --helm-repo-url-regex or with one that
// does not match, works when it matches; an invalid regex is an error; credentials by
// path), internal/bundlereader/resources.go `shouldAddAuthToRequest`.
#[test]
fn build_helm_credentials_follow_fleets_rules() {
    let url = helm_repo(true);
    let tmp = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        &[(
            "chart/fleet.yaml",
            &format!("helm: {{repo: '{url}', chart: config-chart, version: 0.1.0}}\n"),
        )],
    );
    let password = tmp.path().join("password");
    std::fs::write(&password, "secret\n").unwrap();
    let path = tmp.path().to_str().unwrap();
    let pw = password.to_str().unwrap();
    let cache = cache.path().to_str().unwrap();
    let base = ["build", path, "repo", "--chart-cache", cache];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        run(&args, None)
    };

    let (success, _, err) = with(&[]);
    assert!(!success && err.contains("401"), "{err}");
    let (success, _, err) = with(&["--username", "user", "--password-file", pw]);
    assert!(
        !success && err.contains("--helm-repo-url-regex is empty"),
        "{err}"
    );
    let (success, _, err) = with(&[
        "--username",
        "user",
        "--password-file",
        pw,
        "--helm-repo-url-regex",
        "^https://elsewhere",
    ]);
    assert!(!success && err.contains("401"), "{err}");
    let (success, _, err) = with(&["--username", "u", "--helm-repo-url-regex", "a(b"]);
    assert!(!success && err.contains("--helm-repo-url-regex"), "{err}");
    let (success, out, err) = with(&[
        "--username",
        "user",
        "--password-file",
        pw,
        "--helm-repo-url-regex",
        "^http://127\\.0\\.0\\.1",
    ]);
    assert!(success, "{err}");
    assert!(out.contains("config-chart/templates/cm.yaml"), "{out}");

    let by_path = tmp.path().join("by-path.yaml");
    std::fs::write(&by_path, "ch*: {username: user, password: secret}\n").unwrap();
    let (success, _, err) = with(&[
        "--helm-credentials-by-path-file",
        by_path.to_str().unwrap(),
        "--helm-repo-url-regex",
        ".*",
    ]);
    assert!(success, "{err}");
}

/// A checkout with one multi-target bundle for the `target` tests.
fn targeted_checkout(root: &Path) {
    write(
        root,
        &[
            ("cm.yaml", CM),
            (
                "fleet.yaml",
                "namespace: base\nnamespaceLabels: {team: a}\nnamespaceAnnotations: {owner: ops}\n\
                 targetCustomizations:\n- name: dev\n  clusterSelector: {matchLabels: {env: dev}}\n  \
                 serviceAccount: dev-sa\n  namespace: dev-ns\n- name: prod\n  clusterSelector: {matchLabels: {env: prod}}\n",
            ),
        ],
    );
}

// Fleet: internal/cmd/cli/test.go and match/match.go (`-q` prints only the match, `-t`
// takes a target by name, `-b/--bundle-file` reads a Bundle, "no match found"), and
// internal/cmd/cli/target.go (`--dump-input-list`); `-o json` carries each deployment's
// options (namespaceLabels, namespaceAnnotations, serviceAccount...).
#[test]
fn target_and_test_take_fleets_flags() {
    let tmp = tempfile::tempdir().unwrap();
    targeted_checkout(tmp.path());
    let path = tmp.path().to_str().unwrap();

    let (success, out, err) = run(&["test", path, "-l", "env=dev", "-q"], None);
    assert!(success, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("# Matched: dev"), "{err}");

    let (success, out, err) = run(&["target", path, "-t", "prod"], None);
    assert!(success, "{err}");
    assert!(err.contains("# Matched: prod"), "{err}");
    assert_eq!(docs(&out)[0]["metadata"]["namespace"], "base");

    let (success, _, err) = run(&["target", path, "-l", "env=qa"], None);
    assert!(!success && err.contains("no match found"), "{err}");

    let out = ok(&["target", path, "-l", "env=dev", "-o", "json"]);
    let report: Vec<Value> = serde_json::from_str(&out).unwrap();
    let options = &report[0]["options"];
    assert_eq!(options["serviceAccount"], "dev-sa");
    assert_eq!(options["namespace"], "dev-ns");
    assert_eq!(options["namespaceLabels"]["team"], "a");
    assert_eq!(options["namespaceAnnotations"]["owner"], "ops");

    let (success, _, err) = run(
        &[
            "target",
            path,
            "-N",
            "c1",
            "-l",
            "env=dev",
            "--dump-input-list",
            "-q",
        ],
        None,
    );
    assert!(success, "{err}");
    assert!(
        err.contains("name: c1") && err.contains("env: dev"),
        "{err}"
    );

    // A Bundle file, as `build` prints it, instead of the checkout.
    let bundles = tmp.path().join("bundles.yaml");
    std::fs::write(&bundles, ok(&["build", path, "test"])).unwrap();
    let (success, out, err) = run(
        &[
            "target",
            "/nonexistent",
            "-b",
            bundles.to_str().unwrap(),
            "-l",
            "env=dev",
        ],
        None,
    );
    assert!(success, "{err}");
    assert_eq!(docs(&out)[0]["metadata"]["namespace"], "dev-ns");

    // `-f`: another options file than fleet.yaml.
    write(tmp.path(), &[("alt.yaml", "namespace: alt\n")]);
    let out = ok(&["target", path, "-f", "alt.yaml"]);
    assert_eq!(docs(&out)[0]["metadata"]["namespace"], "alt");
}

// Fleet: internal/cmd/cli/deploy.go (`-i` with the Content and BundleDeployment
// `fleet target` writes; `--dry-run` prints the release's resources; a file missing one
// of them is refused).
#[test]
fn deploy_dry_run_renders_content_and_bundledeployment() {
    use base64::Engine as _;
    let manifest = serde_json::json!({"resources": [{"name": "cm.yaml", "content": CM}]});
    let json = serde_json::to_vec(&manifest).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).unwrap();
    let content = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    use sha2::Digest as _;
    let sum = hex::encode(sha2::Sha256::digest(&json));
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.yaml");
    std::fs::write(
        &input,
        format!(
            "---\napiVersion: fleet.cattle.io/v1alpha1\nkind: BundleDeployment\nmetadata: {{name: test-simple}}\nspec:\n  deploymentID: s-1\n  options: {{namespace: deployed}}\n---\napiVersion: fleet.cattle.io/v1alpha1\nkind: Content\nmetadata: {{name: s-1}}\ncontent: {content}\nsha256sum: {sum}\n"
        ),
    )
    .unwrap();
    let input = input.to_str().unwrap();
    let out = ok(&["deploy", "-i", input, "--dry-run"]);
    let objects = docs(&out);
    assert_eq!(objects[0][0]["kind"], "ConfigMap");
    assert_eq!(objects[0][0]["metadata"]["namespace"], "deployed");

    let (success, _, err) = run(&["deploy", "-i", input], None);
    assert!(!success && err.contains("--dry-run"), "{err}");

    let broken = tmp.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: fleet.cattle.io/v1alpha1\nkind: BundleDeployment\nmetadata: {name: x}\n",
    )
    .unwrap();
    let (success, _, err) = run(&["deploy", "-i", broken.to_str().unwrap(), "-d"], None);
    assert!(
        !success && err.contains("failed to read content resource"),
        "{err}"
    );
}

const BUNDLE_DEPLOYMENTS: &str = r#"apiVersion: v1
kind: List
items:
- apiVersion: fleet.cattle.io/v1alpha1
  kind: BundleDeployment
  metadata:
    name: test-bd-modified
    namespace: cluster-ns
    labels: {fleet.cattle.io/bundle-name: test-bundle}
  status:
    modifiedStatus:
    - {apiVersion: v1, kind: Service, namespace: test-ns, name: my-service, patch: '{"spec":{"ports":[{"port":81}]}}'}
    - {apiVersion: v1, kind: ConfigMap, namespace: test-ns, name: missing-cm, missing: true}
    - {apiVersion: v1, kind: Secret, namespace: test-ns, name: extra-secret, delete: true}
    - {apiVersion: v1, kind: ConfigMap, namespace: nginx, name: simple-config, patch: '{"data":{}}'}
- apiVersion: fleet.cattle.io/v1alpha1
  kind: BundleDeployment
  metadata: {name: clean, namespace: cluster-ns, labels: {fleet.cattle.io/bundle-name: other}}
  status: {}
"#;

// Fleet: integrationtests/cli/bundlediff/bundlediff_test.go (text lines for modified,
// missing and extra resources; JSON shape; empty-object patches) and
// internal/cmd/cli/bundlediff.go `convertMergePatchToRemoveOps` for --fleet-yaml.
#[test]
fn bundlediff_reports_like_fleet() {
    let one = [
        "bundlediff",
        "--bundle-deployment",
        "test-bd-modified",
        "-n",
        "cluster-ns",
    ];
    let (success, out, err) = run(&one, Some(BUNDLE_DEPLOYMENTS));
    assert!(success, "{err}");
    for line in [
        "BundleDeployment: cluster-ns/test-bd-modified",
        "Bundle: test-bundle",
        "Modified Resources:",
        "Resource: Service.v1 test-ns/my-service",
        "Status: Modified",
        "\"spec\"",
        "Resource: ConfigMap.v1 test-ns/missing-cm",
        "Status: Resource is missing (should be created)",
        "Resource: Secret.v1 test-ns/extra-secret",
        "Status: Extra resource (should be deleted)",
        "ConfigMap.v1 nginx/simple-config",
        "{}",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }

    let (success, out, _) = run(&["bundlediff", "--json"], Some(BUNDLE_DEPLOYMENTS));
    assert!(success);
    let json: Value = serde_json::from_str(&out).unwrap();
    let diffs = json["bundleDeploymentDiffs"].as_array().unwrap();
    assert_eq!(diffs.len(), 1, "the clean deployment has no diff");
    assert_eq!(diffs[0]["bundleDeploymentName"], "test-bd-modified");
    assert_eq!(diffs[0]["modifiedResources"][0]["name"], "my-service");

    let (_, out, _) = run(&["bundlediff"], Some(BUNDLE_DEPLOYMENTS));
    assert!(
        out.starts_with("Bundle: test-bundle\nBundleDeployments with diffs: 1\n"),
        "{out}"
    );

    let mut fleet_yaml = one.to_vec();
    fleet_yaml.push("--fleet-yaml");
    let (success, out, err) = run(&fleet_yaml, Some(BUNDLE_DEPLOYMENTS));
    assert!(success, "{err}");
    assert!(out.starts_with("diff:\n  comparePatches:\n"), "{out}");
    assert!(out.contains("name: my-service\n    namespace: test-ns\n    operations:\n    - op: remove\n      path: /spec/ports\n"), "{out}");
    assert!(out.contains("path: /data\n"), "{out}");

    let (_, out, _) = run(&["bundlediff", "-b", "other"], Some(BUNDLE_DEPLOYMENTS));
    assert_eq!(out, "No modified resources found.\n");
}

// The help names every Fleet form.
#[test]
fn help_lists_the_fleet_forms() {
    let help = ok(&["--help"]);
    for form in [
        "build",
        "target",
        "test",
        "deploy",
        "bundlediff",
        "--driven-scan",
        "--bundle-file",
    ] {
        assert!(help.contains(form), "{form} missing from --help:\n{help}");
    }
}
