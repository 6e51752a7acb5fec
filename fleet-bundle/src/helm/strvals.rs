//! Helm's `--set` syntax (package `strvals`): `a.b=c,list[0]=x,esc\.aped=v`.
//!
//! Keys nest on `.`, lists index with `[n]` (growing with nulls; at most 65536), `{a,b}`
//! is a list value, `\` escapes the next character in keys and values, and `,`
//! separates assignments. Plain `--set` infers types: `true`/`false`/`null` (any case),
//! `0`, and decimal integers without a leading zero become int64; everything else is a
//! string. `--set-string` keeps strings, `--set-json` parses a JSON value (numbers as
//! float64), `--set-file` reads the file named by the value, `--set-literal` takes the
//! rest verbatim.

use serde_json::{Map, Value};

/// The deepest `a.b.c...` nesting `--set` accepts.
pub const MAX_NESTED_NAME_LEVEL: usize = 30;
/// The largest list index `--set` accepts.
pub const MAX_INDEX: usize = 65536;

/// Why a `--set` expression could not be applied (wording as Helm's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StrvalsError(pub String);

fn err(msg: impl Into<String>) -> StrvalsError {
    StrvalsError(msg.into())
}

/// How values are turned into JSON values.
enum Reader<'a> {
    Typed,
    Strings,
    Json,
    File(&'a dyn Fn(&str) -> Result<Value, String>),
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    reader: Reader<'a>,
}

/// The result of reading up to a stop character: what was read and the stop (None at
/// the end of input).
struct Until {
    text: String,
    stop: Option<char>,
}

/// `--set`: typed values.
pub fn parse_into(s: &str, dest: &mut Map<String, Value>) -> Result<(), StrvalsError> {
    Parser::new(s, Reader::Typed).parse(dest)
}

/// `--set-string`: every value a string.
pub fn parse_into_string(s: &str, dest: &mut Map<String, Value>) -> Result<(), StrvalsError> {
    Parser::new(s, Reader::Strings).parse(dest)
}

/// `--set-json`: every value a JSON document.
pub fn parse_json(s: &str, dest: &mut Map<String, Value>) -> Result<(), StrvalsError> {
    Parser::new(s, Reader::Json).parse(dest)
}

/// `--set-file`: every value a path, replaced by what `read` returns for it.
pub fn parse_into_file(
    s: &str,
    dest: &mut Map<String, Value>,
    read: &dyn Fn(&str) -> Result<Value, String>,
) -> Result<(), StrvalsError> {
    Parser::new(s, Reader::File(read)).parse(dest)
}

/// `--set-literal`: one assignment whose value is everything after the first `=`.
pub fn parse_literal_into(s: &str, dest: &mut Map<String, Value>) -> Result<(), StrvalsError> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(err(format!("key {s:?} has no value")));
    };
    let mut path: Vec<&str> = key.split('.').collect();
    if path.len() > MAX_NESTED_NAME_LEVEL + 1 {
        return Err(err(format!(
            "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
        )));
    }
    let last = path.pop().unwrap_or_default();
    let mut current = dest;
    for part in path {
        let entry = current
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = entry
            .as_object_mut()
            .ok_or_else(|| err(format!("unable to parse key: {part} is not a map")))?;
    }
    if !last.is_empty() {
        current.insert(last.to_string(), Value::String(value.to_string()));
    }
    Ok(())
}

/// Helm's `typedVal`.
fn typed_value(val: &str) -> Value {
    if val.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if val.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if val.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if val == "0" {
        return Value::Number(0i64.into());
    }
    if !val.is_empty() && !val.starts_with('0') {
        // Go's ParseInt(val, 10, 64): optional sign, decimal digits only.
        let digits = val.strip_prefix(['+', '-']).unwrap_or(val);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            if let Ok(i) = val.parse::<i64>() {
                return Value::Number(i.into());
            }
        }
    }
    Value::String(val.to_string())
}

impl<'a> Parser<'a> {
    fn new(s: &str, reader: Reader<'a>) -> Self {
        Parser {
            chars: s.chars().collect(),
            pos: 0,
            reader,
        }
    }

    fn parse(&mut self, dest: &mut Map<String, Value>) -> Result<(), StrvalsError> {
        while self.pos < self.chars.len() {
            if !self.key(dest, 0)? {
                break;
            }
        }
        Ok(())
    }

    fn read_value(&self, text: &str) -> Result<Value, StrvalsError> {
        match &self.reader {
            Reader::Typed => Ok(typed_value(text)),
            Reader::Strings | Reader::Json => Ok(Value::String(text.to_string())),
            Reader::File(read) => read(text).map_err(err),
        }
    }

    fn runes_until(&mut self, stops: &[char]) -> Until {
        let mut text = String::new();
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if stops.contains(&c) {
                return Until {
                    text,
                    stop: Some(c),
                };
            }
            if c == '\\' {
                match self.chars.get(self.pos) {
                    Some(&next) => {
                        self.pos += 1;
                        text.push(next);
                    }
                    None => return Until { text, stop: None },
                }
            } else {
                text.push(c);
            }
        }
        Until { text, stop: None }
    }

    /// Parses one assignment into `data`; `Ok(false)` at the end of input.
    fn key(&mut self, data: &mut Map<String, Value>, level: usize) -> Result<bool, StrvalsError> {
        let Until { text: k, stop } = self.runes_until(&['=', '[', ',', '.']);
        match stop {
            None => {
                if k.is_empty() {
                    Ok(false)
                } else {
                    Err(err(format!("key {k:?} has no value")))
                }
            }
            Some('[') => {
                let i = self
                    .key_index()
                    .map_err(|e| err(format!("error parsing index: {e}")))?;
                let list = match data.remove(&k) {
                    None => Vec::new(),
                    Some(Value::Array(list)) => list,
                    Some(other) => {
                        let kind = kind_name(&other);
                        data.insert(k.clone(), other);
                        return Err(err(format!(
                            "unable to parse key: interface conversion: interface {{}} is {kind}, not []interface {{}}"
                        )));
                    }
                };
                let (list, result) = self.list_item(list, i, level);
                if !k.is_empty() {
                    data.insert(k, Value::Array(list));
                }
                result.map(|()| true)
            }
            Some('=') => {
                if matches!(self.reader, Reader::Json) {
                    let value = self.json_value()?;
                    if !k.is_empty() {
                        data.insert(k, value);
                    }
                    return Ok(true);
                }
                match self.val_list() {
                    ValList::List(list) => {
                        let list = list?;
                        set(data, &k, Value::Array(list));
                        Ok(true)
                    }
                    ValList::Eof => {
                        set(data, &k, Value::String(String::new()));
                        Ok(false)
                    }
                    ValList::NotList => {
                        let Until { text, .. } = self.runes_until(&[',']);
                        let v = self.read_value(&text)?;
                        set(data, &k, v);
                        Ok(true)
                    }
                }
            }
            Some(',') => {
                set(data, &k, Value::String(String::new()));
                Err(err(format!("key {k:?} has no value (cannot end with ,)")))
            }
            Some(_) => {
                // '.'
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(err(format!(
                        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                    )));
                }
                let existed = data.remove(&k);
                let mut inner = match existed {
                    None => Map::new(),
                    Some(Value::Object(m)) => m,
                    Some(other) => {
                        let kind = kind_name(&other);
                        data.insert(k.clone(), other);
                        return Err(err(format!(
                            "unable to parse key: interface conversion: interface {{}} is {kind}, not map[string]interface {{}}"
                        )));
                    }
                };
                let result = self.key(&mut inner, level);
                let empty = inner.is_empty();
                if !k.is_empty() {
                    data.insert(k.clone(), Value::Object(inner));
                    if empty {
                        // Helm only stores a nested map that received something.
                        data.remove(&k);
                    }
                }
                match result {
                    // The inner assignment ended without storing anything.
                    Ok(true) if empty => Err(err(format!("key map {k:?} has no value"))),
                    other => other,
                }
            }
        }
    }

    fn key_index(&mut self) -> Result<usize, String> {
        let Until { text, stop } = self.runes_until(&[']']);
        if stop.is_none() {
            return Err("EOF".into());
        }
        let i: i64 = text
            .parse()
            .map_err(|_| format!("strconv.Atoi: parsing {text:?}: invalid syntax"))?;
        if i < 0 {
            return Err(format!("negative {i} index not allowed"));
        }
        usize::try_from(i).map_err(|e| e.to_string())
    }

    fn list_item(
        &mut self,
        mut list: Vec<Value>,
        i: usize,
        level: usize,
    ) -> (Vec<Value>, Result<(), StrvalsError>) {
        let Until { text, stop } = self.runes_until(&['[', '.', '=']);
        if !text.is_empty() {
            return (
                list,
                Err(err(format!(
                    "unexpected data at end of array index: {text:?}"
                ))),
            );
        }
        match stop {
            None => (list, Err(err("EOF"))),
            Some('=') => {
                let value = if matches!(self.reader, Reader::Json) {
                    match self.json_value() {
                        Ok(v) => v,
                        Err(e) => return (list, Err(e)),
                    }
                } else {
                    match self.val_list() {
                        ValList::List(Ok(l)) => Value::Array(l),
                        ValList::List(Err(e)) => return (list, Err(e)),
                        ValList::Eof => Value::String(String::new()),
                        ValList::NotList => {
                            let Until { text, .. } = self.runes_until(&[',']);
                            match self.read_value(&text) {
                                Ok(v) => v,
                                Err(e) => return (list, Err(e)),
                            }
                        }
                    }
                };
                let r = set_index(&mut list, i, value);
                (list, r)
            }
            Some('[') => {
                let next = match self.key_index() {
                    Ok(n) => n,
                    Err(e) => return (list, Err(err(format!("error parsing index: {e}")))),
                };
                let current = match list.get_mut(i).map(std::mem::take) {
                    Some(Value::Array(l)) => l,
                    _ => Vec::new(),
                };
                let (inner, r) = self.list_item(current, next, level);
                if let Err(e) = r {
                    return (list, Err(e));
                }
                let r = set_index(&mut list, i, Value::Array(inner));
                (list, r)
            }
            Some(_) => {
                // '.'
                let mut inner = match list.get_mut(i).map(std::mem::take) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                let r = self.key(&mut inner, level);
                if let Err(e) = r {
                    return (list, Err(e));
                }
                let r = set_index(&mut list, i, Value::Object(inner));
                (list, r)
            }
        }
    }

    /// `--set-json`: one JSON value (or nothing before `,`/end: null), then an optional `,`.
    fn json_value(&mut self) -> Result<Value, StrvalsError> {
        if self.empty_val() {
            return Ok(Value::Null);
        }
        let rest: String = self.chars[self.pos..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => return Err(err(e.to_string())),
            None => return Err(err("unexpected end of JSON input")),
        };
        let consumed = rest[..stream.byte_offset()].chars().count();
        self.pos += consumed;
        self.empty_val();
        Ok(super::values::json_numbers(value))
    }

    /// Skips whitespace; true at the end of input or after a `,`.
    fn empty_val(&mut self) -> bool {
        while let Some(&c) = self.chars.get(self.pos) {
            if c == ',' {
                self.pos += 1;
                return true;
            }
            if !c.is_whitespace() {
                return false;
            }
            self.pos += 1;
        }
        true
    }

    fn val_list(&mut self) -> ValList {
        match self.chars.get(self.pos) {
            None => return ValList::Eof,
            Some('{') => self.pos += 1,
            Some(_) => return ValList::NotList,
        }
        let mut list = Vec::new();
        loop {
            let Until { text, stop } = self.runes_until(&[',', '}']);
            match stop {
                None => return ValList::List(Err(err("list must terminate with '}'"))),
                Some('}') => {
                    if self.chars.get(self.pos) == Some(&',') {
                        self.pos += 1;
                    }
                    return ValList::List(self.read_value(&text).map(|v| {
                        list.push(v);
                        list
                    }));
                }
                Some(_) => match self.read_value(&text) {
                    Ok(v) => list.push(v),
                    Err(e) => return ValList::List(Err(e)),
                },
            }
        }
    }
}

enum ValList {
    List(Result<Vec<Value>, StrvalsError>),
    Eof,
    NotList,
}

fn set(data: &mut Map<String, Value>, key: &str, value: Value) {
    if !key.is_empty() {
        data.insert(key.to_string(), value);
    }
}

fn set_index(list: &mut Vec<Value>, index: usize, value: Value) -> Result<(), StrvalsError> {
    if index > MAX_INDEX {
        return Err(err(format!(
            "index of {index} is greater than maximum supported index of {MAX_INDEX}"
        )));
    }
    if list.len() <= index {
        list.resize(index + 1, Value::Null);
    }
    list[index] = value;
    Ok(())
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set_(s: &str) -> Value {
        let mut m = Map::new();
        parse_into(s, &mut m).unwrap();
        Value::Object(m)
    }

    #[test]
    fn typed_values_and_nesting() {
        assert_eq!(
            set_("a=1,b.c=true,d=NULL,e=0,f=007,g=-3,h=1.5,i="),
            json!({"a": 1, "b": {"c": true}, "d": null, "e": 0, "f": "007", "g": -3, "h": "1.5", "i": ""})
        );
        assert!(set_("a=1")["a"].as_number().unwrap().is_i64());
    }

    #[test]
    fn lists_and_escapes() {
        assert_eq!(set_("l[1]=x"), json!({"l": [null, "x"]}));
        assert_eq!(
            set_("l[0].name=a,l[0].v=2"),
            json!({"l": [{"name": "a", "v": 2}]})
        );
        assert_eq!(set_("l[0][1]=z"), json!({"l": [[null, "z"]]}));
        assert_eq!(set_("v={a,b,3}"), json!({"v": ["a", "b", 3]}));
        assert_eq!(
            set_(r"nodeSelector.kubernetes\.io/role=master,x=a\,b"),
            json!({"nodeSelector": {"kubernetes.io/role": "master"}, "x": "a,b"})
        );
    }

    #[test]
    fn strings_json_and_files() {
        let mut m = Map::new();
        parse_into_string("a=true,b=1", &mut m).unwrap();
        assert_eq!(Value::Object(m), json!({"a": "true", "b": "1"}));
        let mut m = Map::new();
        parse_json(r#"a={"x":[1,"y"]},b=null,c="s""#, &mut m).unwrap();
        assert_eq!(m["a"]["x"][0].as_f64(), Some(1.0));
        assert_eq!(m["b"], Value::Null);
        assert_eq!(m["c"], json!("s"));
        let mut m = Map::new();
        let read = |p: &str| -> Result<Value, String> { Ok(Value::String(format!("<{p}>"))) };
        parse_into_file("cert=ca.pem", &mut m, &read).unwrap();
        assert_eq!(m["cert"], json!("<ca.pem>"));
        let mut m = Map::new();
        parse_literal_into("a.b=x,y=z", &mut m).unwrap();
        assert_eq!(Value::Object(m), json!({"a": {"b": "x,y=z"}}));
    }

    #[test]
    fn helm_error_messages() {
        let e = |s: &str| {
            let mut m = Map::new();
            parse_into(s, &mut m).unwrap_err().to_string()
        };
        assert_eq!(e("name"), "key \"name\" has no value");
        assert_eq!(e("name,"), "key \"name\" has no value (cannot end with ,)");
        assert_eq!(
            e("a[x]=1"),
            "error parsing index: strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            e("a[-1]=1"),
            "error parsing index: negative -1 index not allowed"
        );
        assert_eq!(
            e("a[70000]=1"),
            "index of 70000 is greater than maximum supported index of 65536"
        );
        assert_eq!(e("a={b,c"), "list must terminate with '}'");
        let deep = format!("{}=1", vec!["k"; 40].join("."));
        assert!(e(&deep).contains("maximum supported nested level of 30"));
        let mut m = Map::new();
        m.insert("a".into(), json!("str"));
        let err = parse_into("a.b=1", &mut m).unwrap_err().to_string();
        assert!(err.starts_with("unable to parse key"), "{err}");
    }
}
