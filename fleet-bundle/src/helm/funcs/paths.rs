//! Sprig's path and URL functions: `base`, `dir`, `ext`, `clean`, `isAbs` (Go's
//! slash-separated `path` package), `urlParse`, `urlJoin`.

use std::collections::BTreeMap;

use minijinja::Value;

use super::{strval, Func, FuncError};
use crate::helm::template::value::new_map;

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "base" | "osBase" => |a| {
            a.arity(1)?;
            Ok(Value::from(base(a.str(0)?)))
        },
        "dir" | "osDir" => |a| {
            a.arity(1)?;
            Ok(Value::from(dir(a.str(0)?)))
        },
        "ext" | "osExt" => |a| {
            a.arity(1)?;
            let s = a.str(0)?;
            let b = &s[s.rfind('/').map_or(0, |i| i + 1)..];
            Ok(Value::from(b.rfind('.').map_or("", |i| &b[i..])))
        },
        "clean" | "osClean" => |a| {
            a.arity(1)?;
            Ok(Value::from(clean(a.str(0)?)))
        },
        "isAbs" | "osIsAbs" => |a| {
            a.arity(1)?;
            Ok(Value::from(a.str(0)?.starts_with('/')))
        },
        "urlParse" => |a| {
            a.arity(1)?;
            url_parse(a.str(0)?)
        },
        "urlJoin" => |a| {
            a.arity(1)?;
            let m = a.map(0)?;
            let get = |k: &str| m.get(k).map(|v| strval(&v)).unwrap_or_default();
            let mut out = String::new();
            let scheme = get("scheme");
            if !scheme.is_empty() {
                out.push_str(&scheme);
                out.push(':');
            }
            let opaque = get("opaque");
            if !opaque.is_empty() {
                out.push_str(&opaque);
            } else {
                let host = get("host");
                let userinfo = get("userinfo");
                if !host.is_empty() || !userinfo.is_empty() || !scheme.is_empty() {
                    out.push_str("//");
                    if !userinfo.is_empty() {
                        out.push_str(&userinfo);
                        out.push('@');
                    }
                    out.push_str(&host);
                }
                let path = get("path");
                if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
                    out.push('/');
                }
                out.push_str(&path);
            }
            let query = get("query");
            if !query.is_empty() {
                out.push('?');
                out.push_str(&query);
            }
            let fragment = get("fragment");
            if !fragment.is_empty() {
                out.push('#');
                out.push_str(&fragment);
            }
            Ok(Value::from(out))
        },
        _ => return None,
    })
}

/// Go's `path.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `path.Base`.
pub fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t[t.rfind('/').map_or(0, |i| i + 1)..].to_string()
}

/// Go's `path.Dir`.
pub fn dir(p: &str) -> String {
    let d = &p[..p.rfind('/').map_or(0, |i| i + 1)];
    clean(d)
}

fn url_parse(s: &str) -> Result<Value, FuncError> {
    let mut rest = s;
    let mut m = BTreeMap::new();
    let (before_frag, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    rest = before_frag;
    let (before_q, query) = rest.split_once('?').unwrap_or((rest, ""));
    rest = before_q;
    let mut scheme = "";
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        if !cand.is_empty()
            && cand.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            scheme = cand;
            rest = &rest[i + 1..];
        }
    }
    let (mut host, mut userinfo, mut path, mut opaque) = ("", "", rest, "");
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let authority = &after[..end];
        path = &after[end..];
        match authority.rsplit_once('@') {
            Some((u, h)) => {
                userinfo = u;
                host = h;
            }
            None => host = authority,
        }
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest;
        path = "";
    }
    let hostname = if host.starts_with('[') {
        host.find(']').map_or(host, |i| &host[1..i])
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    for (k, v) in [
        ("scheme", scheme),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query),
        ("opaque", opaque),
        ("fragment", fragment),
        ("userinfo", userinfo),
    ] {
        m.insert(k.to_string(), Value::from(v));
    }
    Ok(new_map(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::funcs::Args;
    use crate::helm::template::value::fmt_v;

    #[test]
    fn paths_like_go() {
        assert_eq!(base("a/b/c.txt"), "c.txt");
        assert_eq!(dir("a/b/c.txt"), "a/b");
        assert_eq!(clean("a//b/../c/."), "a/c");
        assert_eq!(clean("/../x"), "/x");
    }

    #[test]
    fn url_round_trip() {
        let v = lookup("urlParse").unwrap()(&Args {
            name: "urlParse",
            vals: &[Value::from("https://u:p@host:8443/p/a?q=1#f")],
        })
        .unwrap();
        assert_eq!(
            fmt_v(&v),
            "map[fragment:f host:host:8443 hostname:host opaque: path:/p/a query:q=1 scheme:https userinfo:u:p]"
        );
        let back = lookup("urlJoin").unwrap()(&Args {
            name: "urlJoin",
            vals: &[v],
        })
        .unwrap();
        assert_eq!(back, Value::from("https://u:p@host:8443/p/a?q=1#f"));
    }
}
