//! Reading a YAML stream (one or more `---` documents) into [`Value`]s.
//!
//! Scalars resolve with go-yaml v3's rules (see [`super::scalar`]); anchors, aliases and
//! `<<` merge keys are expanded, comments are dropped, as kustomize does.

use std::collections::HashMap;

use granit_parser::{Event, Options, Parser, ScalarStyle};

use super::scalar::{resolve_plain, resolve_tagged};
use super::value::{Mapping, Value};

/// A syntax error with its position in the text (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What the parser found wrong.
    pub message: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} column {}: {}",
            self.line, self.column, self.message
        )
    }
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Mapping, Option<String>, usize, Vec<Mapping>),
}

/// Parses every document of a YAML stream; empty documents come back as [`Value::Null`].
pub fn parse_stream(text: &str) -> Result<Vec<Value>, SyntaxError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut in_doc = false;
    // libyaml's (and so go-yaml's) readings where the YAML test suite differs: a block
    // scalar ending the file without a line break gets none, and a BOM inside a document
    // is content.
    let mut options = Options::default();
    options.block_scalar_eof_without_line_feed = true;
    options.bom_inside_document_as_content = true;
    for item in Parser::new_from_str_with_options(text, options) {
        let (event, span) = item.map_err(|e| SyntaxError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info(),
        })?;
        let position = |msg: &str| SyntaxError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message: msg.to_string(),
        };
        let finished: Option<(Value, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Anchor(..) => None,
            Event::DocumentStart(..) => {
                in_doc = true;
                root = None;
                None
            }
            Event::DocumentEnd => {
                if in_doc {
                    docs.push(root.take().unwrap_or(Value::Null));
                }
                in_doc = false;
                None
            }
            Event::Alias(id) => {
                let v = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| position("alias to an unknown anchor"))?;
                Some((v, 0))
            }
            Event::UnresolvedAlias(name) => {
                return Err(position(&format!("unknown anchor {name:?}")));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let v = match (&tag, style) {
                    (Some(tag), _) if tag.is_yaml_core_schema() => {
                        resolve_tagged(&text, tag.suffix())
                    }
                    (Some(_), _) => Value::String(text.to_string()),
                    (None, ScalarStyle::Plain) => resolve_plain(&text),
                    (None, _) => Value::String(text.to_string()),
                };
                Some((v, anchor))
            }
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq(Vec::new(), anchor));
                None
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map(Mapping::new(), None, anchor, Vec::new()));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => Some((Value::Seq(items), anchor)),
                _ => return Err(position("unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(mut map, _, anchor, merges)) => {
                    // `<<` merges fill in keys the mapping does not set itself.
                    for merged in merges {
                        for (k, v) in merged {
                            map.entry(k).or_insert(v);
                        }
                    }
                    Some((Value::Map(map), anchor))
                }
                _ => return Err(position("unbalanced mapping")),
            },
            // Comments (when another crate enables granit's `comments` feature) carry no data.
            #[allow(unreachable_patterns)]
            _ => None,
        };
        if let Some((value, anchor)) = finished {
            if anchor != 0 {
                anchors.insert(anchor, value.clone());
            }
            match stack.last_mut() {
                None => root = Some(value),
                Some(Frame::Seq(items, _)) => items.push(value),
                Some(Frame::Map(map, pending, _, merges)) => match pending.take() {
                    None => {
                        *pending = Some(
                            key_text(&value)
                                .ok_or_else(|| position("a mapping key must be a scalar"))?,
                        );
                    }
                    Some(key) if key == "<<" => match value {
                        Value::Map(m) => merges.push(m),
                        Value::Seq(items) => {
                            for item in items {
                                if let Value::Map(m) = item {
                                    merges.push(m);
                                }
                            }
                        }
                        other => {
                            map.insert(key, other);
                        }
                    },
                    Some(key) => {
                        map.insert(key, value);
                    }
                },
            }
        }
    }
    Ok(docs)
}

/// The text of a mapping key as Go's JSON encoding writes it.
fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("null".into()),
        Value::Map(_) | Value::Seq(_) => None,
        other => other.scalar_text(),
    }
}

/// Parses a single document (a kustomization, a patch).
pub fn parse_one(text: &str) -> Result<Value, SyntaxError> {
    let docs = parse_stream(text)?;
    Ok(docs
        .into_iter()
        .find(|d| *d != Value::Null)
        .unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_documents_anchors_and_merges() {
        let docs = parse_stream(
            "a: &x {b: 1}\nc: *x\nd:\n  <<: *x\n  e: 'yes'\n---\n---\n- 0x10\n- !!str 12\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].get_path(&["c", "b"]), Some(&Value::Int(1)));
        assert_eq!(docs[0].get_path(&["d", "b"]), Some(&Value::Int(1)));
        assert_eq!(docs[1], Value::Null);
        assert_eq!(
            docs[2],
            Value::Seq(vec![Value::Int(16), Value::String("12".into())])
        );
    }

    #[test]
    fn syntax_errors_carry_the_position() {
        let err = parse_stream("a: b\n c: [\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
    }
}
