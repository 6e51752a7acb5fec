//! `.helmignore`: which files of a chart directory Helm leaves out, with Helm's rules.
//!
//! The rules are Helm's, not git's: a pattern without `/` matches the base name only, a
//! pattern with `/` matches the whole path relative to the chart root, a trailing `/`
//! only matches directories, `**` is rejected, and the first matching rule decides. A
//! negated rule (`!pattern`) is Helm's peculiar one: a path it does *not* match is
//! ignored at once, a path it matches goes on to the next rules. Helm also always ignores
//! dotfiles under `templates/`.

use std::path::Path;

/// The name of the ignore file at the root of a chart directory.
pub const HELM_IGNORE: &str = ".helmignore";

/// A `.helmignore` line that Helm refuses.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IgnoreError {
    #[error("{file}: line {line}: double-star (**) syntax is not supported")]
    DoubleStar { file: String, line: usize },
    #[error("{file}: line {line}: syntax error in pattern {pattern:?}")]
    BadPattern {
        file: String,
        line: usize,
        pattern: String,
    },
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    negate: bool,
    must_dir: bool,
    /// `/x`: anchored at the root; `a/b`: whole path; otherwise base name only.
    scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Root,
    Path,
    BaseName,
}

/// The ordered rules of one `.helmignore` (plus Helm's default).
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// Parses the text of a `.helmignore`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, IgnoreError> {
        let mut rules = IgnoreRules::default();
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (index, line) in text.lines().enumerate() {
            rules.add(line).map_err(|kind| match kind {
                RuleError::DoubleStar => IgnoreError::DoubleStar {
                    file: file.to_string(),
                    line: index + 1,
                },
                RuleError::BadPattern => IgnoreError::BadPattern {
                    file: file.to_string(),
                    line: index + 1,
                    pattern: line.trim().to_string(),
                },
            })?;
        }
        Ok(rules)
    }

    /// Adds Helm's default rule: dotfiles in `templates/` are never templates.
    pub fn add_defaults(&mut self) {
        // The default pattern is well formed, so this cannot fail.
        let _ = self.add("templates/.?*");
    }

    fn add(&mut self, line: &str) -> Result<(), RuleError> {
        let rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(RuleError::DoubleStar);
        }
        if go_match(rule, "abc").is_err() {
            return Err(RuleError::BadPattern);
        }
        let (negate, rule) = match rule.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let (must_dir, rule) = match rule.strip_suffix('/') {
            Some(rest) => (true, rest),
            None => (false, rule),
        };
        let (scope, pattern) = if let Some(rest) = rule.strip_prefix('/') {
            (Scope::Root, rest)
        } else if rule.contains('/') {
            (Scope::Path, rule)
        } else {
            (Scope::BaseName, rule)
        };
        self.rules.push(Rule {
            pattern: pattern.to_string(),
            negate,
            must_dir,
            scope,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart root, `/`-separated) is left out.
    pub fn ignores(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        for rule in &self.rules {
            let subject = match rule.scope {
                Scope::Root | Scope::Path => path,
                Scope::BaseName => base_name(path),
            };
            let matched = go_match(&rule.pattern, subject).unwrap_or(false);
            if rule.negate {
                if rule.must_dir && !is_dir {
                    return true;
                }
                if !matched {
                    return true;
                }
                continue;
            }
            if rule.must_dir && !is_dir {
                continue;
            }
            if matched {
                return true;
            }
        }
        false
    }
}

enum RuleError {
    DoubleStar,
    BadPattern,
}

/// Go's `filepath.Base` for `/`-separated relative paths.
fn base_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    Path::new(trimmed)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(trimmed)
}

/// A malformed shell pattern (Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `filepath.Match` on Unix: `*` and `?` never match `/`, classes `[a-z]` and
/// `[^a-z]`, `\` escapes. The whole pattern is checked for syntax even after a mismatch,
/// as Go does.
///
/// ASCII pattern and name (nearly every `.helmignore` line and chart path) are matched
/// on their bytes with no allocation: a chart directory checks every path against every
/// rule, and the copies into `char` vectors used to cost a tenth of a render.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    if pattern.is_ascii() && name.is_ascii() {
        let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
        validate(pattern)?;
        return Ok(match_here(pattern, name));
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    validate(&pattern)?;
    Ok(match_here(&pattern, &name))
}

/// A pattern or name symbol: a byte of ASCII text, or a `char` of any text.
trait Sym: Copy + Eq + Ord {
    fn is(self, ascii: char) -> bool;
}

impl Sym for u8 {
    fn is(self, ascii: char) -> bool {
        char::from(self) == ascii
    }
}

impl Sym for char {
    fn is(self, ascii: char) -> bool {
        self == ascii
    }
}

fn validate<C: Sym>(p: &[C]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            c if c.is('\\') => {
                if i + 1 >= p.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            c if c.is('[') => {
                i = parse_class(p, i, None)?.1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Parses the class starting at `p[start] == '['`; returns whether `c` (if given) is in it
/// and the index after `]`.
fn parse_class<C: Sym>(p: &[C], start: usize, c: Option<C>) -> Result<(bool, usize), BadPattern> {
    let mut i = start + 1;
    let negated = p.get(i).is_some_and(|x| x.is('^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i).ok_or(BadPattern)?;
        if ch.is(']') && !first {
            i += 1;
            break;
        }
        first = false;
        let (lo, next) = class_char(p, i)?;
        i = next;
        let mut hi = lo;
        if p.get(i).is_some_and(|x| x.is('-')) {
            let (h, next) = class_char(p, i + 1)?;
            hi = h;
            i = next;
        }
        if let Some(c) = c {
            if lo <= c && c <= hi {
                matched = true;
            }
        }
    }
    Ok((matched != negated, i))
}

fn class_char<C: Sym>(p: &[C], i: usize) -> Result<(C, usize), BadPattern> {
    match p.get(i) {
        None => Err(BadPattern),
        Some(c) if c.is('-') || c.is(']') => Err(BadPattern),
        Some(c) if c.is('\\') => p.get(i + 1).map(|c| (*c, i + 2)).ok_or(BadPattern),
        Some(c) => Ok((*c, i + 1)),
    }
}

fn match_here<C: Sym>(p: &[C], n: &[C]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    // Backtracking point for the last `*`: (pattern index after it, name index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                c if c.is('*') => {
                    star = Some((pi + 1, ni));
                    pi += 1;
                    continue;
                }
                c if c.is('?') && ni < n.len() && !n[ni].is('/') => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                c if c.is('[') && ni < n.len() && !n[ni].is('/') => {
                    if let Ok((true, next)) = parse_class(p, pi, Some(n[ni])) {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                c if c.is('\\') && ni < n.len() && p.get(pi + 1) == Some(&n[ni]) => {
                    pi += 2;
                    ni += 1;
                    continue;
                }
                c if !c.is('*')
                    && !c.is('?')
                    && !c.is('[')
                    && !c.is('\\')
                    && ni < n.len()
                    && n[ni] == c =>
                {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        } else if ni == n.len() {
            return true;
        }
        // Mismatch: let the last star swallow one more (non-separator) character.
        match star {
            Some((sp, sn)) if sn < n.len() && !n[sn].is('/') => {
                star = Some((sp, sn + 1));
                pi = sp;
                ni = sn + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_semantics() {
        assert_eq!(go_match("*.yaml", "a.yaml"), Ok(true));
        assert_eq!(go_match("*.yaml", "dir/a.yaml"), Ok(false));
        assert_eq!(go_match("templates/*", "templates/a.yaml"), Ok(true));
        assert_eq!(go_match("a?c", "abc"), Ok(true));
        assert_eq!(go_match("a?c", "a/c"), Ok(false));
        assert_eq!(go_match("[a-c]x", "bx"), Ok(true));
        assert_eq!(go_match("[^a-c]x", "bx"), Ok(false));
        assert_eq!(go_match("\\*", "*"), Ok(true));
        assert_eq!(go_match("*", ""), Ok(true));
        assert_eq!(go_match("a*b*c", "axxbyyc"), Ok(true));
        assert_eq!(go_match("[", "a"), Err(BadPattern));
        assert_eq!(go_match("a\\", "a"), Err(BadPattern));
        assert_eq!(go_match("*.yäml", "a.yäml"), Ok(true));
        assert_eq!(go_match("?.yaml", "ä.yaml"), Ok(true));
        assert_eq!(go_match("[ä-ö]", "ö"), Ok(true));
    }

    #[test]
    fn helmignore_rules() {
        let mut rules = IgnoreRules::parse(
            "# comment\n.git/\n*.tmp\n/top.txt\nci/*.yaml\n\n",
            ".helmignore",
        )
        .unwrap();
        rules.add_defaults();
        assert!(rules.ignores(".git", true));
        assert!(
            !rules.ignores(".git", false),
            "trailing / only matches dirs"
        );
        assert!(rules.ignores("templates/x.tmp", false));
        assert!(rules.ignores("top.txt", false));
        assert!(!rules.ignores("sub/top.txt", false));
        assert!(rules.ignores("ci/a.yaml", false));
        assert!(rules.ignores("templates/.hidden", false));
        assert!(!rules.ignores("templates/x.yaml", false));
    }

    #[test]
    fn negated_rule_ignores_what_it_does_not_match() {
        let rules = IgnoreRules::parse("!*.yaml\n", "x").unwrap();
        assert!(rules.ignores("README.md", false));
        assert!(!rules.ignores("values.yaml", false));
    }

    #[test]
    fn bad_rules_name_file_and_line() {
        let err = IgnoreRules::parse("ok\nfoo/**/bar\n", "chart/.helmignore").unwrap_err();
        assert_eq!(
            err.to_string(),
            "chart/.helmignore: line 2: double-star (**) syntax is not supported"
        );
        let err = IgnoreRules::parse("[z-\n", "c/.helmignore").unwrap_err();
        assert!(matches!(err, IgnoreError::BadPattern { line: 1, .. }));
    }
}
