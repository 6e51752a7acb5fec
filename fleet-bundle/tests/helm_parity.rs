//! Parity with the real `helm template` on the shared corpus of real charts.
//!
//! Every case under `shared/corpus/helm/<case>/` has a `cmd` (a `helm template ...`
//! line run from the case directory) and `expected.yaml` (what Helm printed). The same
//! arguments go through `fleet-bundle template`, and the outputs are compared twice:
//! byte for byte, and as parsed YAML documents in order. Both counts are printed, with
//! every remaining difference and its cause.
//!
//! `tests/parity/helm-cases/` holds small charts of our own, each `cmd` line produced
//! by the real Helm 4.1.4 into `expected.yaml` (or `expected-N.yaml` for line N): they
//! pin the behaviours the corpus does not reach (aliases, tags, import-values, globals,
//! nulls, YAML 1.1 scalars, hooks, CRDs, `--show-only`...) and must all be identical.
//!
//! The ratchet is `tests/parity/helm-known-differences.txt` (`case: cause` per line):
//! a case not listed there must be byte-identical, and a listed case that has become
//! byte-identical fails the test too, so the list only ever shrinks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared");
const LOCAL_CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/parity/helm-cases");
const KNOWN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/parity/helm-known-differences.txt"
);

/// Splits a `cmd` line into words (the corpus uses plain words and simple quotes).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut in_word = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => current.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            None => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

fn known_differences() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(KNOWN).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(case, cause)| (case.trim().to_string(), cause.trim().to_string()))
        .collect()
}

/// The YAML documents of a stream, comments dropped, empty documents skipped.
fn documents(text: &str) -> Result<Vec<serde_yaml::Value>, String> {
    let mut docs = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let value = serde::Deserialize::deserialize(de).map_err(|e| e.to_string())?;
        if value != serde_yaml::Value::Null {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The first line where two texts differ, for the report.
fn first_difference(ours: &str, theirs: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            return format!(
                "line {}: ours {:?}, helm {:?}",
                i + 1,
                x.copied().unwrap_or("<end>"),
                y.copied().unwrap_or("<end>")
            );
        }
    }
    if ours.ends_with('\n') != theirs.ends_with('\n') {
        return "trailing newline".into();
    }
    "identical lines".into()
}

enum Outcome {
    Identical,
    Equivalent(String),
    Different(String),
    Failed(String),
}

fn run_case(dir: &Path) -> Outcome {
    let cmd = match std::fs::read_to_string(dir.join("cmd")) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot read cmd: {e}")),
    };
    run_command(dir, cmd.trim(), &dir.join("expected.yaml"))
}

/// Runs one `helm template ...` line through `fleet-bundle template` in `dir` and
/// compares the output with the file Helm produced.
fn run_command(dir: &Path, cmd: &str, expected_path: &Path) -> Outcome {
    let words = shell_words(cmd);
    if words.len() < 2 || words[0] != "helm" || words[1] != "template" {
        return Outcome::Failed(format!("cmd is not a `helm template` line: {cmd}"));
    }
    let expected = match std::fs::read_to_string(expected_path) {
        Ok(e) => e,
        Err(e) => return Outcome::Failed(format!("cannot read {}: {e}", expected_path.display())),
    };
    let output = Command::new(env!("CARGO_BIN_EXE_fleet-bundle"))
        .arg("template")
        .args(&words[2..])
        .current_dir(dir)
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => return Outcome::Failed(format!("cannot run fleet-bundle: {e}")),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut message = stderr.lines().take(6).collect::<Vec<_>>().join(" | ");
        if message.len() > 400 {
            let cut = (0..=400)
                .rev()
                .find(|i| message.is_char_boundary(*i))
                .unwrap_or(0);
            message.truncate(cut);
            message.push_str("...");
        }
        return Outcome::Failed(message);
    }
    let ours = String::from_utf8_lossy(&output.stdout).into_owned();
    if ours == expected {
        return Outcome::Identical;
    }
    let cause = first_difference(&ours, &expected);
    match (documents(&ours), documents(&expected)) {
        (Ok(a), Ok(b)) if a == b => Outcome::Equivalent(cause),
        (Ok(a), Ok(b)) => {
            let doc = a.iter().zip(&b).position(|(x, y)| x != y);
            Outcome::Different(format!(
                "{} documents vs helm's {}; first differing document {}; {cause}",
                a.len(),
                b.len(),
                doc.map_or("(count only)".into(), |d| (d + 1).to_string())
            ))
        }
        (Err(e), _) => Outcome::Different(format!("our output is not YAML: {e}; {cause}")),
        (_, Err(e)) => Outcome::Different(format!("expected.yaml is not YAML: {e}")),
    }
}

#[test]
fn helm_template_matches_the_corpus() {
    let corpus = PathBuf::from(SHARED).join("corpus/helm");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| {
            panic!(
                "the shared corpus must sit beside the checkout: {}: {e}",
                corpus.display()
            )
        })
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("cmd").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under {}", corpus.display());

    let known = known_differences();
    let (mut identical, mut equivalent) = (0, 0);
    let mut report = Vec::new();
    let mut problems = Vec::new();
    for dir in &cases {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let listed = known.get(&name);
        match run_case(dir) {
            Outcome::Identical => {
                identical += 1;
                equivalent += 1;
                if listed.is_some() {
                    problems.push(format!(
                        "{name}: now byte-identical; remove it from helm-known-differences.txt"
                    ));
                }
            }
            Outcome::Equivalent(cause) => {
                equivalent += 1;
                report.push(format!("{name}: semantically equal, bytes differ: {cause}"));
                if listed.is_none() {
                    problems.push(format!("{name}: not byte-identical ({cause})"));
                }
            }
            Outcome::Different(cause) => {
                report.push(format!("{name}: DIFFERENT: {cause}"));
                if listed.is_none() {
                    problems.push(format!("{name}: output differs ({cause})"));
                }
            }
            Outcome::Failed(cause) => {
                report.push(format!("{name}: FAILED: {cause}"));
                if listed.is_none() {
                    problems.push(format!("{name}: render failed ({cause})"));
                }
            }
        }
        if let Some(cause) = listed {
            report.push(format!("    known: {cause}"));
        }
    }
    let total = cases.len();
    println!(
        "helm parity: {equivalent}/{total} semantically equal, {identical}/{total} byte-identical"
    );
    for line in &report {
        println!("  {line}");
    }
    for case in known.keys() {
        if !cases.iter().any(|c| c.ends_with(case)) {
            problems.push(format!(
                "{case}: listed in helm-known-differences.txt but not in the corpus"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "helm parity regressions:\n{}",
        problems.join("\n")
    );
}

#[test]
fn helm_template_matches_local_fixtures() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(LOCAL_CASES)
        .unwrap_or_else(|e| panic!("{LOCAL_CASES}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("cmd").is_file())
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases under {LOCAL_CASES}");
    let mut problems = Vec::new();
    let mut runs = 0;
    for dir in &cases {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let cmd = std::fs::read_to_string(dir.join("cmd")).unwrap_or_default();
        let lines: Vec<&str> = cmd
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        for (i, line) in lines.iter().enumerate() {
            let expected = if lines.len() == 1 {
                dir.join("expected.yaml")
            } else {
                dir.join(format!("expected-{}.yaml", i + 1))
            };
            runs += 1;
            match run_command(dir, line, &expected) {
                Outcome::Identical => {}
                Outcome::Equivalent(cause) | Outcome::Different(cause) | Outcome::Failed(cause) => {
                    problems.push(format!("{name} (cmd line {}): {cause}", i + 1));
                }
            }
        }
    }
    println!(
        "helm fixtures: {}/{runs} byte-identical",
        runs - problems.len()
    );
    assert!(
        problems.is_empty(),
        "helm fixture differences:\n{}",
        problems.join("\n")
    );
}

#[test]
fn cmd_lines_split_like_a_shell() {
    assert_eq!(
        shell_words("helm template rel ./chart --set 'a=b c' -f x.yaml"),
        vec!["helm", "template", "rel", "./chart", "--set", "a=b c", "-f", "x.yaml"]
    );
}
