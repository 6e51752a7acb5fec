//! The double driven by the real `kubectl`: client-side and server-side apply (with a
//! conflict), get -o yaml and tables, label, all three patch types, wait, delete.

mod common;

use kube_double::Handle;
use serde_json::Value;

struct Kubectl {
    kubeconfig: std::path::PathBuf,
    home: tempfile::TempDir,
}

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(double: &Handle) -> Self {
        Self {
            kubeconfig: double.kubeconfig_path().to_path_buf(),
            home: tempfile::tempdir().expect("home"),
        }
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_stdin(args, None).await
    }

    async fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(
            std::env::var("KUBECTL_BIN").unwrap_or_else(|_| "kubectl".into()),
        );
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.home.path())
            .env("KUBECACHEDIR", self.home.path().join("cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .expect("kubectl is on PATH (scripts/setup.sh checks it)");
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(input) = stdin {
                pipe.write_all(input.as_bytes()).await.expect("stdin");
            }
        }
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("kubectl finished")
                .expect("output");
        Output {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.ok, "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    async fn apply(&self, extra: &[&str], manifest: &str) -> Output {
        let mut args = vec!["apply", "-f", "-"];
        args.extend_from_slice(extra);
        self.run_stdin(&args, Some(manifest)).await
    }

    async fn yaml(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "yaml"]);
        serde_yaml::from_str(&self.ok(&all).await).expect("yaml")
    }
}

fn deployment(replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\n  labels: {{app: web}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        image: {image}\n        ports: [{{containerPort: 80}}]\n"
    )
}

fn container_names(d: &Value) -> Vec<String> {
    d["spec"]["template"]["spec"]["containers"].as_sequence_names()
}

trait Names {
    fn as_sequence_names(&self) -> Vec<String>;
}

impl Names for Value {
    fn as_sequence_names(&self) -> Vec<String> {
        self.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_side_apply_get_label_patch_wait_delete() {
    let double = common::start().await;
    let k = Kubectl::new(&double);
    assert!(k
        .ok(&["version", "-o", "json"])
        .await
        .contains("\"minor\": \"30\""));
    k.ok(&["create", "namespace", "demo"]).await;
    assert_eq!(
        k.ok(&["auth", "can-i", "delete", "deployments", "-n", "demo"])
            .await
            .trim(),
        "yes"
    );

    let created = k.apply(&[], &deployment(2, "nginx:1.25")).await;
    assert!(
        created.ok && created.stdout.contains("deployment.apps/web created"),
        "{}",
        created.stderr
    );
    let unchanged = k.apply(&[], &deployment(2, "nginx:1.25")).await;
    assert!(
        unchanged.stdout.contains("unchanged"),
        "{}",
        unchanged.stdout
    );
    let configured = k.apply(&[], &deployment(3, "nginx:1.26")).await;
    assert!(
        configured.stdout.contains("configured"),
        "{}",
        configured.stdout
    );

    let d = k.yaml(&["get", "deployment", "web", "-n", "demo"]).await;
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2);
    assert!(
        d["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.26"
    );

    k.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/web",
        "-n",
        "demo",
        "--timeout=20s",
    ])
    .await;
    let table = k.ok(&["get", "deployments", "-n", "demo"]).await;
    assert!(table.contains("READY") && table.contains("3/3"), "{table}");

    k.ok(&["label", "deployment", "web", "-n", "demo", "tier=front"])
        .await;
    assert_eq!(
        k.ok(&[
            "get",
            "deployments",
            "-n",
            "demo",
            "-l",
            "tier=front",
            "-o",
            "name"
        ])
        .await
        .trim(),
        "deployment.apps/web"
    );

    k.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "demo",
        "--type=strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox:1.36"}]}}}}"#,
    ])
    .await;
    let d = k.yaml(&["get", "deployment", "web", "-n", "demo"]).await;
    assert_eq!(
        container_names(&d),
        ["side", "web"],
        "strategic merge keeps the existing container"
    );
    k.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":1}}"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "demo",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/template/spec/containers/0"}]"#,
    ])
    .await;
    let d = k.yaml(&["get", "deployment", "web", "-n", "demo"]).await;
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(container_names(&d), ["web"]);

    let bad = k
        .run(&[
            "patch",
            "deployment",
            "web",
            "-n",
            "demo",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
        ])
        .await;
    assert!(!bad.ok);

    k.ok(&["delete", "deployment", "web", "-n", "demo"]).await;
    let gone = k.run(&["get", "deployment", "web", "-n", "demo"]).await;
    assert!(
        !gone.ok
            && gone
                .stderr
                .contains("Error from server (NotFound): deployments.apps \"web\" not found"),
        "{}",
        gone.stderr
    );
    double.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_conflicts_and_force() {
    let double = common::start().await;
    let k = Kubectl::new(&double);
    k.ok(&["create", "namespace", "demo"]).await;
    let first = k
        .apply(&["--server-side"], &deployment(2, "nginx:1.25"))
        .await;
    assert!(
        first.ok && first.stdout.contains("serverside-applied"),
        "{}",
        first.stderr
    );
    let other = k
        .apply(
            &["--server-side", "--field-manager=other"],
            &deployment(4, "nginx:1.25"),
        )
        .await;
    assert!(
        !other.ok,
        "a second manager changing replicas must conflict"
    );
    assert!(
        other
            .stderr
            .contains("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas"),
        "{}",
        other.stderr
    );
    let shared = k
        .apply(
            &["--server-side", "--field-manager=other"],
            &deployment(2, "nginx:1.25"),
        )
        .await;
    assert!(
        shared.ok,
        "applying the same values shares ownership: {}",
        shared.stderr
    );
    let forced = k
        .apply(
            &[
                "--server-side",
                "--field-manager=other",
                "--force-conflicts",
            ],
            &deployment(4, "nginx:1.25"),
        )
        .await;
    assert!(forced.ok, "{}", forced.stderr);
    let d = k
        .yaml(&[
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "--show-managed-fields",
        ])
        .await;
    assert_eq!(d["spec"]["replicas"], 4);
    let managers: Vec<(String, String)> = d["metadata"]["managedFields"]
        .as_array()
        .expect("managed fields")
        .iter()
        .map(|m| {
            (
                m["manager"].as_str().unwrap_or_default().to_string(),
                m["operation"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("kubectl".into(), "Apply".into())),
        "{managers:?}"
    );
    assert!(
        managers.contains(&("other".into(), "Apply".into())),
        "{managers:?}"
    );
    double.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_and_custom_resources_through_kubectl() {
    let double = common::start().await;
    let k = Kubectl::new(&double);
    k.ok(&["create", "namespace", "demo"]).await;
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd]}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            properties:\n              size: {type: integer}\n";
    assert!(k.apply(&[], crd).await.ok);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/widgets.example.com",
        "--timeout=20s",
    ])
    .await;
    let widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: demo\nspec:\n  size: 3\n";
    let applied = k.apply(&[], widget).await;
    assert!(applied.ok, "{}", applied.stderr);
    assert_eq!(
        k.ok(&["get", "wd", "-n", "demo", "-o", "name"])
            .await
            .trim(),
        "widget.example.com/w1"
    );
    let unknown = k
        .apply(&[], &widget.replace("size: 3", "size: 3\n  color: red"))
        .await;
    assert!(
        !unknown.ok
            && unknown
                .stderr
                .contains("strict decoding error: unknown field \"spec.color\""),
        "{}",
        unknown.stderr
    );
    let bad = k.apply(&[], &widget.replace("size: 3", "size: big")).await;
    assert!(
        !bad.ok && bad.stderr.contains("spec.size"),
        "{}",
        bad.stderr
    );
    let merged = k
        .run(&[
            "patch",
            "widget",
            "w1",
            "-n",
            "demo",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":4}}"#,
        ])
        .await;
    assert!(merged.ok, "{}", merged.stderr);
    k.ok(&["delete", "-n", "demo", "widget", "w1"]).await;
    double.shutdown().await;
}
