//! The double driven by the real `helm` binary (`$HELM_BIN` or `.tools/bin/helm` from
//! scripts/setup.sh): install --wait, upgrade, ls, get manifest, history, uninstall.

mod common;

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{ListParams, PostParams};
use kube::Api;
use serde_json::{json, Value};

fn helm_bin() -> PathBuf {
    if let Ok(p) = std::env::var("HELM_BIN") {
        return p.into();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/helm")
}

struct Helm {
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    async fn run(&self, args: &[&str]) -> String {
        let h = self.home.path();
        let out = tokio::process::Command::new(helm_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .env("HOME", h)
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_DATA_HOME", h.join("data"))
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), out)
            .await
            .expect("helm finished")
            .expect("helm runs (scripts/setup.sh installs it into .tools/bin)");
        assert!(
            out.status.success(),
            "helm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into()
    }
}

fn write_chart(dir: &Path) {
    std::fs::create_dir_all(dir.join("templates")).expect("chart dir");
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    )
    .expect("Chart.yaml");
    std::fs::write(dir.join("values.yaml"), "replicas: 1\nmessage: hello\n").expect("values");
    std::fs::write(
        dir.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  message: {{ .Values.message | quote }}\n",
    )
    .expect("configmap template");
    std::fs::write(
        dir.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}-web\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels: {app: {{ .Release.Name }}}\n  template:\n    metadata:\n      labels: {app: {{ .Release.Name }}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n",
    )
    .expect("deployment template");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_list_manifest_uninstall() {
    let double = common::start().await;
    let client = common::client(&double).await;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "demo"}})).expect("ns");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let helm = Helm {
        kubeconfig: double.kubeconfig_path().to_path_buf(),
        home: tempfile::tempdir().expect("home"),
    };
    let chart = helm.home.path().join("chart");
    write_chart(&chart);
    let chart = chart.to_str().expect("utf8 path").to_string();

    helm.run(&[
        "install",
        "rel1",
        &chart,
        "-n",
        "demo",
        "--wait",
        "--timeout",
        "30s",
    ])
    .await;
    let ls: Value = serde_json::from_str(&helm.run(&["ls", "-n", "demo", "-o", "json"]).await)
        .expect("ls json");
    assert_eq!(ls[0]["name"], "rel1");
    assert_eq!(ls[0]["status"], "deployed");
    assert_eq!(ls[0]["revision"], "1");

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "demo");
    let d = deployments.get("rel1-web").await.expect("deployed");
    let labels = d.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("Helm")
    );
    let annotations = d.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("meta.helm.sh/release-name")
            .map(String::as_str),
        Some("rel1")
    );

    helm.run(&[
        "upgrade",
        "rel1",
        &chart,
        "-n",
        "demo",
        "--set",
        "replicas=2",
        "--set",
        "message=bye",
    ])
    .await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "demo");
    let cm = cms.get("rel1-config").await.expect("configmap");
    assert_eq!(
        cm.data.and_then(|d| d.get("message").cloned()).as_deref(),
        Some("bye")
    );
    assert_eq!(
        deployments
            .get("rel1-web")
            .await
            .expect("web")
            .spec
            .and_then(|s| s.replicas),
        Some(2)
    );

    let manifest = helm.run(&["get", "manifest", "rel1", "-n", "demo"]).await;
    assert!(
        manifest.contains("name: rel1-config") && manifest.contains("message: \"bye\""),
        "{manifest}"
    );
    let history = helm
        .run(&["history", "rel1", "-n", "demo", "-o", "json"])
        .await;
    let history: Value = serde_json::from_str(&history).expect("history json");
    assert_eq!(history[0]["status"], "superseded");
    assert_eq!(history[1]["status"], "deployed");

    // Release records are Secrets as real Helm stores them.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "demo");
    let records = secrets
        .list(&ListParams::default().labels("owner=helm,name=rel1"))
        .await
        .expect("records");
    let mut names: Vec<_> = records
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["sh.helm.release.v1.rel1.v1", "sh.helm.release.v1.rel1.v2"]
    );
    assert!(records
        .items
        .iter()
        .all(|s| s.type_.as_deref() == Some("helm.sh/release.v1")));
    let status_of = |name: &str| {
        records
            .items
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .and_then(|s| s.metadata.labels.clone())
            .and_then(|l| l.get("status").cloned())
    };
    assert_eq!(
        status_of("sh.helm.release.v1.rel1.v1").as_deref(),
        Some("superseded")
    );
    assert_eq!(
        status_of("sh.helm.release.v1.rel1.v2").as_deref(),
        Some("deployed")
    );

    helm.run(&["uninstall", "rel1", "-n", "demo"]).await;
    assert!(deployments
        .get_opt("rel1-web")
        .await
        .expect("get")
        .is_none());
    assert!(cms.get_opt("rel1-config").await.expect("get").is_none());
    let left = secrets
        .list(&ListParams::default().labels("owner=helm"))
        .await
        .expect("records");
    assert!(left.items.is_empty());
    assert_eq!(helm.run(&["ls", "-n", "demo", "-q"]).await.trim(), "");
    double.shutdown().await;
}
