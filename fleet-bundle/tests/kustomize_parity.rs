//! Parity with `kubectl kustomize` on the shared corpus.
//!
//! Every case under `shared/corpus/kustomize/` holds a `cmd` (`kubectl kustomize DIR`, run
//! from the case directory) and the `expected.yaml` it printed. We build the same directory
//! and compare: byte-identical, semantically equal (same documents once parsed), or
//! different. A case must be byte-identical unless `parity/kustomize-known-differences.txt`
//! lists it with its cause; a listed case that has become identical must be removed from
//! the list, so the list can only shrink.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fleet_bundle::kustomize::{build, document::parse_stream, BuildOptions};

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/corpus/kustomize"
    ))
}

fn known_differences() -> BTreeMap<String, String> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/kustomize-known-differences.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(case, cause)| (case.trim().to_string(), cause.trim().to_string()))
        .collect()
}

/// The directory argument of `kubectl kustomize DIR`.
fn target_of(cmd: &str) -> Option<&str> {
    cmd.trim()
        .strip_prefix("kubectl kustomize")?
        .split_whitespace()
        .next()
}

#[derive(Debug)]
enum Verdict {
    Identical,
    SameDocuments(String),
    Different(String),
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}: got {x:?}, kubectl printed {y:?}", i + 1);
        }
    }
    format!(
        "length differs: {} lines, kubectl printed {}",
        a.lines().count(),
        b.lines().count()
    )
}

fn judge(case: &Path) -> Verdict {
    let cmd = match std::fs::read_to_string(case.join("cmd")) {
        Ok(c) => c,
        Err(e) => return Verdict::Different(format!("cannot read cmd: {e}")),
    };
    let Some(dir) = target_of(&cmd) else {
        return Verdict::Different(format!("cmd is not `kubectl kustomize DIR`: {cmd:?}"));
    };
    let expected = match std::fs::read_to_string(case.join("expected.yaml")) {
        Ok(e) => e,
        Err(e) => return Verdict::Different(format!("cannot read expected.yaml: {e}")),
    };
    let got = match build(&case.join(dir), &BuildOptions::new(case)) {
        Ok(y) => y,
        Err(e) => return Verdict::Different(format!("build failed: {e}")),
    };
    if got == expected {
        return Verdict::Identical;
    }
    let detail = first_difference(&got, &expected);
    match (parse_stream(&got), parse_stream(&expected)) {
        (Ok(a), Ok(b)) if a == b => Verdict::SameDocuments(detail),
        _ => Verdict::Different(detail),
    }
}

#[test]
fn corpus_output_matches_kubectl_kustomize() {
    let dir = corpus_dir();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (shared/ must sit beside the checkout)",
                dir.display()
            )
        })
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("cmd").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {}", dir.display());
    let known = known_differences();
    let (mut identical, mut equal, mut failures) = (0, 0, Vec::new());
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let verdict = judge(case);
        match &verdict {
            Verdict::Identical => {
                identical += 1;
                equal += 1;
                if let Some(cause) = known.get(&name) {
                    failures.push(format!("{name}: now byte-identical; remove it from the known differences ({cause})"));
                }
            }
            Verdict::SameDocuments(d) | Verdict::Different(d) => {
                if matches!(verdict, Verdict::SameDocuments(_)) {
                    equal += 1;
                }
                println!("difference {name}: {d}");
                if !known.contains_key(&name) {
                    failures.push(format!("{name}: {d}"));
                }
            }
        }
    }
    println!(
        "kustomize parity: {} cases, {identical} byte-identical, {equal} semantically equal",
        cases.len()
    );
    for (case, cause) in &known {
        println!("known difference {case}: {cause}");
    }
    assert!(
        failures.is_empty(),
        "parity failures:\n{}",
        failures.join("\n")
    );
}
