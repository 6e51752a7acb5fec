//! `.fleetignore`: files and directories a bundle leaves out. Every rule of Fleet holds (a
//! line is a glob matched against an entry's base name, `dir/*` leaves out the directory
//! `dir`, and a file's patterns apply to its directory and everything below it, never to
//! siblings); on top, the gitignore forms Fleet users expect work too: `!` re-includes,
//! a trailing `/` matches directories only, and a pattern with a `/` inside is anchored
//! to the `.fleetignore`'s directory (`**` for any depth). The last matching line wins.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

/// The file name Fleet reads in every directory of a bundle.
pub const FLEETIGNORE: &str = ".fleetignore";

/// What one line matches.
#[derive(Debug, Clone)]
enum Matcher {
    /// Fleet's `name/*`: the directory called `name`, at any depth.
    Directory(String),
    /// A glob matched against the base name of files and directories.
    Name(GlobMatcher),
    /// A glob with a `/`, matched against the path below the `.fleetignore`'s directory.
    Anchored(GlobMatcher),
}

/// One line of a `.fleetignore`.
#[derive(Debug, Clone)]
struct Rule {
    matcher: Matcher,
    /// The directory of the `.fleetignore` (relative to the bundle, `""` at its root).
    base: String,
    negated: bool,
    dir_only: bool,
}

/// Why a `.fleetignore` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetIgnoreError {
    #[error("{}: reading .fleetignore: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: invalid pattern {pattern:?}: {source}", file.display())]
    Pattern {
        file: PathBuf,
        line: usize,
        pattern: String,
        #[source]
        source: globset::Error,
    },
}

/// The rules in force in one directory: its own `.fleetignore` plus its ancestors' (up to
/// the bundle root).
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// The rules for the directory `dir` (at `rel_dir` below the bundle root, `""` for the
    /// root), given the rules of its parent (`self`): the parent's plus those of
    /// `dir/.fleetignore`, if any.
    pub fn enter(&self, dir: &Path, rel_dir: &str) -> Result<IgnoreRules, FleetIgnoreError> {
        let file = dir.join(FLEETIGNORE);
        let text = match std::fs::read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(self.clone()),
            Err(source) => return Err(FleetIgnoreError::Read { file, source }),
        };
        let mut rules = self.clone();
        rules.extend_from(&file, rel_dir, &text)?;
        Ok(rules)
    }

    /// Adds the lines of a `.fleetignore` text found in `rel_dir` (`file` names it in
    /// errors).
    pub fn extend_from(
        &mut self,
        file: &Path,
        rel_dir: &str,
        text: &str,
    ) -> Result<(), FleetIgnoreError> {
        for (i, raw) in text.lines().enumerate() {
            let mut line = trim_unescaped_trailing_space(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let negated = line.starts_with('!');
            if negated {
                line = &line[1..];
            }
            let line = line.strip_prefix('\\').unwrap_or(line);
            let dir_only = line.ends_with('/') && line.len() > 1;
            let pattern = line.trim_end_matches('/');
            let glob = |p: &str| {
                GlobBuilder::new(p)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|source| FleetIgnoreError::Pattern {
                        file: file.to_path_buf(),
                        line: i + 1,
                        pattern: raw.trim().to_string(),
                        source,
                    })
            };
            let matcher = match pattern.strip_suffix("/*") {
                Some(dir) if !dir.is_empty() && !dir.contains('/') && !dir_only => {
                    Matcher::Directory(dir.to_string())
                }
                _ if pattern.contains('/') => {
                    Matcher::Anchored(glob(pattern.trim_start_matches('/'))?)
                }
                _ => Matcher::Name(glob(pattern)?),
            };
            self.rules.push(Rule {
                matcher,
                base: rel_dir.trim_matches('/').to_string(),
                negated,
                dir_only,
            });
        }
        Ok(())
    }

    /// Whether the entry at `rel_path` (below the bundle root) is left out.
    pub fn is_ignored(&self, rel_path: &str, is_dir: bool) -> bool {
        let name = rel_path.rsplit('/').next().unwrap_or(rel_path);
        let mut ignored = false;
        for rule in &self.rules {
            if rule.dir_only && !is_dir {
                continue;
            }
            let matched = match &rule.matcher {
                Matcher::Directory(dir) => is_dir && dir == name,
                Matcher::Name(glob) => glob.is_match(name),
                Matcher::Anchored(glob) => {
                    let below = if rule.base.is_empty() {
                        Some(rel_path)
                    } else {
                        rel_path
                            .strip_prefix(rule.base.as_str())
                            .and_then(|r| r.strip_prefix('/'))
                    };
                    below.is_some_and(|p| glob.is_match(p))
                }
            };
            if matched {
                ignored = !rule.negated;
            }
        }
        ignored
    }
}

/// Trailing blanks are dropped unless the last one is escaped with a backslash.
fn trim_unescaped_trailing_space(line: &str) -> &str {
    let trimmed = line.trim_end();
    if trimmed.len() < line.len() && trimmed.ends_with('\\') {
        // keep the escaped blank
        &line[..trimmed.len() + 1]
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        let mut r = IgnoreRules::default();
        r.extend_from(Path::new(".fleetignore"), "", text).unwrap();
        r
    }

    #[test]
    fn globs_match_base_names_at_any_depth() {
        let r = rules("# comment\n\n*.md\nsecret.yaml   \nfoo?.txt\n");
        assert!(r.is_ignored("README.md", false));
        assert!(r.is_ignored("docs/README.md", false));
        assert!(r.is_ignored("secret.yaml", false));
        assert!(r.is_ignored("foo1.txt", false));
        assert!(!r.is_ignored("deploy.yaml", false));
        assert!(!r.is_ignored("foo12.txt", false));
    }

    #[test]
    fn dir_star_ignores_directories_only() {
        let r = rules("tests/*\n");
        assert!(r.is_ignored("tests", true));
        assert!(r.is_ignored("a/tests", true));
        assert!(!r.is_ignored("tests", false));
    }

    #[test]
    fn gitignore_forms() {
        let r = rules("*.yaml\n!keep.yaml\nbuild/\n/docs/**/*.txt\nsub/only.json\n");
        assert!(r.is_ignored("x.yaml", false));
        assert!(!r.is_ignored("keep.yaml", false), "negation re-includes");
        assert!(!r.is_ignored("a/keep.yaml", false));
        assert!(r.is_ignored("build", true));
        assert!(
            !r.is_ignored("build", false),
            "trailing slash: directories only"
        );
        assert!(r.is_ignored("docs/a/b/c.txt", false));
        assert!(
            !r.is_ignored("other/docs/c.txt", false),
            "anchored to the file's directory"
        );
        assert!(r.is_ignored("sub/only.json", false));
        assert!(!r.is_ignored("x/sub/only.json", false));
    }

    #[test]
    fn rules_inherit_down_but_not_across() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a")).unwrap();
        std::fs::create_dir_all(tmp.path().join("b")).unwrap();
        std::fs::write(tmp.path().join("a/.fleetignore"), "x.yaml\nnested/y.yaml\n").unwrap();
        let root = IgnoreRules::default().enter(tmp.path(), "").unwrap();
        let a = root.enter(&tmp.path().join("a"), "a").unwrap();
        let b = root.enter(&tmp.path().join("b"), "b").unwrap();
        assert!(a.is_ignored("a/x.yaml", false));
        assert!(a.is_ignored("a/nested/y.yaml", false));
        assert!(!a.is_ignored("a/y.yaml", false));
        assert!(!b.is_ignored("b/x.yaml", false));
    }

    #[test]
    fn invalid_pattern_names_file_and_line() {
        let mut r = IgnoreRules::default();
        let err = r
            .extend_from(Path::new("repo/.fleetignore"), "", "ok\n[unclosed\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("repo/.fleetignore:2:"), "{err}");
    }
}
