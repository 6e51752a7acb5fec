//! The `.cases` format: one suite per file, one case per `=== name` block.
//!
//! ```text
//! # Lines before the first case are comments.
//! === range-over-list            (a name: letters, digits, `-`, `_`, `.`)
//! {{ range .Values.xs }}[{{ . }}]{{ end }}
//! --- values                     (values.yaml of the scratch chart)
//! xs: [1, 2]
//! --- args                       (helm flags, one per line: `--set a=b`, `--kube-version 1.30.0`)
//! --set xs[0]=3
//! --- file files/a.txt           (a chart file, text as written)
//! hello
//! --- binary files/b.bin         (a chart file given in base64)
//! AAEC/w==
//! --- chart                      (Chart.yaml fields replacing the defaults)
//! description: demo
//! ```
//!
//! The template is every line up to the first `--- ` section, without its final newline;
//! trailing blank lines of every section are dropped (files and values keep a final
//! newline). A case named `*` gives defaults: its sections apply to every case of the
//! suite that lacks that section (an empty section opts out).

use base64::Engine;

/// One template and the chart and flags it runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    /// The line of `=== name` in the suite file.
    pub line: usize,
    pub template: String,
    pub values: Option<String>,
    /// `(flag, value)`: `("--set", "a=b")`, `("--is-upgrade", "")`.
    pub args: Option<Vec<(String, String)>>,
    /// Chart files (paths relative to the chart) and their bytes.
    pub files: Option<Vec<(String, Vec<u8>)>>,
    /// Chart.yaml lines overriding the default fields.
    pub chart: Option<String>,
}

impl Case {
    /// What a scratch chart is made of besides the case's own template: cases with
    /// the same setup share one chart.
    pub fn setup_key(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.values, self.args, self.files, self.chart
        )
    }

    fn apply_defaults(&mut self, defaults: &Case) {
        if self.values.is_none() {
            self.values.clone_from(&defaults.values);
        }
        if self.args.is_none() {
            self.args.clone_from(&defaults.args);
        }
        if self.files.is_none() {
            self.files.clone_from(&defaults.files);
        }
        if self.chart.is_none() {
            self.chart.clone_from(&defaults.chart);
        }
    }
}

/// Parses a suite; errors name the line.
pub fn parse(text: &str) -> Result<Vec<Case>, String> {
    let mut cases: Vec<Case> = Vec::new();
    let mut defaults: Option<Case> = None;
    let mut current: Option<Case> = None;
    // The section being read: its header words and its lines.
    let mut section: Option<(Vec<String>, Vec<&str>)> = None;

    let finish_section = |case: &mut Case, section: Option<(Vec<String>, Vec<&str>)>| {
        let Some((words, mut lines)) = section else {
            return Ok(());
        };
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let body = || {
            let mut s = lines.join("\n");
            if !s.is_empty() {
                s.push('\n');
            }
            s
        };
        match words[0].as_str() {
            "template" => case.template = lines.join("\n"),
            "values" => case.values = Some(body()),
            "chart" => case.chart = Some(body()),
            "args" => {
                let args = lines
                    .iter()
                    .map(|l| l.trim())
                    .filter(|l| !l.is_empty())
                    .map(|l| match l.split_once(' ') {
                        Some((flag, value)) => (flag.to_string(), value.to_string()),
                        None => (l.to_string(), String::new()),
                    })
                    .collect();
                case.args = Some(args);
            }
            "file" | "binary" => {
                let path = words
                    .get(1)
                    .ok_or_else(|| format!("`--- {}` needs a path", words[0]))?;
                let data = if words[0] == "file" {
                    body().into_bytes()
                } else {
                    base64::engine::general_purpose::STANDARD
                        .decode(lines.concat().trim())
                        .map_err(|e| format!("`--- binary {path}`: not base64: {e}"))?
                };
                case.files
                    .get_or_insert_with(Vec::new)
                    .push((path.clone(), data));
            }
            other => return Err(format!("unknown section `--- {other}`")),
        }
        Ok(())
    };

    let close_case =
        |case: Option<Case>, section, cases: &mut Vec<Case>, defaults: &mut Option<Case>| {
            let Some(mut case) = case else {
                return Ok::<(), String>(());
            };
            let line = case.line;
            finish_section(&mut case, section).map_err(|e| format!("case at line {line}: {e}"))?;
            if case.name == "*" {
                *defaults = Some(case);
            } else {
                cases.push(case);
            }
            Ok(())
        };

    for (i, line) in text.lines().enumerate() {
        if let Some(name) = line.strip_prefix("=== ") {
            close_case(current.take(), section.take(), &mut cases, &mut defaults)?;
            let name = name.split_whitespace().next().unwrap_or("").to_string();
            let valid = name == "*"
                || (!name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
            if !valid {
                return Err(format!("line {}: bad case name {name:?}", i + 1));
            }
            if cases.iter().any(|c| c.name == name) {
                return Err(format!("line {}: case {name} is defined twice", i + 1));
            }
            current = Some(Case {
                name,
                line: i + 1,
                ..Case::default()
            });
            section = Some((vec!["template".into()], Vec::new()));
            continue;
        }
        let Some(case) = current.as_mut() else {
            if !(line.trim().is_empty() || line.starts_with('#')) {
                return Err(format!(
                    "line {}: only comments may come before the first case",
                    i + 1
                ));
            }
            continue;
        };
        if let Some(header) = line.strip_prefix("--- ") {
            let words: Vec<String> = header.split_whitespace().map(String::from).collect();
            if matches!(
                words.first().map(String::as_str),
                Some("values" | "args" | "chart" | "file" | "binary")
            ) {
                finish_section(case, section.take()).map_err(|e| format!("line {}: {e}", i + 1))?;
                section = Some((words, Vec::new()));
                continue;
            }
        }
        if let Some((_, lines)) = section.as_mut() {
            lines.push(line);
        }
    }
    close_case(current.take(), section.take(), &mut cases, &mut defaults)?;
    if let Some(defaults) = &defaults {
        for case in &mut cases {
            case.apply_defaults(defaults);
        }
    }
    Ok(cases)
}

/// Chart.yaml of a case: the default fields the case does not set, then the case's.
pub fn chart_yaml(case: &Case) -> String {
    let extra = case.chart.as_deref().unwrap_or("");
    let keys: Vec<&str> = extra
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.trim()))
        .collect();
    let mut out = String::new();
    for (key, value) in [
        ("apiVersion", "v2"),
        ("name", "oracle"),
        ("version", "0.1.0"),
    ] {
        if !keys.contains(&key) {
            out.push_str(&format!("{key}: {value}\n"));
        }
    }
    out.push_str(extra);
    out
}

/// The chart name of a Chart.yaml text (what template paths start with).
pub fn chart_name(chart_yaml: &str) -> String {
    chart_yaml
        .lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|n| n.trim().trim_matches(['"', '\'']).to_string())
        .unwrap_or_default()
}

#[test]
fn a_suite_parses() {
    let text = "# comment\n=== *\n--- values\nx: 1\n\n=== a\n{{ .Values.x }}\n\n=== b\nline1\n--- values\n--- args\n--set a=b\n--is-upgrade\n--- binary f.bin\nAAH/\n--- chart\nname: other\n";
    let cases = parse(text).unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].template, "{{ .Values.x }}");
    assert_eq!(cases[0].values.as_deref(), Some("x: 1\n"));
    assert_eq!(cases[1].template, "line1");
    assert_eq!(cases[1].values.as_deref(), Some(""));
    assert_eq!(
        cases[1].args,
        Some(vec![
            ("--set".into(), "a=b".into()),
            ("--is-upgrade".into(), String::new())
        ])
    );
    assert_eq!(
        cases[1].files,
        Some(vec![("f.bin".into(), vec![0, 1, 255])])
    );
    let chart = chart_yaml(&cases[1]);
    assert_eq!(chart, "apiVersion: v2\nversion: 0.1.0\nname: other\n");
    assert_eq!(chart_name(&chart), "other");
    assert!(parse("=== a\nx\n=== a\ny\n").is_err());
    assert!(parse("stray\n=== a\n").is_err());
}
