//! Replays the recorded kube-apiserver exchanges (`fixtures/kube-apiserver-1.24.json`,
//! from `/work/shared/kube-transcripts`) against the double and compares status codes,
//! Status bodies, and the stable parts of returned objects (spec, data, labels,
//! finalizers, generation, and the managedFields of the client managers).
//!
//! Left out: discovery documents and `/version` (a 1.24 server), watches and the anonymous
//! request (covered in `raw_http.rs`), and fields that depend on controller timing
//! (Deployment status, the revision annotation, kube-controller-manager's entries).

mod common;

use serde_json::{json, Map, Value};

const SKIPPED: &[&str] = &[
    "version",
    "core-api",
    "core-v1-resources",
    "apis-groups",
    "apps-v1-resources",
    "aggregated-discovery-apis",
    "watch-events",
    "watch-too-old",
    "no-token",
];
const CONTROLLERS: &[&str] = &["kube-controller-manager", "kube-apiserver"];

fn query(params: &Map<String, Value>) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str()
                    .unwrap_or_default()
                    .replace(' ', "%20")
                    .replace('(', "%28")
                    .replace(')', "%29")
                    .replace(',', "%2C")
                    .replace('=', "%3D")
            )
        })
        .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// The comparable parts of a returned object.
fn stable(v: &Value) -> Value {
    let mut out = Map::new();
    for k in ["kind", "apiVersion", "data", "type", "spec"] {
        if let Some(x) = v.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    if let Some(spec) = out.get_mut("spec").and_then(Value::as_object_mut) {
        // The CRD's stored status depends on when the server established it.
        spec.shift_remove("status");
    }
    let meta = v.get("metadata").cloned().unwrap_or_default();
    let mut m = Map::new();
    for k in [
        "name",
        "namespace",
        "labels",
        "finalizers",
        "generation",
        "deletionGracePeriodSeconds",
    ] {
        if let Some(x) = meta.get(k) {
            m.insert(k.into(), x.clone());
        }
    }
    if let Some(Value::Object(a)) = meta.get("annotations") {
        let a: Map<String, Value> = a
            .iter()
            .filter(|(k, _)| *k != "deployment.kubernetes.io/revision")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !a.is_empty() {
            m.insert("annotations".into(), Value::Object(a));
        }
    }
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        m.insert(format!("has {k}"), json!(meta.get(k).is_some()));
    }
    let managers: Vec<Value> = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| !CONTROLLERS.contains(&e["manager"].as_str().unwrap_or_default()))
                .map(|e| json!({"manager": e["manager"], "operation": e["operation"], "apiVersion": e["apiVersion"], "fieldsV1": e["fieldsV1"], "subresource": e.get("subresource")}))
                .collect()
        })
        .unwrap_or_default();
    m.insert("managedFields".into(), Value::Array(managers));
    out.insert("metadata".into(), Value::Object(m));
    Value::Object(out)
}

fn status_body(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(d) = v.get_mut("details").and_then(Value::as_object_mut) {
        d.shift_remove("uid");
    }
    v
}

#[tokio::test]
async fn recorded_exchanges_replay_identically() {
    let transcript: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/kube-apiserver-1.24.json"))
            .expect("transcript");
    let double = common::start_with(|c| {
        c.tls = false;
        c.simulate_status = false;
    })
    .await;
    let http = Http::new(&double);
    let mut failures = Vec::new();
    for ex in &transcript {
        let name = ex["name"].as_str().unwrap_or_default();
        if SKIPPED.contains(&name) {
            continue;
        }
        let req = &ex["request"];
        let path = req["path"].as_str().unwrap_or_default();
        let mut body = req.get("body").cloned().unwrap_or(Value::Null);
        if name == "update-configmap-current-rv" {
            let live = http.send("GET", path, "", None).await.1;
            body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        }
        let params = req["params"].as_object().cloned().unwrap_or_default();
        let url = format!("{path}{}", query(&params));
        let ct = req["contentType"].as_str().unwrap_or("application/json");
        let body_text = (!body.is_null()).then(|| body.to_string());
        let (code, got) = http
            .send(
                req["method"].as_str().unwrap_or("GET"),
                &url,
                ct,
                body_text.as_deref(),
            )
            .await;
        let want_code = ex["response"]["status"].as_u64().unwrap_or_default() as u16;
        let want = &ex["response"]["body"];
        if code != want_code {
            failures.push(format!(
                "{name}: status {code}, recorded {want_code}: {got}"
            ));
            continue;
        }
        let (got, want) = if want.get("kind") == Some(&json!("Status")) {
            (status_body(&got), status_body(want))
        } else if let Some(items) = want.get("items").and_then(Value::as_array) {
            let names = |v: &Value| -> Vec<Value> {
                v.as_array()
                    .map(|a| a.iter().map(|i| i["metadata"]["name"].clone()).collect())
                    .unwrap_or_default()
            };
            (
                json!({"names": names(&got["items"]), "continue": got["metadata"].get("continue").is_some()}),
                json!({"names": names(&Value::Array(items.clone())), "continue": want["metadata"].get("continue").is_some()}),
            )
        } else if want.is_object() {
            (stable(&got), stable(want))
        } else {
            (json!(got.is_string()), json!(want.is_string()))
        };
        if got != want {
            failures.push(format!("{name}:\n  got      {got}\n  recorded {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} exchanges differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A tiny HTTP/1.1 client speaking to the plain-HTTP double as python-requests did.
struct Http {
    authority: String,
    token: String,
}

impl Http {
    fn new(h: &kube_double::Handle) -> Self {
        Self {
            authority: h.url().trim_start_matches("http://").into(),
            token: h.token().into(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&self.authority)
            .await
            .expect("connect");
        let body = body.unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nUser-Agent: python-requests/2.31.0\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.authority,
            self.token,
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        (
            code,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
