//! Bundle content by digest, kept in memory for the agents that fetch it.
//!
//! A push hands every targeted agent the same few new digests at once, and 10,000 agents
//! fetch them within seconds. Read from the store each time, those fetches queued on
//! SQLite's single connection behind the agents' status reports, each holding its own
//! copy of the blob while it waited: most of the manager's memory peak during a
//! deployment, and the fragmentation that peak left behind. Content is immutable by
//! digest, so a copy in memory is never stale; concurrent loads of one digest are
//! coalesced into one store read, and every answer shares the one copy.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;

use crate::store::{Store, StoreError};

/// How much content the cache holds by default: every bundle of a large repo at a few
/// hundred kilobytes each, never more than a fixed part of the manager's memory.
pub const DEFAULT_CAPACITY_BYTES: u64 = 32 * 1024 * 1024;

/// A blob unused this long leaves the cache, so an idle manager holds none.
const IDLE_EVICTION: Duration = Duration::from_secs(600);

/// Content blobs by digest, bounded by their total size (least recently used go first).
pub struct ContentCache {
    blobs: moka::future::Cache<String, Bytes>,
}

/// Why a load put nothing in the cache.
#[derive(Debug, thiserror::Error)]
enum Miss {
    #[error("no such content")]
    Absent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ContentCache {
    /// A cache holding at most `capacity_bytes` of content.
    pub fn new(capacity_bytes: u64) -> ContentCache {
        ContentCache {
            blobs: moka::future::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|digest: &String, blob: &Bytes| {
                    u32::try_from(digest.len() + blob.len()).unwrap_or(u32::MAX)
                })
                .time_to_idle(IDLE_EVICTION)
                .build(),
        }
    }

    /// The content of `digest`, from memory or else from `store` (one read however many
    /// callers ask at once); `None` when the store has no such content, which is not
    /// remembered.
    pub async fn get(&self, store: &Store, digest: &str) -> Result<Option<Bytes>, StoreError> {
        let loaded = self
            .blobs
            .try_get_with_by_ref(digest, async {
                match store.get_content(digest).await? {
                    Some(blob) => Ok(Bytes::from(blob)),
                    None => Err(Miss::Absent),
                }
            })
            .await;
        match loaded {
            Ok(blob) => Ok(Some(blob)),
            Err(miss) => match Arc::try_unwrap(miss) {
                Ok(Miss::Absent) => Ok(None),
                Ok(Miss::Store(e)) => Err(e),
                // Callers that shared a failed load hear its cause; the error is not Clone.
                Err(shared) => match &*shared {
                    Miss::Absent => Ok(None),
                    Miss::Store(e) => {
                        Err(StoreError::Task(format!("reading content {digest}: {e}")))
                    }
                },
            },
        }
    }
}

impl Default for ContentCache {
    fn default() -> ContentCache {
        ContentCache::new(DEFAULT_CAPACITY_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with(dir: &std::path::Path, blobs: &[(&str, &[u8])]) -> Store {
        let url = format!("sqlite://{}", dir.join("fleet.db").display());
        let store = Store::open(&url).await.expect("store");
        for (digest, data) in blobs {
            store
                .put_content(digest, data.to_vec())
                .await
                .expect("put content");
        }
        store
    }

    #[tokio::test]
    async fn serves_from_memory_once_loaded_and_does_not_remember_absence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with(dir.path(), &[("a", b"first")]).await;
        let cache = ContentCache::new(1024);
        assert_eq!(
            cache.get(&store, "a").await.unwrap().as_deref(),
            Some(&b"first"[..])
        );
        assert_eq!(cache.get(&store, "b").await.unwrap(), None);
        // Stored after a miss: found, since the miss was not cached.
        store.put_content("b", b"second".to_vec()).await.unwrap();
        assert_eq!(
            cache.get(&store, "b").await.unwrap().as_deref(),
            Some(&b"second"[..])
        );
        // Loaded once: answered from memory even with the rows gone.
        rusqlite::Connection::open(dir.path().join("fleet.db"))
            .unwrap()
            .execute("DELETE FROM contents", [])
            .unwrap();
        assert_eq!(store.get_content("a").await.unwrap(), None);
        assert_eq!(
            cache.get(&store, "a").await.unwrap().as_deref(),
            Some(&b"first"[..])
        );
    }

    #[tokio::test]
    async fn holds_at_most_its_capacity() {
        let big = vec![7u8; 600];
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_with(dir.path(), &[("a", &big), ("b", &big)]).await;
        let cache = ContentCache::new(1000);
        for digest in ["a", "b", "a", "b"] {
            assert_eq!(
                cache.get(&store, digest).await.unwrap().map(|b| b.len()),
                Some(600)
            );
        }
        cache.blobs.run_pending_tasks().await;
        assert!(
            cache.blobs.weighted_size() <= 1000,
            "{}",
            cache.blobs.weighted_size()
        );
    }
}
