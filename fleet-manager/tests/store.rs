//! The store's contract, checked identically on SQLite and on a real PostgreSQL server.

mod support;

use std::collections::BTreeMap;

use fleet_bundle::deployment::{BundleDeploymentStatus, BundleState};
use fleet_manager::store::{now, ClusterRecord, RegistrationToken, StatusRecord, Store};
use serde_json::json;
use test_servers::Postgres;

fn status(deployment_id: &str, sequence: i64, state: BundleState) -> StatusRecord {
    StatusRecord {
        cluster_namespace: "fleet-default".into(),
        cluster: "c1".into(),
        bundle_namespace: "fleet-default".into(),
        bundle: "b".into(),
        deployment_id: deployment_id.into(),
        state: state.as_str().into(),
        report: BundleDeploymentStatus {
            bundle: "b".into(),
            namespace: "fleet-default".into(),
            deployment_id: deployment_id.into(),
            applied_deployment_id: deployment_id.into(),
            state,
            message: String::new(),
            non_ready: vec![],
            modified: vec![],
            release: String::new(),
            sequence: sequence as u64,
        },
        sequence,
        updated_at: now(),
    }
}

async fn contract(store: Store) {
    // Objects: generation moves only when the spec changes; every write bumps the revision.
    let r0 = store.revision().await.expect("revision");
    let spec = json!({"spec": {"repo": "https://example.org/r"}});
    assert_eq!(
        store
            .put_object("GitRepo", "fleet-default", "r", &spec)
            .await
            .expect("put"),
        1
    );
    assert_eq!(
        store
            .put_object("GitRepo", "fleet-default", "r", &spec)
            .await
            .expect("put"),
        1
    );
    let spec2 = json!({"spec": {"repo": "https://example.org/r2"}});
    assert_eq!(
        store
            .put_object("GitRepo", "fleet-default", "r", &spec2)
            .await
            .expect("put"),
        2
    );
    assert!(store.revision().await.expect("revision") > r0);
    store
        .set_object_status("GitRepo", "fleet-default", "r", &json!({"commit": "abc"}))
        .await
        .expect("status");
    let o = store
        .get_object("GitRepo", "fleet-default", "r")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(o.status["commit"], "abc");
    assert_eq!(
        store
            .list_objects("GitRepo", Some("fleet-local"))
            .await
            .expect("list")
            .len(),
        0
    );
    assert!(store
        .delete_object("GitRepo", "fleet-default", "r")
        .await
        .expect("delete"));
    assert!(!store
        .delete_object("GitRepo", "fleet-default", "r")
        .await
        .expect("delete"));

    // Registration tokens: used atomically up to max_uses, never after expiry.
    let token = RegistrationToken {
        id: "t1".into(),
        namespace: "fleet-default".into(),
        labels: BTreeMap::from([("env".into(), "prod".into())]),
        expires_at: now() + 3600,
        max_uses: 2,
        uses: 0,
        cluster_name: String::new(),
    };
    store
        .create_registration_token("hash-1", &token)
        .await
        .expect("create");
    let used = store
        .consume_registration_token("hash-1")
        .await
        .expect("consume")
        .expect("valid");
    assert_eq!(used.labels["env"], "prod");
    assert!(store
        .consume_registration_token("hash-1")
        .await
        .expect("consume")
        .is_some());
    assert!(
        store
            .consume_registration_token("hash-1")
            .await
            .expect("consume")
            .is_none(),
        "used up"
    );
    let expired = RegistrationToken {
        id: "t2".into(),
        expires_at: now() - 1,
        ..token.clone()
    };
    store
        .create_registration_token("hash-2", &expired)
        .await
        .expect("create");
    assert!(
        store
            .consume_registration_token("hash-2")
            .await
            .expect("consume")
            .is_none(),
        "expired"
    );
    assert!(store
        .consume_registration_token("nope")
        .await
        .expect("consume")
        .is_none());

    // Clusters: changes are seen by cluster revision; removal leaves a tombstone.
    let since = 0;
    let c = ClusterRecord {
        namespace: "fleet-default".into(),
        name: "c1".into(),
        labels: BTreeMap::from([("env".into(), "prod".into())]),
        credential_hash: "cred".into(),
        ..Default::default()
    };
    store.upsert_cluster(&c).await.expect("upsert");
    let changed = store.clusters_since(since).await.expect("since");
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].labels["env"], "prod");
    let rev = changed[0].rev;
    assert!(store
        .set_cluster_labels("fleet-default", "c1", &BTreeMap::new())
        .await
        .expect("labels"));
    assert!(!store
        .set_cluster_labels("fleet-default", "ghost", &BTreeMap::new())
        .await
        .expect("labels"));
    assert!(store.clusters_since(rev).await.expect("since")[0]
        .labels
        .is_empty());

    // Status: within one deploymentID a lower sequence never replaces a higher one.
    assert!(store
        .put_status(&status("d1", 5, BundleState::Ready))
        .await
        .expect("put"));
    assert!(!store
        .put_status(&status("d1", 4, BundleState::ErrApplied))
        .await
        .expect("put"));
    // A heartbeat re-sending the stored sequence writes nothing.
    assert!(!store
        .put_status(&status("d1", 5, BundleState::Ready))
        .await
        .expect("put"));
    let s = store
        .get_status("fleet-default", "c1", "fleet-default", "b")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(s.state, "Ready");
    assert!(store
        .put_status(&status("d2", 1, BundleState::WaitApplied))
        .await
        .expect("put"));
    let counts = store.status_counts().await.expect("counts");
    assert_eq!(
        counts,
        vec![("fleet-default".into(), "b".into(), "WaitApplied".into(), 1)]
    );

    // Several clusters' reports in one call, across more than one 500-cluster query.
    let mut others = Vec::new();
    for i in 0..600 {
        let mut s = status("d2", 1, BundleState::Ready);
        s.cluster = format!("many-{i:03}");
        others.push(s);
    }
    assert!(store
        .put_statuses(&others)
        .await
        .expect("put")
        .iter()
        .all(|&w| w));
    let names: Vec<String> = (0..600)
        .step_by(2)
        .map(|i| format!("many-{i:03}"))
        .collect();
    let mut asked: Vec<&str> = names.iter().map(String::as_str).collect();
    asked.push("c1");
    asked.push("never-reported");
    let got = store
        .statuses_of_clusters("fleet-default", &asked)
        .await
        .expect("statuses");
    assert_eq!(got.len(), 301, "the 300 asked for plus c1");
    assert!(got
        .iter()
        .any(|r| r.cluster == "c1" && r.deployment_id == "d2"));
    assert!(
        !got.iter().any(|r| r.cluster == "many-001"),
        "only those asked for"
    );
    assert!(store
        .statuses_of_clusters("elsewhere", &asked)
        .await
        .expect("statuses")
        .is_empty());

    assert!(store
        .remove_cluster("fleet-default", "c1")
        .await
        .expect("remove"));
    let tomb = store.clusters_since(rev).await.expect("since");
    assert!(tomb.iter().any(|c| c.name == "c1" && c.deleted));
    assert!(store
        .get_cluster("fleet-default", "c1")
        .await
        .expect("get")
        .is_none());
    assert!(store
        .statuses_of_cluster("fleet-default", "c1")
        .await
        .expect("statuses")
        .is_empty());

    // Contents are stored once by digest.
    store.put_content("d", b"one".to_vec()).await.expect("put");
    store.put_content("d", b"two".to_vec()).await.expect("put");
    assert_eq!(
        store.get_content("d").await.expect("get"),
        Some(b"one".to_vec())
    );

    // Admin tokens: unique names, revocation is immediate.
    assert!(store
        .create_admin_token("ops", "h-ops", "admin")
        .await
        .expect("create"));
    assert!(!store
        .create_admin_token("ops", "h-other", "admin")
        .await
        .expect("create"));
    assert_eq!(
        store.find_admin_token("h-ops").await.expect("find"),
        Some(("ops".into(), "admin".into()))
    );
    assert!(store.revoke_admin_token("ops").await.expect("revoke"));
    assert_eq!(store.find_admin_token("h-ops").await.expect("find"), None);

    // Audit entries come back newest first.
    store.audit("a", "first", "x").await.expect("audit");
    store.audit("a", "second", "x").await.expect("audit");
    let audit = store.list_audit(1).await.expect("audit");
    assert_eq!(audit[0].action, "second");
}

#[tokio::test]
async fn sqlite_store_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("fleet.db").display());
    contract(Store::open(&url).await.expect("open")).await;
    // Reopening migrates nothing twice.
    Store::open(&url).await.expect("reopen");
}

#[tokio::test]
async fn postgres_store_contract() {
    let pg = Postgres::start().expect("PostgreSQL starts");
    let url = pg.database("contract").expect("database created");
    // Two stores migrating at once: one applies, the other waits and sees it applied.
    let (a, b) = tokio::join!(Store::open(&url), Store::open(&url));
    a.expect("open a");
    contract(b.expect("open b")).await;
}
