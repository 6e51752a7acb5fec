//! Watch streams: newline-delimited JSON events from a resourceVersion, with bookmarks,
//! selector-aware ADDED/DELETED transitions, timeouts, and the 410 Expired error event for
//! versions older than the retained history.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::api_status::ApiError;
use crate::cluster::Cluster;
use crate::reads::{present, Filter};
use crate::registry::ResourceType;
use crate::store::{Event, EventType};

/// What a watch request asked for.
#[derive(Debug, Clone)]
pub struct WatchParams {
    /// `resourceVersion`; empty or `0` means "current state first".
    pub resource_version: String,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<u64>,
    /// `sendInitialEvents` (streaming lists).
    pub send_initial_events: bool,
    /// Namespace to restrict to.
    pub namespace: Option<String>,
    /// Parsed selectors.
    pub filter: Filter,
    /// End the stream after this long regardless (fault injection).
    pub drop_after: Option<Duration>,
    /// How often bookmarks are sent.
    pub bookmark_interval: Duration,
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn bookmark(rt: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        json!({"kind": rt.kind, "apiVersion": rt.api_version(), "metadata": meta}),
    )
}

/// Start a watch: returns the response body streaming events.
///
/// # Errors
/// 400 for an unparsable resourceVersion.
pub fn start(cluster: Arc<Cluster>, rt: ResourceType, p: WatchParams) -> Result<Body, ApiError> {
    let from: Option<u64> = match p.resource_version.as_str() {
        "" | "0" => None,
        s => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let initial_all = from.is_none() || p.send_initial_events;
    let ns_matches = {
        let ns = p.namespace.clone();
        move |k: &str| ns.as_deref().is_none_or(|n| n == k)
    };
    // Take the initial state and the event subscription under one lock so nothing slips
    // between them.
    let setup = {
        let inner = cluster.lock();
        if initial_all {
            let rv = inner.store.current_rv();
            let initial: Vec<Bytes> = inner
                .store
                .list(
                    &rt.group,
                    &rt.plural,
                    p.namespace.as_deref().filter(|_| rt.namespaced),
                )
                .into_iter()
                .filter(|(_, v)| p.filter.matches(v))
                .map(|(_, v)| line("ADDED", present(&rt, v)))
                .collect();
            Ok((initial, Vec::new(), inner.store.subscribe(), rv))
        } else {
            let from = from.unwrap_or(0);
            match inner.store.watch_from(from) {
                Ok((backlog, rx)) => Ok((Vec::new(), backlog, rx, from)),
                Err(too_old) => Err(too_old),
            }
        }
    };
    let (initial, backlog, mut events, start_rv) = match setup {
        Ok(s) => s,
        Err(too_old) => {
            let status = ApiError::expired(too_old.to_string()).to_status();
            let bytes = line("ERROR", status);
            return Ok(Body::from_stream(futures::stream::once(async move {
                Ok::<_, Infallible>(bytes)
            })));
        }
    };
    let mut shutdown = cluster.shutdown.subscribe();
    let timeout = Duration::from_secs(p.timeout.unwrap_or(1800));
    let deadline = tokio::time::Instant::now() + p.drop_after.map_or(timeout, |d| d.min(timeout));
    tokio::spawn(async move {
        let mut last_rv = start_rv;
        for b in initial {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        if p.send_initial_events
            && p.bookmarks
            && tx.send(bookmark(&rt, last_rv, true)).await.is_err()
        {
            return;
        }
        let relevant = |e: &Event| {
            e.key.group == rt.group && e.key.plural == rt.plural && ns_matches(&e.key.namespace)
        };
        for e in backlog {
            last_rv = last_rv.max(e.rv);
            if let Some(b) = render(&rt, &p.filter, &e).filter(|_| relevant(&e)) {
                if tx.send(b).await.is_err() {
                    return;
                }
            }
        }
        let mut ticker = tokio::time::interval(p.bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = shutdown.changed() => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if p.bookmarks => {
                    if tx.send(bookmark(&rt, last_rv, false)).await.is_err() {
                        return;
                    }
                }
                ev = events.recv() => match ev {
                    Ok(e) => {
                        last_rv = last_rv.max(e.rv);
                        if !relevant(&e) {
                            continue;
                        }
                        if let Some(b) = render(&rt, &p.filter, &e) {
                            if tx.send(b).await.is_err() {
                                return;
                            }
                        }
                    }
                    // A watcher that fell behind is closed; clients re-watch from their last version.
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(Body::from_stream(stream))
}

/// The event line a watcher with `filter` sees for `e`, if any: objects entering the
/// selection are ADDED, objects leaving it are DELETED.
fn render(rt: &ResourceType, filter: &Filter, e: &Event) -> Option<Bytes> {
    let now = filter.matches(&e.object);
    let kind = match e.kind {
        EventType::Added | EventType::Deleted => {
            if !now {
                return None;
            }
            e.kind.as_str()
        }
        EventType::Modified => {
            let before = e.previous.as_ref().is_some_and(|p| filter.matches(p));
            match (before, now) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return None,
            }
        }
    };
    Some(line(kind, present(rt, &e.object)))
}
