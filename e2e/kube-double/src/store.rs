//! Objects, the global resourceVersion counter and the bounded watch event history.
//!
//! Like etcd behind kube-apiserver, one counter orders every write across all resources, so a
//! list's resourceVersion can resume a watch on any resource. Only the last `history_limit`
//! events are kept; a watch from before them is told its version is too old.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

/// Where an object lives: resource, namespace (empty for cluster scope) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// API group of the resource.
    pub group: String,
    /// Plural resource name.
    pub plural: String,
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Gone for good.
    Deleted,
}

impl EventType {
    /// The wire name of the event type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One entry of the watch history.
#[derive(Debug, Clone)]
pub struct Event {
    /// resourceVersion of the write.
    pub rv: u64,
    /// Kind of change.
    pub kind: EventType,
    /// The object concerned.
    pub key: ObjectKey,
    /// The object after the change (before it for deletions, with the deletion's rv).
    pub object: Value,
    /// The object before the change, for watches that must tell when an object enters or
    /// leaves their selector.
    pub previous: Option<Value>,
}

/// The watch history could not serve a start version.
#[derive(Debug, thiserror::Error)]
#[error("too old resource version: {requested} ({oldest})")]
pub struct TooOld {
    /// The version the client asked for.
    pub requested: u64,
    /// The oldest version still served.
    pub oldest: u64,
}

/// What a watch starts from: the retained events after its version, then a live feed.
pub type WatchStart = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

/// All objects and the watch history.
#[derive(Debug)]
pub struct Store {
    rv: u64,
    objects: BTreeMap<ObjectKey, Value>,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    /// Events at or below this version are no longer in the history.
    compacted: u64,
    tx: broadcast::Sender<Arc<Event>>,
}

/// What `--state` persists.
#[derive(Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The counter at save time.
    pub resource_version: u64,
    /// Every object with its key.
    pub objects: Vec<(ObjectKey, Value)>,
}

impl Store {
    /// An empty store keeping `history_limit` watch events.
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(8192);
        Self {
            rv: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 1,
            tx,
        }
    }

    /// Restore from a snapshot; the history starts empty at the saved version.
    pub fn restore(snapshot: Snapshot, history_limit: usize) -> Self {
        let mut store = Self::new(history_limit);
        store.rv = snapshot.resource_version.max(1);
        store.compacted = store.rv;
        store.objects = snapshot.objects.into_iter().collect();
        store
    }

    /// A copy of everything, for persistence.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            resource_version: self.rv,
            objects: self
                .objects
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The latest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// The oldest version a watch may start from.
    pub fn oldest_watchable(&self) -> u64 {
        self.compacted
    }

    /// One object.
    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of a resource (in one namespace when given), ordered by namespace and name.
    pub fn list(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Vec<(&ObjectKey, &Value)> {
        self.objects
            .iter()
            .filter(|(k, _)| {
                k.group == group
                    && k.plural == plural
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .collect()
    }

    /// Every object, for garbage collection and namespace cleanup.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &Value)> {
        self.objects.iter()
    }

    /// Store `object` under `key`, stamping the next resourceVersion; returns the stored object.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Value {
        self.rv += 1;
        set_rv(&mut object, self.rv);
        let previous = self.objects.insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(kind, key, object.clone(), previous);
        object
    }

    /// Remove the object under `key`; the DELETED event carries a fresh resourceVersion.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.rv += 1;
        set_rv(&mut object, self.rv);
        self.record(EventType::Deleted, key.clone(), object.clone(), None);
        Some(object)
    }

    fn record(&mut self, kind: EventType, key: ObjectKey, object: Value, previous: Option<Value>) {
        let event = Arc::new(Event {
            rv: self.rv,
            kind,
            key,
            object,
            previous,
        });
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        // Nobody listening is fine: the history still serves later watches.
        let _ = self.tx.send(event);
    }

    /// Forget all history up to now, as an etcd compaction does.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }

    /// The events after `from` plus a receiver for the ones to come, taken atomically so none
    /// is lost or doubled between the two.
    pub fn watch_from(&self, from: u64) -> Result<WatchStart, TooOld> {
        if from < self.compacted {
            return Err(TooOld {
                requested: from,
                oldest: self.compacted,
            });
        }
        let backlog = self
            .history
            .iter()
            .filter(|e| e.rv > from)
            .cloned()
            .collect();
        Ok((backlog, self.tx.subscribe()))
    }

    /// A receiver for future events only.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}

fn set_rv(object: &mut Value, rv: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            plural: "configmaps".into(),
            namespace: "demo".into(),
            name: name.into(),
        }
    }

    #[test]
    fn every_write_bumps_one_global_counter() {
        let mut s = Store::new(10);
        let a = s.put(key("a"), json!({"metadata": {"name": "a"}}));
        let b = s.put(key("b"), json!({"metadata": {"name": "b"}}));
        assert_eq!(a["metadata"]["resourceVersion"], "2");
        assert_eq!(b["metadata"]["resourceVersion"], "3");
        let gone = s.remove(&key("a")).expect("present");
        assert_eq!(gone["metadata"]["resourceVersion"], "4");
        assert_eq!(s.current_rv(), 4);
    }

    #[test]
    fn watch_from_a_compacted_version_is_refused() {
        let mut s = Store::new(2);
        for n in ["a", "b", "c", "d"] {
            s.put(key(n), json!({"metadata": {"name": n}}));
        }
        assert!(s.watch_from(1).is_err());
        let (backlog, _) = s.watch_from(s.oldest_watchable()).expect("recent enough");
        assert_eq!(backlog.len(), 2);
    }
}
