//! Leader election: with PostgreSQL several replicas serve agents and the API, and exactly
//! one (the holder of a session advisory lock) polls Git and advances rollouts.
//!
//! The lock lives as long as the leader's dedicated connection: when the leader process
//! dies its connection closes and PostgreSQL releases the lock at once; followers retry
//! every `retry` and the first to get it leads, so failover takes about a second. A
//! leader that loses its connection steps down before anything else, so two leaders never
//! act at once for longer than one check interval. With SQLite there is one process, and
//! it leads.

use std::sync::Arc;
use std::time::Duration;

use crate::manager::Manager;
use crate::store::postgres::connect_client;

/// The advisory lock key ("fleetldr").
pub const LEADER_LOCK: i64 = 0x666c_6565_746c_6472;

/// Runs the election until the process ends.
pub async fn run(manager: Arc<Manager>, database_url: String, retry: Duration) {
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        manager.set_leader(true);
        tracing::info!("single replica (SQLite): this manager is the leader");
        return;
    }
    loop {
        let client = match connect_client(&database_url).await {
            Ok(c) => c,
            Err(e) => {
                manager.set_leader(false);
                tracing::warn!(error = %e, "leader election: cannot connect; retrying");
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        loop {
            let check = if manager.is_leader() {
                client
                    .query_one("SELECT 1::BIGINT", &[])
                    .await
                    .map(|_| true)
            } else {
                client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                    .await
                    .map(|row| row.get::<_, bool>(0))
            };
            match check {
                Ok(true) if !manager.is_leader() => {
                    manager.set_leader(true);
                    tracing::info!("became the leader");
                    manager.git_wake.wake_all();
                    manager.rollout_wake.notify_one();
                }
                Ok(_) => {}
                Err(e) => {
                    if manager.is_leader() {
                        tracing::warn!(error = %e, "lost the leader connection; stepping down");
                    }
                    manager.set_leader(false);
                    break;
                }
            }
            tokio::time::sleep(retry).await;
        }
        tokio::time::sleep(retry).await;
    }
}
