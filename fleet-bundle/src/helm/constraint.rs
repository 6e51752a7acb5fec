//! Semantic versions and version ranges as Helm reads them (Masterminds semver v3).
//!
//! Used wherever Helm compares versions: a dependency's `version` against the vendored
//! chart, `kubeVersion` against `--kube-version`, and a repository's index when picking a
//! chart version. The syntax is not Cargo's: `1.2` means `1.2.x`, `~1.2` means
//! `>=1.2.0 <1.3.0`, `^0.2.3` means `>=0.2.3 <0.3.0`, `1.2 - 1.4` is a hyphen range,
//! `,` or a space is AND, `||` is OR, and a range without a pre-release never matches a
//! pre-release version. An empty range means "any".

use std::cmp::Ordering;
use std::fmt;

/// A version as Masterminds' loose parser accepts it: optional `v`, missing minor or
/// patch default to 0, optional pre-release and build metadata.
#[derive(Debug, Clone)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub build: String,
    original: String,
}

/// A version or a range that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    #[error("invalid semantic version {0:?}")]
    Version(String),
    #[error("improper constraint: {0}")]
    Constraint(String),
}

impl Version {
    /// Parses loosely (`v1.2`, `1`, `1.2.3-rc.1+build`).
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let err = || ConstraintError::Version(text.to_string());
        let s = text.strip_prefix('v').unwrap_or(text);
        let (rest, build) = match s.split_once('+') {
            Some((r, b)) => (r, b),
            None => (s, ""),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, p),
            None => (rest, ""),
        };
        let ident_ok = |part: &str| {
            part.split('.').all(|id| {
                !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        };
        if (!pre.is_empty() && !ident_ok(pre)) || (!build.is_empty() && !ident_ok(build)) {
            return Err(err());
        }
        if rest.ends_with('-') || s.ends_with('+') {
            return Err(err());
        }
        let mut nums = [0u64; 3];
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return Err(err());
        }
        for (i, part) in parts.iter().enumerate() {
            if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            nums[i] = part.parse().map_err(|_| err())?;
        }
        Ok(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre: pre.to_string(),
            build: build.to_string(),
            original: text.to_string(),
        })
    }

    fn new(major: u64, minor: u64, patch: u64, pre: &str) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: pre.to_string(),
            build: String::new(),
            original: String::new(),
        }
    }

    /// The text this version was parsed from.
    pub fn original(&self) -> &str {
        &self.original
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.build.is_empty() {
            write!(f, "+{}", self.build)?;
        }
        Ok(())
    }
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    let mut ai = a.split('.');
    let mut bi = b.split('.');
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}

/// Equality is precedence equality: build metadata does not count.
impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Tilde,
    Caret,
}

/// One comparison; `dirty` when the version had wildcards or missing parts (`1.2`,
/// `1.x`), which widens `=` into a range.
#[derive(Debug, Clone)]
struct Comparison {
    op: Op,
    version: Version,
    /// How many leading parts were given before a wildcard or the end (1 to 3), 0 for `*`.
    given: u8,
}

/// A parsed range: an OR of ANDs.
#[derive(Debug, Clone)]
pub struct Constraint {
    any_of: Vec<Vec<Comparison>>,
}

impl Constraint {
    /// Parses a Masterminds range.
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        let err = || ConstraintError::Constraint(text.to_string());
        let mut any_of = Vec::new();
        for alternative in text.split("||") {
            let tokens = tokenize(alternative);
            let mut all = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                // Hyphen range: `a - b`.
                if i + 2 < tokens.len() && tokens[i + 1] == "-" {
                    let low = parse_partial(&tokens[i]).ok_or_else(err)?;
                    let high = parse_partial(&tokens[i + 2]).ok_or_else(err)?;
                    all.push(Comparison {
                        op: Op::Ge,
                        version: low.0,
                        given: low.1,
                    });
                    all.push(Comparison {
                        op: Op::Le,
                        version: high.0,
                        given: high.1,
                    });
                    i += 3;
                    continue;
                }
                all.push(parse_comparison(&tokens[i]).ok_or_else(err)?);
                i += 1;
            }
            if all.is_empty() {
                all.push(Comparison {
                    op: Op::Ge,
                    version: Version::new(0, 0, 0, ""),
                    given: 0,
                });
            }
            any_of.push(all);
        }
        Ok(Constraint { any_of })
    }

    /// Whether `version` satisfies the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.any_of
            .iter()
            .any(|all| all.iter().all(|c| c.matches(version)))
    }
}

/// Helm's `IsCompatibleRange`: false when either side does not parse.
pub fn is_compatible_range(constraint: &str, version: &str) -> bool {
    match (Constraint::parse(constraint), Version::parse(version)) {
        (Ok(c), Ok(v)) => c.matches(&v),
        _ => false,
    }
}

/// Splits on `,` and whitespace, gluing an operator to the version after it.
fn tokenize(text: &str) -> Vec<String> {
    let mut raw: Vec<String> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let t = std::mem::take(&mut raw[i]);
        let is_op_only = matches!(
            t.as_str(),
            "=" | "!=" | ">" | ">=" | "=>" | "<" | "<=" | "=<" | "~" | "~>" | "^"
        );
        if is_op_only && i + 1 < raw.len() {
            out.push(format!("{t}{}", raw[i + 1]));
            i += 2;
        } else {
            out.push(t);
            i += 1;
        }
    }
    out
}

/// Parses `1`, `1.2`, `1.2.x`, `*`, `v1.2.3-rc.1`; returns the version with wildcards
/// as zero and how many parts were given.
fn parse_partial(text: &str) -> Option<(Version, u8)> {
    let s = text.strip_prefix('v').unwrap_or(text);
    let (rest, _build) = s.split_once('+').unwrap_or((s, ""));
    let (core, pre) = rest.split_once('-').unwrap_or((rest, ""));
    let mut nums = [0u64; 3];
    let mut given = 0u8;
    let mut wildcard = false;
    for (i, part) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if matches!(part, "x" | "X" | "*") {
            wildcard = true;
            continue;
        }
        if wildcard || part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        nums[i] = part.parse().ok()?;
        given += 1;
    }
    Some((Version::new(nums[0], nums[1], nums[2], pre), given))
}

fn parse_comparison(token: &str) -> Option<Comparison> {
    let ops: [(&str, Op); 11] = [
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("=>", Op::Ge),
        ("<=", Op::Le),
        ("=<", Op::Le),
        ("~>", Op::Tilde),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
        ("~", Op::Tilde),
        ("^", Op::Caret),
    ];
    let (op, rest) = ops
        .iter()
        .find_map(|(p, op)| token.strip_prefix(p).map(|r| (*op, r)))
        .unwrap_or((Op::Eq, token));
    let (version, given) = parse_partial(rest.trim())?;
    Some(Comparison { op, version, given })
}

impl Comparison {
    fn matches(&self, v: &Version) -> bool {
        // A range without a pre-release never admits a pre-release version.
        if !v.pre.is_empty() && self.version.pre.is_empty() {
            return false;
        }
        let c = &self.version;
        let dirty = self.given < 3;
        match self.op {
            Op::Eq => {
                if dirty {
                    self.in_wildcard_range(v)
                } else {
                    v == c
                }
            }
            Op::Ne => {
                if dirty {
                    !self.in_wildcard_range(v)
                } else {
                    v != c
                }
            }
            Op::Gt => {
                if dirty {
                    // `>1.2` means above every 1.2.x.
                    match self.given {
                        0 => false,
                        1 => v.major > c.major,
                        _ => (v.major, v.minor) > (c.major, c.minor),
                    }
                } else {
                    v > c
                }
            }
            Op::Ge => v >= c,
            Op::Lt => v < c,
            Op::Le => {
                if dirty {
                    match self.given {
                        0 => true,
                        1 => v.major <= c.major,
                        _ => (v.major, v.minor) <= (c.major, c.minor),
                    }
                } else {
                    v <= c
                }
            }
            Op::Tilde => {
                if v < c {
                    return false;
                }
                if self.given <= 1 && c.minor == 0 && c.patch == 0 {
                    v.major == c.major
                } else {
                    v.major == c.major && v.minor == c.minor
                }
            }
            Op::Caret => {
                if v < c {
                    return false;
                }
                if c.major > 0 || self.given <= 1 {
                    v.major == c.major
                } else if c.minor > 0 || self.given == 2 {
                    v.major == c.major && v.minor == c.minor
                } else {
                    v.major == c.major && v.minor == c.minor && v.patch == c.patch
                }
            }
        }
    }

    fn in_wildcard_range(&self, v: &Version) -> bool {
        let c = &self.version;
        match self.given {
            0 => true,
            1 => v.major == c.major,
            2 => v.major == c.major && v.minor == c.minor,
            _ => v == c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        is_compatible_range(c, v)
    }

    #[test]
    fn versions_parse_loosely_and_order() {
        assert_eq!(Version::parse("v1.2").unwrap().to_string(), "1.2.0");
        assert!(Version::parse("1.2.3.4").is_err());
        assert!(Version::parse("x").is_err());
        assert!(Version::parse("1.0.0-rc.1").unwrap() < Version::parse("1.0.0").unwrap());
        assert!(Version::parse("1.0.0-rc.2").unwrap() > Version::parse("1.0.0-rc.1").unwrap());
    }

    #[test]
    fn masterminds_ranges() {
        assert!(ok("", "1.2.3"));
        assert!(ok("*", "0.0.1"));
        assert!(ok("1.2", "1.2.9"));
        assert!(!ok("1.2", "1.3.0"));
        assert!(ok("1.2.3", "1.2.3"));
        assert!(ok("~1.2.3", "1.2.9"));
        assert!(!ok("~1.2.3", "1.3.0"));
        assert!(ok("~1", "1.9.0"));
        assert!(ok("^1.2.3", "1.9.0"));
        assert!(!ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9"));
        assert!(!ok("^0.2.3", "0.3.0"));
        assert!(ok(">=1.19.0-0", "1.31.0"));
        assert!(ok(">= 1.21.0-0", "v1.31.0"));
        assert!(ok(">=1.2, <2", "1.5.0"));
        assert!(ok(">=1.2 <2", "1.5.0"));
        assert!(!ok(">=1.2 <2", "2.0.0"));
        assert!(ok("<1 || >=3", "3.1.0"));
        assert!(ok("1.2 - 1.4.5", "1.4.5"));
        assert!(!ok("1.2 - 1.4.5", "1.4.6"));
        assert!(ok("1.x", "1.7.0"));
        assert!(!ok(">1.2", "1.2.5"));
        assert!(ok(">1.2", "1.3.0"));
        assert!(
            !ok(">=1.0.0", "1.1.0-beta"),
            "pre-releases need a pre-release range"
        );
        assert!(ok(">=1.0.0-0", "1.1.0-beta"));
        assert!(!ok("not a range", "1.0.0"));
        assert!(!ok("1.0.0", "garbage"));
    }
}
