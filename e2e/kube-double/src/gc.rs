//! Garbage collection as kube-controller-manager does it: dependents whose owners are gone
//! are deleted, Foreground deletions wait for their dependents, and a terminating namespace
//! is emptied before it disappears.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::cluster::{Cluster, Inner};
use crate::store::{Event, EventType, ObjectKey};
use crate::writes::{delete_key, owner_uids, write_finalizers};

/// How long a namespace stays Terminating before its namespace controller empties it, as a
/// real one takes a moment: `kubectl delete -f` of a namespace and its contents deletes the
/// contents itself instead of finding them gone.
pub const NAMESPACE_TEARDOWN_DELAY: Duration = Duration::from_millis(500);

/// Run until shutdown, reacting to deletions and terminating objects.
pub async fn run(cluster: Arc<Cluster>, mut events: broadcast::Receiver<Arc<Event>>) {
    let mut shutdown = cluster.shutdown.subscribe();
    let mut terminating_since: HashMap<String, Instant> = HashMap::new();
    let mut wake: Option<Instant> = None;
    loop {
        let relevant = tokio::select! {
            _ = shutdown.changed() => return,
            _ = async { if let Some(w) = wake { tokio::time::sleep_until(w).await } else { std::future::pending().await } } => true,
            ev = events.recv() => match ev {
                Ok(e) => e.kind == EventType::Deleted || e.object.pointer("/metadata/deletionTimestamp").is_some(),
                Err(broadcast::error::RecvError::Lagged(_)) => true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if !relevant {
            continue;
        }
        wake = None;
        let now = crate::now();
        let mut inner = cluster.lock();
        let terminating: Vec<String> = inner
            .store
            .list("", "namespaces", None)
            .into_iter()
            .filter(|(_, v)| v.pointer("/metadata/deletionTimestamp").is_some())
            .map(|(k, _)| k.name.clone())
            .collect();
        terminating_since.retain(|ns, _| terminating.contains(ns));
        let clock = Instant::now();
        let mut ready = HashSet::new();
        for ns in terminating {
            let since = *terminating_since.entry(ns.clone()).or_insert(clock);
            let due = since + NAMESPACE_TEARDOWN_DELAY;
            if due <= clock {
                ready.insert(ns);
            } else {
                wake = Some(wake.map_or(due, |w| w.min(due)));
            }
        }
        collect(&mut inner, &now, &ready);
    }
}

/// One garbage collection pass; repeats until nothing more changes. Only namespaces in
/// `namespaces_due` are emptied.
pub fn collect(inner: &mut Inner, now: &str, namespaces_due: &HashSet<String>) {
    for _ in 0..16 {
        if !pass(inner, now, namespaces_due) {
            return;
        }
    }
}

fn pass(inner: &mut Inner, now: &str, namespaces_due: &HashSet<String>) -> bool {
    let uids: HashSet<String> = inner
        .store
        .iter()
        .filter_map(|(_, v)| {
            v.pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    let mut orphans: Vec<ObjectKey> = Vec::new();
    let mut foreground: Vec<(ObjectKey, String, Vec<Value>)> = Vec::new();
    let mut namespaces: Vec<(ObjectKey, String)> = Vec::new();
    for (k, v) in inner.store.iter() {
        let terminating = v.pointer("/metadata/deletionTimestamp").is_some();
        let owners = owner_uids(v);
        if !terminating && !owners.is_empty() && owners.iter().all(|u| !uids.contains(u)) {
            orphans.push(k.clone());
        }
        if terminating {
            let finalizers = v
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if finalizers.iter().any(|f| f == "foregroundDeletion") {
                let uid = v
                    .pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                foreground.push((k.clone(), uid, finalizers));
            }
            if k.group.is_empty() && k.plural == "namespaces" && namespaces_due.contains(&k.name) {
                namespaces.push((k.clone(), k.name.clone()));
            }
        }
    }
    let mut changed = false;
    for key in orphans {
        changed |= delete_key(inner, &key, "Background", now).is_ok();
    }
    for (key, uid, finalizers) in foreground {
        let dependents: Vec<(ObjectKey, bool)> = inner
            .store
            .iter()
            .filter(|(_, v)| owner_uids(v).contains(&uid))
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.pointer("/metadata/deletionTimestamp").is_some(),
                )
            })
            .collect();
        if dependents.is_empty() {
            let rest: Vec<Value> = finalizers
                .into_iter()
                .filter(|f| f != "foregroundDeletion")
                .collect();
            changed |= write_finalizers(inner, &key, rest, "kube-controller-manager", now).is_ok();
        } else {
            for (dep, terminating) in dependents {
                if !terminating {
                    changed |= delete_key(inner, &dep, "Foreground", now).is_ok();
                }
            }
        }
    }
    for (key, name) in namespaces {
        let contents: Vec<(ObjectKey, bool)> = inner
            .store
            .iter()
            .filter(|(k, _)| k.namespace == name)
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.pointer("/metadata/deletionTimestamp").is_some(),
                )
            })
            .collect();
        if contents.is_empty() {
            changed |= inner.erase(&key).is_some();
        } else {
            for (k, terminating) in contents {
                if !terminating {
                    changed |= delete_key(inner, &k, "Background", now).is_ok();
                }
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::store::Store;
    use serde_json::json;

    fn key(plural: &str, group: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: group.into(),
            plural: plural.into(),
            namespace: "demo".into(),
            name: name.into(),
        }
    }

    #[test]
    fn dependents_of_a_deleted_owner_are_collected() {
        let mut inner = Inner {
            store: Store::new(100),
            registry: Registry::builtin(),
        };
        inner.commit(
            key("deployments", "apps", "web"),
            json!({"metadata": {"name": "web", "uid": "owner"}}),
        );
        inner.commit(key("replicasets", "apps", "web-1"), json!({"metadata": {"name": "web-1", "uid": "rs", "ownerReferences": [{"uid": "owner", "kind": "Deployment", "name": "web"}]}}));
        inner.commit(
            key("configmaps", "", "free"),
            json!({"metadata": {"name": "free", "uid": "cm"}}),
        );
        collect(&mut inner, "now", &HashSet::new());
        assert!(
            inner
                .store
                .get(&key("replicasets", "apps", "web-1"))
                .is_some(),
            "owner still there"
        );
        inner.erase(&key("deployments", "apps", "web"));
        collect(&mut inner, "now", &HashSet::new());
        assert!(inner
            .store
            .get(&key("replicasets", "apps", "web-1"))
            .is_none());
        assert!(inner.store.get(&key("configmaps", "", "free")).is_some());
    }
}
