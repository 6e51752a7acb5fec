//! The shared state behind every request: the store, the registry derived from it, and the
//! knobs tests turn (faults, objects held NotReady).
//!
//! All writes funnel through [`Cluster::commit`] and [`Cluster::erase`], which keep the
//! registry in step with CRDs so discovery changes in the same instant a CRD is Established.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::watch;

use crate::config::Faults;
use crate::registry::{crd_established, Registry};
use crate::store::{ObjectKey, Store};

/// An object the status simulator must keep NotReady.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hold {
    /// API group, empty for core.
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace, empty for cluster scope.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Store plus registry, locked together so they never disagree.
#[derive(Debug)]
pub struct Inner {
    /// Objects and history.
    pub store: Store,
    /// Built-ins plus established CRDs.
    pub registry: Registry,
}

/// Everything a request handler or controller needs.
#[derive(Debug)]
pub struct Cluster {
    inner: Mutex<Inner>,
    faults: Mutex<Faults>,
    holds: Mutex<HashSet<Hold>>,
    /// The bearer token requests must carry.
    pub token: String,
    /// Whether the status simulator runs.
    pub simulate_status: bool,
    /// The `host:port` clients reach the server at.
    pub server_address: Mutex<String>,
    /// Flips to true on shutdown; watches end when it does.
    pub shutdown: watch::Sender<bool>,
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it: the state is plain
/// data and stays consistent between statements.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The key of the CRD resource itself.
pub fn is_crd_key(key: &ObjectKey) -> bool {
    key.group == "apiextensions.k8s.io" && key.plural == "customresourcedefinitions"
}

impl Cluster {
    /// A cluster over `store`.
    pub fn new(store: Store, token: String, simulate_status: bool, faults: Faults) -> Arc<Self> {
        let registry = registry_of(&store);
        let (shutdown, _) = watch::channel(false);
        Arc::new(Self {
            inner: Mutex::new(Inner { store, registry }),
            faults: Mutex::new(faults),
            holds: Mutex::new(HashSet::new()),
            token,
            simulate_status,
            server_address: Mutex::new(String::new()),
            shutdown,
        })
    }

    /// Exclusive access to store and registry.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// The current fault settings.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Replace the fault settings.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// Hold an object NotReady (or release it).
    pub fn set_hold(&self, hold: Hold, held: bool) {
        let mut holds = lock(&self.holds);
        if held {
            holds.insert(hold);
        } else {
            holds.remove(&hold);
        }
    }

    /// Whether an object is held NotReady.
    pub fn is_held(&self, hold: &Hold) -> bool {
        lock(&self.holds).contains(hold)
    }
}

impl Inner {
    /// Store an object and keep the registry in step with CRDs.
    pub fn commit(&mut self, key: ObjectKey, object: Value) -> Value {
        let crd = is_crd_key(&key);
        let stored = self.store.put(key, object);
        if crd {
            self.registry = registry_of(&self.store);
        }
        stored
    }

    /// Remove an object and keep the registry in step with CRDs.
    pub fn erase(&mut self, key: &ObjectKey) -> Option<Value> {
        let gone = self.store.remove(key);
        if is_crd_key(key) {
            self.registry = registry_of(&self.store);
        }
        gone
    }
}

fn registry_of(store: &Store) -> Registry {
    let crds: Vec<&Value> = store
        .list("apiextensions.k8s.io", "customresourcedefinitions", None)
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| crd_established(v) && v.pointer("/metadata/deletionTimestamp").is_none())
        .collect();
    Registry::with_crds(crds)
}
