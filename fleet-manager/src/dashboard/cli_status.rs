//! `fleet-manager status [gitrepo|bundle|cluster|group NAME] [-o table|json|yaml]
//! [--watch]`: what the dashboard shows, as terminal tables with counts per state and
//! the failing resources with their field paths.
//!
//! It reads the dashboard API (`/api/v1/dashboard/…`) with the admin token, so the
//! terminal and the browser always agree; `--watch` re-renders on each change the
//! manager announces on its event stream, reconnecting when the manager restarts.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde_json::Value;

use crate::cli::{Client, ClientArgs, Output};

/// How many failing deployments a detail view expands into resources.
const FAILING_EXPANDED: usize = 20;

/// What `status` shows.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Subject {
    Gitrepo,
    Bundle,
    Cluster,
    Group,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// What to show; without it, the whole fleet.
    #[arg(value_enum)]
    pub subject: Option<Subject>,
    /// Its name (for `cluster` without a name: the filtered cluster list).
    pub name: Option<String>,
    #[arg(short, long, default_value = crate::resources::DEFAULT_WORKSPACE)]
    pub namespace: String,
    #[arg(short, long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Keep running and redraw on every change.
    #[arg(short, long)]
    pub watch: bool,
    /// Only clusters in this state (cluster list, bundle view).
    #[arg(long)]
    pub state: Option<String>,
    /// Only clusters matching these labels: `env=prod,region!=eu` (cluster list, bundle view).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

/// Runs `fleet-manager status`.
pub async fn run(args: StatusArgs) -> Result<()> {
    let client = Client::new(&args.client)?;
    if !args.watch {
        let v = fetch(&client, &args).await?;
        print!("{}", render(&v, &args)?);
        return Ok(());
    }
    let mut last = String::new();
    loop {
        // Each (re)connection starts with the current version, so the view is redrawn
        // after a manager restart too.
        match watch_once(&client, &args, &mut last).await {
            Ok(()) => tracing::debug!("event stream ended; reconnecting"),
            Err(e) => eprintln!("status: {e:#}; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn watch_once(client: &Client, args: &StatusArgs, last: &mut String) -> Result<()> {
    // A client of its own: the stream stays open far longer than API calls may take.
    let token = args.client.token.clone().unwrap_or_default();
    let resp = args
        .client
        .http_builder()?
        .build()
        .context("building the HTTP client")?
        .get(format!(
            "{}/api/v1/dashboard/events",
            args.client.server.trim_end_matches('/')
        ))
        .bearer_auth(token)
        .send()
        .await
        .context("connecting to the event stream")?;
    anyhow::ensure!(
        resp.status().is_success(),
        "event stream: {}",
        resp.status()
    );
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    while let Some(chunk) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(
            &chunk.context("reading the event stream")?,
        ));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if event.lines().any(|l| l.trim() == "event: change") {
                let v = fetch(client, args).await?;
                let text = render(&v, args)?;
                if text != *last {
                    // Clear the screen and redraw from the top.
                    if std::io::stdout().is_terminal() {
                        print!("\x1b[2J\x1b[H{text}");
                    } else {
                        // Piped: one snapshot after another, no terminal control codes.
                        print!("---\n{text}");
                    }
                    *last = text;
                }
            }
        }
    }
    Ok(())
}

fn query(args: &StatusArgs, extra: &[(&str, String)]) -> String {
    let mut q: Vec<String> = extra
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    if let Some(s) = &args.state {
        q.push(format!("state={}", urlencode(s)));
    }
    if let Some(l) = &args.selector {
        q.push(format!("label={}", urlencode(l)));
    }
    q.join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Everything one view needs, as one JSON value (also what `-o json|yaml` prints).
async fn fetch(c: &Client, args: &StatusArgs) -> Result<Value> {
    use reqwest::Method;
    let ns = urlencode(&args.namespace);
    let name = args.name.as_deref().map(urlencode);
    let need_name = || {
        name.clone()
            .context("give a name, e.g. `fleet-manager status bundle my-bundle`")
    };
    Ok(match args.subject {
        None => {
            c.call(Method::GET, "/api/v1/dashboard/overview", None)
                .await?
        }
        Some(Subject::Gitrepo) => {
            c.call(
                Method::GET,
                &format!("/api/v1/dashboard/gitrepos/{ns}/{}", need_name()?),
                None,
            )
            .await?
        }
        Some(Subject::Bundle) => {
            let name = need_name()?;
            let mut v = c
                .call(
                    Method::GET,
                    &format!(
                        "/api/v1/dashboard/bundles/{ns}/{name}?{}",
                        query(args, &[("limit", "500".into())])
                    ),
                    None,
                )
                .await?;
            let failing = failing_resources(c, v.pointer("/clusters/items")).await?;
            v["failing"] = failing;
            v
        }
        Some(Subject::Cluster) => match name {
            Some(name) => {
                let mut v = c
                    .call(
                        Method::GET,
                        &format!("/api/v1/dashboard/clusters/{ns}/{name}"),
                        None,
                    )
                    .await?;
                let failing = failing_resources(c, v.get("bundles")).await?;
                v["failing"] = failing;
                v
            }
            None => {
                c.call(
                    Method::GET,
                    &format!(
                        "/api/v1/dashboard/clusters?{}",
                        query(
                            args,
                            &[
                                ("namespace", args.namespace.clone()),
                                ("limit", "500".into())
                            ]
                        )
                    ),
                    None,
                )
                .await?
            }
        },
        Some(Subject::Group) => {
            let group = args
                .name
                .clone()
                .context("give a group name, e.g. `fleet-manager status group prod`")?;
            let overview = c
                .call(Method::GET, "/api/v1/dashboard/overview", None)
                .await?;
            let row = overview["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|g| g["name"] == group.as_str() && g["namespace"] == args.namespace.as_str())
                .cloned()
                .with_context(|| format!("cluster group {}/{group} not found", args.namespace))?;
            let clusters = c
                .call(
                    Method::GET,
                    &format!(
                        "/api/v1/dashboard/clusters?{}",
                        query(
                            args,
                            &[
                                ("namespace", args.namespace.clone()),
                                ("group", group.clone()),
                                ("limit", "500".into())
                            ]
                        )
                    ),
                    None,
                )
                .await?;
            serde_json::json!({ "group": row, "clusters": clusters })
        }
    })
}

/// The resources of the first non-ready deployments among `rows`.
async fn failing_resources(c: &Client, rows: Option<&Value>) -> Result<Value> {
    let mut out = Vec::new();
    for r in rows.and_then(Value::as_array).into_iter().flatten() {
        if r["state"] == "Ready" {
            continue;
        }
        if out.len() >= FAILING_EXPANDED {
            break;
        }
        let s = |k: &str| urlencode(r[k].as_str().unwrap_or_default());
        let path = format!(
            "/api/v1/dashboard/clusters/{}/{}/bundles/{}/{}",
            s("clusterNamespace"),
            s("cluster"),
            s("bundleNamespace"),
            s("bundle")
        );
        out.push(c.call(reqwest::Method::GET, &path, None).await?);
    }
    Ok(Value::Array(out))
}

const STATES: [(&str, &str); 7] = [
    ("Ready", "ready"),
    ("NotReady", "nonReady"),
    ("WaitApplied", "waitApplied"),
    ("ErrApplied", "errApplied"),
    ("OutOfSync", "outOfSync"),
    ("Pending", "pending"),
    ("Modified", "modified"),
];

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A table with columns as wide as their widest cell.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        if self.rows.is_empty() {
            let _ = writeln!(out, "(none)");
        }
    }
}

fn count_header<'a>(first: &[&'a str]) -> Vec<&'a str> {
    let mut h = first.to_vec();
    h.extend([
        "READY",
        "NOTREADY",
        "WAITAPPLIED",
        "ERRAPPLIED",
        "OUTOFSYNC",
        "PENDING",
        "MODIFIED",
        "TOTAL",
    ]);
    h
}

fn counts(summary: &Value) -> Vec<String> {
    let mut c: Vec<String> = STATES.iter().map(|(_, k)| text(&summary[*k])).collect();
    c.push(text(&summary["desiredReady"]));
    c
}

fn rollout(r: &Value) -> String {
    if r.is_null() {
        return String::new();
    }
    let parts: Vec<String> = r["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{} {}/{} unavailable",
                text(&p["name"]),
                text(&p["unavailable"]),
                text(&p["count"])
            )
        })
        .collect();
    format!(
        "{}/{} promoted; {}",
        text(&r["promoted"]),
        text(&r["targets"]),
        parts.join("; ")
    )
}

fn bundles_table(out: &mut String, bundles: &Value) {
    let mut t = Table::new(&count_header(&["BUNDLE", "STATE"]));
    let mut rollouts = Vec::new();
    for b in bundles.as_array().into_iter().flatten() {
        let mut row = vec![
            format!("{}/{}", text(&b["namespace"]), text(&b["name"])),
            text(&b["displayState"]),
        ];
        row.extend(counts(&b["summary"]));
        t.row(row);
        if !b["rollout"].is_null() {
            rollouts.push(format!("{}: {}", text(&b["name"]), rollout(&b["rollout"])));
        }
        if !text(&b["error"]).is_empty() {
            rollouts.push(format!(
                "{}: error: {}",
                text(&b["name"]),
                text(&b["error"])
            ));
        }
    }
    t.render(out);
    for r in rollouts {
        let _ = writeln!(out, "  {r}");
    }
}

fn deployments_table(out: &mut String, rows: &Value) {
    let mut t = Table::new(&["CLUSTER", "BUNDLE", "STATE", "RESOURCES", "MESSAGE"]);
    for r in rows.as_array().into_iter().flatten() {
        t.row(vec![
            text(&r["cluster"]),
            text(&r["bundle"]),
            text(&r["state"]),
            text(&r["resources"]),
            text(&r["message"]),
        ]);
    }
    t.render(out);
}

fn failing_section(out: &mut String, failing: &Value) {
    let items = failing.as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nFAILING RESOURCES");
    let mut t = Table::new(&["CLUSTER", "BUNDLE", "STATE", "RESOURCE", "PROBLEM"]);
    for d in &items {
        let base = |t: &mut Table, resource: String, problem: String| {
            t.row(vec![
                text(&d["cluster"]),
                text(&d["bundle"]),
                text(&d["state"]),
                resource,
                problem,
            ]);
        };
        let mut any = false;
        for m in d["modified"].as_array().into_iter().flatten() {
            any = true;
            let what = if m["missing"] == true {
                "missing".to_string()
            } else if m["delete"] == true {
                "extra (should be deleted)".to_string()
            } else {
                let paths: Vec<String> = m["paths"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                format!("modified: {}", paths.join(", "))
            };
            base(&mut t, resource_name(m), what);
        }
        for r in d["nonReady"].as_array().into_iter().flatten() {
            any = true;
            base(
                &mut t,
                resource_name(r),
                format!("not ready: {}", text(&r["message"])),
            );
        }
        if !any {
            base(&mut t, String::new(), text(&d["message"]));
        }
    }
    t.render(out);
}

fn resource_name(r: &Value) -> String {
    let ns = text(&r["namespace"]);
    if ns.is_empty() {
        format!("{}/{}", text(&r["kind"]), text(&r["name"]))
    } else {
        format!("{}/{}/{}", text(&r["kind"]), ns, text(&r["name"]))
    }
}

fn clusters_table(out: &mut String, page: &Value) {
    let mut t = Table::new(&count_header(&["CLUSTER", "STATE", "ONLINE"]));
    for c in page["items"].as_array().into_iter().flatten() {
        let mut row = vec![
            text(&c["name"]),
            text(&c["state"]),
            if c["offline"] == true {
                "no".into()
            } else {
                "yes".into()
            },
        ];
        row.extend(counts(&c["summary"]));
        t.row(row);
    }
    t.render(out);
    let shown = page["items"].as_array().map_or(0, Vec::len);
    let total = page["total"].as_u64().unwrap_or(0);
    if (shown as u64) < total {
        let _ = writeln!(out, "({shown} of {total} shown; narrow with --state or -l)");
    }
}

/// The view as text: tables, or the JSON/YAML of everything fetched.
pub fn render(v: &Value, args: &StatusArgs) -> Result<String> {
    match args.output {
        Output::Json => return Ok(serde_json::to_string_pretty(v)? + "\n"),
        Output::Yaml => return Ok(serde_yaml::to_string(v)?),
        Output::Table => {}
    }
    let mut out = String::new();
    match (args.subject, args.name.is_some()) {
        (None, _) => {
            let states: Vec<String> = STATES
                .iter()
                .filter(|(_, k)| v["summary"][*k].as_u64().unwrap_or(0) > 0)
                .map(|(s, k)| format!("{s} {}", text(&v["summary"][*k])))
                .collect();
            let _ = writeln!(
                out,
                "{} clusters, {} offline; deployments: {}\n",
                text(&v["clusters"]),
                text(&v["offline"]["count"]),
                if states.is_empty() {
                    "none".to_string()
                } else {
                    states.join(", ")
                }
            );
            let mut t = Table::new(&[
                "GITREPO",
                "SYNC",
                "COMMIT",
                "BUNDLES READY",
                "STATE",
                "ERROR",
            ]);
            for g in v["gitrepos"].as_array().into_iter().flatten() {
                t.row(vec![
                    format!("{}/{}", text(&g["namespace"]), text(&g["name"])),
                    text(&g["syncState"]),
                    text(&g["commit"]).chars().take(12).collect(),
                    format!("{}/{}", text(&g["readyBundles"]), text(&g["bundles"])),
                    text(&g["state"]),
                    text(&g["error"]),
                ]);
            }
            t.render(&mut out);
            out.push('\n');
            bundles_table(&mut out, &v["bundles"]);
            out.push('\n');
            let mut t = Table::new(&count_header(&["GROUP", "CLUSTERS", "NOT READY"]));
            for g in v["groups"].as_array().into_iter().flatten() {
                let mut row = vec![
                    format!("{}/{}", text(&g["namespace"]), text(&g["name"])),
                    text(&g["clusters"]),
                    text(&g["nonReadyClusters"]),
                ];
                row.extend(counts(&g["summary"]));
                t.row(row);
            }
            t.render(&mut out);
            let offline: Vec<String> = v["offline"]["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| text(&c["name"]))
                .collect();
            if !offline.is_empty() {
                let _ = writeln!(out, "\nOFFLINE: {}", offline.join(", "));
            }
        }
        (Some(Subject::Gitrepo), _) => {
            let g = &v["gitrepo"];
            let _ = writeln!(
                out,
                "GitRepo {}/{}  {} @ {}  sync: {}  state: {}",
                text(&g["namespace"]),
                text(&g["name"]),
                text(&g["repo"]),
                text(&g["commit"]),
                text(&g["syncState"]),
                text(&g["state"])
            );
            if !text(&g["error"]).is_empty() {
                let _ = writeln!(out, "error: {}", text(&g["error"]));
            }
            out.push('\n');
            bundles_table(&mut out, &v["bundles"]);
        }
        (Some(Subject::Bundle), _) => {
            bundles_table(&mut out, &Value::Array(vec![v["bundle"].clone()]));
            out.push('\n');
            let page = &v["clusters"];
            let failing: Vec<Value> = page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["state"] != "Ready")
                .cloned()
                .collect();
            let _ = writeln!(
                out,
                "CLUSTERS NOT READY ({} of {} listed)",
                failing.len(),
                text(&page["total"])
            );
            deployments_table(&mut out, &Value::Array(failing));
            failing_section(&mut out, &v["failing"]);
        }
        (Some(Subject::Cluster), true) => {
            let c = &v["cluster"];
            let labels: Vec<String> = c["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, x)| format!("{k}={}", text(x)))
                .collect();
            let groups: Vec<String> = c["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            let _ =
                writeln!(
                out,
                "Cluster {}/{}  state: {}  agent: {}  last seen: {}{}\nlabels: {}\ngroups: {}\n",
                text(&c["namespace"]),
                text(&c["name"]),
                text(&c["state"]),
                text(&c["agentVersion"]),
                text(&c["lastSeen"]),
                if c["offline"] == true { " (offline)" } else { "" },
                labels.join(","),
                groups.join(",")
            );
            deployments_table(&mut out, &v["bundles"]);
            failing_section(&mut out, &v["failing"]);
        }
        (Some(Subject::Cluster), false) => clusters_table(&mut out, v),
        (Some(Subject::Group), _) => {
            let g = &v["group"];
            let mut t = Table::new(&count_header(&["GROUP", "CLUSTERS", "NOT READY"]));
            let mut row = vec![
                format!("{}/{}", text(&g["namespace"]), text(&g["name"])),
                text(&g["clusters"]),
                text(&g["nonReadyClusters"]),
            ];
            row.extend(counts(&g["summary"]));
            t.row(row);
            t.render(&mut out);
            out.push('\n');
            clusters_table(&mut out, &v["clusters"]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(cmd: &[&str]) -> StatusArgs {
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: StatusArgs,
        }
        T::try_parse_from(std::iter::once("status").chain(cmd.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn arguments_parse() {
        let a = args(&["bundle", "web", "-o", "json", "--watch", "--token", "t"]);
        assert_eq!(
            (a.subject, a.name.as_deref(), a.output, a.watch),
            (Some(Subject::Bundle), Some("web"), Output::Json, true)
        );
        let a = args(&["--token", "t"]);
        assert_eq!(a.subject, None);
    }

    #[test]
    fn cluster_view_lists_failing_resources_with_field_paths() {
        let v = serde_json::json!({
            "cluster": {"namespace": "fleet-default", "name": "c1", "state": "Modified", "agentVersion": "v1",
                         "lastSeen": 5, "offline": false, "labels": {"env": "prod"}, "groups": ["prod"]},
            "bundles": [{"cluster": "c1", "bundle": "web", "state": "Modified", "resources": 1, "message": "drift"}],
            "failing": [{"cluster": "c1", "bundle": "web", "state": "Modified", "message": "drift", "nonReady": [],
                         "modified": [{"kind": "Deployment", "namespace": "web", "name": "web", "paths": ["spec.replicas"]}]}]
        });
        let out = render(&v, &args(&["cluster", "c1", "--token", "t"])).unwrap();
        assert!(
            out.contains("Cluster fleet-default/c1  state: Modified"),
            "{out}"
        );
        assert!(out.contains("Deployment/web/web"), "{out}");
        assert!(out.contains("modified: spec.replicas"), "{out}");
    }

    #[test]
    fn overview_counts_every_state() {
        let v = serde_json::json!({
            "clusters": 3, "offline": {"count": 1, "items": [{"name": "c3"}]},
            "summary": {"desiredReady": 3, "ready": 2, "errApplied": 1},
            "gitrepos": [], "groups": [],
            "bundles": [{"namespace": "ns", "name": "web", "state": "ErrApplied", "displayState": "ErrApplied", "error": "",
                          "summary": {"desiredReady": 3, "ready": 2, "nonReady": 0, "waitApplied": 0, "errApplied": 1,
                                      "outOfSync": 0, "pending": 0, "modified": 0}, "rollout": null}]
        });
        let out = render(&v, &args(&["--token", "t"])).unwrap();
        assert!(
            out.contains("3 clusters, 1 offline; deployments: Ready 2, ErrApplied 1"),
            "{out}"
        );
        let line = out.lines().find(|l| l.starts_with("ns/web")).unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "ns/web",
                "ErrApplied",
                "2",
                "0",
                "0",
                "1",
                "0",
                "0",
                "0",
                "3"
            ]
        );
        assert!(out.contains("OFFLINE: c3"));
    }
}
