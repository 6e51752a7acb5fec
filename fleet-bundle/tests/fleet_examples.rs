//! Parity with the real Fleet CLI: runs `fleet-bundle build` and `fleet-bundle target` on
//! every case of `shared/fleet-examples/tests/expected/` (Fleet's own `fleet apply -o -`
//! and `fleet test` output, see `tests/test.sh` there) and compares the documents, Fleet's
//! `objectset.rio.cattle.io/*` bookkeeping aside.
//!
//! Charts Fleet downloaded from the internet are served from a local HTTP server, built
//! from the chart files Fleet embedded in the expected `bundle.yaml`; the example is copied
//! and its chart URLs pointed at that server, and the output mapped back before comparing.
//!
//! `tests/parity/fleet-examples-pending.txt` lists the checks still allowed to fail, each
//! with its reason. A listed check that passes fails the test until it is removed, so the
//! list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use fleet_bundle::bundle::HelmOptions;
use serde_json::Value;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared");
const PENDING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/parity/fleet-examples-pending.txt"
);
const BOOKKEEPING: &str = "objectset.rio.cattle.io/";

fn examples() -> PathBuf {
    Path::new(SHARED).join("fleet-examples")
}

/// One expected case: `multi-cluster/helm`.
struct Case {
    group: String,
    name: String,
}

impl Case {
    fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }
    fn expected(&self, file: &str) -> PathBuf {
        examples()
            .join("tests/expected")
            .join(&self.group)
            .join(&self.name)
            .join(file)
    }
    fn source(&self) -> PathBuf {
        examples().join(&self.group).join(&self.name)
    }
    fn multi(&self) -> bool {
        self.group == "multi-cluster"
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for group in ["single-cluster", "multi-cluster"] {
        let dir = examples().join("tests/expected").join(group);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|name| Case {
            group: group.to_string(),
            name,
        }));
    }
    out
}

fn parse_docs(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(text)
        .map(|doc| serde_json::to_value(serde_yaml::Value::deserialize(doc).unwrap()).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// `fleet apply -o -` writes each bundle as it is built, with no `---` between them; a
/// bundle starts at every top-level `apiVersion:` line.
fn split_concatenated_bundles(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        if i > 0 && line.starts_with("apiVersion: fleet.cattle.io/") {
            out.push_str("---\n");
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn strip_bookkeeping(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["labels", "annotations"] {
        if let Some(Value::Object(map)) = meta.get_mut(field) {
            map.retain(|k, _| !k.starts_with(BOOKKEEPING));
            if map.is_empty() {
                meta.remove(field);
            }
        }
    }
}

fn decode(resource: &Value) -> String {
    let content = resource
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("");
    match resource
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or("")
    {
        "" => content.to_string(),
        enc => {
            let r = fleet_bundle::bundle::BundleResource {
                name: String::new(),
                content: content.to_string(),
                encoding: enc.to_string(),
            };
            String::from_utf8_lossy(&fleet_bundle::content::decode_resource(&r).unwrap())
                .into_owned()
        }
    }
}

/// The expected output was recorded by a Fleet release before 0.12, which still carried
/// each bundle's own `fleet.yaml` as a resource; Fleet 0.12 on leaves it out
/// (internal/bundlereader/resources.go `ignoreApplyConfigs`), and so do we. Only the
/// top-level one goes: sub-bundles' fleet.yaml files stay in a parent bundle in both.
fn drop_own_fleet_yaml(mut bundle: Value) -> Value {
    if let Some(Value::Array(resources)) = bundle.pointer_mut("/spec/resources") {
        resources.retain(|r| !matches!(r["name"].as_str(), Some("fleet.yaml" | "fleet.yml")));
    }
    bundle
}

/// Bundles compared with resource contents decoded (Go's and our gzip bytes differ).
fn normalize_bundle(mut bundle: Value) -> Value {
    if let Some(Value::Array(resources)) = bundle.pointer_mut("/spec/resources") {
        let mut decoded: Vec<(String, String)> = resources
            .iter()
            .map(|r| (r["name"].as_str().unwrap_or("").to_string(), decode(r)))
            .collect();
        decoded.sort();
        *resources = decoded
            .into_iter()
            .map(|(name, content)| serde_json::json!({"name": name, "content": content}))
            .collect();
    }
    bundle
}

fn canonical(v: &Value) -> String {
    serde_json::to_string(&fleet_bundle::export::sorted(v)).unwrap()
}

/// Compares as multisets; on mismatch, describes the first documents that differ.
fn compare(expected: &[Value], actual: &[Value]) -> Result<(), String> {
    let mut e: Vec<String> = expected.iter().map(canonical).collect();
    let mut a: Vec<String> = actual.iter().map(canonical).collect();
    e.sort();
    a.sort();
    if e == a {
        return Ok(());
    }
    let only_e: Vec<&String> = e.iter().filter(|x| !a.contains(x)).collect();
    let only_a: Vec<&String> = a.iter().filter(|x| !e.contains(x)).collect();
    let show = |s: Option<&&String>| {
        s.map(|s| {
            let v: Value = serde_json::from_str(s).unwrap();
            let text = serde_yaml::to_string(&v).unwrap();
            text.chars().take(3000).collect::<String>()
        })
        .unwrap_or_else(|| "(none)".into())
    };
    Err(format!(
        "{} expected vs {} actual documents; first expected-only:\n{}\nfirst actual-only:\n{}",
        expected.len(),
        actual.len(),
        show(only_e.first()),
        show(only_a.first())
    ))
}

/// A tiny HTTP/1.1 file server for the charts, on an ephemeral local port.
struct ChartServer {
    url: String,
}

impl ChartServer {
    fn start(files: BTreeMap<String, Vec<u8>>) -> ChartServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&buf);
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let path = path.split('?').next().unwrap_or("").replace("%2B", "+");
                let response = match files.get(path.trim_start_matches('/')) {
                    Some(body) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&response);
            }
        });
        ChartServer { url }
    }
}

/// A gzipped tar of `files` under `top/`, as `helm package` lays charts out.
fn chart_archive(top: &str, files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, format!("{top}/{name}"), &data[..])
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// Charts of the expected bundles, by top directory (`guestbook`): name → bytes.
fn embedded_charts() -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let mut charts: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for case in cases() {
        let text = std::fs::read_to_string(case.expected("bundle.yaml")).unwrap();
        for bundle in parse_docs(&split_concatenated_bundles(&text)) {
            for r in bundle["spec"]["resources"].as_array().into_iter().flatten() {
                let name = r["name"].as_str().unwrap_or("");
                let Some(rest) = name.strip_prefix(".chart/") else {
                    continue;
                };
                let mut parts = rest.splitn(3, '/');
                let (_sha, top, file) = (parts.next(), parts.next(), parts.next());
                let (Some(top), Some(file)) = (top, file) else {
                    continue;
                };
                let data = match r.get("encoding").and_then(Value::as_str).unwrap_or("") {
                    "" => r["content"].as_str().unwrap_or("").as_bytes().to_vec(),
                    _ => fleet_bundle::content::decode_resource(
                        &serde_json::from_value(r.clone()).unwrap(),
                    )
                    .unwrap(),
                };
                charts
                    .entry(top.to_string())
                    .or_default()
                    .insert(file.to_string(), data);
            }
        }
    }
    charts
}

const GUESTBOOK_URL: &str =
    "https://github.com/rancher/fleet-examples/releases/download/example/guestbook-0.0.1.tgz";
const RANCHER_REPO: &str = "https://charts.rancher.io";

/// Serves every embedded chart: `guestbook-0.0.1.tgz` at the root, the rancher charts as a
/// Helm repository under `rancher/`.
fn start_chart_server() -> ChartServer {
    let mut files = BTreeMap::new();
    let mut index = String::from("apiVersion: v1\nentries:\n");
    for (top, chart_files) in embedded_charts() {
        let archive = chart_archive(&top, &chart_files);
        if top == "guestbook" {
            files.insert("guestbook-0.0.1.tgz".to_string(), archive);
            continue;
        }
        let meta: serde_yaml::Value = serde_yaml::from_slice(&chart_files["Chart.yaml"]).unwrap();
        let version = meta["version"].as_str().unwrap().to_string();
        let file = format!("{top}-{version}.tgz");
        let digest = fleet_bundle::digest::sha256_hex(&archive);
        index.push_str(&format!(
            "  {top}:\n  - apiVersion: v2\n    name: {top}\n    version: {version}\n    digest: {digest}\n    urls: [{file}]\n"
        ));
        files.insert(format!("rancher/{file}"), archive);
    }
    files.insert("rancher/index.yaml".to_string(), index.into_bytes());
    ChartServer::start(files)
}

/// Copies `src` to `dst`, pointing chart URLs at `server`. Returns the replacements that
/// map our output back to what Fleet saw (URLs and `.chart/<sha256>` prefixes).
fn copy_example(src: &Path, dst: &Path, server: &str) -> Vec<(String, String)> {
    let local_guestbook = format!("{server}/guestbook-0.0.1.tgz");
    let local_repo = format!("{server}/rancher");
    let mut back = Vec::new();
    for entry in walkdir::WalkDir::new(src) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(src).unwrap();
        let target = dst.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            continue;
        }
        let data = std::fs::read(entry.path()).unwrap();
        let name = entry.file_name().to_string_lossy();
        if name == "fleet.yaml" {
            let text = String::from_utf8(data).unwrap();
            let parsed = fleet_bundle::fleet_yaml::parse(entry.path(), &text).unwrap();
            let mut helms: Vec<HelmOptions> =
                parsed.fleet_yaml.spec.options.helm.into_iter().collect();
            helms.extend(
                parsed
                    .fleet_yaml
                    .target_customizations
                    .into_iter()
                    .filter_map(|t| t.options.helm),
            );
            for mut helm in helms {
                // Fleet writes repository URLs with a trailing `/` before hashing them.
                if !helm.repo.is_empty() && !helm.repo.ends_with('/') {
                    helm.repo.push('/');
                }
                let local = HelmOptions {
                    chart: helm.chart.replace(GUESTBOOK_URL, &local_guestbook),
                    repo: helm.repo.replace(RANCHER_REPO, &local_repo),
                    ..helm.clone()
                };
                back.push((
                    fleet_bundle::chart_source::chart_prefix(&local),
                    fleet_bundle::chart_source::chart_prefix(&helm),
                ));
            }
            let rewritten = text
                .replace(GUESTBOOK_URL, &local_guestbook)
                .replace(RANCHER_REPO, &local_repo);
            std::fs::write(&target, rewritten).unwrap();
        } else {
            std::fs::write(&target, data).unwrap();
        }
    }
    back.push((local_guestbook, GUESTBOOK_URL.to_string()));
    back.push((local_repo, RANCHER_REPO.to_string()));
    back
}

/// Runs our CLI with `args` (the example path among them) as the parity script runs Fleet.
fn run_cli(args: &[&std::ffi::OsStr], cache: &Path) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_fleet-bundle"))
        .args(args)
        .env("COMMIT", "fake")
        .env("FLEET_BUNDLE_CHART_CACHE", cache)
        .output()
        .map_err(|e| format!("running fleet-bundle: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn map_back(mut text: String, back: &[(String, String)]) -> String {
    for (ours, fleets) in back {
        text = text.replace(ours.as_str(), fleets);
    }
    text
}

/// Runs one check: `Ok` when our output matches Fleet's.
fn check(case: &Case, file: &str, server: &ChartServer, cache: &Path) -> Result<(), String> {
    let work = tempfile::tempdir().unwrap();
    let back = copy_example(&case.source(), work.path(), &server.url);
    let expected_text = std::fs::read_to_string(case.expected(file)).unwrap();
    let expected = parse_docs(&split_concatenated_bundles(&expected_text));
    if file == "bundle.yaml" {
        let ns = if case.multi() {
            "fleet-default"
        } else {
            "fleet-local"
        };
        let path = work.path().as_os_str();
        let args: [&std::ffi::OsStr; 5] = [
            "build".as_ref(),
            "-n".as_ref(),
            ns.as_ref(),
            path,
            "test".as_ref(),
        ];
        let out = run_cli(&args, cache)?;
        // Compressed contents are decoded before mapping our chart URLs back to Fleet's.
        let decoded: Vec<Value> = parse_docs(&out).into_iter().map(normalize_bundle).collect();
        let out = map_back(serde_json::to_string(&decoded).unwrap(), &back);
        dump(case, file, &out);
        let actual: Vec<Value> = serde_json::from_str(&out).unwrap();
        let expected: Vec<Value> = expected
            .into_iter()
            .map(drop_own_fleet_yaml)
            .map(normalize_bundle)
            .collect();
        return compare(&expected, &actual);
    }
    let env = file.trim_end_matches("-output.yaml");
    let label = format!("env={env}");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "target".as_ref(),
        work.path().as_os_str(),
        "-o".as_ref(),
        "json".as_ref(),
    ];
    if case.multi() {
        let more: [&std::ffi::OsStr; 4] = [
            "-n".as_ref(),
            "fleet-default".as_ref(),
            "-l".as_ref(),
            label.as_ref(),
        ];
        args.extend(more);
    }
    let out = run_cli(&args, cache)?;
    let out = map_back(out, &back);
    dump(case, file, &out);
    let report: Vec<Value> = serde_json::from_str(&out)
        .map_err(|e| format!("target -o json printed invalid JSON: {e}"))?;
    // `fleet test` renders the example directory itself: our bundle named `test`.
    let mut actual: Vec<Value> = report
        .iter()
        .filter(|b| b["bundle"] == "test")
        .flat_map(|b| b["objects"].as_array().cloned().unwrap_or_default())
        .collect();
    let mut expected = expected;
    actual.iter_mut().for_each(strip_bookkeeping);
    expected.iter_mut().for_each(strip_bookkeeping);
    compare(&expected, &actual)
}

/// With `FLEET_EXAMPLES_DUMP=<dir>`, keeps our output of every check for inspection.
fn dump(case: &Case, file: &str, out: &str) {
    if let Some(dir) = std::env::var_os("FLEET_EXAMPLES_DUMP") {
        let path = Path::new(&dir).join(case.id()).join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, out).unwrap();
    }
}

fn pending() -> BTreeMap<String, String> {
    std::fs::read_to_string(PENDING)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((id, reason)) => (id.to_string(), reason.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[test]
fn fleet_examples_match_fleet_cli_output() {
    let server = start_chart_server();
    let cache = tempfile::tempdir().unwrap();
    let pending = pending();
    let mut unexpected_failures = Vec::new();
    let mut now_passing = Vec::new();
    let mut seen = BTreeSet::new();
    for case in cases() {
        for file in [
            "bundle.yaml",
            "dev-output.yaml",
            "test-output.yaml",
            "prod-output.yaml",
        ] {
            let id = format!("{}/{file}", case.id());
            seen.insert(id.clone());
            let result = check(&case, file, &server, cache.path());
            match (result, pending.get(&id)) {
                (Ok(()), None) => eprintln!("ok      {id}"),
                (Ok(()), Some(_)) => now_passing.push(id),
                (Err(e), Some(reason)) => eprintln!(
                    "pending {id} ({reason}): {}",
                    e.lines().next().unwrap_or("")
                ),
                (Err(e), None) => unexpected_failures.push(format!("{id}: {e}")),
            }
        }
    }
    let stale: Vec<&String> = pending.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(
        stale.is_empty(),
        "pending list names unknown checks: {stale:?}"
    );
    assert!(
        now_passing.is_empty(),
        "these checks pass now; remove them from tests/parity/fleet-examples-pending.txt: {now_passing:?}"
    );
    assert!(
        unexpected_failures.is_empty(),
        "{} check(s) differ from Fleet:\n{}",
        unexpected_failures.len(),
        unexpected_failures.join("\n\n")
    );
}

#[test]
fn chart_archives_round_trip_through_the_loader() {
    let mut files = BTreeMap::new();
    files.insert(
        "Chart.yaml".to_string(),
        b"apiVersion: v2\nname: demo\nversion: 1.0.0\n".to_vec(),
    );
    files.insert("templates/a.yaml".to_string(), b"kind: A\n".to_vec());
    let archive = chart_archive("demo", &files);
    let layout = fleet_bundle::chart_source::archive_layout(&archive, "demo.tgz").unwrap();
    let names: Vec<&str> = layout.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["demo/Chart.yaml", "demo/templates/a.yaml"]);
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&layout[1].1),
        "a2luZDogQQo="
    );
}

fn run_raw(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleet-bundle"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_non_zero_naming_the_file_and_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("bad")).unwrap();
    std::fs::create_dir_all(dir.join("good")).unwrap();
    std::fs::write(dir.join("bad/fleet.yaml"), "namespace: x\npaused: maybe\n").unwrap();
    std::fs::write(
        dir.join("bad/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
    )
    .unwrap();
    std::fs::write(dir.join("good/fleet.yaml"), "namespace: ok\n").unwrap();
    std::fs::write(
        dir.join("good/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: g}\n",
    )
    .unwrap();

    let (ok, stdout, stderr) = run_raw(&["build".as_ref(), dir.as_os_str(), "repo".as_ref()]);
    assert!(!ok, "a failing bundle fails the command");
    assert!(
        stderr.contains("bad/fleet.yaml:2:9: paused: invalid type"),
        "{stderr}"
    );
    assert!(
        stdout.contains("name: repo-good"),
        "the good bundle is still printed: {stdout}"
    );

    let (ok, _, stderr) = run_raw(&[
        "target".as_ref(),
        dir.as_os_str(),
        "-l".as_ref(),
        "novalue".as_ref(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("--label") && stderr.contains("novalue"),
        "{stderr}"
    );

    let missing = dir.join("does-not-exist");
    let (ok, _, stderr) = run_raw(&["build".as_ref(), missing.as_os_str(), "repo".as_ref()]);
    assert!(!ok);
    assert!(stderr.contains("does-not-exist"), "{stderr}");

    std::fs::write(dir.join("good/broken.yaml"), "a: [unclosed\n").unwrap();
    let good = dir.join("good");
    let (ok, _, stderr) = run_raw(&["target".as_ref(), good.as_os_str()]);
    assert!(!ok);
    assert!(stderr.contains("broken.yaml: invalid YAML"), "{stderr}");
}

#[test]
fn target_json_reports_namespace_and_a_stable_deployment_id() {
    let dir = examples().join("multi-cluster/manifests");
    let json = |env: &str| -> Vec<Value> {
        let label = format!("env={env}");
        let (ok, stdout, stderr) = run_raw(&[
            "target".as_ref(),
            dir.as_os_str(),
            "-o".as_ref(),
            "json".as_ref(),
            "-l".as_ref(),
            label.as_ref(),
        ]);
        assert!(ok, "{stderr}");
        assert!(stderr.contains(&format!("# Matched: {env}")), "{stderr}");
        serde_json::from_str(&stdout).unwrap()
    };
    let dev = json("dev");
    assert_eq!(dev.len(), 1);
    assert_eq!(dev[0]["namespace"], "fleet-mc-manifest-example");
    assert_eq!(dev[0]["target"], "dev");
    let id = dev[0]["deploymentID"].as_str().unwrap();
    assert!(id.starts_with("s-") && id.contains(':'), "{id}");
    assert_eq!(
        json("dev")[0]["deploymentID"],
        dev[0]["deploymentID"],
        "stable"
    );
    assert_ne!(
        json("prod")[0]["deploymentID"],
        dev[0]["deploymentID"],
        "overlays differ"
    );
}
