//! Choosing resources for patches, replacements and plugins (`target:` / `select:`).
//!
//! Group, version and kind match exactly (an empty field matches anything); name and
//! namespace are anchored regular expressions tried against both the original and the
//! current id; label and annotation selectors use Kubernetes' selector syntax.

use regex::Regex;

use super::kustomization::Selector;
use super::resource::Resource;

/// A compiled selector.
pub struct Matcher {
    group: String,
    version: String,
    kind: String,
    name: Option<Pattern>,
    namespace: Option<Pattern>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

/// A name or namespace pattern: a literal when it holds no regex syntax (the common
/// case, and much cheaper), else an anchored regular expression.
enum Pattern {
    Literal(String),
    Regex(Regex),
}

impl Pattern {
    fn is_match(&self, s: &str) -> bool {
        match self {
            Pattern::Literal(l) => l == s,
            Pattern::Regex(r) => r.is_match(s),
        }
    }
}

fn anchored(pattern: &Option<String>) -> Result<Option<Pattern>, String> {
    match pattern.as_deref() {
        None | Some("") => Ok(None),
        Some(p)
            if p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Ok(Some(Pattern::Literal(p.to_string())))
        }
        Some(p) => Regex::new(&format!("^(?:{p})$"))
            .map(|r| Some(Pattern::Regex(r)))
            .map_err(|e| format!("invalid regular expression {p:?}: {e}")),
    }
}

impl Matcher {
    /// Compiles a selector; fails on a bad regular expression or selector.
    pub fn new(s: &Selector) -> Result<Matcher, String> {
        Ok(Matcher {
            group: s.group.clone().unwrap_or_default(),
            version: s.version.clone().unwrap_or_default(),
            kind: s.kind.clone().unwrap_or_default(),
            name: anchored(&s.name)?,
            namespace: anchored(&s.namespace)?,
            labels: parse_requirements(s.label_selector.as_deref().unwrap_or(""))?,
            annotations: parse_requirements(s.annotation_selector.as_deref().unwrap_or(""))?,
        })
    }

    /// Whether the resource is selected.
    pub fn matches(&self, r: &Resource) -> bool {
        let cur = r.id();
        let org = r.original_id();
        if let Some(ns) = &self.namespace {
            if !ns.is_match(org.effective_namespace()) && !ns.is_match(cur.effective_namespace()) {
                return false;
            }
        }
        if let Some(name) = &self.name {
            if !name.is_match(&org.name) && !name.is_match(&cur.name) {
                return false;
            }
        }
        if !cur
            .gvk
            .is_selected_by(&self.group, &self.version, &self.kind)
        {
            return false;
        }
        let labels = r.labels();
        if !self.labels.iter().all(|q| q.matches(&labels)) {
            return false;
        }
        let annotations = r.annotations();
        self.annotations.iter().all(|q| q.matches(&annotations))
    }
}

/// One term of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, pairs: &[(String, String)]) -> bool {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        }
    }
}

/// Splits on commas outside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_requirements(s: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    for term in split_terms(s) {
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("invalid selector term {term:?}"))?;
            Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
        };
        let req = if let Some((k, v)) = term.split_once("!=") {
            Requirement::NotEquals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = term.split_once("==") {
            Requirement::Equals(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = term.split_once('=') {
            Requirement::Equals(k.trim().into(), v.trim().into())
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), set(rest)?)
        } else if let Some((k, rest)) = term.split_once(" in ") {
            Requirement::In(k.trim().into(), set(rest)?)
        } else if let Some(k) = term.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else {
            Requirement::Exists(term.trim().into())
        };
        out.push(req);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::document::parse_one;

    fn res(yaml: &str) -> Resource {
        Resource::new(parse_one(yaml).unwrap(), "t")
    }

    #[test]
    fn selects_by_kind_name_regex_and_labels() {
        let r = res("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-1\n  labels:\n    tier: front\n");
        let sel = |s: Selector| Matcher::new(&s).unwrap().matches(&r);
        assert!(sel(Selector {
            kind: Some("Deployment".into()),
            name: Some("web-.*".into()),
            ..Default::default()
        }));
        assert!(!sel(Selector {
            name: Some("web".into()),
            ..Default::default()
        }));
        assert!(sel(Selector {
            label_selector: Some("tier in (front,back),!gone".into()),
            ..Default::default()
        }));
        assert!(!sel(Selector {
            label_selector: Some("tier!=front".into()),
            ..Default::default()
        }));
        assert!(!sel(Selector {
            group: Some("".into()),
            version: Some("v2".into()),
            ..Default::default()
        }));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(&Selector {
            name: Some("(".into()),
            ..Default::default()
        })
        .is_err());
    }
}
