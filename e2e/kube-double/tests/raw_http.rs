//! Wire-level behaviour checked over plain HTTP: auth, content negotiation (aggregated
//! discovery, Table, OpenAPI), watch streams (bookmarks, 410, timeouts, dropped streams),
//! fault injection, persistence and garbage collection.

mod common;

use std::time::Duration;

use kube_double::{Config, Faults, Handle};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A parsed HTTP/1.1 response head plus the connection positioned at the body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
    }

    /// The whole body (de-chunked).
    async fn body(mut self) -> String {
        if self.chunked() {
            let mut out = String::new();
            while let Some(chunk) = self.chunk().await {
                out.push_str(&chunk);
            }
            return out;
        }
        let len: usize = self
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut buf = vec![0; len];
        self.reader.read_exact(&mut buf).await.expect("body");
        String::from_utf8(buf).expect("utf8")
    }

    async fn json(self) -> Value {
        serde_json::from_str(&self.body().await).expect("json body")
    }

    /// The next chunk of a chunked body, `None` at its end or when the connection closes.
    async fn chunk(&mut self) -> Option<String> {
        let mut size = String::new();
        if self.reader.read_line(&mut size).await.ok()? == 0 {
            return None;
        }
        let n = usize::from_str_radix(size.trim(), 16).ok()?;
        if n == 0 {
            return None;
        }
        let mut buf = vec![0; n + 2];
        self.reader.read_exact(&mut buf).await.ok()?;
        buf.truncate(n);
        String::from_utf8(buf).ok()
    }

    /// Whether the stream has ended (rather than merely gone quiet for 15s).
    async fn ended(&mut self) -> bool {
        matches!(
            tokio::time::timeout(Duration::from_secs(15), self.chunk()).await,
            Ok(None)
        )
    }

    /// Watch events until `want` of them arrived or the stream ended.
    async fn events(&mut self, want: usize) -> Vec<Value> {
        let mut events = Vec::new();
        let mut pending = String::new();
        while events.len() < want {
            let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(10), self.chunk()).await
            else {
                break;
            };
            pending.push_str(&chunk);
            while let Some(i) = pending.find('\n') {
                let line: String = pending.drain(..=i).collect();
                events.push(serde_json::from_str(line.trim()).expect("event json"));
            }
        }
        events
    }
}

async fn request(
    handle: &Handle,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let authority = handle.url().trim_start_matches("http://").to_string();
    let stream = TcpStream::connect(&authority).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    let mut reader = BufReader::new(stream);
    reader
        .get_mut()
        .write_all(req.as_bytes())
        .await
        .expect("send");
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .await
        .expect("status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Response {
        status,
        headers,
        reader,
    }
}

async fn authed(
    handle: &Handle,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let bearer = format!("Bearer {}", handle.token());
    let mut headers = vec![("Authorization", bearer.as_str())];
    if !extra
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type", "application/json"));
    }
    headers.extend_from_slice(extra);
    request(handle, method, path, &headers, body).await
}

async fn http_double(tweak: impl FnOnce(&mut Config)) -> Handle {
    common::start_with(|c| {
        c.tls = false;
        tweak(c);
    })
    .await
}

async fn create_ns(handle: &Handle, name: &str) {
    let r = authed(
        handle,
        "POST",
        "/api/v1/namespaces",
        &[],
        Some(&json!({"metadata": {"name": name}}).to_string()),
    )
    .await;
    assert_eq!(r.status, 201);
}

async fn create_cm(handle: &Handle, ns: &str, body: Value) -> Value {
    let r = authed(
        handle,
        "POST",
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        &[],
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(r.status, 201);
    r.json().await
}

#[tokio::test]
async fn requests_without_the_token_get_a_401_status() {
    let double = http_double(|_| {}).await;
    let r = request(&double, "GET", "/api/v1/namespaces", &[], None).await;
    assert_eq!(r.status, 401);
    let body = r.json().await;
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "Unauthorized");
    let wrong = request(
        &double,
        "GET",
        "/version",
        &[("Authorization", "Bearer nope")],
        None,
    )
    .await;
    assert_eq!(wrong.status, 401);
    let ok = authed(&double, "GET", "/version", &[], None).await;
    assert_eq!(ok.json().await["minor"], "30");
}

#[tokio::test]
async fn discovery_negotiates_aggregated_documents() {
    let double = http_double(|_| {}).await;
    let accept =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let r = authed(&double, "GET", "/apis", &[("Accept", accept)], None).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    );
    let doc = r.json().await;
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    let apps = doc["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["metadata"]["name"] == "apps")
        .expect("apps")
        .clone();
    let deploy = apps["versions"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == "deployments")
        .expect("deployments")
        .clone();
    assert_eq!(deploy["scope"], "Namespaced");
    assert!(deploy["subresources"]
        .as_array()
        .expect("subresources")
        .iter()
        .any(|s| s["subresource"] == "status"));
    let core = authed(&double, "GET", "/api", &[("Accept", accept)], None)
        .await
        .json()
        .await;
    assert_eq!(core["items"][0]["versions"][0]["version"], "v1");
    let legacy = authed(
        &double,
        "GET",
        "/apis",
        &[("Accept", "application/json")],
        None,
    )
    .await
    .json()
    .await;
    assert_eq!(legacy["kind"], "APIGroupList");
    assert_eq!(
        authed(&double, "GET", "/api/v1", &[], None)
            .await
            .json()
            .await["kind"],
        "APIResourceList"
    );
    let unknown = authed(&double, "GET", "/apis/example.com/v1/widgets", &[], None).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body().await, "404 page not found\n");
    let root = authed(&double, "GET", "/openapi/v3", &[], None)
        .await
        .json()
        .await;
    let url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .expect("url")
        .to_string();
    let gv = authed(&double, "GET", &url, &[], None).await.json().await;
    assert!(
        gv["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"].is_object()
    );
}

#[tokio::test]
async fn tables_for_kubectl_get() {
    let double = http_double(|_| {}).await;
    create_ns(&double, "demo").await;
    create_cm(
        &double,
        "demo",
        json!({"metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}}),
    )
    .await;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let t = authed(
        &double,
        "GET",
        "/api/v1/namespaces/demo/configmaps",
        &[("Accept", accept)],
        None,
    )
    .await
    .json()
    .await;
    assert_eq!(t["kind"], "Table");
    let columns: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .expect("cols")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(columns, ["Name", "Data", "Age"]);
    assert_eq!(t["rows"][0]["cells"][0], "a");
    assert_eq!(t["rows"][0]["cells"][1], 2);
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn watch_streams_events_bookmarks_and_expires_old_versions() {
    let double = http_double(|_| {}).await;
    create_ns(&double, "demo").await;
    let list = authed(
        &double,
        "GET",
        "/api/v1/namespaces/demo/configmaps",
        &[],
        None,
    )
    .await
    .json()
    .await;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let mut w = authed(&double, "GET", &format!("/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=30"), &[], None).await;
    assert_eq!(w.status, 200);
    assert!(w.chunked());
    create_cm(&double, "demo", json!({"metadata": {"name": "w1"}})).await;
    authed(
        &double,
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/w1",
        &[("Content-Type", "application/merge-patch+json")],
        Some(r#"{"data":{"a":"b"}}"#),
    )
    .await
    .body()
    .await;
    authed(
        &double,
        "DELETE",
        "/api/v1/namespaces/demo/configmaps/w1",
        &[],
        None,
    )
    .await
    .body()
    .await;
    // Bookmarks may come at any point (every second); the changes come in order.
    let mut changes = Vec::new();
    let mut bookmarks = Vec::new();
    while changes.len() < 3 || bookmarks.is_empty() {
        let batch = w.events(1).await;
        assert!(
            !batch.is_empty(),
            "stream ended early: {changes:?} {bookmarks:?}"
        );
        for e in batch {
            if e["type"] == "BOOKMARK" {
                bookmarks.push(e);
            } else {
                changes.push(e);
            }
        }
    }
    let types: Vec<&str> = changes.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["ADDED", "MODIFIED", "DELETED"]);
    assert_eq!(changes[1]["object"]["data"]["a"], "b");
    assert_eq!(changes[0]["object"]["kind"], "ConfigMap");
    assert!(bookmarks[0]["object"]["metadata"]["resourceVersion"]
        .as_str()
        .is_some());
    assert!(
        bookmarks[0]["object"]["metadata"].get("name").is_none(),
        "bookmarks carry only a resourceVersion"
    );

    // Replaying from the old version still works while the history holds it.
    let mut replay = authed(
        &double,
        "GET",
        &format!(
            "/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=5"
        ),
        &[],
        None,
    )
    .await;
    let replayed: Vec<String> = replay
        .events(3)
        .await
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        replayed,
        ["ADDED", "MODIFIED", "DELETED"],
        "no bookmarks were asked for"
    );

    // After compaction the same version is too old: an ERROR event with a 410 Status.
    double.compact();
    let mut old = authed(
        &double,
        "GET",
        &format!("/api/v1/namespaces/demo/configmaps?watch=1&resourceVersion={rv}"),
        &[],
        None,
    )
    .await;
    let err = old.events(1).await;
    assert_eq!(err[0]["type"], "ERROR");
    assert_eq!(err[0]["object"]["code"], 410);
    assert_eq!(err[0]["object"]["reason"], "Expired");

    // timeoutSeconds ends the stream cleanly.
    let mut short = authed(
        &double,
        "GET",
        "/api/v1/namespaces/demo/configmaps?watch=1&timeoutSeconds=1",
        &[],
        None,
    )
    .await;
    assert!(short.events(100).await.is_empty());
    assert!(short.ended().await, "timeoutSeconds ends the stream");
}

#[tokio::test]
async fn faults_answer_429_with_retry_after_500_and_cut_watches() {
    let double = http_double(|_| {}).await;
    double.set_faults(Faults {
        error_429_pct: 100,
        ..Faults::default()
    });
    let r = authed(&double, "GET", "/api/v1/namespaces", &[], None).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.json().await["reason"], "TooManyRequests");
    double.set_faults(Faults {
        error_500_pct: 100,
        ..Faults::default()
    });
    let r = authed(&double, "GET", "/api/v1/namespaces", &[], None).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json().await["reason"], "InternalError");
    double.set_faults(Faults {
        latency_ms: 20,
        drop_watch_after_s: Some(1),
        ..Faults::default()
    });
    let mut w = authed(
        &double,
        "GET",
        "/api/v1/namespaces?watch=1&timeoutSeconds=600",
        &[],
        None,
    )
    .await;
    assert_eq!(w.status, 200);
    let events = w.events(100).await;
    assert!(
        w.ended().await,
        "the stream is cut long before its 600s timeout"
    );
    assert_eq!(
        events.len(),
        4,
        "the initial namespaces, then the stream is cut long before its timeout"
    );
    double.set_faults(Faults::default());
    assert_eq!(
        authed(&double, "GET", "/api/v1/namespaces", &[], None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let first = http_double(|c| c.state_file = Some(state.clone())).await;
    create_ns(&first, "demo").await;
    let cm = create_cm(
        &first,
        "demo",
        json!({"metadata": {"name": "kept"}, "data": {"k": "v"}}),
    )
    .await;
    first.shutdown().await;
    let second = http_double(|c| c.state_file = Some(state.clone())).await;
    let got = authed(
        &second,
        "GET",
        "/api/v1/namespaces/demo/configmaps/kept",
        &[],
        None,
    )
    .await
    .json()
    .await;
    assert_eq!(got["metadata"]["uid"], cm["metadata"]["uid"]);
    let next = create_cm(&second, "demo", json!({"metadata": {"name": "after"}})).await;
    let before: u64 = cm["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .parse()
        .expect("num");
    let after: u64 = next["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .parse()
        .expect("num");
    assert!(
        after > before,
        "resourceVersions keep increasing across restarts"
    );
    second.shutdown().await;
}

async fn exists(handle: &Handle, path: &str) -> bool {
    authed(handle, "GET", path, &[], None).await.status == 200
}

#[tokio::test]
async fn garbage_collection_follows_propagation_policies() {
    let double = http_double(|_| {}).await;
    create_ns(&double, "demo").await;
    let mut owners = Vec::new();
    for (owner, dependent) in [("bg", "bg-dep"), ("fg", "fg-dep"), ("or", "or-dep")] {
        let o = create_cm(&double, "demo", json!({"metadata": {"name": owner}})).await;
        create_cm(&double, "demo", json!({"metadata": {"name": dependent, "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": o["metadata"]["uid"], "blockOwnerDeletion": true}]}})).await;
        owners.push(o);
    }
    let path = |n: &str| format!("/api/v1/namespaces/demo/configmaps/{n}");
    // Background: owner goes at once, the dependent shortly after.
    authed(
        &double,
        "DELETE",
        &path("bg"),
        &[],
        Some(r#"{"propagationPolicy":"Background"}"#),
    )
    .await
    .body()
    .await;
    common::eventually(|| async { (!exists(&double, &path("bg-dep")).await).then_some(()) }).await;
    // Foreground: the owner waits, marked, until its dependent is gone.
    let fg = authed(
        &double,
        "DELETE",
        &format!("{}?propagationPolicy=Foreground", path("fg")),
        &[],
        None,
    )
    .await
    .json()
    .await;
    assert_eq!(fg["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    assert!(fg["metadata"]["deletionTimestamp"].is_string());
    common::eventually(|| async {
        (!exists(&double, &path("fg")).await && !exists(&double, &path("fg-dep")).await)
            .then_some(())
    })
    .await;
    // Orphan: the dependent stays, without the reference.
    authed(
        &double,
        "DELETE",
        &path("or"),
        &[],
        Some(r#"{"propagationPolicy":"Orphan"}"#),
    )
    .await
    .body()
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let orphan = authed(&double, "GET", &path("or-dep"), &[], None)
        .await
        .json()
        .await;
    assert!(orphan["metadata"].get("ownerReferences").is_none());
}

#[tokio::test]
async fn namespace_deletion_empties_it_first() {
    let double = http_double(|_| {}).await;
    create_ns(&double, "doomed").await;
    create_cm(&double, "doomed", json!({"metadata": {"name": "a"}})).await;
    let ns = authed(&double, "DELETE", "/api/v1/namespaces/doomed", &[], None)
        .await
        .json()
        .await;
    assert_eq!(ns["status"]["phase"], "Terminating");
    common::eventually(|| async {
        (!exists(&double, "/api/v1/namespaces/doomed").await).then_some(())
    })
    .await;
    assert!(!exists(&double, "/api/v1/namespaces/doomed/configmaps/a").await);
}

#[tokio::test]
async fn deletecollection_and_dry_run_apply() {
    let double = http_double(|_| {}).await;
    create_ns(&double, "demo").await;
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        create_cm(
            &double,
            "demo",
            json!({"metadata": {"name": n, "labels": {"app": app}}}),
        )
        .await;
    }
    let deleted = authed(
        &double,
        "DELETE",
        "/api/v1/namespaces/demo/configmaps?labelSelector=app%3Dx",
        &[],
        None,
    )
    .await
    .json()
    .await;
    assert_eq!(deleted["kind"], "ConfigMapList");
    assert_eq!(deleted["items"].as_array().map(Vec::len), Some(2));
    let left = authed(
        &double,
        "GET",
        "/api/v1/namespaces/demo/configmaps",
        &[],
        None,
    )
    .await
    .json()
    .await;
    assert_eq!(left["items"].as_array().map(Vec::len), Some(1));

    let apply = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: dry\n";
    let r = authed(
        &double,
        "PATCH",
        "/api/v1/namespaces/demo/configmaps/c?fieldManager=t&dryRun=All",
        &[("Content-Type", "application/apply-patch+yaml")],
        Some(apply),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json().await["data"]["k"], "dry");
    let stored = authed(
        &double,
        "GET",
        "/api/v1/namespaces/demo/configmaps/c",
        &[],
        None,
    )
    .await
    .json()
    .await;
    assert!(stored.get("data").is_none(), "dry run persisted nothing");
    let proto = authed(
        &double,
        "POST",
        "/api/v1/namespaces/demo/configmaps",
        &[("Content-Type", "application/vnd.kubernetes.protobuf")],
        Some("garbage"),
    )
    .await;
    assert_eq!(proto.status, 400);
}
