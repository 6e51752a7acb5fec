//! The scale simulator end to end at a small size: a real manager, a real git daemon and
//! simulated agents over the real agent API; every phase must complete and the figures be
//! plausible (no timing is asserted: `make bench` prints those).

use std::time::Duration;

use e2e::sim::{run, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_fleet_registers_deploys_and_follows_a_push() {
    let work = tempfile::tempdir().unwrap();
    let wait = Duration::from_secs(5);
    let (settle, idle) = SimConfig::steady(wait);
    let cfg = SimConfig {
        agents: 25,
        repo: concat!(env!("CARGO_MANIFEST_DIR"), "/../examples").into(),
        connections: 2,
        settle,
        idle,
        wait_seconds: wait.as_secs(),
        heartbeat: Duration::from_secs(60),
        phase_timeout: Duration::from_secs(120),
        http1: false,
    };
    let report = run(&cfg, work.path()).await.unwrap();
    println!("{}", report.render());
    assert_eq!(report.agents, 25);
    assert!(report.manager_rss_loaded > 0);
    assert_eq!(report.errors, 0);
    // Every report reached the store: no poll had to ask for one again.
    assert_eq!(report.reports_wanted, 0);
    // The steady window holds one renewal of every agent's poll (25 in 4.4 s, 5.7/s)
    // plus about 2 heartbeats: a window counting whole waits only would show 25 renewals
    // in 5 s or 50 in 10 s (5/s).
    let rate = report.idle_requests_per_second;
    assert!((5.4..=7.5).contains(&rate), "{rate} requests/s");
}
