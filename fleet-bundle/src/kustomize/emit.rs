//! Printing resources exactly as `kubectl kustomize` prints them.
//!
//! kustomize turns each resource into JSON and prints it with `sigs.k8s.io/yaml`, that is
//! go-yaml v2's emitter (a port of libyaml): keys sorted in go-yaml's "natural" order,
//! sequences not indented under their key, plain style whenever the text reads back as the
//! same string, single quotes when an indicator forbids plain, double quotes for strings
//! that would read back as another type or hold special characters, literal blocks for
//! multi-line text, and plain or quoted text folded at column 80 on spaces.

use super::scalar::{float_after_json, v2_reads_as_non_string};
use super::value::Value;
// go-yaml's key order, shared with Helm's toYaml: letters compare as text, runs of digits
// as numbers, a non-letter sorts before a letter (`a9` < `a10`, `a-b` < `ab`).
use crate::helm::funcs::goyaml::{analyze, is_break, natural_cmp};

const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;

/// Prints one resource as a YAML document (ending with a newline).
pub fn to_yaml(value: &Value) -> String {
    let mut e = Emitter::default();
    match value {
        Value::Map(m) if !m.is_empty() => e.map(value, 0, true),
        Value::Seq(s) if !s.is_empty() => e.seq(value, 0, true),
        other => e.scalar(other, 0, false),
    }
    if e.column != 0 {
        e.out.push('\n');
    }
    e.out
}

/// Prints resources as a `---`-separated stream, as `kubectl kustomize` does.
pub fn to_yaml_stream<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(v));
    }
    out
}

#[derive(Default)]
struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        for c in s.chars() {
            if c == '\n' {
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
        self.out.push_str(s);
    }

    fn put_char(&mut self, c: char) {
        if c == '\n' {
            self.column = 0;
        } else {
            self.column += 1;
        }
        self.out.push(c);
    }

    /// libyaml's `write_indent`: a line break unless already at the start of a line, then
    /// spaces up to `indent`.
    fn write_indent(&mut self, indent: usize) {
        if self.column != 0 {
            self.put_char('\n');
        }
        for _ in 0..indent {
            self.put_char(' ');
        }
    }

    fn map(&mut self, value: &Value, indent: usize, inline_first: bool) {
        let Value::Map(map) = value else { return };
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort_by(|a, b| natural_cmp(a, b));
        for (i, key) in keys.into_iter().enumerate() {
            if !(i == 0 && inline_first) {
                self.write_indent(indent);
            }
            self.string(key, indent + BEST_INDENT, true);
            self.put_char(':');
            let v = &map[key];
            self.value_after_indicator(v, indent, true);
        }
    }

    fn seq(&mut self, value: &Value, indent: usize, inline_first: bool) {
        let Value::Seq(items) = value else { return };
        for (i, item) in items.iter().enumerate() {
            if !(i == 0 && inline_first) {
                self.write_indent(indent);
            }
            self.put_char('-');
            self.value_after_indicator(item, indent, false);
        }
    }

    /// Writes the node that follows `key:` or `-`. Sequences under a mapping key are not
    /// indented (go-yaml v2's "indentless" sequences); everything else nests two spaces.
    fn value_after_indicator(&mut self, v: &Value, indent: usize, in_mapping: bool) {
        match v {
            Value::Map(m) if m.is_empty() => self.put(" {}"),
            Value::Seq(s) if s.is_empty() => self.put(" []"),
            Value::Map(_) if in_mapping => self.map(v, indent + BEST_INDENT, false),
            Value::Map(_) => {
                self.put_char(' ');
                self.map(v, indent + BEST_INDENT, true);
            }
            Value::Seq(_) if in_mapping => self.seq(v, indent, false),
            Value::Seq(_) => {
                self.put_char(' ');
                self.seq(v, indent + BEST_INDENT, true);
            }
            scalar => {
                self.put_char(' ');
                self.scalar(scalar, indent + BEST_INDENT, false);
            }
        }
    }

    fn scalar(&mut self, v: &Value, indent: usize, simple_key: bool) {
        match v {
            Value::Null => self.put("null"),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Value::Int(i) => self.put(&i.to_string()),
            Value::UInt(u) => self.put(&u.to_string()),
            Value::Float(f) => self.put(&float_after_json(*f)),
            Value::String(s) => self.string(s, indent, simple_key),
            Value::Seq(_) | Value::Map(_) => {}
        }
    }

    fn string(&mut self, s: &str, indent: usize, simple_key: bool) {
        let a = analyze(s, is_printable);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if !v2_reads_as_non_string(s) {
            Style::Plain
        } else {
            Style::Double
        };
        if style == Style::Plain && (!a.block_plain_allowed || s.is_empty()) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        let allow_breaks = !simple_key;
        match style {
            Style::Plain => self.plain(s, indent, allow_breaks),
            Style::Single => self.single_quoted(s, indent, allow_breaks),
            Style::Double => self.double_quoted(s, indent, allow_breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
    }

    fn single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('\'');
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                    && !next_is_space
                {
                    self.write_indent(indent);
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put_char('\'');
                }
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('\'');
    }

    fn double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        self.put_char('"');
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put(&escape(c));
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i != 0
                    && i != chars.len() - 1
                {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put_char('\\');
                    }
                } else {
                    self.put_char(c);
                }
                spaces = true;
            } else {
                self.put_char(c);
                spaces = false;
            }
        }
        self.put_char('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put_char('|');
        let chars: Vec<char> = s.chars().collect();
        if let Some(&first) = chars.first() {
            if first == ' ' || is_break(first) {
                self.put(&BEST_INDENT.to_string());
            }
        }
        match chars.last() {
            Some(&last) if !is_break(last) => self.put_char('-'),
            Some(_) if chars.len() == 1 => self.put_char('+'),
            Some(_) if is_break(chars[chars.len() - 2]) => self.put_char('+'),
            _ => {}
        }
        self.put_char('\n');
        let mut breaks = true;
        for c in chars {
            if is_break(c) {
                self.put_char('\n');
                breaks = true;
            } else {
                if breaks {
                    for _ in 0..indent {
                        self.put_char(' ');
                    }
                    breaks = false;
                }
                self.put_char(c);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// The characters kubectl's go-yaml prints unescaped: unlike Helm's, NEL and characters
/// beyond the BMP too (the dialect argument of the shared scalar analysis).
fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || c == 0x85
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&c)
}

fn escape(c: char) -> String {
    match c {
        '\0' => "\\0".into(),
        '\u{7}' => "\\a".into(),
        '\u{8}' => "\\b".into(),
        '\t' => "\\t".into(),
        '\n' => "\\n".into(),
        '\u{b}' => "\\v".into(),
        '\u{c}' => "\\f".into(),
        '\r' => "\\r".into(),
        '\u{1b}' => "\\e".into(),
        '"' => "\\\"".into(),
        '\\' => "\\\\".into(),
        '\u{85}' => "\\N".into(),
        '\u{a0}' => "\\_".into(),
        '\u{2028}' => "\\L".into(),
        '\u{2029}' => "\\P".into(),
        c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
        c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
        c => format!("\\U{:08X}", c as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::document::parse_one;

    /// Expectations printed by `kubectl kustomize` (v5.5) for the same data.
    #[test]
    fn prints_like_kubectl_kustomize() {
        let input = r#"
data:
  a10: x
  a9: y
  A1: z
  c: "1.0"
  ag: "-"
  ah: "a: b"
  ai: "tab\there"
  ao: "'q'"
  b: ".operation"
  be: "line   \nspaces"
  bh: "  x\n  y\n"
  bi: "\n"
  i: ""
  n: "trailing "
  p: "multi\nline\n"
  q: "multi\nline"
  r: "multi\nline\n\n"
spec:
  b1: yes
  num: 1.0
  num4: 0x10
  emptymap: {}
  emptylist: []
  nested:
  - - a
    - b
  - {x: 1}
  long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu
"#;
        let expected = r#"data:
  A1: z
  a9: "y"
  a10: x
  ag: '-'
  ah: 'a: b'
  ai: "tab\there"
  ao: '''q'''
  b: .operation
  be: "line   \nspaces"
  bh: |2
      x
      y
  bi: |2+

  c: "1.0"
  i: ""
  "n": 'trailing '
  p: |
    multi
    line
  q: |-
    multi
    line
  r: |+
    multi
    line

spec:
  b1: "yes"
  emptylist: []
  emptymap: {}
  long: aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj kkkk llll mmmm nnnn oooo
    pppp qqqq rrrr ssss tttt uuuu
  nested:
  - - a
    - b
  - x: 1
  num: 1
  num4: 16
"#;
        assert_eq!(to_yaml(&parse_one(input).unwrap()), expected);
    }

    #[test]
    fn natural_order_matches_go_yaml() {
        let mut keys = vec!["a10", "a9", "b", "A1", "a-b", "ab"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(keys, vec!["A1", "a-b", "a9", "a10", "ab", "b"]);
    }
}
