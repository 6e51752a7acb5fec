//! The `kube-double` binary: prints its URL, writes a kubeconfig kubectl can use, keeps
//! state across a restart with `--state`, and refuses bad flags and state files clearly.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_kube-double");

async fn start(dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--kubeconfig-out"])
        .arg(dir.join("kubeconfig"))
        .arg("--state")
        .arg(dir.join("state.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("prints its URL in time")
        .expect("read")
        .expect("a line");
    (child, url)
}

async fn kubectl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(std::env::var("KUBECTL_BIN").unwrap_or_else(|_| "kubectl".into()))
        .args(args)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .env("HOME", dir)
        .env("KUBECACHEDIR", dir.join("cache"))
        .output()
        .await
        .expect("kubectl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn interrupt(mut child: Child) {
    let pid = child.id().expect("running").to_string();
    // The shell's builtin kill: no procps needed.
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .await
        .expect("sh runs");
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits in time")
        .expect("wait");
    assert!(status.success(), "clean exit on SIGINT: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_kubectl_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, url) = start(dir.path()).await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let kubeconfig =
        std::fs::read_to_string(dir.path().join("kubeconfig")).expect("kubeconfig written");
    assert!(
        kubeconfig.contains(&url)
            && kubeconfig.contains("certificate-authority-data")
            && kubeconfig.contains("token:")
    );
    let (ok, out) = kubectl(
        dir.path(),
        &["create", "configmap", "kept", "--from-literal=k=v"],
    )
    .await;
    assert!(ok, "{out}");
    interrupt(child).await;

    let (child, _) = start(dir.path()).await;
    let (ok, out) = kubectl(
        dir.path(),
        &["get", "configmap", "kept", "-o", "jsonpath={.data.k}"],
    )
    .await;
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "v");
    interrupt(child).await;
}

#[tokio::test]
async fn bad_flags_and_corrupt_state_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["--kubeconfig-out"])
        .arg(dir.path().join("kc"))
        .args(["--fault-500-pct", "60", "--fault-429-pct", "50"])
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must not exceed 100"));

    let state = dir.path().join("state.json");
    std::fs::write(&state, "{broken").expect("write");
    let out = Command::new(BIN)
        .args(["--kubeconfig-out"])
        .arg(dir.path().join("kc"))
        .arg("--state")
        .arg(&state)
        .output()
        .await
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("state.json") && err.contains("not a kube-double snapshot"),
        "{err}"
    );
}
