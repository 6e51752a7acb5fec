//! `make bench` (agent part): the real `fleet-agent` binary against the Kubernetes API
//! double and an in-process manager speaking the agent API. Prints the agent's resident
//! memory idle, while applying a 200-resource bundle and after, its CPU while idle, and
//! the time from publishing the bundle to the agent reporting it Ready.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fleet_bundle::bundle::BundleDeploymentOptions;
use fleet_bundle::deployment::BundleState;
use support::{deployment, FakeManager};

/// Resident and peak resident memory of `pid`, in KiB, from `/proc/<pid>/status`.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// User + system CPU ticks of `pid`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the ')'.
    get(11) + get(12)
}

fn bundle_files(resources: usize) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for i in 0..resources {
        let text = match i % 8 {
            0 => format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
            ),
            1 => format!(
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n  selector: {{app: app-{i}}}\n  ports:\n  - port: 80\n"
            ),
            _ => format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  index: \"{i}\"\n  payload: {}\n", "x".repeat(200)),
        };
        files.push((format!("r{i:03}.yaml"), text));
    }
    files
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let resources: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let agent_bin = std::env::var_os("FLEET_AGENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("current exe");
            exe.parent()
                .and_then(|d| d.parent())
                .expect("target dir")
                .join("fleet-agent")
        });
    assert!(
        agent_bin.exists(),
        "fleet-agent binary not found at {}",
        agent_bin.display()
    );

    let double = kube_double::KubeDouble::start(kube_double::Config::default())
        .await
        .expect("start the Kubernetes API double");
    let manager = FakeManager::start().await;
    let state_dir = tempfile::tempdir().expect("temp dir");
    manager.publish(vec![]);
    let mut agent = Command::new(&agent_bin)
        .args([
            "run",
            "--manager",
            &manager.url,
            "--token",
            "reg-token",
            "--cluster-name",
            "bench",
        ])
        .arg("--state-dir")
        .arg(state_dir.path())
        .arg("--kubeconfig")
        .arg(double.kubeconfig_path())
        .args([
            "--poll-wait-seconds",
            "5",
            "--resync-seconds",
            "60",
            "--heartbeat-seconds",
            "1",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start fleet-agent");
    let pid = agent.id();

    // Idle: registered, polling, nothing to apply.
    let start = Instant::now();
    while manager.report_count() == 0 && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle_rss, _) = memory_kib(pid);
    let ticks_before = cpu_ticks(pid);
    let idle_window = Duration::from_secs(5);
    tokio::time::sleep(idle_window).await;
    let idle_ticks = cpu_ticks(pid) - ticks_before;

    // Apply a bundle of `resources` objects.
    let files = bundle_files(resources);
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let digest = manager.add_content(&refs);
    let options = BundleDeploymentOptions {
        default_namespace: "bench".into(),
        ..Default::default()
    };
    let started = Instant::now();
    manager.publish(vec![deployment("bench", "bench-1", &digest, options)]);
    let mut peak_rss = idle_rss;
    let ready = loop {
        peak_rss = peak_rss.max(memory_kib(pid).0);
        if let Some(s) = manager.status_of("bench") {
            if s.applied_deployment_id == "bench-1" && s.state == BundleState::Ready {
                break Some(started.elapsed());
            }
        }
        if started.elapsed() > Duration::from_secs(300) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after_rss, hwm) = memory_kib(pid);
    let _ = agent.kill();
    let _ = agent.wait();
    double.shutdown().await;

    let ticks_per_second = 100.0; // USER_HZ on Linux
    println!(
        "agent resident memory idle:            {:>8.1} MiB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "agent CPU idle:                        {:>8.2} %",
        idle_ticks as f64 / ticks_per_second / idle_window.as_secs_f64() * 100.0
    );
    println!("agent resident memory applying {resources}:    {:>8.1} MiB (peak sampled; kernel high-water mark {:.1} MiB)", peak_rss as f64 / 1024.0, hwm as f64 / 1024.0);
    println!(
        "agent resident memory after applying:  {:>8.1} MiB",
        after_rss as f64 / 1024.0
    );
    match ready {
        Some(elapsed) => println!("apply {resources} resources to Ready:        {:>8.2} s (publish to Ready status, API double)", elapsed.as_secs_f64()),
        None => {
            println!("apply {resources} resources: NOT Ready within 300 s; last status {:?}", manager.status_of("bench"));
            std::process::exit(1);
        }
    }
}
