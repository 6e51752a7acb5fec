//! `replacements`: copy a field of one resource into fields of others.
//!
//! Field paths are dotted (`spec.template.spec.containers.0.image`), with `[key=value]`
//! selecting a list element and `[a.b/c]` quoting a key that holds dots.

use super::error::KustomizeError;
use super::kustomization::{Replacement, ReplacementEntry, ReplacementOptions, Selector};
use super::selector::Matcher;
use super::target::{Accumulator, Context};
use super::value::{Mapping, Value};

/// Runs the kustomization's replacements in order.
pub fn run(ctx: &Context<'_>, acc: &mut Accumulator) -> Result<(), KustomizeError> {
    for entry in &ctx.k.replacements {
        let list: Vec<Replacement> = match entry {
            ReplacementEntry::Inline(r) => vec![r.clone()],
            ReplacementEntry::Path { path } => {
                let (resolved, text) = ctx.read(path, "replacements")?;
                serde_yaml::from_str(&text)
                    .and_then(super::fold::from_value)
                    .map_err(|source| KustomizeError::Malformed {
                        file: resolved,
                        source,
                    })?
            }
        };
        for r in &list {
            apply(acc, r).map_err(|e| KustomizeError::transform(ctx.file, "replacements", e))?;
        }
    }
    Ok(())
}

fn apply(acc: &mut Accumulator, r: &Replacement) -> Result<(), String> {
    let source = r.source.as_ref().ok_or("a replacement needs a `source`")?;
    let selector = Selector {
        group: source.group.clone(),
        version: source.version.clone(),
        kind: source.kind.clone(),
        name: source.name.as_ref().map(|n| regex::escape(n)),
        namespace: source.namespace.as_ref().map(|n| regex::escape(n)),
        ..Selector::default()
    };
    let m = Matcher::new(&selector)?;
    let found: Vec<&super::resource::Resource> =
        acc.resources.iter().filter(|r| m.matches(r)).collect();
    let src = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "nothing selected by source {}",
                describe(&selector)
            ))
        }
        _ => {
            return Err(format!(
                "multiple matches for source {}",
                describe(&selector)
            ))
        }
    };
    let path = parse_path(source.field_path.as_deref().unwrap_or("metadata.name"))?;
    let mut value = lookup(&src.value, &path).cloned().ok_or_else(|| {
        format!(
            "source field {} not found in {}",
            source.field_path.as_deref().unwrap_or("metadata.name"),
            src.id()
        )
    })?;
    if let Some(opts) = &source.options {
        if let Some(d) = opts.delimiter.as_deref().filter(|d| !d.is_empty()) {
            let text = value
                .scalar_text()
                .ok_or("a delimited source must be a scalar")?;
            let parts: Vec<&str> = text.split(d).collect();
            let i = usize::try_from(opts.index).map_err(|_| "negative source index")?;
            value = Value::String(
                parts
                    .get(i)
                    .ok_or_else(|| format!("source index {i} out of range"))?
                    .to_string(),
            );
        }
    }
    for target in &r.targets {
        let select = target
            .select
            .as_ref()
            .ok_or("a replacement target needs `select`")?;
        let m = Matcher::new(select)?;
        let rejects = target
            .reject
            .iter()
            .map(Matcher::new)
            .collect::<Result<Vec<_>, _>>()?;
        let opts = target.options.clone().unwrap_or_default();
        for res in acc.resources.iter_mut() {
            if !m.matches(res) || rejects.iter().any(|r| r.matches(res)) {
                continue;
            }
            for fp in &target.field_paths {
                let path = parse_path(fp)?;
                set(&mut res.value, &path, &value, &opts)
                    .map_err(|e| format!("{fp} in {}: {e}", res.id()))?;
            }
        }
    }
    Ok(())
}

fn describe(s: &Selector) -> String {
    [&s.group, &s.version, &s.kind, &s.name, &s.namespace]
        .iter()
        .filter_map(|f| f.as_deref())
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Match(String, String),
}

/// Splits a dotted field path into steps.
fn parse_path(p: &str) -> Result<Vec<Step>, String> {
    let p = p.strip_prefix('.').unwrap_or(p);
    let mut steps = Vec::new();
    let mut cur = String::new();
    let mut bracket: Option<String> = None;
    for c in p.chars() {
        if let Some(b) = bracket.as_mut() {
            if c == ']' {
                let inner = bracket.take().unwrap_or_default();
                steps.push(match inner.split_once('=') {
                    Some((k, v)) => Step::Match(k.to_string(), v.to_string()),
                    None => Step::Key(inner),
                });
            } else {
                b.push(c);
            }
            continue;
        }
        match c {
            '[' if cur.is_empty() => bracket = Some(String::new()),
            '.' => {
                if !cur.is_empty() {
                    steps.push(step(&std::mem::take(&mut cur)));
                }
            }
            c => cur.push(c),
        }
    }
    if bracket.is_some() {
        return Err(format!("unclosed '[' in field path {p:?}"));
    }
    if !cur.is_empty() {
        steps.push(step(&cur));
    }
    Ok(steps)
}

fn step(s: &str) -> Step {
    match s.parse::<usize>() {
        Ok(i) => Step::Index(i),
        Err(_) => Step::Key(s.to_string()),
    }
}

fn lookup<'a>(v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = v;
    for s in path {
        cur = match (s, cur) {
            (Step::Key(k), Value::Map(m)) => m.get(k)?,
            (Step::Index(i), Value::Seq(l)) => l.get(*i)?,
            (Step::Match(k, want), Value::Seq(l)) => l.iter().find(|e| {
                e.get_path(&[k.as_str()])
                    .and_then(Value::scalar_text)
                    .as_deref()
                    == Some(want.as_str())
            })?,
            _ => return None,
        };
    }
    Some(cur)
}

fn set(
    v: &mut Value,
    path: &[Step],
    value: &Value,
    opts: &ReplacementOptions,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *v = match opts.delimiter.as_deref().filter(|d| !d.is_empty()) {
            None => value.clone(),
            Some(d) => {
                let current = v.scalar_text().unwrap_or_default();
                let mut parts: Vec<String> = current.split(d).map(str::to_string).collect();
                let i = usize::try_from(opts.index).map_err(|_| "negative target index")?;
                while parts.len() <= i {
                    parts.push(String::new());
                }
                parts[i] = value
                    .scalar_text()
                    .ok_or("a delimited replacement needs a scalar")?;
                Value::String(parts.join(d))
            }
        };
        return Ok(());
    };
    match (first, v) {
        (Step::Key(k), Value::Map(m)) => {
            if !m.contains_key(k) {
                if !opts.create {
                    return Ok(());
                }
                m.insert(
                    k.clone(),
                    if rest.is_empty() {
                        Value::Null
                    } else {
                        Value::Map(Mapping::new())
                    },
                );
            }
            match m.get_mut(k) {
                Some(child) => set(child, rest, value, opts),
                None => Ok(()),
            }
        }
        (Step::Key(k), v @ Value::Null) if opts.create => {
            let mut m = Mapping::new();
            m.insert(
                k.clone(),
                if rest.is_empty() {
                    Value::Null
                } else {
                    Value::Map(Mapping::new())
                },
            );
            *v = Value::Map(m);
            set(v, path, value, opts)
        }
        (Step::Index(i), Value::Seq(l)) => {
            if *i == l.len() && opts.create {
                l.push(Value::Null);
            }
            match l.get_mut(*i) {
                Some(child) => set(child, rest, value, opts),
                None => Ok(()),
            }
        }
        (Step::Index(_), v @ Value::Null) if opts.create => {
            *v = Value::Seq(Vec::new());
            set(v, path, value, opts)
        }
        (Step::Match(k, want), Value::Seq(l)) => {
            for e in l.iter_mut() {
                if e.get_path(&[k.as_str()])
                    .and_then(Value::scalar_text)
                    .as_deref()
                    == Some(want.as_str())
                {
                    set(e, rest, value, opts)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::document::parse_one;

    #[test]
    fn paths_parse_indexes_matches_and_quoted_keys() {
        assert_eq!(
            parse_path(".metadata.annotations.[cert-manager.io/inject-ca-from]").unwrap(),
            vec![
                Step::Key("metadata".into()),
                Step::Key("annotations".into()),
                Step::Key("cert-manager.io/inject-ca-from".into())
            ]
        );
        assert_eq!(
            parse_path("spec.containers.[name=web].env.0").unwrap(),
            vec![
                Step::Key("spec".into()),
                Step::Key("containers".into()),
                Step::Match("name".into(), "web".into()),
                Step::Key("env".into()),
                Step::Index(0)
            ]
        );
    }

    #[test]
    fn delimited_targets_replace_one_part() {
        let mut v = parse_one("host: svc.ns.svc.cluster.local").unwrap();
        let opts = ReplacementOptions {
            delimiter: Some(".".into()),
            index: 1,
            create: false,
        };
        set(
            &mut v,
            &parse_path("host").unwrap(),
            &Value::String("prod".into()),
            &opts,
        )
        .unwrap();
        assert_eq!(v.get_str(&["host"]), Some("svc.prod.svc.cluster.local"));
    }
}
