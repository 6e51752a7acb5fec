//! Hostile and broken input (issue 10), black-box through the shipped binaries: Git
//! checkouts with escaping symlinks, YAML bombs, bad file names and huge files; chart
//! archives with escaping entries (`../`, absolute paths), links and decompression
//! bombs; templates that recurse forever; kustomizations with cycles and escaping or
//! remote resources; and a real manager's agent API against oversized and malformed
//! bodies, slowloris clients, forged status and a flood of registrations. Each case
//! asserts a clear error naming the file (or an HTTP status with a JSON error body) AND
//! that the good input next to it still works.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::fleet::{FleetOptions, TestFleet, ADMIN_TOKEN};
use e2e::process::bin_path;
use serde_json::{json, Value};

/// What a finished command left.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `fleet-bundle ARGS` in `cwd`, killed after `timeout` (a hang fails the test).
fn fleet_bundle(cwd: &Path, args: &[&str], timeout: Duration) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("stdout");
    let err = out_dir.path().join("stderr");
    let start = Instant::now();
    let mut child = Command::new(bin_path("fleet-bundle").unwrap())
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "fleet-bundle {args:?} did not finish within {timeout:?} (hang); stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        stdout: String::from_utf8_lossy(&std::fs::read(&out).unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err).unwrap()).into_owned(),
        took: start.elapsed(),
    }
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A bundle directory `dir` with a fleet.yaml and one ConfigMap named `name`.
fn bundle(dir: &Path, name: &str) {
    write(&dir.join("fleet.yaml"), "defaultNamespace: app\n");
    write(
        &dir.join("cm.yaml"),
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"),
    );
}

/// A checkout with bundles `good1`, `good2` and `bad` (which the caller then breaks).
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for b in ["good1", "good2", "bad"] {
        bundle(&dir.path().join(b), b);
    }
    dir
}

/// `build` of `co` fails, names `file` and `cause` on stderr, and still prints the good
/// bundles (and not the bad one) on stdout.
fn assert_bad_bundle_reported(co: &Path, file: &str, causes: &[&str]) {
    let run = fleet_bundle(co, &["build", ".", "t"], Duration::from_secs(30));
    assert_ne!(run.code, Some(0), "a broken bundle fails the build");
    assert!(run.code.is_some(), "exited, not killed by a signal");
    assert!(
        run.stderr.contains(file),
        "stderr names {file}:\n{}",
        run.stderr
    );
    assert!(
        causes.iter().any(|c| run.stderr.contains(c)),
        "stderr names the cause (one of {causes:?}):\n{}",
        run.stderr
    );
    for good in ["t-good1", "t-good2"] {
        assert!(
            run.stdout.contains(&format!("name: {good}\n")),
            "the good bundle {good} is still printed:\n{}",
            run.stdout
        );
    }
    assert!(
        !run.stdout.contains("name: t-bad\n"),
        "the bad bundle is not printed"
    );
}

#[test]
fn build_refuses_symlink_out_of_the_checkout_and_keeps_the_others() {
    let co = checkout();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  password: hunter2\n");
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        co.path().join("bad/leak.yaml"),
    )
    .unwrap();
    assert_bad_bundle_reported(
        co.path(),
        "bad/leak.yaml",
        &["symlink points outside the checkout"],
    );
    let run = fleet_bundle(co.path(), &["build", ".", "t"], Duration::from_secs(30));
    assert!(
        !run.stdout.contains("hunter2") && !run.stdout.contains("stolen"),
        "nothing from outside the checkout is printed"
    );
}

#[test]
fn build_refuses_yaml_alias_bomb_in_fleet_yaml() {
    let co = checkout();
    // Billion laughs: 9^11 expansions of "lol" if aliases were expanded naively.
    let mut y = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    let mut prev = 'a';
    for c in 'b'..='l' {
        let p = format!("*{prev}");
        y.push_str(&format!("{c}: &{c} [{}]\n", [p.as_str(); 9].join(", ")));
        prev = c;
    }
    y.push_str(&format!(
        "defaultNamespace: app\nlabels:\n  bomb: *{prev}\n"
    ));
    write(&co.path().join("bad/fleet.yaml"), y);
    let start = Instant::now();
    assert_bad_bundle_reported(
        co.path(),
        "bad/fleet.yaml",
        &["repetition limit", "alias", "too many"],
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "refused quickly, not after expanding the bomb: {:?}",
        start.elapsed()
    );
}

#[test]
fn build_refuses_non_utf8_file_name() {
    use std::os::unix::ffi::OsStrExt;
    let co = checkout();
    let name = std::ffi::OsStr::from_bytes(b"bad\xff.yaml");
    write(
        &co.path().join("bad").join(name),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
    );
    assert_bad_bundle_reported(co.path(), "bad/bad", &["not valid UTF-8"]);
}

#[test]
fn build_refuses_file_over_the_size_limit() {
    let co = checkout();
    let mut big = b"# ".to_vec();
    big.resize(10 * 1024 * 1024 + 4096, b'a');
    write(&co.path().join("bad/huge.yaml"), big);
    assert_bad_bundle_reported(
        co.path(),
        "bad/huge.yaml",
        &["over the limit of 10485760 bytes"],
    );
}

#[test]
fn build_handles_thousands_of_bundles() {
    let co = tempfile::tempdir().unwrap();
    for i in 0..2000 {
        bundle(&co.path().join(format!("b{i:04}")), &format!("c{i}"));
    }
    let run = fleet_bundle(co.path(), &["build", ".", "t"], Duration::from_secs(60));
    assert_eq!(run.code, Some(0), "stderr:\n{}", run.stderr);
    assert_eq!(run.stdout.matches("kind: Bundle\n").count(), 2000);
    assert!(run.stdout.contains("name: t-b0000\n") && run.stdout.contains("name: t-b1999\n"));
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
}

#[test]
fn build_handles_deeply_nested_directories() {
    let co = tempfile::tempdir().unwrap();
    let mut deep = co.path().to_path_buf();
    for _ in 0..200 {
        deep.push("d");
    }
    bundle(&deep, "deep");
    bundle(&co.path().join("top"), "top");
    let run = fleet_bundle(co.path(), &["build", ".", "t"], Duration::from_secs(30));
    // Either built (with a bounded name) or refused with a clear error; never a crash.
    match run.code {
        Some(0) => {
            assert_eq!(run.stdout.matches("kind: Bundle\n").count(), 2);
            assert!(run.stdout.contains("name: t-top\n"));
            for line in run.stdout.lines().filter(|l| l.starts_with("  name: t-")) {
                assert!(
                    line.len() <= 8 + 63,
                    "bundle name is a valid k8s name: {line}"
                );
            }
        }
        Some(_) => {
            assert!(
                run.stderr.contains("d/d/d") || run.stderr.contains("deep"),
                "{}",
                run.stderr
            );
            assert!(run.stdout.contains("name: t-top\n"));
        }
        None => panic!("killed by a signal: {}", run.stderr),
    }
}

// ---- Chart archives and templates ----

/// The ustar header of a regular file (its content follows, padded to 512 bytes).
fn tar_header(name: &str, size: u64) -> [u8; 512] {
    tar_entry_header(name, size, b'0', "")
}

/// The ustar header of an entry of type `typeflag` (`0` file, `1` hard link, `2`
/// symbolic link) with `link` as the link target.
fn tar_entry_header(name: &str, size: u64, typeflag: u8, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    assert!(name.len() < 100 && link.len() < 100);
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[100..107].copy_from_slice(b"0000644");
    h[108..115].copy_from_slice(b"0000000");
    h[116..123].copy_from_slice(b"0000000");
    h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    h[136..147].copy_from_slice(b"00000000000");
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// Writes `path` as a gzip'd tar of `entries` (name, content) plus, when `zeros` is
/// given, an entry of that many zero bytes (streamed, never held in memory).
fn chart_tgz(path: &Path, entries: &[(&str, &str)], zeros: Option<(&str, u64)>) {
    chart_tgz_with_link(path, entries, None, zeros)
}

/// [`chart_tgz`] with, when `link` is given, a link entry `(typeflag, name, target)`
/// after the files.
fn chart_tgz_with_link(
    path: &Path,
    entries: &[(&str, &str)],
    link: Option<(u8, &str, &str)>,
    zeros: Option<(&str, u64)>,
) {
    let mut gz = Command::new("gzip")
        .args(["-1", "-c"])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(path).unwrap())
        .spawn()
        .expect("gzip is installed");
    {
        let mut w = gz.stdin.take().unwrap();
        let pad = |w: &mut std::process::ChildStdin, n: u64| {
            let rem = (512 - n % 512) % 512;
            w.write_all(&vec![0u8; rem as usize]).unwrap();
        };
        for (name, data) in entries {
            w.write_all(&tar_header(name, data.len() as u64)).unwrap();
            w.write_all(data.as_bytes()).unwrap();
            pad(&mut w, data.len() as u64);
        }
        if let Some((typeflag, name, target)) = link {
            w.write_all(&tar_entry_header(name, 0, typeflag, target))
                .unwrap();
        }
        if let Some((name, size)) = zeros {
            w.write_all(&tar_header(name, size)).unwrap();
            let chunk = vec![0u8; 1 << 20];
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len() as u64);
                w.write_all(&chunk[..n as usize]).unwrap();
                left -= n;
            }
            pad(&mut w, size);
        }
        w.write_all(&[0u8; 1024]).unwrap();
    }
    assert!(gz.wait().unwrap().success());
}

const CHART_YAML: &str = "apiVersion: v2\nname: c\nversion: 0.1.0\n";
const CM_TEMPLATE: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n";

fn base_entries() -> Vec<(&'static str, &'static str)> {
    vec![
        ("c/Chart.yaml", CHART_YAML),
        ("c/templates/cm.yaml", CM_TEMPLATE),
    ]
}

/// The same chart without the hostile entry renders (the archive writer is sound).
fn assert_good_chart_renders(dir: &Path) {
    chart_tgz(&dir.join("good.tgz"), &base_entries(), None);
    let run = fleet_bundle(dir, &["template", "r", "good.tgz"], Duration::from_secs(30));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.contains("# Source: c/templates/cm.yaml"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("name: r\n"), "{}", run.stdout);
}

fn assert_chart_refused(dir: &Path, archive: &str, entry: &str, causes: &[&str]) {
    let run = fleet_bundle(dir, &["template", "r", archive], Duration::from_secs(30));
    assert_ne!(run.code, Some(0), "refused; stdout:\n{}", run.stdout);
    assert!(run.code.is_some(), "exited, not killed by a signal");
    assert!(
        run.stderr.contains(archive),
        "names the archive:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{entry:?}")) || run.stderr.contains(entry),
        "names the entry {entry}:\n{}",
        run.stderr
    );
    assert!(
        causes.iter().any(|c| run.stderr.contains(c)),
        "names the cause (one of {causes:?}):\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing rendered:\n{}", run.stdout);
}

#[test]
fn template_refuses_parent_dir_entry_in_chart_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = base_entries();
    entries.push(("c/../../evil.yaml", "x: 1\n"));
    chart_tgz(&dir.path().join("dotdot.tgz"), &entries, None);
    assert_chart_refused(
        dir.path(),
        "dotdot.tgz",
        "c/../../evil.yaml",
        &["parent directory"],
    );
    assert_good_chart_renders(dir.path());
}

#[test]
fn template_refuses_absolute_path_inside_chart_directory() {
    // Helm's loader strips the first path component, then refuses an absolute rest.
    let dir = tempfile::tempdir().unwrap();
    let mut entries = base_entries();
    entries.push(("c//etc/evil.yaml", "x: 1\n"));
    chart_tgz(&dir.path().join("abs.tgz"), &entries, None);
    assert_chart_refused(
        dir.path(),
        "abs.tgz",
        "c//etc/evil.yaml",
        &["absolute path"],
    );
    assert_good_chart_renders(dir.path());
}

/// Helm drops an entry's first path component, so it would load `/tmp/evil.yaml` as the
/// chart file `tmp/evil.yaml` without a word; we refuse it (content that no reviewer of
/// the archive would look for under that name must not be loaded silently).
#[test]
fn template_refuses_leading_slash_absolute_entry() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = base_entries();
    entries.push(("/tmp/evil.yaml", "x: 1\n"));
    chart_tgz(&dir.path().join("abs.tgz"), &entries, None);
    assert_chart_refused(dir.path(), "abs.tgz", "/tmp/evil.yaml", &["absolute path"]);
    assert_good_chart_renders(dir.path());
}

#[test]
fn template_refuses_symlink_and_hard_link_entries_in_chart_archive() {
    for (typeflag, target) in [(b'2', "/etc/passwd"), (b'1', "c/Chart.yaml")] {
        let dir = tempfile::tempdir().unwrap();
        chart_tgz_with_link(
            &dir.path().join("link.tgz"),
            &base_entries(),
            Some((typeflag, "c/templates/leak.yaml", target)),
            None,
        );
        assert_chart_refused(
            dir.path(),
            "link.tgz",
            "c/templates/leak.yaml",
            &["links are not allowed"],
        );
        assert_good_chart_renders(dir.path());
    }
}

#[test]
fn template_refuses_decompression_bomb() {
    let dir = tempfile::tempdir().unwrap();
    chart_tgz(
        &dir.path().join("bomb.tgz"),
        &base_entries(),
        Some(("c/templates/big.yaml", 200 << 20)),
    );
    let packed = std::fs::metadata(dir.path().join("bomb.tgz"))
        .unwrap()
        .len();
    assert!(
        packed < 2 << 20,
        "a bomb: {packed} bytes packed, 200 MiB unpacked"
    );
    assert_chart_refused(
        dir.path(),
        "bomb.tgz",
        "c/templates/big.yaml",
        &["larger than the maximum file size"],
    );
    assert_good_chart_renders(dir.path());
}

fn chart_dir(root: &Path, name: &str, values: &str, templates: &[(&str, &str)]) {
    write(
        &root.join(name).join("Chart.yaml"),
        format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"),
    );
    write(&root.join(name).join("values.yaml"), values);
    for (file, text) in templates {
        write(&root.join(name).join("templates").join(file), text);
    }
}

#[test]
fn template_include_recursing_forever_fails_naming_the_template() {
    let dir = tempfile::tempdir().unwrap();
    chart_dir(
        dir.path(),
        "rec",
        "",
        &[
            (
                "_helpers.tpl",
                "{{- define \"rec.loop\" -}}{{ include \"rec.loop\" . }}{{- end -}}\n",
            ),
            (
                "cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ include \"rec.loop\" . | quote }}\n",
            ),
        ],
    );
    let run = fleet_bundle(
        dir.path(),
        &["template", "r", "rec"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("rec/templates/_helpers.tpl"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("maximum template depth"),
        "{}",
        run.stderr
    );
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
    // A chart with a bounded recursion of the same shape renders.
    chart_dir(
        dir.path(),
        "ok",
        "n: 3\n",
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ .Values.n | quote }}\n",
        )],
    );
    let run = fleet_bundle(
        dir.path(),
        &["template", "r", "ok"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

#[test]
fn template_tpl_loop_fails_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    chart_dir(
        dir.path(),
        "tplloop",
        "loop: \"{{ tpl .Values.loop . }}\"\n",
        &[(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: {{ tpl .Values.loop . | quote }}\n",
        )],
    );
    let run = fleet_bundle(
        dir.path(),
        &["template", "r", "tplloop"],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("maximum template depth"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("gotpl") || run.stderr.contains("tplloop/templates/cm.yaml"),
        "names the template being evaluated:\n{}",
        run.stderr
    );
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

// ---- Kustomize ----

fn kustomize(cwd: &Path, args: &[&str]) -> Run {
    let mut all = vec!["kustomize"];
    all.extend_from_slice(args);
    fleet_bundle(cwd, &all, Duration::from_secs(30))
}

fn good_kustomization(dir: &Path) {
    write(&dir.join("kustomization.yaml"), "resources:\n- cm.yaml\n");
    write(
        &dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n",
    );
}

#[test]
fn kustomize_resources_cycle_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("a/kustomization.yaml"),
        "resources:\n- ../b\n",
    );
    write(
        &dir.path().join("b/kustomization.yaml"),
        "resources:\n- ../a\n",
    );
    let run = kustomize(dir.path(), &["a"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("cycle"), "{}", run.stderr);
    assert!(
        run.stderr.contains("/a -> ") && run.stderr.contains("/b"),
        "names the directories of the cycle:\n{}",
        run.stderr
    );
    good_kustomization(&dir.path().join("ok"));
    let run = kustomize(dir.path(), &["ok"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("name: fine"));
}

#[test]
fn kustomize_refuses_resources_outside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("secret.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\nstringData:\n  password: hunter2\n",
    );
    let root = dir.path().join("repo/bundle");
    std::fs::create_dir_all(&root).unwrap();
    let root_s = root.to_str().unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.yaml"), root.join("link.yaml")).unwrap();
    for entry in ["../../secret.yaml", "/etc/passwd", "link.yaml"] {
        write(
            &root.join("kustomization.yaml"),
            format!("resources:\n- {entry}\n"),
        );
        let run = kustomize(dir.path(), &["--root", root_s, root_s]);
        assert_eq!(run.code, Some(1), "{entry}: {}", run.stderr);
        assert!(
            run.stderr.contains("kustomization.yaml") && run.stderr.contains(entry),
            "names the file and the entry {entry}:\n{}",
            run.stderr
        );
        assert!(run.stderr.contains("outside the root"), "{}", run.stderr);
        assert!(!run.stdout.contains("hunter2") && !run.stdout.contains("root:"));
    }
    good_kustomization(&root);
    let run = kustomize(dir.path(), &["--root", root_s, root_s]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("name: fine"));
}

#[test]
fn kustomize_refuses_remote_resources() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "https://raw.githubusercontent.com/kubernetes/website/main/content/en/examples/pods/simple-pod.yaml",
        "github.com/kubernetes-sigs/kustomize/examples/helloWorld?ref=v1.0.6",
        "http://127.0.0.1:9/x.yaml",
    ] {
        write(
            &dir.path().join("k/kustomization.yaml"),
            format!("resources:\n- cm.yaml\n- {url}\n"),
        );
        write(
            &dir.path().join("k/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n",
        );
        let run = kustomize(dir.path(), &["k"]);
        assert_eq!(run.code, Some(1), "{url}: {}", run.stderr);
        assert!(
            run.stderr.contains("k/kustomization.yaml") && run.stderr.contains(url),
            "names the file and the URL:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("remote") || run.stderr.contains("not supported"),
            "{}",
            run.stderr
        );
        assert!(run.took < Duration::from_secs(15), "no network fetch: {:?}", run.took);
    }
    good_kustomization(&dir.path().join("ok"));
    let run = kustomize(dir.path(), &["ok"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

// ---- The agent API of a real manager ----

async fn fleet(files: &[(&str, &str)]) -> TestFleet {
    TestFleet::start(FleetOptions {
        files: files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect(),
        ..FleetOptions::default()
    })
    .await
    .unwrap()
}

fn registration_token(f: &TestFleet) -> String {
    let out = f.cli(&["token", "create", "--ttl", "1h"]).unwrap();
    out.lines().last().unwrap().trim().to_string()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Registers cluster `name` with `labels`; (namespace, credential).
async fn register(f: &TestFleet, token: &str, name: &str, labels: Value) -> (String, String) {
    let resp = http()
        .post(format!("{}/agent/v1/register", f.manager_url()))
        .bearer_auth(token)
        .json(&json!({"clusterName": name, "labels": labels, "agentVersion": "hostile"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "registering {name}");
    let body: Value = resp.json().await.unwrap();
    (
        body["namespace"].as_str().unwrap().to_string(),
        body["credential"].as_str().unwrap().to_string(),
    )
}

async fn desired(f: &TestFleet, credential: &str) -> (u16, Value, Duration) {
    let start = Instant::now();
    let resp = http()
        .get(format!("{}/agent/v1/desired", f.manager_url()))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, start.elapsed())
}

async fn post_status(f: &TestFleet, credential: &str, report: &Value) -> u16 {
    http()
        .post(format!("{}/agent/v1/status", f.manager_url()))
        .bearer_auth(credential)
        .json(report)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Asserts a JSON error body `{code, message}`.
fn assert_json_error(body: &str) -> Value {
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("error body is JSON ({e}): {body:?}"));
    assert!(
        v["code"].as_str().is_some_and(|c| !c.is_empty())
            && v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error body has code and message: {v}"
    );
    v
}

/// POSTs `len` bytes of JSON-ish filler to `path` over raw TCP, writing the body from
/// another thread while reading the answer, so an early answer (before the body was
/// sent) is seen; (status, body).
fn post_huge(addr: std::net::SocketAddr, path: &str, bearer: &str, len: usize) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 64 << 10];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            if w.write_all(&chunk[..n]).is_err() {
                return false;
            }
            left -= n;
        }
        true
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if got.is_empty() => panic!("no answer to a {len}-byte body: {e}"),
            Err(_) => break,
        }
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let cl = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if cl.is_some_and(|cl| body.len() >= cl) {
                break;
            }
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_api_rejects_oversized_and_malformed_bodies() {
    let f = fleet(&[]).await;
    let token = registration_token(&f);
    let (_, cred) = register(&f, &token, "big", json!({"env": "a"})).await;
    let url = format!("{}/agent/v1/status", f.manager_url());

    let (status, body) = post_huge(f.manager_addr, "/agent/v1/status", &cred, 50 << 20);
    assert_eq!(status, 413, "{body}");
    assert_json_error(&body);

    for bad in [
        "{",
        "{\"agentVersion\": 1, \"bundles\": []}",
        "[]",
        "\u{0}\u{1}",
    ] {
        let resp = http()
            .post(&url)
            .bearer_auth(&cred)
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            status == 400 || status == 422,
            "malformed {bad:?} → 400/422, got {status}: {text}"
        );
        assert_json_error(&text);
    }
    let resp = http()
        .post(format!("{}/agent/v1/register", f.manager_url()))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"clusterName\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_json_error(&resp.text().await.unwrap());

    // The same agent still works.
    let ok = post_status(
        &f,
        &cred,
        &json!({"agentVersion": "hostile", "bundles": []}),
    )
    .await;
    assert_eq!(ok, 204);
    let (status, body, _) = desired(&f, &cred).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clusterName"], "big");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_clients_are_cut_and_other_agents_unaffected() {
    let f = fleet(&[]).await;
    let token = registration_token(&f);
    let (_, cred) = register(&f, &token, "patient", json!({"env": "a"})).await;
    let addr = f.manager_addr;
    let slow = tokio::task::spawn_blocking(move || {
        let request =
            b"GET /agent/v1/desired HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut conns: Vec<(TcpStream, Option<Duration>)> = (0..20)
            .map(|_| {
                let s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                (s, None)
            })
            .collect();
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(25) && conns.iter().any(|c| c.1.is_none()) {
            for (s, cut) in conns.iter_mut().filter(|c| c.1.is_none()) {
                let sent = s.write_all(&request[i % request.len()..][..1]).is_ok();
                let mut buf = [0u8; 256];
                let closed = match s.read(&mut buf) {
                    Ok(_) => true, // EOF, or an error answer (then the close follows)
                    Err(e) => !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ),
                };
                if !sent || closed {
                    *cut = Some(start.elapsed());
                }
            }
            i += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
        conns.into_iter().map(|c| c.1).collect::<Vec<_>>()
    });
    // While the slow clients trickle, another agent is answered quickly.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (status, body, took) = desired(&f, &cred).await;
        assert_eq!(status, 200, "{body}");
        assert!(took < Duration::from_secs(2), "desired took {took:?}");
    }
    let cuts = slow.await.unwrap();
    for (i, cut) in cuts.iter().enumerate() {
        let cut = cut.unwrap_or_else(|| panic!("slow client {i} still connected after 25 s"));
        assert!(
            cut <= Duration::from_secs(16),
            "slow client {i} cut after {cut:?}"
        );
    }
    let (status, _, _) = desired(&f, &cred).await;
    assert_eq!(status, 200);
}

const SHARED_FLEET_YAML: &str = "defaultNamespace: app\n";
const ONLY_A_FLEET_YAML: &str = "defaultNamespace: app\ntargetCustomizations:\n- name: not-b\n  clusterSelector:\n    matchLabels:\n      env: b\n  doNotDeploy: true\n";
const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n";

/// (bundle, deploymentID) of what `credential` is told to run, once it has `n` bundles.
async fn wait_deployments(f: &TestFleet, credential: &str, n: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body, _) = desired(f, credential).await;
        assert_eq!(status, 200, "{body}");
        let deps: Vec<(String, String)> = body["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["bundle"].as_str().unwrap().to_string(),
                    d["deploymentID"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if deps.len() == n {
            return deps;
        }
        assert!(Instant::now() < deadline, "{n} deployments: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn report(ns: &str, bundles: &[(&str, &str, &str, &str)]) -> Value {
    json!({
        "agentVersion": "hostile",
        "bundles": bundles.iter().enumerate().map(|(i, (b, id, state, msg))| json!({
            "bundle": b, "namespace": ns, "deploymentID": id, "appliedDeploymentID": id,
            "state": state, "message": msg, "sequence": i + 1,
        })).collect::<Vec<_>>(),
    })
}

async fn admin_get(f: &TestFleet, path: &str) -> Value {
    let resp = http()
        .get(format!("{}{path}", f.manager_url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_status_does_not_change_another_clusters_status() {
    let f = fleet(&[
        ("shared/fleet.yaml", SHARED_FLEET_YAML),
        ("shared/cm.yaml", CM),
        ("only-a/fleet.yaml", ONLY_A_FLEET_YAML),
        ("only-a/cm.yaml", CM),
    ])
    .await;
    let token = registration_token(&f);
    let (ns, cred_a) = register(&f, &token, "alpha", json!({"env": "a"})).await;
    let (ns_b, cred_b) = register(&f, &token, "beta", json!({"env": "b"})).await;
    assert_eq!(ns, ns_b);
    let deps_a = wait_deployments(&f, &cred_a, 2).await;
    let deps_b = wait_deployments(&f, &cred_b, 1).await;
    let id = |deps: &[(String, String)], b: &str| {
        deps.iter()
            .find(|d| d.0 == b)
            .unwrap_or_else(|| panic!("{b} in {deps:?}"))
            .1
            .clone()
    };
    let (shared, only_a) = ("test-shared", "test-only-a");
    let a_shared = id(&deps_a, shared);
    let a_only = id(&deps_a, only_a);
    let b_shared = id(&deps_b, shared);

    // Alpha reports honestly: everything Ready.
    let honest = report(
        &ns,
        &[
            (shared, &a_shared, "Ready", ""),
            (only_a, &a_only, "Ready", ""),
        ],
    );
    assert_eq!(post_status(&f, &cred_a, &honest).await, 204);
    let before = admin_get(&f, &format!("/api/v1/clusters/{ns}/alpha")).await;
    let before_text = before.to_string();
    assert!(before_text.contains("Ready"), "{before}");

    // Beta forges: a bundle it is not targeted with (alpha's deploymentID), a forged
    // deploymentID, and a report in another workspace.
    let forged = report(
        &ns,
        &[
            (only_a, &a_only, "ErrApplied", "FORGED-only-a"),
            (shared, "s-forged", "ErrApplied", "FORGED-id"),
        ],
    );
    let st = post_status(&f, &cred_b, &forged).await;
    assert!(st == 204 || st == 400 || st == 403, "forged report: {st}");
    let other_ws = report(
        "fleet-local",
        &[(shared, &b_shared, "ErrApplied", "FORGED-ws")],
    );
    let st = post_status(&f, &cred_b, &other_ws).await;
    assert!(st == 204 || st == 400 || st == 403, "other workspace: {st}");
    // A replay of alpha's own report with an old ID does not regress it either.
    let replay = report(&ns, &[(shared, "s-old", "ErrApplied", "FORGED-replay")]);
    let st = post_status(&f, &cred_a, &replay).await;
    assert!(st == 204 || st == 400 || st == 409, "replay: {st}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = admin_get(&f, &format!("/api/v1/clusters/{ns}/alpha")).await;
    assert!(
        !after.to_string().contains("FORGED") && !after.to_string().contains("ErrApplied"),
        "alpha's status unchanged by forged reports:\nbefore {before}\nafter {after}"
    );
    assert_eq!(after["summary"], before["summary"], "{after}");
    for b in after["bundles"].as_array().unwrap() {
        assert_eq!(b["state"], "Ready", "{after}");
    }
    let beta = admin_get(&f, &format!("/api/v1/clusters/{ns}/beta")).await;
    assert!(
        beta["bundles"]
            .as_array()
            .is_none_or(|bs| bs.iter().all(|b| b["bundle"] != only_a)),
        "beta has no status for a bundle it is not targeted with: {beta}"
    );
    assert!(
        !beta.to_string().contains("FORGED"),
        "no forged status stored for beta: {beta}"
    );
    let bundle = admin_get(&f, &format!("/api/v1/bundles/{ns}/{only_a}")).await;
    assert!(!bundle.to_string().contains("FORGED"), "{bundle}");

    // Beta's honest report still counts.
    let honest_b = report(&ns, &[(shared, &b_shared, "NotReady", "honest-beta")]);
    assert_eq!(post_status(&f, &cred_b, &honest_b).await, 204);
    let beta = admin_get(&f, &format!("/api/v1/clusters/{ns}/beta")).await;
    assert!(beta.to_string().contains("NotReady"), "{beta}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_flood_with_bad_token_is_refused_and_good_agent_works() {
    let f = fleet(&[]).await;
    let token = registration_token(&f);
    let client = http();
    let url = format!("{}/agent/v1/register", f.manager_url());
    let start = Instant::now();
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let resp = client
                    .post(&url)
                    .bearer_auth(format!("bad-token-{i}"))
                    .json(&json!({"clusterName": format!("intruder-{i}")}))
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 401, "{body}");
        assert_json_error(&body);
    }
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    let (_, cred) = register(&f, &token, "good", json!({"env": "a"})).await;
    let (status, body, took) = desired(&f, &cred).await;
    assert_eq!(status, 200, "{body}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let clusters = admin_get(&f, "/api/v1/clusters").await.to_string();
    assert!(
        !clusters.contains("intruder"),
        "no intruder registered: {clusters}"
    );
    assert!(clusters.contains("good"), "{clusters}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_admin_token_is_refused() {
    let f = fleet(&[]).await;
    for bad in ["wrong", "", ADMIN_TOKEN.trim_end_matches('3')] {
        let resp = http()
            .get(format!("{}/api/v1/clusters", f.manager_url()))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "token {bad:?}");
        assert_json_error(&resp.text().await.unwrap());
        let resp = http()
            .post(format!("{}/api/v1/tokens", f.manager_url()))
            .bearer_auth(bad)
            .json(&json!({"ttl": "1h"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "creating a token with {bad:?}");
    }
    // An agent credential is not an admin token.
    let token = registration_token(&f);
    let (_, cred) = register(&f, &token, "agent", json!({"env": "a"})).await;
    let resp = http()
        .get(format!("{}/api/v1/clusters", f.manager_url()))
        .bearer_auth(&cred)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "agent credential on the admin API");
    assert!(admin_get(&f, "/api/v1/clusters")
        .await
        .to_string()
        .contains("agent"));
}
