//! A whole preview (per bundle, per target set) and how it is printed: a unified diff for
//! terminals, compact markdown for pull request comments (size-capped), JSON for machines.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::target_render::TargetSet;
use super::ManifestDiff;

/// GitHub's limit on a comment body is 65,536 characters; stay below it.
pub const DEFAULT_MARKDOWN_LIMIT: usize = 60_000;

/// Whether the bundle selects the target set on each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Matching {
    Both,
    /// Head selects the set, base did not.
    Starts,
    /// Base selected the set, head does not.
    Stops,
    Neither,
    /// A side failed to target or render; see `errors`.
    Error,
}

/// One bundle for one target set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetPreview {
    pub target: TargetSet,
    pub matching: Matching,
    /// The bundle target that selects the set on each side.
    pub base_target: Option<String>,
    pub head_target: Option<String>,
    pub diff: ManifestDiff,
    /// Per side (`base: …`, `head: …`), why it failed.
    pub errors: Vec<String>,
}

impl TargetPreview {
    /// Something changes for the clusters of this set.
    pub fn changes(&self) -> bool {
        !self.diff.is_empty() || matches!(self.matching, Matching::Starts | Matching::Stops)
    }

    /// `1 added, 0 removed, 2 changed`, with matching changes and errors.
    pub fn summary(&self) -> String {
        if self.matching == Matching::Error {
            return format!("error: {}", self.errors.join("; "));
        }
        let counts = format!(
            "{} added, {} removed, {} changed",
            self.diff.added.len(),
            self.diff.removed.len(),
            self.diff.changed.len()
        );
        match self.matching {
            Matching::Starts => format!(
                "starts matching (target {}): {counts}",
                q(&self.head_target)
            ),
            Matching::Stops => {
                format!("stops matching (target {}): {counts}", q(&self.base_target))
            }
            _ if self.diff.is_empty() => "no changes".to_string(),
            _ => counts,
        }
    }

    fn title(&self) -> String {
        match self.target.clusters {
            Some(1) => format!("{} (1 cluster)", self.target.name),
            Some(n) => format!("{} ({n} clusters)", self.target.name),
            None => self.target.name.clone(),
        }
    }
}

fn q(name: &Option<String>) -> String {
    format!("\"{}\"", name.as_deref().unwrap_or_default())
}

/// One bundle, every target set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundlePreview {
    pub bundle: String,
    pub targets: Vec<TargetPreview>,
}

/// A preview of head against base.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What base and head are (directories, commits).
    pub base: String,
    pub head: String,
    pub bundles: Vec<BundlePreview>,
}

impl Report {
    pub fn has_changes(&self) -> bool {
        self.bundles
            .iter()
            .flat_map(|b| &b.targets)
            .any(TargetPreview::changes)
    }

    pub fn has_errors(&self) -> bool {
        self.bundles
            .iter()
            .flat_map(|b| &b.targets)
            .any(|t| t.matching == Matching::Error)
    }

    /// Every bundle and target set that matched on a side, counts then diffs.
    pub fn to_text(&self) -> String {
        let mut out = format!("preview {} -> {}\n", self.base, self.head);
        for bundle in &self.bundles {
            let shown: Vec<&TargetPreview> = bundle
                .targets
                .iter()
                .filter(|t| t.matching != Matching::Neither)
                .collect();
            if shown.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\nbundle {}", bundle.bundle);
            for t in shown {
                let _ = writeln!(out, "  target set {}: {}", t.title(), t.summary());
                out.push_str(&t.diff.unified());
            }
        }
        if !self.has_changes() && !self.has_errors() {
            out.push_str("\nno changes\n");
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
            + "\n"
    }

    /// A pull request comment: a table of the target sets that change or fail, then one
    /// collapsible section per such bundle with its diffs. At most `limit` bytes: sections
    /// that do not fit lose their diffs, then are left out, and a note says so and points
    /// at `full_diff` (a link, or a command to run) for everything.
    pub fn to_markdown(&self, limit: usize, full_diff: &str) -> String {
        let interesting: Vec<(&BundlePreview, Vec<&TargetPreview>)> = self
            .bundles
            .iter()
            .map(|b| {
                let ts = b
                    .targets
                    .iter()
                    .filter(|t| t.changes() || t.matching == Matching::Error)
                    .collect::<Vec<_>>();
                (b, ts)
            })
            .filter(|(_, ts)| !ts.is_empty())
            .collect();
        let mut head = format!("### Fleet preview `{}` → `{}`\n\n", self.base, self.head);
        if interesting.is_empty() {
            head.push_str("No changes for any target set.\n");
            return cap(head, limit);
        }
        let clusters: usize = interesting
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .filter(|t| t.changes())
            .filter_map(|t| t.target.clusters)
            .sum();
        let _ = write!(head, "{} bundle(s) change", interesting.len());
        if clusters > 0 {
            let _ = write!(head, " on {clusters} cluster deployment(s)");
        }
        head.push_str(".\n\n| Bundle | Target set | Clusters | Added | Removed | Changed | |\n|---|---|---|---|---|---|---|\n");
        let mut rows = Vec::new();
        let mut sections = Vec::new();
        for (bundle, targets) in &interesting {
            for t in targets {
                let note = match t.matching {
                    Matching::Starts => "starts matching",
                    Matching::Stops => "stops matching",
                    Matching::Error => "error",
                    _ => "",
                };
                rows.push(format!(
                    "| `{}` | `{}` | {} | {} | {} | {} | {note} |\n",
                    bundle.bundle,
                    t.target.name,
                    t.target
                        .clusters
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    t.diff.added.len(),
                    t.diff.removed.len(),
                    t.diff.changed.len(),
                ));
            }
            sections.push((
                section(bundle, targets, true),
                section(bundle, targets, false),
            ));
        }
        let note_reserve = 200 + full_diff.len();
        let budget = limit.saturating_sub(note_reserve);
        let mut out = head;
        let mut omitted = 0usize;
        for row in &rows {
            if out.len() + row.len() > budget {
                omitted += 1;
            } else {
                out.push_str(row);
            }
        }
        out.push('\n');
        let mut trimmed = 0usize;
        for (full, short) in &sections {
            if out.len() + full.len() <= budget {
                out.push_str(full);
            } else if out.len() + short.len() <= budget {
                out.push_str(short);
                trimmed += 1;
            } else {
                omitted += 1;
            }
        }
        if omitted + trimmed > 0 {
            let _ = write!(
                out,
                "\n> Truncated to fit {limit} bytes ({trimmed} diff(s) left out, {omitted} row(s) or section(s) omitted). Full diff: {full_diff}\n"
            );
        }
        cap(out, limit)
    }
}

/// A bundle's `<details>` section, with or without its diffs.
fn section(bundle: &BundlePreview, targets: &[&TargetPreview], diffs: bool) -> String {
    let mut s = format!("<details><summary><code>{}</code>: ", bundle.bundle);
    let names: Vec<String> = targets.iter().map(|t| t.title()).collect();
    let _ = writeln!(s, "{}</summary>\n", names.join(", "));
    for t in targets {
        let _ = writeln!(s, "**{}**: {}\n", t.title(), t.summary());
        let text = t.diff.unified();
        if diffs && !text.is_empty() {
            let fence = if text.contains("```") { "````" } else { "```" };
            let _ = writeln!(s, "{fence}diff\n{text}{fence}\n");
        } else if !text.is_empty() {
            s.push_str("_diff left out to fit the size limit_\n\n");
        }
    }
    s.push_str("</details>\n\n");
    s
}

/// `text` cut to at most `limit` bytes on a character boundary (a last resort: the
/// renderer already budgets).
fn cap(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::diff_manifests;
    use serde_json::json;

    fn report(bundles: usize, lines: usize) -> Report {
        let cm = |v: &str| {
            let data: serde_json::Map<String, serde_json::Value> = (0..lines)
                .map(|i| (format!("k{i}"), json!(format!("{v}{i}"))))
                .collect();
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
        };
        let diff = diff_manifests(&[cm("old")], "ns", &[cm("new")], "ns");
        let target = |name: &str, diff: ManifestDiff| TargetPreview {
            target: TargetSet {
                name: name.into(),
                clusters: Some(3),
                ..TargetSet::default()
            },
            matching: Matching::Both,
            base_target: Some("default".into()),
            head_target: Some("default".into()),
            diff,
            errors: vec![],
        };
        Report {
            base: "main".into(),
            head: "pr".into(),
            bundles: (0..bundles)
                .map(|i| BundlePreview {
                    bundle: format!("repo-b{i}"),
                    targets: vec![
                        target("env=prod", diff.clone()),
                        target("env=dev", ManifestDiff::default()),
                    ],
                })
                .collect(),
        }
    }

    #[test]
    fn small_markdown_has_everything_and_no_truncation_note() {
        let md = report(2, 3).to_markdown(DEFAULT_MARKDOWN_LIMIT, "LINK");
        assert!(
            md.contains("<details><summary><code>repo-b0</code>: env=prod (3 clusters)"),
            "{md}"
        );
        assert!(md.contains("```diff\n--- a/ConfigMap ns/c"), "{md}");
        assert!(!md.contains("env=dev"), "unchanged sets are left out: {md}");
        assert!(!md.contains("Truncated"), "{md}");
    }

    #[test]
    fn markdown_is_capped_with_a_note_and_the_link() {
        let r = report(40, 200);
        let full = r.to_markdown(usize::MAX, "LINK");
        assert!(full.len() > 20_000, "the fixture must exceed the cap");
        for limit in [20_000, 5_000, 1_000] {
            let md = r.to_markdown(limit, "https://fleet/preview/1");
            assert!(md.len() <= limit, "{} > {limit}", md.len());
            assert!(md.contains("Truncated to fit"), "{md}");
            assert!(md.contains("https://fleet/preview/1"), "{md}");
            assert_eq!(
                md.matches("<details>").count(),
                md.matches("</details>").count()
            );
        }
    }

    #[test]
    fn trimmed_sections_keep_their_summary_without_the_diff() {
        let r = report(1, 2000);
        let md = r.to_markdown(8_000, "cmd");
        assert!(md.contains("_diff left out to fit the size limit_"), "{md}");
        assert!(md.contains("0 added, 0 removed, 1 changed"), "{md}");
    }

    #[test]
    fn text_lists_every_matching_target_and_says_no_changes() {
        let mut r = report(1, 1);
        assert!(r
            .to_text()
            .contains("target set env=dev (3 clusters): no changes"));
        r.bundles[0].targets.remove(0);
        assert!(r.to_text().ends_with("no changes\n"));
        assert!(!r.has_changes());
    }
}
