//! Unified line diffs (`diff -u` format) of two texts.

/// Lines of context around each change.
pub const CONTEXT: usize = 3;
/// Above this many line pairs the longest common subsequence is not computed; the whole
/// text is shown as replaced (a manifest that large is a rewrite anyway).
const MAX_CELLS: usize = 16_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Delete,
    Insert,
}

/// The edit script turning `a` into `b`, one op per line of either side.
fn edit_script(a: &[&str], b: &[&str]) -> Vec<Op> {
    // Common prefix and suffix first: most manifest changes touch a few lines.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops = vec![Op::Keep; prefix];
    if ma.len().saturating_mul(mb.len()) > MAX_CELLS {
        ops.extend(std::iter::repeat_n(Op::Delete, ma.len()));
        ops.extend(std::iter::repeat_n(Op::Insert, mb.len()));
    } else {
        // lcs[i][j]: length of the LCS of ma[i..] and mb[j..].
        let w = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * w];
        for i in (0..ma.len()).rev() {
            for j in (0..mb.len()).rev() {
                lcs[i * w + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * w + j + 1] + 1
                } else {
                    lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < ma.len() || j < mb.len() {
            if i < ma.len() && j < mb.len() && ma[i] == mb[j] {
                ops.push(Op::Keep);
                i += 1;
                j += 1;
            } else if j < mb.len() && (i == ma.len() || lcs[i * w + j + 1] > lcs[(i + 1) * w + j]) {
                // On ties the deletion goes first, as `diff -u` prints it.
                ops.push(Op::Insert);
                j += 1;
            } else {
                ops.push(Op::Delete);
                i += 1;
            }
        }
    }
    ops.extend(std::iter::repeat_n(Op::Keep, suffix));
    ops
}

/// The unified diff of `old` and `new` under the given file labels; empty when equal.
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = edit_script(&a, &b);
    // Positions (in ops) of changes, grouped into hunks with CONTEXT lines around them.
    let changed: Vec<usize> = (0..ops.len()).filter(|&k| ops[k] != Op::Keep).collect();
    let mut out = format!("--- {old_label}\n+++ {new_label}\n");
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(CONTEXT);
        let mut end = changed[k];
        while k < changed.len() && changed[k] <= end + 2 * CONTEXT + 1 {
            end = changed[k];
            k += 1;
        }
        let end = (end + CONTEXT + 1).min(ops.len());
        // Line numbers where the hunk starts on each side.
        let (mut ia, mut ib) = (0, 0);
        for op in &ops[..start] {
            match op {
                Op::Keep => {
                    ia += 1;
                    ib += 1;
                }
                Op::Delete => ia += 1,
                Op::Insert => ib += 1,
            }
        }
        let (mut na, mut nb) = (0, 0);
        let mut body = String::new();
        let (mut pa, mut pb) = (ia, ib);
        for op in &ops[start..end] {
            match op {
                Op::Keep => {
                    body.push_str(&format!(" {}\n", a[pa]));
                    pa += 1;
                    pb += 1;
                    na += 1;
                    nb += 1;
                }
                Op::Delete => {
                    body.push_str(&format!("-{}\n", a[pa]));
                    pa += 1;
                    na += 1;
                }
                Op::Insert => {
                    body.push_str(&format!("+{}\n", b[pb]));
                    pb += 1;
                    nb += 1;
                }
            }
        }
        let from = if na == 0 { ia } else { ia + 1 };
        let to = if nb == 0 { ib } else { ib + 1 };
        out.push_str(&format!("@@ -{from},{na} +{to},{nb} @@\n"));
        out.push_str(&body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified_diff("a\nb\n", "a\nb\n", "x", "y"), "");
    }

    #[test]
    fn one_changed_line_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        let diff = unified_diff(old, new, "a/x", "b/x");
        assert_eq!(
            diff,
            "--- a/x\n+++ b/x\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn distant_changes_make_two_hunks() {
        let old: String = (1..=30).map(|n| format!("{n}\n")).collect();
        let new: String = (1..=30)
            .map(|n| match n {
                2 => "two\n".to_string(),
                28 => "twenty-eight\n".to_string(),
                n => format!("{n}\n"),
            })
            .collect();
        let diff = unified_diff(&old, &new, "a", "b");
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
    }

    #[test]
    fn insertion_into_empty_text() {
        let diff = unified_diff("", "a\nb\n", "a", "b");
        assert_eq!(diff, "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+a\n+b\n");
    }
}
