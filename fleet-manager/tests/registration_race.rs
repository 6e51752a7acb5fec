//! Concurrent registrations: every cluster that registered is known at once, even when
//! registrations commit out of the order of the revisions they took.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_concurrent_registration_can_poll_at_once() {
    let (running, _dir) = start_manager(None).await;
    let api = Api::new(running.addr);
    let mut tasks = Vec::new();
    for i in 0..120 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let agent = api
                .register(
                    "fleet-default",
                    &format!("race-{i:03}"),
                    json!({"env": "prod"}),
                )
                .await;
            // Right after its registration answered, the cluster's credential works.
            let (status, _, _) = agent.desired(None, 0).await;
            (agent.name.clone(), status)
        }));
    }
    let mut unknown = Vec::new();
    for t in tasks {
        let (name, status) = t.await.expect("task");
        if status != StatusCode::OK {
            unknown.push(format!("{name}: {status}"));
        }
    }
    assert!(
        unknown.is_empty(),
        "clusters unknown right after registering: {unknown:?}"
    );
}
