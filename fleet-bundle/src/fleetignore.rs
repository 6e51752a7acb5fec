//! `.fleetignore`: files and directories a bundle leaves out, with Fleet's rules (each line a
//! glob matched against an entry's base name, `dir/*` leaves out the directory `dir`, and a
//! file's patterns apply to its directory and everything below it, never to siblings).

use std::path::Path;

use globset::{GlobBuilder, GlobMatcher};

/// The file name Fleet reads in every directory of a bundle.
pub const FLEETIGNORE: &str = ".fleetignore";

/// One line of a `.fleetignore`.
#[derive(Debug, Clone)]
enum Pattern {
    /// `name/*`: the directory called `name`.
    Directory(String),
    /// A glob matched against the base name of files and directories.
    Name(GlobMatcher),
}

/// Why a `.fleetignore` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetIgnoreError {
    #[error("{}: reading .fleetignore: {source}", file.display())]
    Read {
        file: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: invalid pattern {pattern:?}: {source}", file.display())]
    Pattern {
        file: std::path::PathBuf,
        line: usize,
        pattern: String,
        #[source]
        source: globset::Error,
    },
}

/// The patterns in force in one directory: its own `.fleetignore` plus its ancestors' (up
/// to the bundle root).
#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// The rules for subdirectory `dir`, given the rules of its parent (`self`): the parent's
    /// patterns plus those of `dir/.fleetignore`, if any.
    pub fn enter(&self, dir: &Path) -> Result<IgnoreRules, FleetIgnoreError> {
        let file = dir.join(FLEETIGNORE);
        let text = match std::fs::read(&file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(self.clone()),
            Err(source) => return Err(FleetIgnoreError::Read { file, source }),
        };
        let mut rules = self.clone();
        rules.extend_from(&file, &text)?;
        Ok(rules)
    }

    /// Adds the patterns of a `.fleetignore` text (`file` names it in errors).
    pub fn extend_from(&mut self, file: &Path, text: &str) -> Result<(), FleetIgnoreError> {
        for (i, raw) in text.lines().enumerate() {
            let line = trim_unescaped_trailing_space(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let pattern = match line.strip_suffix("/*") {
                Some(dir) if !dir.is_empty() => Pattern::Directory(dir.to_string()),
                _ => {
                    let glob = GlobBuilder::new(line)
                        .literal_separator(true)
                        .backslash_escape(true)
                        .build()
                        .map_err(|source| FleetIgnoreError::Pattern {
                            file: file.to_path_buf(),
                            line: i + 1,
                            pattern: line.to_string(),
                            source,
                        })?;
                    Pattern::Name(glob.compile_matcher())
                }
            };
            self.patterns.push(pattern);
        }
        Ok(())
    }

    /// Whether the entry called `name` (a base name) in the directory these rules belong to
    /// is left out.
    pub fn is_ignored(&self, name: &str, is_dir: bool) -> bool {
        self.patterns.iter().any(|p| match p {
            Pattern::Directory(dir) => is_dir && dir == name,
            Pattern::Name(glob) => glob.is_match(name),
        })
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
        r.extend_from(Path::new(".fleetignore"), text).unwrap();
        r
    }

    #[test]
    fn globs_match_base_names() {
        let r = rules("# comment\n\n*.md\nsecret.yaml   \nfoo?.txt\n");
        assert!(r.is_ignored("README.md", false));
        assert!(r.is_ignored("secret.yaml", false));
        assert!(r.is_ignored("foo1.txt", false));
        assert!(!r.is_ignored("deploy.yaml", false));
        assert!(!r.is_ignored("foo12.txt", false));
    }

    #[test]
    fn dir_star_ignores_directories_only() {
        let r = rules("tests/*\n");
        assert!(r.is_ignored("tests", true));
        assert!(!r.is_ignored("tests", false));
    }

    #[test]
    fn rules_inherit_down_but_not_across() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a")).unwrap();
        std::fs::create_dir_all(tmp.path().join("b")).unwrap();
        std::fs::write(tmp.path().join("a/.fleetignore"), "x.yaml\n").unwrap();
        let root = IgnoreRules::default().enter(tmp.path()).unwrap();
        let a = root.enter(&tmp.path().join("a")).unwrap();
        let b = root.enter(&tmp.path().join("b")).unwrap();
        assert!(a.is_ignored("x.yaml", false));
        assert!(!b.is_ignored("x.yaml", false));
        let deeper = a.enter(&tmp.path().join("a")).unwrap();
        assert!(deeper.is_ignored("x.yaml", false));
    }

    #[test]
    fn invalid_pattern_names_file_and_line() {
        let mut r = IgnoreRules::default();
        let err = r
            .extend_from(Path::new("repo/.fleetignore"), "ok\n[unclosed\n")
            .unwrap_err();
        assert!(err.to_string().starts_with("repo/.fleetignore:2:"), "{err}");
    }
}
