//! YAML documents read the way Helm reads them: YAML 1.1 scalars (go-yaml v2) turned
//! into JSON values (sigs.k8s.io/yaml).
//!
//! Helm never sees YAML types directly: `sigs.k8s.io/yaml` decodes with go-yaml v2
//! (YAML 1.1: `yes`/`on`/`off` are booleans, `0755` is octal, `1_000` is an integer),
//! converts the result to JSON and decodes that JSON again. So every map key becomes a
//! string, and for untyped targets (values) every number becomes a float64. This module
//! keeps the first step exact ([`parse_documents`] returns integers as integers) and
//! leaves the float64 step to [`into_helm_numbers`], because typed targets such as
//! `Chart.yaml`'s string fields turn numbers back into strings instead
//! ([`scalar_as_go_string`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Chain, Read};

use libyaml_safer::{EventData, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Why a YAML document could not be read; positions are 1-based.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum YamlError {
    /// The text is not well-formed YAML.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Well-formed YAML that has no JSON equivalent (a `.nan`, a null map key, ...).
    #[error("line {line}, column {column}: {message}")]
    Unsupported {
        line: usize,
        column: usize,
        message: String,
    },
}

impl YamlError {
    /// libyaml's error, worded as go-yaml words it (`did not find expected key`, with the
    /// construct being read when there is one).
    fn syntax(err: &libyaml_safer::Error) -> Self {
        let mark = err.problem_mark().unwrap_or_default();
        let message = match err.context() {
            Some(context) if !context.is_empty() => format!("{} {}", context, err.problem()),
            _ => err.problem().to_string(),
        };
        YamlError::Syntax {
            line: mark.line as usize + 1,
            column: mark.column as usize + 1,
            message,
        }
    }

    fn unsupported(span: &Span, message: impl Into<String>) -> Self {
        YamlError::Unsupported {
            line: span.line,
            column: span.column,
            message: message.into(),
        }
    }
}

/// Parses every document of a YAML stream. Empty documents are `null`.
///
/// Integers stay integers (`i64`, or `u64` above `i64::MAX`) and floats are `f64`, as
/// go-yaml v2 resolves them; call [`into_helm_numbers`] for what Helm's values see.
pub fn parse_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut builder = Builder::new(text);
    let mut docs = Vec::new();
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                let (event, span) = builder.next()?;
                if matches!(event, Event::DocumentEnd) {
                    docs.push(Value::Null);
                } else {
                    docs.push(builder.node(event, span)?);
                }
            }
            other => {
                return Err(YamlError::unsupported(
                    &span,
                    format!("unexpected YAML event {other:?}"),
                ))
            }
        }
    }
    Ok(docs)
}

/// Parses the first document of a YAML text (what `yaml.Unmarshal` looks at); an empty
/// text is `null`.
pub fn parse_first(text: &str) -> Result<Value, YamlError> {
    Ok(parse_documents(text)?
        .into_iter()
        .next()
        .unwrap_or(Value::Null))
}

/// Parses the first document like [`parse_first`] but only materialises the map
/// entries whose key path (from the root) `keep` accepts; everything else is read and
/// checked for what would make Helm's decoder fail (a `.nan`, a null or complex key, a
/// bad merge or tag) without being built. Used to read a manifest's head cheaply while
/// still refusing the documents Helm refuses. Falls back to a full parse when an alias
/// refers to a skipped anchor.
pub fn parse_first_pruned(
    text: &str,
    keep: &dyn Fn(&[String]) -> bool,
) -> Result<Value, YamlError> {
    let mut builder = Builder::new(text);
    let mut pruned = Pruned {
        keep,
        path: Vec::new(),
        skipped_anchors: false,
    };
    loop {
        let (event, span) = builder.next()?;
        match event {
            Event::StreamStart => {}
            Event::StreamEnd | Event::DocumentEnd => return Ok(Value::Null),
            Event::DocumentStart => {
                let (event, span) = builder.next()?;
                if matches!(event, Event::DocumentEnd) {
                    return Ok(Value::Null);
                }
                return match pruned.node(&mut builder, event, span) {
                    Err(PruneError::NeedFull) => parse_first(text),
                    Err(PruneError::Yaml(e)) => Err(e),
                    Ok(v) => Ok(v),
                };
            }
            other => {
                return Err(YamlError::unsupported(
                    &span,
                    format!("unexpected YAML event {other:?}"),
                ))
            }
        }
    }
}

enum PruneError {
    Yaml(YamlError),
    /// An alias points into a skipped region: only a full parse can resolve it.
    NeedFull,
}

impl From<YamlError> for PruneError {
    fn from(e: YamlError) -> Self {
        PruneError::Yaml(e)
    }
}

struct Pruned<'k> {
    keep: &'k dyn Fn(&[String]) -> bool,
    path: Vec<String>,
    skipped_anchors: bool,
}

impl Pruned<'_> {
    /// Builds a kept node (its map children are filtered by `keep`).
    fn node(&mut self, b: &mut Builder<'_>, event: Event, span: Span) -> Result<Value, PruneError> {
        match event {
            Event::MappingStart(anchor) => {
                let mut map = Map::new();
                loop {
                    let (event, key_span) = b.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let is_merge = matches!(&event, Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<");
                    if is_merge {
                        // Merges are rare in manifests: keep their exact semantics.
                        let (event, span) = b.next()?;
                        let value = self.full(b, event, span)?;
                        merge_into(&mut map, value, &span)?;
                        continue;
                    }
                    let key = b.node(event, key_span)?;
                    let key = key_string(&key, &key_span)?;
                    let (event, span) = b.next()?;
                    self.path.push(key.clone());
                    let kept = (self.keep)(&self.path);
                    let result = if kept {
                        self.node(b, event, span).map(Some)
                    } else {
                        self.skip(b, event, span).map(|()| None)
                    };
                    self.path.pop();
                    if let Some(value) = result? {
                        map.insert(key, value);
                    } else {
                        map.remove(&key);
                    }
                }
                let value = Value::Object(map);
                if anchor.is_some() {
                    // A pruned map under an anchor would be reused incomplete.
                    self.skipped_anchors = true;
                }
                Ok(value)
            }
            other => self.full(b, other, span),
        }
    }

    fn full(&mut self, b: &mut Builder<'_>, event: Event, span: Span) -> Result<Value, PruneError> {
        if let Event::Alias(name) = &event {
            if self.skipped_anchors && !b.anchors.contains_key(name) {
                return Err(PruneError::NeedFull);
            }
        }
        Ok(b.node(event, span)?)
    }

    /// Reads a node without building it, failing where building would fail.
    fn skip(&mut self, b: &mut Builder<'_>, event: Event, span: Span) -> Result<(), PruneError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if anchor.is_some() {
                    self.skipped_anchors = true;
                }
                if tag.is_some() || (style == ScalarStyle::Plain && may_fail_plain(&text)) {
                    resolve_scalar(&text, style, tag.as_deref(), &span)?;
                }
                Ok(())
            }
            Event::Alias(_) => Ok(()),
            Event::SequenceStart(anchor) => {
                if anchor.is_some() {
                    self.skipped_anchors = true;
                }
                loop {
                    let (event, span) = b.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        return Ok(());
                    }
                    self.skip(b, event, span)?;
                }
            }
            Event::MappingStart(anchor) => {
                if anchor.is_some() {
                    self.skipped_anchors = true;
                }
                loop {
                    let (event, key_span) = b.next()?;
                    if matches!(event, Event::MappingEnd) {
                        return Ok(());
                    }
                    let is_merge = matches!(&event, Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<");
                    match event {
                        Event::Scalar(text, style, anchor, tag) => {
                            if anchor.is_some() {
                                self.skipped_anchors = true;
                            }
                            if style == ScalarStyle::Plain
                                && tag.is_none()
                                && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                            {
                                return Err(YamlError::unsupported(
                                    &key_span,
                                    "unsupported map key of type: <nil>",
                                )
                                .into());
                            }
                            if tag.is_some()
                                || (style == ScalarStyle::Plain && may_fail_plain(&text))
                            {
                                resolve_scalar(&text, style, tag.as_deref(), &key_span)?;
                            }
                        }
                        Event::Alias(_) => {
                            // The key's type is unknown without the anchor's value.
                            return Err(PruneError::NeedFull);
                        }
                        _ => {
                            return Err(YamlError::unsupported(
                                &key_span,
                                "unsupported map key: a map or a list cannot be a key",
                            )
                            .into());
                        }
                    }
                    let (event, span) = b.next()?;
                    if is_merge {
                        let value = self.full(b, event, span)?;
                        let mut scratch = Map::new();
                        merge_into(&mut scratch, value, &span)?;
                    } else {
                        self.skip(b, event, span)?;
                    }
                }
            }
            other => Err(
                YamlError::unsupported(&span, format!("unexpected YAML event {other:?}")).into(),
            ),
        }
    }
}

/// Plain scalars whose resolution can fail (`.nan`, `.inf` spellings).
fn may_fail_plain(text: &str) -> bool {
    let t = text.strip_prefix(['+', '-']).unwrap_or(text);
    t.starts_with('.')
        && t.len() == 4
        && matches!(&t[1..], "nan" | "NaN" | "NAN" | "inf" | "Inf" | "INF")
}

/// Turns every number into a float64, as the JSON round trip of `sigs.k8s.io/yaml` does
/// for untyped targets (Helm values, `fromYaml`).
pub fn into_helm_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(into_helm_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, into_helm_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The string a typed Go `string` field receives for a scalar (sigs.k8s.io/yaml coerces
/// numbers and booleans: `1.10` becomes `"1.1"`, `0755` becomes `"493"`). `None` for
/// null, maps and lists.
pub fn scalar_as_go_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            go_format_float32_g(n.as_f64().unwrap_or_default())
        }),
        _ => None,
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 32)`: the shortest digits that round-trip as a
/// float32, in exponent form when the decimal exponent is below -4 or at least 6.
fn go_format_float32_g(f: f64) -> String {
    #[allow(clippy::cast_possible_truncation)] // float32 precision is the point
    let f32v = f as f32;
    if f32v.is_nan() {
        return "NaN".into();
    }
    if f32v.is_infinite() {
        return if f32v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits for f32.
    let sci = format!("{f32v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // strconv decides the layout of a shortest `%g` with a precision of 6.
    let eprec = 6;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = usize::try_from(exp + 1).unwrap_or(0);
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// A libyaml event with what the builder uses of it: scalars carry their text, style,
/// anchor and resolved tag (`tag:yaml.org,2002:str` for `!!str`).
#[derive(Debug)]
enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias(String),
    Scalar(String, ScalarStyle, Option<String>, Option<String>),
    SequenceStart(Option<String>),
    SequenceEnd,
    MappingStart(Option<String>),
    MappingEnd,
}

/// Where an event starts, 1-based.
#[derive(Debug, Clone, Copy)]
struct Span {
    line: usize,
    column: usize,
}

/// Helm reads YAML with go-yaml, a port of libyaml; so do we (libyaml-safer is a port
/// of the same C code), which gives go-yaml's acceptance: no indentation is checked
/// inside flow collections and quoted scalars (`command: [` with `]` under `command`).
struct Builder<'a> {
    parser: Parser<Chain<&'a [u8], &'static [u8]>>,
    anchors: HashMap<String, Value>,
    /// The length of the text when a line break was added after it (see [`Builder::new`]).
    added_break_after: Option<u64>,
}

impl<'a> Builder<'a> {
    /// libyaml-safer panics where libyaml reads a line break at the end of the input
    /// (a block scalar whose last line has no break: `key: |` then `  text` at EOF),
    /// so a text that does not end in a line break is read with one added, and the one
    /// `\n` that this adds to a block scalar running to the end (`|`, `|+`, `>`) is taken
    /// off again in [`Builder::next`]. A last line of blanks only is dropped instead: it
    /// adds nothing to any value, while a break after it would (to `|+`).
    fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let (input, tail, added) = match bytes.last() {
            None | Some(b'\n' | b'\r') => (bytes, &b""[..], None),
            Some(_) => {
                let start = bytes
                    .iter()
                    .rposition(|b| matches!(b, b'\n' | b'\r'))
                    .map_or(0, |i| i + 1);
                if bytes[start..].iter().all(|b| matches!(b, b' ' | b'\t')) {
                    (&bytes[..start], &b""[..], None)
                } else {
                    (bytes, &b"\n"[..], Some(bytes.len() as u64))
                }
            }
        };
        let mut parser = Parser::new();
        parser.set_input(input.chain(tail));
        Builder {
            parser,
            anchors: HashMap::new(),
            added_break_after: added,
        }
    }

    fn next(&mut self) -> Result<(Event, Span), YamlError> {
        let event = self.parser.parse().map_err(|e| YamlError::syntax(&e))?;
        let span = Span {
            line: event.start_mark.line as usize + 1,
            column: event.start_mark.column as usize + 1,
        };
        let event = match event.data {
            EventData::StreamStart { .. } => Event::StreamStart,
            EventData::StreamEnd => Event::StreamEnd,
            EventData::DocumentStart { .. } => Event::DocumentStart,
            EventData::DocumentEnd { .. } => Event::DocumentEnd,
            EventData::Alias { anchor } => Event::Alias(anchor),
            EventData::Scalar {
                anchor,
                tag,
                mut value,
                style,
                ..
            } => {
                let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                if block
                    && value.ends_with('\n')
                    && self
                        .added_break_after
                        .is_some_and(|len| event.end_mark.index > len)
                {
                    value.pop();
                }
                Event::Scalar(value, style, anchor, tag)
            }
            EventData::SequenceStart { anchor, .. } => Event::SequenceStart(anchor),
            EventData::SequenceEnd => Event::SequenceEnd,
            EventData::MappingStart { anchor, .. } => Event::MappingStart(anchor),
            EventData::MappingEnd => Event::MappingEnd,
        };
        Ok((event, span))
    }

    fn node(&mut self, event: Event, span: Span) -> Result<Value, YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_deref(), &span)?;
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::Alias(name) => self.anchors.get(&name).cloned().ok_or_else(|| {
                YamlError::unsupported(&span, format!("unknown anchor '{name}' referenced"))
            }),
            Event::SequenceStart(anchor) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span)?);
                }
                let value = Value::Array(items);
                self.remember(anchor, &value);
                Ok(value)
            }
            Event::MappingStart(anchor) => {
                let value = Value::Object(self.mapping()?);
                self.remember(anchor, &value);
                Ok(value)
            }
            other => Err(YamlError::unsupported(
                &span,
                format!("unexpected YAML event {other:?}"),
            )),
        }
    }

    fn mapping(&mut self) -> Result<Map<String, Value>, YamlError> {
        let mut map = Map::new();
        loop {
            let (event, key_span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                return Ok(map);
            }
            let is_merge =
                matches!(&event, Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<");
            let key = self.node(event, key_span)?;
            let (event, span) = self.next()?;
            let value = self.node(event, span)?;
            if is_merge {
                merge_into(&mut map, value, &span)?;
                continue;
            }
            let key = key_string(&key, &key_span)?;
            map.insert(key, value);
        }
    }

    fn remember(&mut self, anchor: Option<String>, value: &Value) {
        if let Some(name) = anchor {
            self.anchors.insert(name, value.clone());
        }
    }
}

/// `<<: *base` or `<<: [*a, *b]`: go-yaml v2 sets the merged keys in place, the first
/// map of a list winning over later ones.
fn merge_into(map: &mut Map<String, Value>, value: Value, span: &Span) -> Result<(), YamlError> {
    match value {
        Value::Object(src) => {
            for (k, v) in src {
                map.insert(k, v);
            }
            Ok(())
        }
        Value::Array(items) => {
            for item in items.into_iter().rev() {
                match item {
                    Value::Object(src) => {
                        for (k, v) in src {
                            map.insert(k, v);
                        }
                    }
                    _ => {
                        return Err(YamlError::unsupported(
                            span,
                            "map merge requires map or sequence of maps as the value",
                        ))
                    }
                }
            }
            Ok(())
        }
        _ => Err(YamlError::unsupported(
            span,
            "map merge requires map or sequence of maps as the value",
        )),
    }
}

/// Map keys as sigs.k8s.io/yaml turns them into JSON object keys.
fn key_string(key: &Value, span: &Span) -> Result<String, YamlError> {
    match key {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            go_format_float32_g(n.as_f64().unwrap_or_default())
        }),
        Value::Null => Err(YamlError::unsupported(
            span,
            "unsupported map key of type: <nil>",
        )),
        Value::Array(_) | Value::Object(_) => Err(YamlError::unsupported(
            span,
            "unsupported map key: a map or a list cannot be a key",
        )),
    }
}

const CORE_TAG_HANDLE: &str = "tag:yaml.org,2002:";

/// The short core-schema name of a tag (`str` for `!!str`), if it is one.
fn core_tag(tag: Option<&str>) -> Option<&str> {
    tag?.strip_prefix(CORE_TAG_HANDLE)
}

fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&str>,
    span: &Span,
) -> Result<Value, YamlError> {
    match core_tag(tag) {
        Some("str") => return Ok(Value::String(text.to_string())),
        Some("binary") => {
            use base64::Engine as _;
            let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .map_err(|e| YamlError::unsupported(span, format!("!!binary value: {e}")))?;
            return Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        }
        Some(expected @ ("int" | "float" | "bool" | "null")) => {
            let value = resolve_plain(text, span)?;
            let matches = match (expected, &value) {
                ("int", Value::Number(n)) => !n.is_f64(),
                ("float", Value::Number(_)) => true,
                ("bool", Value::Bool(_)) | ("null", Value::Null) => true,
                _ => false,
            };
            if !matches {
                return Err(YamlError::unsupported(
                    span,
                    format!("cannot decode !!str `{text}` as a !!{expected}"),
                ));
            }
            if expected == "float" {
                let f = value.as_f64().unwrap_or_default();
                return Ok(Number::from_f64(f).map_or(Value::Null, Value::Number));
            }
            return Ok(value);
        }
        _ => {}
    }
    // A non-specific `!` tag, any custom tag, and every quoted or block scalar is a
    // string; only plain scalars are resolved.
    if tag.is_some() || style != ScalarStyle::Plain {
        return Ok(Value::String(text.to_string()));
    }
    resolve_plain(text, span)
}

/// go-yaml v2's `resolve` for an untagged plain scalar.
fn resolve_plain(text: &str, span: &Span) -> Result<Value, YamlError> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Ok(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Ok(Value::Bool(false))
        }
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => {
            return Err(YamlError::unsupported(
                span,
                format!("json: unsupported value: {text} (JSON has no NaN or infinity)"),
            ))
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.' {
        if let Some(f) = go_parse_float(text) {
            return float_value(f, span, text);
        }
        return Ok(Value::String(text.to_string()));
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return Ok(Value::String(text.to_string()));
    }
    let plain: Cow<'_, str> = if text.contains('_') {
        Cow::Owned(text.replace('_', ""))
    } else {
        Cow::Borrowed(text)
    };
    if let Some(i) = go_parse_int(&plain) {
        return Ok(Value::Number(i.into()));
    }
    if let Some(u) = go_parse_uint(&plain) {
        return Ok(Value::Number(u.into()));
    }
    if is_yaml_style_float(&plain) {
        if let Some(f) = go_parse_float(&plain) {
            return float_value(f, span, text);
        }
    }
    Ok(Value::String(text.to_string()))
}

fn float_value(f: f64, span: &Span, text: &str) -> Result<Value, YamlError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| YamlError::unsupported(span, format!("json: unsupported value: {text}")))
}

/// Splits an optional sign and Go's base prefix (`0x`, `0o`, `0b`, or a bare leading
/// `0` for octal), as `strconv.ParseInt(s, 0, 64)` does.
fn split_go_int(s: &str) -> Option<(bool, u32, &str)> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = rest.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &rest[2..]),
        Some("0o") => (8, &rest[2..]),
        Some("0b") => (2, &rest[2..]),
        _ if rest.len() > 1 && rest.starts_with('0') => (8, &rest[1..]),
        _ => (10, rest),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some((negative, radix, digits))
}

fn go_parse_int(s: &str) -> Option<i64> {
    let (negative, radix, digits) = split_go_int(s)?;
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude == 1 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(magnitude).ok().map(|m| -m)
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn go_parse_uint(s: &str) -> Option<u64> {
    let (negative, radix, digits) = split_go_int(s)?;
    if negative || s.starts_with('+') {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
/// Shared by every reader and printer that must decide as go-yaml does.
pub(crate) fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms YAML reaches here with.
fn go_parse_float(s: &str) -> Option<f64> {
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        parse_first(text).unwrap()
    }

    #[test]
    fn yaml_1_1_booleans_and_nulls() {
        // go-yaml v2 resolves a plain `y` key to true as well.
        assert_eq!(one("y: 1"), json!({"true": 1}));
        assert_eq!(
            one("a: yes\nb: off\nc: 'yes'\nd: ~\ne:\nf: On\ng: y"),
            json!({"a": true, "b": false, "c": "yes", "d": null, "e": null, "f": true, "g": true})
        );
    }

    #[test]
    fn go_integers_octal_hex_underscores() {
        assert_eq!(
            one("a: 0755\nb: 0x1F\nc: 1_000\nd: -12\ne: 08\nf: 1.5\ng: 1e3\nh: +7\ni: 0o17"),
            json!({"a": 493, "b": 31, "c": 1000, "d": -12, "e": 8.0, "f": 1.5, "g": 1000.0, "h": 7, "i": 15})
        );
    }

    #[test]
    fn helm_numbers_are_float64() {
        let v = into_helm_numbers(one("a: 3\nb: [1, 2.5]"));
        assert!(v["a"].as_number().unwrap().is_f64());
        assert_eq!(v["b"][0].as_f64(), Some(1.0));
    }

    #[test]
    fn strings_stay_strings() {
        assert_eq!(
            one("a: \"1\"\nb: 1.2.3\nc: 2024-01-02\nd: !!str 5\ne: |\n  x\nf: -x\ng: 1e\nh: .5"),
            json!({"a": "1", "b": "1.2.3", "c": "2024-01-02", "d": "5", "e": "x\n", "f": "-x", "g": "1e", "h": 0.5})
        );
    }

    #[test]
    fn keys_become_strings() {
        assert_eq!(
            one("1: a\ntrue: b\n1.5: c"),
            json!({"1": "a", "true": "b", "1.5": "c"})
        );
        let err = parse_first("? ~\n: x").unwrap_err();
        assert!(err.to_string().contains("unsupported map key"), "{err}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = one(
            "base: &b {x: 1, z: 2}\nc:\n  <<: *b\n  z: 3\nd: *b\ne:\n  <<: [{k: 1}, {k: 2, j: 2}]",
        );
        assert_eq!(v["c"], json!({"x": 1, "z": 3}));
        assert_eq!(v["d"], json!({"x": 1, "z": 2}));
        assert_eq!(v["e"], json!({"k": 1, "j": 2}));
    }

    #[test]
    fn multiple_documents_and_empty_ones() {
        let docs = parse_documents("a: 1\n---\n---\nb: 2\n").unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), Value::Null, json!({"b": 2})]);
        assert_eq!(parse_documents("").unwrap(), Vec::<Value>::new());
        assert_eq!(parse_first("# only a comment\n").unwrap(), Value::Null);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse_first("a: b\n c: d: e\n").unwrap_err();
        match err {
            YamlError::Syntax { line, .. } => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        assert!(parse_first("a: .nan").is_err());
    }

    #[test]
    fn pruned_parse_keeps_only_the_head() {
        let keep = |p: &[String]| match p.len() {
            1 => p[0] == "kind" || p[0] == "metadata",
            2 => p[1] == "name",
            _ => false,
        };
        let doc =
            "kind: Pod\nmetadata:\n  name: x\n  labels: {a: b}\nspec:\n  big: [1, 2, {c: d}]\n";
        assert_eq!(
            parse_first_pruned(doc, &keep).unwrap(),
            json!({"kind": "Pod", "metadata": {"name": "x"}})
        );
        // What a full parse refuses, a pruned one refuses too.
        assert!(parse_first_pruned("kind: Pod\nspec:\n  x: .nan\n", &keep).is_err());
        assert!(parse_first_pruned("kind: Pod\nspec:\n  ~: 1\n", &keep).is_err());
        assert!(parse_first_pruned("kind: Pod\nspec: {a: b\n", &keep).is_err());
        // An alias into a skipped anchor falls back to the full parse.
        assert_eq!(
            parse_first_pruned("spec: &s Pod\nkind: *s\n", &keep).unwrap(),
            json!({"spec": "Pod", "kind": "Pod"})
        );
    }

    #[test]
    fn go_string_coercion_of_typed_fields() {
        assert_eq!(scalar_as_go_string(&one("1.10")).as_deref(), Some("1.1"));
        assert_eq!(scalar_as_go_string(&one("0755")).as_deref(), Some("493"));
        assert_eq!(scalar_as_go_string(&one("true")).as_deref(), Some("true"));
        assert_eq!(
            scalar_as_go_string(&one("1000000.0")).as_deref(),
            Some("1e+06")
        );
        assert_eq!(
            scalar_as_go_string(&one("0.00001")).as_deref(),
            Some("1e-05")
        );
        assert_eq!(
            scalar_as_go_string(&one("123.456")).as_deref(),
            Some("123.456")
        );
        assert_eq!(scalar_as_go_string(&one("2.0")).as_deref(), Some("2"));
    }
}
