//! JSON patches (RFC 6902): `add`, `remove`, `replace`, `move`, `copy`, `test`, written in
//! YAML or JSON.

use super::value::Value;

/// One operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    op: String,
    path: Vec<String>,
    from: Option<Vec<String>>,
    value: Option<Value>,
}

/// Whether a parsed patch document is a JSON patch (a list of operations).
pub fn looks_like_json_patch(doc: &Value) -> bool {
    doc.as_seq()
        .is_some_and(|ops| ops.iter().all(|o| o.get_path(&["op"]).is_some()))
}

fn pointer(s: &str) -> Result<Vec<String>, String> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let rest = s
        .strip_prefix('/')
        .ok_or_else(|| format!("path {s:?} must start with '/'"))?;
    Ok(rest
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Reads the operations of a patch document.
pub fn parse(doc: &Value) -> Result<Vec<Operation>, String> {
    let ops = doc
        .as_seq()
        .ok_or("a JSON patch must be a list of operations")?;
    ops.iter()
        .map(|o| {
            let op = o
                .get_str(&["op"])
                .ok_or("an operation needs `op`")?
                .to_string();
            let path = pointer(
                o.get_str(&["path"])
                    .ok_or_else(|| format!("{op}: missing `path`"))?,
            )?;
            let from = o.get_str(&["from"]).map(pointer).transpose()?;
            let value = o.as_map().and_then(|m| m.get("value")).cloned();
            if matches!(op.as_str(), "add" | "replace" | "test") && value.is_none() {
                return Err(format!("{op} {}: missing `value`", path.join("/")));
            }
            if matches!(op.as_str(), "move" | "copy") && from.is_none() {
                return Err(format!("{op}: missing `from`"));
            }
            Ok(Operation {
                op,
                path,
                from,
                value,
            })
        })
        .collect()
}

/// Applies the operations in order.
pub fn apply(target: &mut Value, ops: &[Operation]) -> Result<(), String> {
    for o in ops {
        let shown = format!("/{}", o.path.join("/"));
        let fail = |e: String| format!("{} {shown}: {e}", o.op);
        match o.op.as_str() {
            "add" => add(target, &o.path, o.value.clone().unwrap_or(Value::Null)).map_err(fail)?,
            "remove" => {
                remove(target, &o.path).map_err(fail)?;
            }
            "replace" => {
                replace(target, &o.path, o.value.clone().unwrap_or(Value::Null)).map_err(fail)?
            }
            "move" => {
                let from = o.from.clone().unwrap_or_default();
                let v = remove(target, &from).map_err(fail)?;
                add(target, &o.path, v).map_err(fail)?;
            }
            "copy" => {
                let from = o.from.clone().unwrap_or_default();
                let v = get_mut(target, &from).map_err(fail)?.clone();
                add(target, &o.path, v).map_err(fail)?;
            }
            "test" => {
                let v = get_mut(target, &o.path).map_err(fail)?;
                if Some(&*v) != o.value.as_ref() {
                    return Err(fail("value differs".into()));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

fn index(list: &[Value], token: &str, for_add: bool) -> Result<usize, String> {
    if for_add && token == "-" {
        return Ok(list.len());
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("{token:?} is not a list index"))?;
    let max = if for_add {
        list.len()
    } else {
        list.len().saturating_sub(1)
    };
    if i > max || (!for_add && list.is_empty()) {
        return Err(format!("index {i} out of range"));
    }
    Ok(i)
}

fn get_mut<'a>(v: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = v;
    for token in path {
        cur = match cur {
            Value::Map(m) => m
                .get_mut(token)
                .ok_or_else(|| format!("field {token:?} not found"))?,
            Value::Seq(l) => {
                let i = index(l, token, false)?;
                &mut l[i]
            }
            _ => return Err(format!("cannot descend into a scalar at {token:?}")),
        };
    }
    Ok(cur)
}

/// `replace`; like kustomize's JSON patch library, a missing map key is added rather than
/// refused (list indexes must exist).
fn replace(v: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *v = value;
        return Ok(());
    };
    match get_mut(v, parent)? {
        Value::Map(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Seq(l) => {
            let i = index(l, last, false)?;
            l[i] = value;
            Ok(())
        }
        _ => Err("parent is not a map or list".into()),
    }
}

fn add(v: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *v = value;
        return Ok(());
    };
    match get_mut(v, parent)? {
        Value::Map(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Seq(l) => {
            let i = index(l, last, true)?;
            l.insert(i, value);
            Ok(())
        }
        _ => Err("parent is not a map or list".into()),
    }
}

fn remove(v: &mut Value, path: &[String]) -> Result<Value, String> {
    let (last, parent) = path
        .split_last()
        .ok_or("cannot remove the whole document")?;
    match get_mut(v, parent)? {
        Value::Map(m) => m
            .shift_remove(last)
            .ok_or_else(|| format!("field {last:?} not found")),
        Value::Seq(l) => {
            let i = index(l, last, false)?;
            Ok(l.remove(i))
        }
        _ => Err("parent is not a map or list".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::document::parse_one;

    #[test]
    fn applies_operations_in_order() {
        let mut v = parse_one("spec:\n  rules:\n  - a: 1\n  list: [x]\n").unwrap();
        let ops = parse(
            &parse_one(
                "- op: replace\n  path: /spec/rules/0/a\n  value: 2\n- op: add\n  path: /spec/list/-\n  value: y\n- op: remove\n  path: /spec/list/0\n- op: add\n  path: /spec/new~1key\n  value: {}\n",
            )
            .unwrap(),
        )
        .unwrap();
        apply(&mut v, &ops).unwrap();
        assert_eq!(
            v,
            parse_one("spec:\n  rules:\n  - a: 2\n  list: [y]\n  new/key: {}\n").unwrap()
        );
    }

    #[test]
    fn missing_paths_are_errors() {
        let mut v = parse_one("a: 1").unwrap();
        let ops = parse(&parse_one("- op: remove\n  path: /b").unwrap()).unwrap();
        assert!(apply(&mut v, &ops).unwrap_err().contains("/b"));
    }
}
