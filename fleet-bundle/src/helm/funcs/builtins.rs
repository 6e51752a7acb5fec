//! Go `text/template`'s own functions: comparisons, `not`, `len`, `index`, `print*`,
//! `html`, `js`, `urlquery`, `call` (`and`/`or` are in the executor: they are lazy).

use std::cmp::Ordering;

use minijinja::Value;

use super::printf::sprintf;
use super::{Args, Func, FuncError};
use crate::helm::template::value::{
    as_complex, as_float, as_int, as_list, as_map, fmt_v, go_bytes, kind, truth, type_name,
    GoStruct, Kind,
};

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "not" => not,
        "len" => len,
        "index" => index,
        "print" => print,
        "printf" => printf,
        "println" => println,
        "html" => html,
        "js" => js,
        "urlquery" => urlquery,
        "call" => call,
        "eq" => eq,
        "ne" => ne,
        "lt" => lt,
        "le" => le,
        "gt" => gt,
        "ge" => ge,
        _ => return None,
    })
}

fn not(a: &Args) -> Result<Value, FuncError> {
    a.arity(1)?;
    Ok(Value::from(!truth(a.get(0))))
}

fn len(a: &Args) -> Result<Value, FuncError> {
    a.arity(1)?;
    let v = a.get(0);
    let n = match kind(v) {
        Kind::String => v.as_str().map_or(0, |s| go_bytes(s).len()),
        Kind::Bytes | Kind::Slice => v.len().unwrap_or(0),
        Kind::Map => as_map(v).map_or(0, |m| m.len()),
        Kind::Struct => match v
            .downcast_object_ref::<GoStruct>()
            .and_then(|s| s.0.entries())
        {
            Some(e) => e.len(),
            None => return Err(FuncError::Call(format!("len of type {}", type_name(v)))),
        },
        Kind::Invalid | Kind::Nil => return Err(FuncError::Call("len of nil pointer".into())),
        _ => return Err(FuncError::Call(format!("len of type {}", type_name(v)))),
    };
    Ok(Value::from(n as i64))
}

fn index(a: &Args) -> Result<Value, FuncError> {
    a.at_least(1)?;
    let mut item = a.get(0).clone();
    if matches!(kind(&item), Kind::Invalid | Kind::Nil) {
        return Err(FuncError::Call("index of untyped nil".into()));
    }
    for idx in &a.vals[1..] {
        match kind(&item) {
            Kind::Nil | Kind::Invalid => {
                return Err(FuncError::Call("index of nil pointer".into()))
            }
            Kind::Slice | Kind::String | Kind::Bytes => {
                let len = item.len().unwrap_or(0);
                let i = match kind(idx) {
                    Kind::Int | Kind::Int64 => as_int(idx).unwrap_or(0),
                    Kind::Invalid | Kind::Nil => {
                        return Err(FuncError::Call("cannot index slice/array with nil".into()))
                    }
                    _ => {
                        return Err(FuncError::Call(format!(
                            "cannot index slice/array with type {}",
                            type_name(idx)
                        )))
                    }
                };
                if i < 0 || i as usize >= len {
                    return Err(FuncError::Call(format!("index out of range: {i}")));
                }
                item = match kind(&item) {
                    Kind::Slice => as_list(&item)
                        .and_then(|l| l.get(i as usize).cloned())
                        .unwrap_or_default(),
                    Kind::String => Value::from(i64::from(
                        item.as_str().unwrap_or("").as_bytes()[i as usize],
                    )),
                    _ => Value::from(i64::from(item.as_bytes().unwrap_or(&[])[i as usize])),
                };
            }
            Kind::Map => {
                let Some(key) = idx.as_str() else {
                    if matches!(kind(idx), Kind::Invalid | Kind::Nil) {
                        return Err(FuncError::Call(
                            "value is nil; should be of type string".into(),
                        ));
                    }
                    return Err(FuncError::Call(format!(
                        "value has type {}; should be string",
                        type_name(idx)
                    )));
                };
                item = as_map(&item)
                    .and_then(|m| m.get(key))
                    .unwrap_or_else(|| Value::from(()));
            }
            // Helm's Go map types (`.Files`).
            Kind::Struct if struct_entries(&item).is_some() => {
                let Some(key) = idx.as_str() else {
                    return Err(FuncError::Call(format!(
                        "value has type {}; should be string",
                        type_name(idx)
                    )));
                };
                item = struct_entries(&item)
                    .and_then(|e| e.into_iter().find(|(k, _)| k == key))
                    .map_or_else(|| Value::from_bytes(Vec::new()), |(_, v)| v);
            }
            _ => {
                return Err(FuncError::Call(format!(
                    "can't index item of type {}",
                    type_name(&item)
                )))
            }
        }
    }
    Ok(item)
}

/// The entries of one of Helm's Go map types.
fn struct_entries(v: &Value) -> Option<Vec<(String, Value)>> {
    v.downcast_object_ref::<GoStruct>()
        .and_then(|s| s.0.entries())
}

/// `fmt.Sprint`: a space between operands when neither side is a string.
pub fn sprint(vals: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in vals.iter().enumerate() {
        if i > 0 && kind(v) != Kind::String && kind(&vals[i - 1]) != Kind::String {
            out.push(' ');
        }
        out.push_str(&fmt_v(v));
    }
    out
}

fn print(a: &Args) -> Result<Value, FuncError> {
    Ok(Value::from(sprint(a.vals)))
}

fn println(a: &Args) -> Result<Value, FuncError> {
    let mut s = a.vals.iter().map(fmt_v).collect::<Vec<_>>().join(" ");
    s.push('\n');
    Ok(Value::from(s))
}

fn printf(a: &Args) -> Result<Value, FuncError> {
    a.at_least(1)?;
    let f = a.str(0)?;
    Ok(Value::from(sprintf(f, &a.vals[1..])))
}

/// Go's `evalArgs` for the escapers: one string as is, else `fmt.Sprint`.
fn escaper_input(a: &Args) -> String {
    if a.len() == 1 {
        if let Some(s) = a.get(0).as_str() {
            return s.to_string();
        }
    }
    sprint(a.vals)
}

fn html(a: &Args) -> Result<Value, FuncError> {
    let s = escaper_input(a);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Ok(Value::from(out))
}

fn js(a: &Args) -> Result<Value, FuncError> {
    let s = escaper_input(a);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() || super::printf::is_go_printable(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    Ok(Value::from(out))
}

/// `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn urlquery(a: &Args) -> Result<Value, FuncError> {
    Ok(Value::from(query_escape(&escaper_input(a))))
}

fn call(a: &Args) -> Result<Value, FuncError> {
    a.at_least(1)?;
    let v = a.get(0);
    if matches!(kind(v), Kind::Invalid | Kind::Nil) {
        return Err(FuncError::Call("call of nil".into()));
    }
    Err(FuncError::Call(format!(
        "non-function {} of type {}",
        fmt_v(v),
        type_name(v)
    )))
}

/// Go's `basicKind` classes for comparisons.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Basic {
    Bool,
    Int,
    Float,
    String,
    Complex,
    Other,
    Nil,
}

fn basic(v: &Value) -> Basic {
    match kind(v) {
        Kind::Bool => Basic::Bool,
        Kind::Int | Kind::Int64 => Basic::Int,
        Kind::Float => Basic::Float,
        Kind::String => Basic::String,
        Kind::Invalid | Kind::Nil => Basic::Nil,
        _ if as_complex(v).is_some() => Basic::Complex,
        _ => Basic::Other,
    }
}

/// Go's wording when two operands have different basic kinds.
fn incompatible(x: &Value, y: &Value) -> FuncError {
    FuncError::Call(format!(
        "incompatible types for comparison: {} and {}",
        type_name(x),
        type_name(y)
    ))
}

/// Go's `eq` for two operands.
pub fn go_eq(x: &Value, y: &Value) -> Result<bool, FuncError> {
    let (k1, k2) = (basic(x), basic(y));
    if k1 != k2 {
        if k1 == Basic::Nil || k2 == Basic::Nil {
            return Ok(false);
        }
        return Err(incompatible(x, y));
    }
    Ok(match k1 {
        Basic::Bool => x.is_true() == y.is_true(),
        Basic::Int => as_int(x) == as_int(y),
        Basic::Float => as_float(x) == as_float(y),
        Basic::String => x.as_str() == y.as_str(),
        Basic::Complex => as_complex(x) == as_complex(y),
        Basic::Nil => true,
        Basic::Other => {
            return Err(FuncError::Call(format!(
                "non-comparable type {}: {}",
                fmt_v(x),
                type_name(x)
            )));
        }
    })
}

fn eq(a: &Args) -> Result<Value, FuncError> {
    a.at_least(1)?;
    if a.len() == 1 {
        return Err(FuncError::Call("missing argument for comparison".into()));
    }
    for y in &a.vals[1..] {
        if go_eq(a.get(0), y)? {
            return Ok(Value::from(true));
        }
    }
    Ok(Value::from(false))
}

fn ne(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    Ok(Value::from(!go_eq(a.get(0), a.get(1))?))
}

fn go_lt(x: &Value, y: &Value) -> Result<bool, FuncError> {
    let (k1, k2) = (basic(x), basic(y));
    let unordered = |k| matches!(k, Basic::Nil | Basic::Other | Basic::Complex);
    if unordered(k1) || unordered(k2) {
        return Err(FuncError::Call("invalid type for comparison".into()));
    }
    if k1 != k2 {
        return Err(incompatible(x, y));
    }
    Ok(match k1 {
        Basic::Bool => return Err(FuncError::Call("invalid type for comparison".into())),
        Basic::Int => as_int(x) < as_int(y),
        Basic::Float => as_float(x).partial_cmp(&as_float(y)) == Some(Ordering::Less),
        _ => x.as_str() < y.as_str(),
    })
}

fn lt(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    Ok(Value::from(go_lt(a.get(0), a.get(1))?))
}

fn le(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    Ok(Value::from(
        go_lt(a.get(0), a.get(1))? || go_eq(a.get(0), a.get(1))?,
    ))
}

fn gt(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    Ok(Value::from(
        !(go_lt(a.get(0), a.get(1))? || go_eq(a.get(0), a.get(1))?),
    ))
}

fn ge(a: &Args) -> Result<Value, FuncError> {
    a.arity(2)?;
    Ok(Value::from(!go_lt(a.get(0), a.get(1))?))
}
