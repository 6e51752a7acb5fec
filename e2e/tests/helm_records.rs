//! Helm's view of a Fleet-managed cluster (issue 27): the release records the agent writes
//! are read by the real `helm` CLI (`$HELM_BIN`), and what a person then does with that
//! `helm` (upgrade, rollback, uninstall) is read back by the agent, which keeps numbering
//! revisions after theirs.

use std::time::Duration;

use e2e::fleet::{tail, ClusterSpec, FleetOptions, TestFleet};
use serde_json::Value;

const CHART_YAML: &str = "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.0\"\n";
const VALUES_YAML: &str = "greeting: hello\n";
const CM_TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n  namespace: app\ndata:\n  greeting: {{ .Values.greeting | quote }}\n";

fn fleet_yaml(greeting: &str) -> String {
    format!(
        "defaultNamespace: app\nhelm:\n  releaseName: web\n  values:\n    greeting: {greeting}\n"
    )
}

fn options() -> FleetOptions {
    FleetOptions {
        files: vec![
            ("web/fleet.yaml".into(), fleet_yaml("from-fleet")),
            ("web/Chart.yaml".into(), CHART_YAML.into()),
            ("web/values.yaml".into(), VALUES_YAML.into()),
            ("web/templates/cm.yaml".into(), CM_TEMPLATE.into()),
        ],
        clusters: vec![ClusterSpec {
            name: "one".into(),
            labels: "env=test".into(),
        }],
        gitrepo_spec: "  correctDrift:\n    enabled: true\n".into(),
        ..FleetOptions::default()
    }
}

/// The chart as a person has it on disk, to run `helm upgrade` with.
fn chart_dir(fleet: &TestFleet) -> std::path::PathBuf {
    let dir = fleet.path().join("person-chart");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("Chart.yaml"), CHART_YAML).unwrap();
    std::fs::write(dir.join("values.yaml"), VALUES_YAML).unwrap();
    std::fs::write(dir.join("templates/cm.yaml"), CM_TEMPLATE).unwrap();
    dir
}

const CONVERGE: Duration = Duration::from_secs(90);

/// `helm history web -o json` as (revision, status, description).
fn history(fleet: &TestFleet) -> Vec<(u64, String, String)> {
    let out = fleet
        .helm(0, &["-n", "fleet-system", "history", "web", "-o", "json"])
        .unwrap_or_else(|e| panic!("helm history: {e}"));
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["revision"].as_u64().unwrap_or(0),
                r["status"].as_str().unwrap_or_default().to_string(),
                r["description"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn live_greeting(fleet: &TestFleet) -> String {
    fleet
        .kubectl(
            0,
            &[
                "-n",
                "app",
                "get",
                "configmap",
                "web-settings",
                "-o",
                "jsonpath={.data.greeting}",
            ],
        )
        .unwrap_or_default()
}

fn user_values(fleet: &TestFleet, revision: Option<u64>) -> Value {
    let mut args = vec!["-n", "fleet-system", "get", "values", "web", "-o", "json"];
    let rev = revision.map(|r| r.to_string());
    if let Some(r) = &rev {
        args.extend(["--revision", r]);
    }
    serde_json::from_str(&fleet.helm(0, &args).unwrap()).unwrap()
}

async fn eventually(what: &str, fleet: &TestFleet, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + CONVERGE;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not reached in {}s\n--- agent log:\n{}",
            CONVERGE.as_secs(),
            tail(&fleet.agent_log(0), 25)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Ours read by helm, then a person's `helm upgrade`, `helm rollback` and `helm uninstall`
/// on our records, each undone by a new revision that says so, and our next revision after
/// theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_reads_our_records_and_we_read_theirs() {
    let fleet = TestFleet::start(options()).await.unwrap();
    fleet.wait_converged(None, CONVERGE).await.unwrap();

    // What the agent wrote, as helm sees it.
    let releases = fleet.releases(0).unwrap();
    assert_eq!(releases["web"], (1, "deployed".to_string()), "{releases:?}");
    let h = history(&fleet);
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!((h[0].0, h[0].1.as_str()), (1, "deployed"), "{h:?}");
    let manifest = fleet
        .helm(0, &["-n", "fleet-system", "get", "manifest", "web"])
        .unwrap();
    assert!(
        manifest.contains("# Source: web/templates/")
            && manifest.contains("name: web-settings")
            && manifest.contains("greeting: from-fleet"),
        "{manifest}"
    );
    assert_eq!(
        user_values(&fleet, None),
        serde_json::json!({"greeting": "from-fleet"})
    );
    let all = fleet
        .helm(
            0,
            &[
                "-n",
                "fleet-system",
                "get",
                "values",
                "web",
                "--all",
                "-o",
                "json",
            ],
        )
        .unwrap();
    assert!(all.contains("from-fleet"), "{all}");

    // A person upgrades our release with other values: helm reads our record and writes
    // revision 2; the agent puts the cluster back and says so in revision 3.
    let chart = chart_dir(&fleet);
    let chart = chart.to_string_lossy();
    let out = fleet.helm(
        0,
        &[
            "-n",
            "fleet-system",
            "upgrade",
            "web",
            &chart,
            "--set",
            "greeting=by-hand",
            "--force-conflicts",
        ],
    );
    assert!(out.is_ok(), "helm upgrade on our record: {out:?}");
    assert_eq!(
        user_values(&fleet, Some(2)),
        serde_json::json!({"greeting": "by-hand"})
    );
    let undone = |h: &[(u64, String, String)], replaced: &str| {
        h.iter()
            .any(|r| r.1 == "deployed" && r.2.contains("out-of-band") && r.2.contains(replaced))
    };
    eventually("the agent undoes the helm upgrade", &fleet, || {
        undone(&history(&fleet), "revision 2")
    })
    .await;
    let h = history(&fleet);
    let newest = h.iter().map(|r| r.0).max().unwrap_or(0);
    assert_eq!(newest, 3, "{h:?}");
    assert_eq!(
        h.iter().filter(|r| r.1 == "deployed").count(),
        1,
        "one deployed revision: {h:?}"
    );
    assert_eq!(
        user_values(&fleet, Some(3)),
        serde_json::json!({"greeting": "from-fleet"})
    );
    eventually("the cluster is put back", &fleet, || {
        live_greeting(&fleet) == "from-fleet"
    })
    .await;
    eventually("the bundle status says so", &fleet, || {
        fleet
            .cli(&["status", "bundle", "test-web", "-o", "json"])
            .unwrap_or_default()
            .contains("undid an out-of-band change of release web")
    })
    .await;

    // The person rolls back to helm's revision 2: Helm 4's server-side apply meets the
    // agent's fields and records revision 4 failed, which the agent undoes by revision 5.
    let out = fleet.helm(0, &["-n", "fleet-system", "rollback", "web", "2"]);
    assert!(
        out.as_ref()
            .is_err_and(|e| e.to_string().contains("conflict with \"fleet-agent\"")),
        "helm rollback over the agent's fields: {out:?}"
    );
    eventually("the agent undoes the failed rollback", &fleet, || {
        undone(&history(&fleet), "revision 4 (failed")
    })
    .await;
    let h = history(&fleet);
    assert_eq!(h.iter().map(|r| r.0).max(), Some(5), "{h:?}");

    // A commit: the agent reads helm's records and writes the revision after theirs.
    let commit = fleet
        .push(
            &[("web/fleet.yaml", &fleet_yaml("second-commit"))],
            "values",
        )
        .unwrap();
    fleet.wait_converged(Some(&commit), CONVERGE).await.unwrap();
    eventually("the commit's greeting runs", &fleet, || {
        live_greeting(&fleet) == "second-commit"
    })
    .await;
    let h = history(&fleet);
    let deployed: Vec<u64> = h
        .iter()
        .filter(|r| r.1 == "deployed")
        .map(|r| r.0)
        .collect();
    let newest = h.iter().map(|r| r.0).max().unwrap_or(0);
    assert_eq!(newest, 6, "our revision follows the five before: {h:?}");
    assert_eq!(deployed, [newest], "one deployed revision, ours: {h:?}");
    assert_eq!(
        user_values(&fleet, Some(newest)),
        serde_json::json!({"greeting": "second-commit"})
    );
    let releases = fleet.releases(0).unwrap();
    assert_eq!(releases["web"], (newest, "deployed".to_string()));

    // A person uninstalls it: helm deletes our records and our objects; the agent
    // installs it again with a record saying why.
    let out = fleet.helm(0, &["-n", "fleet-system", "uninstall", "web"]);
    assert!(out.is_ok(), "helm uninstall of our release: {out:?}");
    eventually("the agent undoes the uninstall", &fleet, || {
        fleet
            .helm(0, &["-n", "fleet-system", "history", "web", "-o", "json"])
            .is_ok_and(|out| out.contains("no record of it was left"))
    })
    .await;
    eventually("the objects are back", &fleet, || {
        live_greeting(&fleet) == "second-commit"
    })
    .await;
    let releases = fleet.releases(0).unwrap();
    assert_eq!(releases["web"], (1, "deployed".to_string()), "{releases:?}");
}

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fleet-examples/single-cluster"
);

/// Every file under `EXAMPLES/dir`, as (repo path, content).
fn example_files(dir: &str) -> Vec<(String, String)> {
    fn walk(root: &std::path::Path, at: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.file_name().is_some_and(|n| n != "README.md") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = std::path::Path::new(EXAMPLES);
    let mut out = Vec::new();
    walk(root, &root.join(dir), &mut out);
    out
}

/// fleet-examples' single-cluster bundles on one cluster: one Helm release per bundle;
/// `helm` and `helm-multi-chart/guestbook` both name their release `guestbook`, so the
/// second is refused with a status naming both, and removing it leaves the first's record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_examples_get_one_release_per_bundle_and_a_name_conflict_is_refused() {
    let dirs = [
        "helm",
        "helm-multi-chart/guestbook",
        "manifests",
        "kustomize",
    ];
    let mut opts = options();
    opts.files = dirs.iter().flat_map(|d| example_files(d)).collect();
    let fleet = TestFleet::start(opts).await.unwrap();
    let status = |bundle: &str| {
        fleet
            .cli(&["status", "bundle", bundle, "-o", "json"])
            .unwrap_or_default()
    };
    let a = "test-helm";
    let b = "test-helm-multi-chart-guestbook";
    eventually("three releases and one refusal", &fleet, || {
        fleet.releases(0).is_ok_and(|r| r.len() == 3)
            && [a, b]
                .iter()
                .any(|x| status(x).contains("is in use by bundle"))
    })
    .await;
    let releases = fleet.releases(0).unwrap();
    assert!(releases.contains_key("guestbook"), "{releases:?}");
    assert!(
        releases
            .values()
            .all(|(rev, st)| *rev == 1 && st == "deployed"),
        "{releases:?}"
    );
    let (refused, owner) = if status(a).contains("is in use by bundle") {
        (a, b)
    } else {
        (b, a)
    };
    let text = status(refused);
    assert!(
        text.contains(&format!("fleet-default/{owner}"))
            && text.contains(&format!("fleet-default/{refused}")),
        "the refusal names both bundles: {text}"
    );
    let records = fleet
        .helm(
            0,
            &["-n", "fleet-system", "history", "guestbook", "-o", "json"],
        )
        .unwrap();
    let records: Value = serde_json::from_str(&records).unwrap();
    assert_eq!(records.as_array().map(Vec::len), Some(1), "{records}");

    // The refused bundle goes away: the owner's record stays.
    let refused_dir = if refused == a {
        "helm"
    } else {
        "helm-multi-chart"
    };
    std::fs::remove_dir_all(fleet.git.work_dir().join(refused_dir)).unwrap();
    fleet
        .git
        .commit_and_push("drop the refused bundle")
        .unwrap();
    eventually("the refused bundle is gone", &fleet, || {
        !fleet
            .cli(&["get", "bundles", "-o", "json"])
            .unwrap_or_default()
            .contains(&format!("\"{refused}\""))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let releases = fleet.releases(0).unwrap();
    assert_eq!(
        releases.get("guestbook"),
        Some(&(1, "deployed".to_string())),
        "{releases:?}"
    );
}
