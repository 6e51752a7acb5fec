//! Helm's `toToml`, shaped like the BurntSushi encoder Helm uses: plain keys first,
//! then tables (`[a.b]`, nested tables indented by two spaces), keys sorted.

use minijinja::Value;

use super::printf::go_quote;
use super::{Args, Func};
use crate::helm::template::value::to_json;

pub fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "mustToToml" => |a: &Args| {
            a.arity(1)?;
            match to_json(a.get(0)) {
                Ok(serde_json::Value::Object(o)) => {
                    let mut out = String::new();
                    table(&mut out, &o, &[], 0);
                    Ok(Value::from(out))
                }
                Ok(_) => Err(super::FuncError::Call(
                    "toml: top-level values must be Go maps or structs".into(),
                )),
                Err(e) => Err(super::FuncError::Call(e.to_string())),
            }
        },
        "fromToml" => |a: &Args| {
            a.arity(1)?;
            Ok(match parse(a.str(0)?) {
                Ok(v) => crate::helm::template::value::from_json(&serde_json::Value::Object(v)),
                Err(e) => {
                    let mut m = std::collections::BTreeMap::new();
                    m.insert("Error".to_string(), Value::from(e));
                    crate::helm::template::value::new_map(m)
                }
            })
        },
        "toToml" => |a: &Args| {
            a.arity(1)?;
            Ok(Value::from(match to_json(a.get(0)) {
                Ok(serde_json::Value::Object(o)) => {
                    let mut out = String::new();
                    table(&mut out, &o, &[], 0);
                    out
                }
                Ok(_) => "toml: top-level values must be Go maps or structs".to_string(),
                Err(e) => e.to_string(),
            }))
        },
        _ => return None,
    })
}

fn is_table(v: &serde_json::Value) -> bool {
    matches!(v, serde_json::Value::Object(_))
}

fn is_table_array(v: &serde_json::Value) -> bool {
    matches!(v, serde_json::Value::Array(a) if !a.is_empty() && a.iter().all(is_table))
}

fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        go_quote(k)
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or(0.0);
                let s = format!("{f}");
                if s.contains(['.', 'e', 'E']) || !f.is_finite() {
                    s
                } else {
                    format!("{s}.0")
                }
            } else {
                n.to_string()
            }
        }
        serde_json::Value::String(s) => go_quote(s),
        serde_json::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(scalar).collect();
            format!("[{}]", items.join(", "))
        }
        serde_json::Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{} = {}", key(k), scalar(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// A blank line before a table header, except at the start or right after another
/// header (the encoder writes nothing between a table and its first sub-table).
fn header_gap(out: &mut String) {
    let last = out.trim_end_matches('\n').rsplit('\n').next().unwrap_or("");
    if !out.is_empty() && !last.trim_start().starts_with('[') {
        out.push('\n');
    }
}

fn table(
    out: &mut String,
    o: &serde_json::Map<String, serde_json::Value>,
    path: &[String],
    depth: usize,
) {
    let indent = "  ".repeat(depth);
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort();
    for k in &keys {
        let v = &o[k.as_str()];
        if v.is_null() || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&format!("{indent}{} = {}\n", key(k), scalar(v)));
    }
    for k in &keys {
        let v = &o[k.as_str()];
        let mut sub = path.to_vec();
        sub.push(key(k));
        let sub_indent = "  ".repeat(depth);
        match v {
            serde_json::Value::Object(m) => {
                header_gap(out);
                out.push_str(&format!("{sub_indent}[{}]\n", sub.join(".")));
                table(out, m, &sub, depth + 1);
            }
            serde_json::Value::Array(a) if is_table_array(v) => {
                for item in a {
                    if let serde_json::Value::Object(m) = item {
                        header_gap(out);
                        out.push_str(&format!("{sub_indent}[[{}]]\n", sub.join(".")));
                        table(out, m, &sub, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

type Table = serde_json::Map<String, serde_json::Value>;

/// Parses a TOML document into JSON's shape: integers stay integers (Go's `int64`),
/// floats are floats, dates are kept as their text.
pub fn parse(text: &str) -> Result<Table, String> {
    let mut p = TomlParser {
        s: text.as_bytes(),
        i: 0,
        line: 1,
    };
    let mut root = Table::new();
    // The path of the table the following keys go to.
    let mut current: Vec<String> = Vec::new();
    loop {
        p.skip_ws_comments_newlines();
        if p.i >= p.s.len() {
            return Ok(root);
        }
        if p.peek() == Some(b'[') {
            let array = p.s.get(p.i + 1) == Some(&b'[');
            p.i += if array { 2 } else { 1 };
            let path = p.key_path()?;
            p.expect(b']')?;
            if array {
                p.expect(b']')?;
            }
            p.end_of_line()?;
            let parent = walk(&mut root, &path[..path.len() - 1], p.line)?;
            let last = path[path.len() - 1].clone();
            if array {
                let entry = parent
                    .entry(last)
                    .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                match entry {
                    serde_json::Value::Array(items) => {
                        items.push(serde_json::Value::Object(Table::new()))
                    }
                    _ => return Err(p.err("key already defined as a non-array")),
                }
            } else {
                let entry = parent
                    .entry(last)
                    .or_insert_with(|| serde_json::Value::Object(Table::new()));
                if !entry.is_object() {
                    return Err(p.err("key already defined as a non-table"));
                }
            }
            current = path;
            continue;
        }
        let path = p.key_path()?;
        p.skip_ws();
        p.expect(b'=')?;
        p.skip_ws();
        let value = p.value()?;
        p.end_of_line()?;
        let line = p.line;
        // Arrays of tables: `walk` descends into their last table.
        let table = walk(&mut root, &current, line)?;
        let target = walk(table, &path[..path.len() - 1], line)?;
        let key = path[path.len() - 1].clone();
        if target.contains_key(&key) {
            return Err(format!("toml: line {line}: key {key:?} is already defined"));
        }
        target.insert(key, value);
    }
}

/// Follows `path` from `table`, creating tables, descending into the last element of
/// arrays of tables.
fn walk<'t>(table: &'t mut Table, path: &[String], line: usize) -> Result<&'t mut Table, String> {
    let mut t = table;
    for k in path {
        let entry = t
            .entry(k.clone())
            .or_insert_with(|| serde_json::Value::Object(Table::new()));
        t = match entry {
            serde_json::Value::Object(o) => o,
            serde_json::Value::Array(items) => match items.last_mut() {
                Some(serde_json::Value::Object(o)) => o,
                _ => return Err(format!("toml: line {line}: key {k:?} is not a table")),
            },
            _ => return Err(format!("toml: line {line}: key {k:?} is not a table")),
        };
    }
    Ok(t)
}

struct TomlParser<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
}

impl TomlParser<'_> {
    fn err(&self, msg: &str) -> String {
        format!("toml: line {}: {msg}", self.line)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected {:?}", b as char)))
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some(b'#') {
            while !matches!(self.peek(), None | Some(b'\n')) {
                self.i += 1;
            }
        }
    }

    fn skip_ws_comments_newlines(&mut self) {
        loop {
            self.skip_ws();
            self.skip_comment();
            match self.peek() {
                Some(b'\n') => {
                    self.i += 1;
                    self.line += 1;
                }
                Some(b'\r') => self.i += 1,
                _ => return,
            }
        }
    }

    fn end_of_line(&mut self) -> Result<(), String> {
        self.skip_ws();
        self.skip_comment();
        match self.peek() {
            None => Ok(()),
            Some(b'\n' | b'\r') => Ok(()),
            Some(_) => Err(self.err("expected a newline after the value")),
        }
    }

    fn key_path(&mut self) -> Result<Vec<String>, String> {
        let mut path = Vec::new();
        loop {
            self.skip_ws();
            let key = match self.peek() {
                Some(b'"') => self.basic_string()?,
                Some(b'\'') => self.literal_string()?,
                _ => {
                    let start = self.i;
                    while self
                        .peek()
                        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    {
                        self.i += 1;
                    }
                    if start == self.i {
                        return Err(self.err("expected a key"));
                    }
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
                }
            };
            path.push(key);
            self.skip_ws();
            if self.peek() == Some(b'.') {
                self.i += 1;
            } else {
                return Ok(path);
            }
        }
    }

    fn basic_string(&mut self) -> Result<String, String> {
        let multi = self.s[self.i..].starts_with(b"\"\"\"");
        self.i += if multi { 3 } else { 1 };
        if multi && self.peek() == Some(b'\n') {
            self.i += 1;
            self.line += 1;
        }
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            if multi && self.s[self.i..].starts_with(b"\"\"\"") {
                self.i += 3;
                break;
            }
            if !multi && b == b'"' {
                self.i += 1;
                break;
            }
            if b == b'\n' {
                if !multi {
                    return Err(self.err("newline in a string"));
                }
                self.line += 1;
            }
            if b == b'\\' {
                self.i += 1;
                let e = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                self.i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'"' => out.push(b'"'),
                    b'\\' => out.push(b'\\'),
                    b'u' | b'U' => {
                        let n = if e == b'u' { 4 } else { 8 };
                        let hex =
                            std::str::from_utf8(self.s.get(self.i..self.i + n).unwrap_or_default())
                                .unwrap_or("");
                        let c = u32::from_str_radix(hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.err("bad escape"))?;
                        self.i += n;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    b'\n' | b' ' | b'\t' | b'\r' if multi => {
                        // A line-ending backslash trims the following white space.
                        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                            if self.peek() == Some(b'\n') {
                                self.line += 1;
                            }
                            self.i += 1;
                        }
                    }
                    _ => return Err(self.err("bad escape")),
                }
                continue;
            }
            out.push(b);
            self.i += 1;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn literal_string(&mut self) -> Result<String, String> {
        let multi = self.s[self.i..].starts_with(b"\'\'\'");
        self.i += if multi { 3 } else { 1 };
        if multi && self.peek() == Some(b'\n') {
            self.i += 1;
            self.line += 1;
        }
        let start = self.i;
        loop {
            let Some(b) = self.peek() else {
                return Err(self.err("unterminated string"));
            };
            if multi && self.s[self.i..].starts_with(b"\'\'\'") {
                let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 3;
                return Ok(s);
            }
            if !multi && b == b'\'' {
                let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                return Ok(s);
            }
            if b == b'\n' {
                if !multi {
                    return Err(self.err("newline in a string"));
                }
                self.line += 1;
            }
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<serde_json::Value, String> {
        match self.peek() {
            Some(b'"') => Ok(serde_json::Value::String(self.basic_string()?)),
            Some(b'\'') => Ok(serde_json::Value::String(self.literal_string()?)),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws_comments_newlines();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                        return Ok(serde_json::Value::Array(items));
                    }
                    items.push(self.value()?);
                    self.skip_ws_comments_newlines();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err(self.err("expected , or ] in an array")),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut t = Table::new();
                loop {
                    self.skip_ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(serde_json::Value::Object(t));
                    }
                    let path = self.key_path()?;
                    self.skip_ws();
                    self.expect(b'=')?;
                    self.skip_ws();
                    let v = self.value()?;
                    let line = self.line;
                    let target = walk(&mut t, &path[..path.len() - 1], line)?;
                    target.insert(path[path.len() - 1].clone(), v);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(self.err("expected , or } in an inline table")),
                    }
                }
            }
            _ => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b']' | b'}' | b'\n' | b'\r' | b'#'))
                {
                    self.i += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.i])
                    .unwrap_or("")
                    .trim_end();
                self.i = start + word.len();
                scalar_value(word).ok_or_else(|| self.err(&format!("invalid value {word:?}")))
            }
        }
    }
}

fn scalar_value(word: &str) -> Option<serde_json::Value> {
    match word {
        "true" => return Some(serde_json::Value::Bool(true)),
        "false" => return Some(serde_json::Value::Bool(false)),
        _ => {}
    }
    let clean = word.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find(|(p, _)| body.starts_with(p));
    if let Some((p, r)) = radix {
        let n = i64::from_str_radix(&body[p.len()..], *r).ok()?;
        return Some(serde_json::Value::from(if neg { -n } else { n }));
    }
    if body.bytes().all(|b| b.is_ascii_digit()) && !body.is_empty() {
        let n: i64 = body.parse().ok()?;
        return Some(serde_json::Value::from(if neg { -n } else { n }));
    }
    // Dates and times keep their text.
    if body.len() >= 8 && body.as_bytes().get(4) == Some(&b'-')
        || body.as_bytes().get(2) == Some(&b':')
    {
        return Some(serde_json::Value::String(word.to_string()));
    }
    let f: f64 = match body.as_str() {
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        b => b.parse().ok()?,
    };
    serde_json::Number::from_f64(if neg { -f } else { f }).map(serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::template::value::from_json;

    #[test]
    fn nested_tables_and_arrays_of_tables() {
        // Expectation from helm 4.1.4.
        let v = from_json(&serde_json::json!({"a": {"b": {"c": 1}}, "l": [1, 2], "t": [{"x": 1}]}));
        let out = lookup("toToml").unwrap()(&Args {
            name: "toToml",
            vals: &[v],
        })
        .unwrap();
        assert_eq!(
            out,
            Value::from("l = [1, 2]\n\n[a]\n  [a.b]\n    c = 1\n\n[[t]]\n  x = 1\n")
        );
    }

    #[test]
    fn from_toml_reads_tables_arrays_and_errors() {
        let call = |t: &str| {
            lookup("fromToml").unwrap()(&Args {
                name: "fromToml",
                vals: &[Value::from(t)],
            })
            .unwrap()
        };
        // helm 4.1.4: fromToml "a = 1\n[b]\nc = \"x\"" prints map[a:1 b:map[c:x]].
        assert_eq!(
            crate::helm::template::value::fmt_v(&call("a = 1\n[b]\nc = \"x\"")),
            "map[a:1 b:map[c:x]]"
        );
        let v = call("# c\nl = [1, 2.5, 'lit']\n[[t]]\nx = true\n[[t]]\nx = false\n[s.u]\nk = { a = 0x10 }\n");
        assert_eq!(
            crate::helm::template::value::fmt_v(&v),
            "map[l:[1 2.5 lit] s:map[u:map[k:map[a:16]]] t:[map[x:true] map[x:false]]]"
        );
        let bad = call("a = \n");
        assert!(crate::helm::template::value::as_map(&bad)
            .unwrap()
            .get("Error")
            .is_some());
        let dup = call("a = 1\na = 2\n");
        assert!(crate::helm::template::value::as_map(&dup)
            .unwrap()
            .get("Error")
            .is_some());
    }

    #[test]
    fn keys_then_tables() {
        let v = from_json(&serde_json::json!({"b": {"c": 1, "d": "x"}, "a": 1.5, "e": true}));
        let out = lookup("toToml").unwrap()(&Args {
            name: "toToml",
            vals: &[v],
        })
        .unwrap();
        assert_eq!(
            out,
            Value::from("a = 1.5\ne = true\n\n[b]\n  c = 1\n  d = \"x\"\n")
        );
    }
}
