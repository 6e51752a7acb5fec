//! PostgreSQL: the same push → desired state flow on a real PostgreSQL server, two
//! replicas sharing it (any replica serves agents and the API), and leader failover when
//! the leader process is killed.

mod support;

use std::process::Command;

use fleet_bundle::deployment::BundleState;
use serde_json::json;
use support::*;
use test_servers::{free_port, Daemon, GitDaemon, Postgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_database() {
    let pg = Postgres::start().expect("PostgreSQL starts");
    let db = pg.database("replicas").expect("database created");
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"));
    let commit = work.commit_and_push("first");

    let (a, _da) = start_manager(Some(db.clone())).await;
    let (b, _db) = start_manager(Some(db.clone())).await;
    let api_a = Api::new(a.addr);
    let api_b = Api::new(b.addr);
    api_a
        .apply(&gitrepo("apps", "fleet-default", &url, ""))
        .await;
    // Registered through A, served by B.
    let agent = api_a
        .register("fleet-default", "c1", json!({"env": "prod"}))
        .await;
    let mut via_b = agent.clone();
    via_b.base = api_b.base.clone();
    // No retry on the first call: a credential registered through A works on B at once.
    assert_eq!(via_b.desired(None, 0).await.0, reqwest::StatusCode::OK);
    eventually(30, "bundle via replica B", || async {
        let s = via_b.state().await;
        if s.deployments.iter().any(|d| d.commit == commit) {
            Ok(())
        } else {
            Err(format!("{:?}", s.deployments))
        }
    })
    .await;
    // A status reported to B shows in A's roll-up.
    assert_eq!(
        via_b.report_all(BundleState::Ready).await,
        reqwest::StatusCode::NO_CONTENT
    );
    let c = api_a.get("/api/v1/clusters/fleet-default/c1").await;
    assert_eq!(c["state"], "Ready", "{c}");
    // Exactly one leader.
    eventually(10, "one leader", || async {
        let l = [
            api_a.get("/api/v1/status").await["leader"].as_bool(),
            api_b.get("/api/v1/status").await["leader"].as_bool(),
        ];
        if l.iter().filter(|x| **x == Some(true)).count() == 1 {
            Ok(())
        } else {
            Err(format!("{l:?}"))
        }
    })
    .await;
    // Label changes through B retarget on A.
    api_b
        .post(
            "/api/v1/clusters/fleet-default/c1/labels",
            json!({"set": {"env": "dev"}}),
        )
        .await;
    eventually(10, "label visible on A", || async {
        let s = agent.state().await;
        if s.cluster_labels.get("env").map(String::as_str) == Some("dev") {
            Ok(())
        } else {
            Err(format!("{:?}", s.cluster_labels))
        }
    })
    .await;
}

/// A manager process (the real binary), killed on drop, its output in `dir/manager.log`.
fn spawn_manager(db: &str, dir: &std::path::Path, port: u16) -> Daemon {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleet-manager"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--database",
        db,
    ])
    .arg("--data-dir")
    .arg(dir)
    .env("FLEET_ADMIN_TOKEN", ADMIN_TOKEN)
    .env(
        "FLEET_SECRET_KEY",
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )
    .env("RUST_LOG", "warn");
    Daemon::spawn(cmd, &dir.join("manager.log")).expect("manager process starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced() {
    let pg = Postgres::start().expect("PostgreSQL starts");
    let db = pg.database("failover").expect("database created");
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (path, url) = daemon.repo("apps").expect("bare repository");
    let work = WorkRepo::new(path.to_str().expect("utf8"));
    work.write("web/fleet.yaml", "defaultNamespace: web\n")
        .write("web/cm.yaml", &configmap("web", "v1"));
    work.commit_and_push("first");

    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let ports = [
        free_port().expect("a free port"),
        free_port().expect("a free port"),
    ];
    let mut procs = vec![
        Some(spawn_manager(&db, dirs[0].path(), ports[0])),
        Some(spawn_manager(&db, dirs[1].path(), ports[1])),
    ];
    let apis: Vec<Api> = ports
        .iter()
        .map(|p| Api::new(([127, 0, 0, 1], *p).into()))
        .collect();
    for (i, p) in ports.iter().enumerate() {
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], *p).into();
        let log = dirs[i].path().join("manager.log");
        let up = (0..300).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::net::TcpStream::connect(addr).is_ok()
        });
        assert!(
            up,
            "manager {i} did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    let leader = eventually(20, "a leader is elected", || async {
        let mut leaders = Vec::new();
        for (i, api) in apis.iter().enumerate() {
            let (s, v) = api.raw(reqwest::Method::GET, "/api/v1/status", None).await;
            if s.is_success() && v["leader"] == true {
                leaders.push(i);
            }
        }
        if leaders.len() == 1 {
            Ok(leaders[0])
        } else {
            Err(format!("{leaders:?}"))
        }
    })
    .await;
    let follower = 1 - leader;
    apis[follower]
        .apply(&gitrepo("apps", "fleet-default", &url, ""))
        .await;
    let agent = apis[follower]
        .register("fleet-default", "c1", json!({}))
        .await;
    eventually(30, "first commit deployed", || async {
        let b = agent.bundles().await;
        if b == ["apps-web"] {
            Ok(())
        } else {
            Err(format!("{b:?}"))
        }
    })
    .await;

    // Kill the leader: the follower takes over, and Git changes still arrive.
    procs[leader] = None;
    eventually(20, "the follower becomes leader", || async {
        let (s, v) = apis[follower]
            .raw(reqwest::Method::GET, "/api/v1/status", None)
            .await;
        if s.is_success() && v["leader"] == true {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await;
    work.write("web/cm.yaml", &configmap("web", "v2"));
    let second = work.commit_and_push("second");
    let mut agent_f = agent.clone();
    agent_f.base = apis[follower].base.clone();
    eventually(30, "the new leader syncs the new commit", || async {
        let s = agent_f.state().await;
        let c = s
            .deployments
            .first()
            .map(|d| d.commit.clone())
            .unwrap_or_default();
        if c == second {
            Ok(())
        } else {
            Err(c)
        }
    })
    .await;
    drop(procs);
}
