//! Watching what the agent applied: one watch per kind, selecting Fleet-managed objects by
//! their set-hash label, so a live change wakes the reconciler for just that bundle within
//! moments instead of waiting for the next resync.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::Notify;

use crate::apply::SET_HASH_LABEL;

/// Bundles (by set hash) whose objects changed since the reconciler last looked.
#[derive(Debug, Default)]
pub struct DirtyBundles {
    hashes: Mutex<BTreeSet<String>>,
    pub notify: Notify,
}

impl DirtyBundles {
    /// Marks a bundle dirty and wakes the reconciler.
    pub fn mark(&self, hash: &str) {
        match self.hashes.lock() {
            Ok(mut set) => {
                set.insert(hash.to_string());
            }
            Err(poisoned) => {
                poisoned.into_inner().insert(hash.to_string());
            }
        }
        self.notify.notify_one();
    }

    /// Takes the dirty set.
    pub fn take(&self) -> BTreeSet<String> {
        match self.hashes.lock() {
            Ok(mut set) => std::mem::take(&mut *set),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

/// The running watches, one per kind.
pub struct Watches {
    client: Client,
    dirty: Arc<DirtyBundles>,
    running: HashMap<(String, String), tokio::task::JoinHandle<()>>,
}

impl Watches {
    /// No watches yet; changes are reported into `dirty`.
    pub fn new(client: Client, dirty: Arc<DirtyBundles>) -> Watches {
        Watches {
            client,
            dirty,
            running: HashMap::new(),
        }
    }

    /// Starts a watch on `resource` unless one runs.
    pub fn ensure(&mut self, resource: &ApiResource) {
        let key = (resource.group.clone(), resource.kind.clone());
        if self
            .running
            .get(&key)
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let dirty = self.dirty.clone();
        let kind = resource.kind.clone();
        let task = tokio::spawn(async move {
            let config = watcher::Config::default().labels(SET_HASH_LABEL);
            let mut stream = watcher::watcher(api, config).default_backoff().boxed();
            while let Some(event) = stream.next().await {
                match event {
                    Ok(Event::Apply(obj)) | Ok(Event::Delete(obj)) => {
                        if let Some(hash) = obj
                            .metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(SET_HASH_LABEL))
                        {
                            dirty.mark(hash);
                        }
                    }
                    // The initial listing shows the state the reconciler just looked at.
                    Ok(Event::Init | Event::InitApply(_) | Event::InitDone) => {}
                    Err(e) => {
                        tracing::debug!(%kind, error = %e, "watch interrupted; it restarts with backoff")
                    }
                }
            }
        });
        self.running.insert(key, task);
    }

    /// How many kinds are watched.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}
