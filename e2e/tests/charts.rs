//! The charts of `deploy/charts`: for several value sets, the real `helm template`
//! (`$HELM_BIN`) and our engine (fleet-bundle's Helm renderer) print the same bytes, bad
//! values fail in both with the chart's own message, and every rendered manifest passes
//! the kubeconform-style check against the API double (`e2e::schema_check`). The manager
//! chart is then installed with the real `helm install` onto the double.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::schema_check::SchemaCheck;
use fleet_bundle::helm::render::{template, GoTemplateEngine, TemplateOptions};
use kube_double::{Config, KubeDouble};

const CHARTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/charts");

fn helm_bin() -> PathBuf {
    std::env::var_os("HELM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/bin/helm"))
}

const CA_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBfake0manager0ca0for0pinning\n-----END CERTIFICATE-----\n";

/// (chart, case name, namespace, values.yaml text).
fn cases() -> Vec<(&'static str, &'static str, &'static str, String)> {
    vec![
        (
            "fleet-agent",
            "cluster-mode",
            "fleet-system",
            "manager:\n  url: https://fleet.example.org:8443\nregistration:\n  token: fleet-reg-abc\n"
                .into(),
        ),
        (
            "fleet-agent",
            "namespaced-pinned-ca",
            "fleet-system",
            format!(
                "manager:\n  url: https://10.0.0.5:8443\n  caCert: |\n{}registration:\n  token: fleet-reg-xyz\ncluster:\n  name: edge-7\n  labels:\n    env: prod\n    region: eu-west\nrbac:\n  mode: namespaced\n  namespaces: [team-a, team-b]\n  allowClusterScoped: true\n  rules:\n    - apiGroups: [\"\", apps]\n      resources: [configmaps, secrets, services, deployments]\n      verbs: [get, list, watch, create, update, patch, delete]\npersistence:\n  enabled: false\npodDisruptionBudget:\n  enabled: true\ntolerations:\n  - key: edge\n    operator: Exists\n    effect: NoSchedule\nnodeSelector:\n  kubernetes.io/os: linux\n",
                CA_PEM.lines().map(|l| format!("    {l}\n")).collect::<String>()
            ),
        ),
        (
            "fleet-agent",
            "existing-secret",
            "agents",
            "manager:\n  url: https://fleet.example.org\nregistration:\n  existingSecret: agent-token\nserviceAccount:\n  create: false\n  name: fleet\nmetrics:\n  port: 9000\n  service:\n    enabled: false\nlogJson: false\nextraArgs: [--heartbeat-seconds=600]\npodAnnotations:\n  prometheus.io/scrape: \"true\"\n".into(),
        ),
        ("fleet-manager", "sqlite-defaults", "fleet-system", String::new()),
        (
            "fleet-manager",
            "sqlite-tls-ingress",
            "fleet-system",
            "admin:\n  token: e2e-admin-token\ntls:\n  mode: secret\n  secretName: manager-tls\ningress:\n  enabled: true\n  className: nginx\n  host: fleet.example.org\n  tlsSecretName: fleet-ingress-tls\npersistence:\n  storageClass: fast\n  size: 10Gi\n".into(),
        ),
        (
            "fleet-manager",
            "postgres-cert-manager",
            "fleet",
            "database:\n  type: postgres\n  postgres:\n    dsnSecret:\n      name: fleet-db\nreplicas: 3\nadmin:\n  existingSecret: fleet-admin\nsecretKey:\n  existingSecret: fleet-key\ntls:\n  mode: certManager\n  certManager:\n    issuerRef:\n      name: letsencrypt\n    dnsNames: [fleet.internal]\ningress:\n  enabled: true\n  host: fleet.example.org\nservice:\n  type: LoadBalancer\n  port: 443\nextraEnv:\n  - name: RUST_LOG\n    value: debug\nimagePullSecrets:\n  - name: registry\n".into(),
        ),
    ]
}

/// (chart, values, a phrase both renderers must report).
fn bad_cases() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "fleet-agent",
            "manager:\n  url: https://m\n",
            "registration.token is required",
        ),
        (
            "fleet-agent",
            "manager:\n  url: https://m\nregistration:\n  token: t\nrbac:\n  mode: namespaced\n",
            "rbac.mode namespaced needs rbac.namespaces",
        ),
        (
            "fleet-agent",
            "registration:\n  token: t\nrbac:\n  mode: everything\n",
            "rbac.mode must be cluster or namespaced",
        ),
        (
            "fleet-manager",
            "database:\n  type: postgres\n",
            "needs database.postgres.dsnSecret.name",
        ),
        (
            "fleet-manager",
            "database:\n  type: postgres\n  postgres:\n    dsnSecret:\n      name: db\n",
            "must share one admin token",
        ),
        (
            "fleet-manager",
            "tls:\n  mode: secret\n",
            "tls.mode secret needs tls.secretName",
        ),
    ]
}

fn helm_template(chart: &str, namespace: &str, values: &Path) -> Result<String, String> {
    let out = Command::new(helm_bin())
        .args([
            "template",
            "fleet",
            &format!("{CHARTS}/{chart}"),
            "--namespace",
            namespace,
            "-f",
        ])
        .arg(values)
        .output()
        .expect("helm runs (make setup installs it; or set HELM_BIN)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn our_template(chart: &str, namespace: &str, values: &Path) -> Result<String, String> {
    let mut opts = TemplateOptions {
        release_name: "fleet".into(),
        namespace: namespace.into(),
        ..TemplateOptions::default()
    };
    opts.values.value_files.push(values.to_path_buf());
    template(&Path::new(CHARTS).join(chart), &opts, &GoTemplateEngine).map_err(|e| e.to_string())
}

/// A cert-manager `Certificate` CRD with the fields the manager chart sets, so the
/// double validates the chart's Certificate against a schema too.
const CERTIFICATE_CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
"metadata":{"name":"certificates.cert-manager.io"},
"spec":{"group":"cert-manager.io","scope":"Namespaced",
 "names":{"plural":"certificates","singular":"certificate","kind":"Certificate","listKind":"CertificateList"},
 "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object",
  "properties":{"spec":{"type":"object","required":["secretName","issuerRef"],"properties":{
   "secretName":{"type":"string"},"duration":{"type":"string"},
   "dnsNames":{"type":"array","items":{"type":"string"}},
   "issuerRef":{"type":"object","required":["name"],"properties":{
     "name":{"type":"string"},"kind":{"type":"string"},"group":{"type":"string"}}}}}}}}}]}}"#;

async fn double_with_namespaces(namespaces: &[&str]) -> kube_double::Handle {
    let double = KubeDouble::start(Config::default())
        .await
        .expect("double starts");
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(double.ca_pem().expect("TLS double").as_bytes())
                .unwrap(),
        )
        .build()
        .unwrap();
    let post = |path: &str, body: String| {
        http.post(format!("{}{path}", double.url()))
            .bearer_auth(double.token())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for ns in namespaces {
        let r = post(
            "/api/v1/namespaces",
            format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#),
        )
        .await
        .unwrap();
        assert!(r.status().is_success(), "namespace {ns}: {}", r.status());
    }
    let r = post(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        CERTIFICATE_CRD.into(),
    )
    .await
    .unwrap();
    assert!(
        r.status().is_success(),
        "CRD: {}",
        r.text().await.unwrap_or_default()
    );
    double
}

#[tokio::test]
async fn charts_render_identically_and_pass_the_schema_check() {
    let dir = tempfile::tempdir().unwrap();
    let double =
        double_with_namespaces(&["fleet-system", "agents", "fleet", "team-a", "team-b"]).await;
    let mut check = None;
    for _ in 0..50 {
        let c = SchemaCheck::connect(double.url(), double.token(), double.ca_pem())
            .await
            .unwrap();
        if c.serves("cert-manager.io/v1", "Certificate") {
            check = Some(c);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let check = check.expect("the double serves the Certificate CRD once Established");
    let mut problems = Vec::new();
    for (chart, case, namespace, values) in cases() {
        let path = dir.path().join(format!("{chart}-{case}.yaml"));
        std::fs::write(&path, values).unwrap();
        let theirs = helm_template(chart, namespace, &path)
            .unwrap_or_else(|e| panic!("helm template {chart} ({case}) failed: {e}"));
        let ours = our_template(chart, namespace, &path)
            .unwrap_or_else(|e| panic!("our engine failed on {chart} ({case}): {e}"));
        if ours != theirs {
            let line = ours
                .lines()
                .zip(theirs.lines())
                .position(|(a, b)| a != b)
                .map_or("the length".to_string(), |i| format!("line {}", i + 1));
            problems.push(format!(
                "{chart} ({case}): our render differs from helm's at {line}"
            ));
        }
        let docs = e2e::schema_check::documents(&theirs).unwrap();
        assert!(
            docs.len() >= 2,
            "{chart} ({case}) rendered {} documents",
            docs.len()
        );
        for v in check.check_stream(&theirs, namespace).await.unwrap() {
            problems.push(format!("{chart} ({case}): {v}"));
        }
        println!("{chart} ({case}): {} documents checked", docs.len());
    }
    for (chart, values, phrase) in bad_cases() {
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, values).unwrap();
        let theirs = helm_template(chart, "default", &path);
        let ours = our_template(chart, "default", &path);
        match (&theirs, &ours) {
            (Err(a), Err(b)) if a.contains(phrase) && b.contains(phrase) => {}
            _ => problems.push(format!(
                "{chart} with {values:?}: expected both to fail with {phrase:?}; helm: {theirs:?}; ours: {ours:?}"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    double.shutdown().await;
}

#[tokio::test]
async fn the_schema_check_catches_what_kubeconform_would() {
    let double = double_with_namespaces(&["demo"]).await;
    let check = SchemaCheck::connect(double.url(), double.token(), double.ca_pem())
        .await
        .unwrap();
    let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replica: 2\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        ports:\n        - containerPort: \"80\"\n---\napiVersion: v1\nkind: Widget\nmetadata:\n  name: w\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_A_Name\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\n  namespace: demo\n";
    let found: Vec<String> = check
        .check_stream(bad, "demo")
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let all = found.join("\n");
    assert!(all.contains("Deployment/web: invalid"), "{all}");
    assert!(all.contains("Widget/w: no schema"), "{all}");
    assert!(
        all.contains("ConfigMap/Not_A_Name: the server refuses it"),
        "{all}"
    );
    assert!(
        all.contains("ClusterRole/r: ClusterRole is cluster-scoped"),
        "{all}"
    );
    let unknown =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  prots:\n  - port: 80\n";
    let found = check.check_stream(unknown, "demo").await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].message.contains("unknown fields: spec.prots"),
        "{found:?}"
    );
    double.shutdown().await;
}

/// The manager chart's PostgreSQL variant installed by the real `helm install` onto the
/// double: every object is created (the double's admission accepts it) and the release
/// is deployed.
#[tokio::test]
async fn the_manager_chart_installs_with_real_helm() {
    let double = double_with_namespaces(&["fleet"]).await;
    let home = tempfile::tempdir().unwrap();
    let values = home.path().join("values.yaml");
    std::fs::write(
        &values,
        "database:\n  type: postgres\n  postgres:\n    dsnSecret:\n      name: fleet-db\nadmin:\n  token: t0ken\ningress:\n  enabled: true\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(helm_bin())
        .args([
            "install",
            "fleet",
            &format!("{CHARTS}/fleet-manager"),
            "--namespace",
            "fleet",
            "-f",
        ])
        .arg(&values)
        .arg("--kubeconfig")
        .arg(double.kubeconfig_path())
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("STATUS: deployed"), "{stdout}");
    let check = SchemaCheck::connect(double.url(), double.token(), double.ca_pem())
        .await
        .unwrap();
    assert!(check.serves("apps/v1", "Deployment"));
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(double.ca_pem().unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    for path in [
        "/apis/apps/v1/namespaces/fleet/deployments/fleet-fleet-manager",
        "/api/v1/namespaces/fleet/services/fleet-fleet-manager",
        "/apis/networking.k8s.io/v1/namespaces/fleet/ingresses/fleet-fleet-manager",
        "/apis/policy/v1/namespaces/fleet/poddisruptionbudgets/fleet-fleet-manager",
        "/api/v1/namespaces/fleet/secrets/fleet-fleet-manager-admin",
    ] {
        let r = http
            .get(format!("{}{path}", double.url()))
            .bearer_auth(double.token())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    double.shutdown().await;
}
