//! Faults of the whole system (issue 9): each test runs a real manager, real agents, a real
//! git daemon and API doubles, breaks one thing, and asserts that nothing was lost: the
//! clusters end up running the pushed commit, statuses arrive, unchanged content is not
//! re-applied, and no process crash-loops.

use std::time::Duration;

use e2e::fleet::{tail, ClusterSpec, FleetOptions, TestFleet};
use e2e::link::LinkState;

const FLEET_YAML: &str = "namespace: app\n";

fn deployment(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
    )
}

fn configmap(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: \"{value}\"\n")
}

fn options(clusters: &[(&str, &str)]) -> FleetOptions {
    FleetOptions {
        files: vec![
            ("app/fleet.yaml".into(), FLEET_YAML.into()),
            ("app/deploy.yaml".into(), deployment(2)),
            ("app/cm.yaml".into(), configmap("one")),
        ],
        clusters: clusters
            .iter()
            .map(|(n, l)| ClusterSpec {
                name: n.to_string(),
                labels: l.to_string(),
            })
            .collect(),
        // As in Fleet, drift correction is the GitRepo's setting (its targets carry it).
        gitrepo_spec: "  correctDrift:\n    enabled: true\n".into(),
        ..FleetOptions::default()
    }
}

const CONVERGE: Duration = Duration::from_secs(90);

fn cm_value(fleet: &TestFleet, i: usize) -> String {
    fleet
        .kubectl(
            i,
            &[
                "-n",
                "app",
                "get",
                "configmap",
                "settings",
                "-o",
                "jsonpath={.data.value}",
            ],
        )
        .unwrap_or_default()
}

fn replicas(fleet: &TestFleet, i: usize) -> String {
    fleet
        .kubectl(
            i,
            &[
                "-n",
                "app",
                "get",
                "deployment",
                "web",
                "-o",
                "jsonpath={.spec.replicas}",
            ],
        )
        .unwrap_or_default()
}

fn registrations(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("registered") && !l.contains("re-register"))
        .count()
}

async fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not reached in {secs}s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_killed_mid_sync_loses_nothing() {
    manager_crash(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_on_postgres_killed_mid_sync_loses_nothing() {
    let pg = e2e::postgres::Postgres::start().unwrap();
    manager_crash(Some(pg.url())).await;
}

async fn manager_crash(database: Option<String>) {
    let mut opts = options(&[("prod", "env=prod"), ("dev", "env=dev")]);
    opts.database = database;
    let mut fleet = TestFleet::start(opts).await.unwrap();
    fleet.wait_converged(None, CONVERGE).await.unwrap();

    // A push, and the manager dies while it is picking it up.
    let commit = fleet
        .push(&[("app/cm.yaml", &configmap("two"))], "two")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fleet.kill_manager();
    // Agents keep running from their cache meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    fleet.start_manager().await.unwrap();

    fleet.wait_converged(Some(&commit), CONVERGE).await.unwrap();
    for i in 0..2 {
        assert_eq!(
            cm_value(&fleet, i),
            "two",
            "cluster {i} runs the pushed commit"
        );
        assert_eq!(
            registrations(&fleet.agent_log(i)),
            1,
            "the agent kept its credential:\n{}",
            tail(&fleet.agent_log(i), 20)
        );
        assert_eq!(
            fleet
                .agent_log(i)
                .matches("manager reachable again")
                .count(),
            1,
            "the agent says once that the manager is back:\n{}",
            tail(&fleet.agent_log(i), 20)
        );
        let releases = fleet.releases(i).unwrap();
        assert_eq!(
            releases["test-app"],
            (2, "deployed".to_string()),
            "{releases:?}"
        );
    }
    let clusters = fleet.cli(&["cluster", "list", "-o", "json"]).unwrap();
    assert!(
        clusters.contains("prod") && clusters.contains("dev"),
        "no cluster lost: {clusters}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_hold_the_line_through_a_cut_link() {
    let mut opts = options(&[("edge-a", "env=prod"), ("edge-b", "env=prod")]);
    opts.linked = true;
    let fleet = TestFleet::start(opts).await.unwrap();
    fleet.wait_converged(None, CONVERGE).await.unwrap();
    let before: Vec<_> = (0..2).map(|i| fleet.releases(i).unwrap()).collect();

    for c in &fleet.clusters {
        c.link.as_ref().unwrap().set(LinkState::Down);
    }
    // Drift while offline: corrected from the cache, with no manager in reach.
    for i in 0..2 {
        fleet
            .kubectl(
                i,
                &["-n", "app", "scale", "deployment", "web", "--replicas=7"],
            )
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !(0..2).all(|i| replicas(&fleet, i) == "2") {
        assert!(
            std::time::Instant::now() < deadline,
            "drift not corrected while offline:\n{}",
            tail(&fleet.agent_log(0), 25)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // A stalled link (accepting, never answering) must not wedge the agents either.
    for c in &fleet.clusters {
        c.link.as_ref().unwrap().set(LinkState::Stalled);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for c in &fleet.clusters {
        c.link.as_ref().unwrap().set(LinkState::Up);
    }
    let st = fleet.wait_converged(None, CONVERGE).await.unwrap();
    assert_eq!(
        st["summary"]["ready"], 2,
        "every status arrived after reconnect: {st}"
    );
    for (i, before) in before.iter().enumerate() {
        assert_eq!(
            &fleet.releases(i).unwrap(),
            before,
            "unchanged content was not re-released"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_converge_through_kubernetes_api_errors() {
    let mut opts = options(&[("flaky", "env=prod")]);
    opts.faults = Some(kube_double::Faults {
        error_500_pct: 20,
        error_429_pct: 10,
        latency_ms: 20,
        drop_watch_after_s: Some(5),
    });
    let fleet = TestFleet::start(opts).await.unwrap();
    fleet
        .wait_converged(None, Duration::from_secs(180))
        .await
        .unwrap();
    fleet.double_faults_off(0);
    assert_eq!(cm_value(&fleet, 0), "one");
    assert_eq!(fleet.releases(0).unwrap()["test-app"].1, "deployed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_server_down_then_force_push() {
    let mut fleet = TestFleet::start(options(&[("c1", "env=prod")]))
        .await
        .unwrap();
    fleet.wait_converged(None, CONVERGE).await.unwrap();

    fleet.git.stop();
    let pushed = fleet
        .push(&[("app/cm.yaml", &configmap("while-down"))], "while down")
        .unwrap();
    // The fetch error surfaces on the GitRepo.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = fleet.cli(&["get", "gitrepos", "-o", "json"]).unwrap();
        let lower = out.to_lowercase();
        if lower.contains("error") || lower.contains("fail") || lower.contains("refused") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no git error on the GitRepo: {out}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    fleet.git.restart().unwrap();
    fleet.wait_converged(Some(&pushed), CONVERGE).await.unwrap();
    assert_eq!(cm_value(&fleet, 0), "while-down");

    // History rewritten: the new head is deployed, not the lost commit.
    std::fs::write(
        fleet.git.work_dir().join("app/cm.yaml"),
        configmap("rewritten"),
    )
    .unwrap();
    let rewritten = fleet.git.force_push_rewrite(1, "rewrite").unwrap();
    fleet
        .wait_converged(Some(&rewritten), CONVERGE)
        .await
        .unwrap();
    assert_eq!(cm_value(&fleet, 0), "rewritten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_cache_and_full_disk_recover() {
    let mut fleet = TestFleet::start(options(&[("edge", "env=prod")]))
        .await
        .unwrap();
    fleet.wait_converged(None, CONVERGE).await.unwrap();

    // Corrupted cache: every state file but the credential bit-flipped while stopped.
    fleet.kill_agent(0);
    let state = fleet.clusters[0].state_dir.clone();
    for entry in walk(&state) {
        if !entry.ends_with("credential.json") {
            std::fs::write(&entry, b"\x00garbage{").unwrap();
        }
    }
    fleet.start_agent(0).unwrap();
    let commit = fleet
        .push(&[("app/cm.yaml", &configmap("after-corruption"))], "c")
        .unwrap();
    fleet.wait_converged(Some(&commit), CONVERGE).await.unwrap();
    assert_eq!(cm_value(&fleet, 0), "after-corruption");

    // Full disk: the state dir becomes a tiny tmpfs that is then filled up.
    fleet.kill_agent(0);
    let saved = fleet.path().join("saved-state");
    e2e::gitserver::copy_tree(&state, &saved).unwrap();
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&state)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(state.clone());
    e2e::gitserver::copy_tree(&saved, &state).unwrap();
    let filler = state.join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k", "count=64"])
        .arg(format!("of={}", filler.display()))
        .output();
    fleet.start_agent(0).unwrap();
    let big = "x".repeat(200_000);
    let commit = fleet
        .push(&[("app/cm.yaml", &configmap(&big))], "big")
        .unwrap();
    eventually("a clear disk error", 60, || {
        let log = fleet.agent_log(0);
        log.contains("disk full") || log.contains("No space left") || log.contains("no space")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        fleet.agent_alive(0),
        "no crash on a full disk:\n{}",
        tail(&fleet.agent_log(0), 20)
    );
    std::fs::remove_file(&filler).unwrap();
    fleet.wait_converged(Some(&commit), CONVERGE).await.unwrap();
    assert_eq!(
        cm_value(&fleet, 0).len(),
        200_000,
        "recovered once space was freed"
    );
    fleet.kill_agent(0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
