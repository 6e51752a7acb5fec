//! `make demo` run headless (the README's first command): it must converge on three
//! simulated clusters, roll out a commit, and leave Helm release records that the real
//! `helm` binary lists with the right revisions on every cluster.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Parses the demo's `--- helm -n fleet-system ls on NAME` blocks into
/// cluster → release → (revision, status).
fn releases_by_cluster(out: &str) -> BTreeMap<String, BTreeMap<String, (u32, String)>> {
    let mut all = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("--- helm -n fleet-system ls on ") {
            current = Some(name.trim().to_string());
            all.insert(name.trim().to_string(), BTreeMap::new());
            continue;
        }
        let Some(cluster) = &current else { continue };
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if cols.len() >= 5 && cols[0] != "NAME" {
            if let Ok(rev) = cols[2].parse::<u32>() {
                all.get_mut(cluster)
                    .expect("cluster block")
                    .insert(cols[0].to_string(), (rev, cols[4].to_string()));
            }
        }
    }
    all
}

#[test]
fn make_demo_converges_and_rolls_out_a_commit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bins = e2e::process::bin_path("fleet-manager").expect("built binaries");
    let bin_dir = bins.parent().expect("bin dir");
    // Kept after the run (gitignored) so a failure can be read in the logs.
    let scratch = root.join("e2e/artifacts/demo");
    let helm_dir = root.join(".tools/bin");
    let path = format!(
        "{}:{}",
        helm_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .env("DEMO_BIN", bin_dir)
        .env("DEMO_DIR", &scratch)
        .env("DEMO_EXIT_AFTER_ROLLOUT", "1")
        .env("DEMO_TIMEOUT", "120")
        .env("PATH", path)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run scripts/demo.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let mut logs = String::new();
        for name in ["prod-eu", "dev-eu"] {
            let log = std::fs::read_to_string(scratch.join(format!("logs/agent-{name}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            logs.push_str(&format!(
                "--- agent {name}\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        panic!("demo failed:\n{stdout}\n{stderr}\n{logs}");
    }
    assert!(
        stdout.contains("dashboard:") && stdout.contains("admin token:"),
        "{stdout}"
    );

    let releases = releases_by_cluster(&stdout);
    assert_eq!(releases.len(), 3, "helm ls on three clusters:\n{stdout}");
    for (cluster, rels) in &releases {
        for name in ["web", "examples-guestbook", "examples-config-kustomize"] {
            let (_, status) = rels
                .get(name)
                .unwrap_or_else(|| panic!("{cluster}: no release {name}:\n{stdout}"));
            assert_eq!(status, "deployed", "{cluster}/{name}");
        }
        // The commit changed web's values for prod only (dev overrides the greeting), and
        // fleet.yaml itself is no bundle resource (as in Fleet since 0.12): the prod clusters
        // get a new deploymentID and revision 2, dev keeps revision 1, and the untouched
        // bundles stay at 1.
        let web_revision = if cluster.starts_with("prod") { 2 } else { 1 };
        assert_eq!(
            rels["web"].0, web_revision,
            "{cluster}: web revision\n{stdout}"
        );
        assert_eq!(
            rels["examples-guestbook"].0, 1,
            "{cluster}: unchanged bundle not re-released"
        );
    }
}
