//! A YAML emitter byte-identical to what Helm's `toYaml` prints.
//!
//! Helm marshals with `sigs.k8s.io/yaml`: the value goes to JSON (`encoding/json`), the
//! JSON is decoded by go-yaml v2, and go-yaml v2 (a port of libyaml) emits it. That
//! round trip fixes the details reproduced here:
//!
//! - map keys sorted with go-yaml's "natural" order (`a2` before `a10`);
//! - floats go through Go's JSON form: integral floats print as integers (`3`,
//!   `1000000`), others with `strconv`'s shortest `'g'` form (`1.5`, `1e-07`);
//! - strings are plain unless they would read back as something else (`"true"`,
//!   `"1.0"`, `"2024-01-01"`, `""`), or contain characters plain scalars cannot hold
//!   (then single-quoted, or double-quoted when single quotes cannot carry them);
//! - strings with a newline are literal blocks (`|`, `|-`, `|+`, with an indentation
//!   indicator when they start with a space);
//! - long plain or quoted strings fold at 80 columns;
//! - sequences inside mappings are not indented (`key:\n- a`), empty collections are
//!   `[]` and `{}`.
//!
//! Use [`to_yaml`] for Helm's `toYaml` (which also drops the final newline).

use serde_json::Value as Json;

const BEST_WIDTH: usize = 80;
const BEST_INDENT: i32 = 2;

/// Helm's `toYaml`: the document go-yaml emits, without its final newline.
pub fn to_yaml(v: &Json) -> String {
    trim_final_newline(marshal(v))
}

/// Helm's `toYamlPretty`: go-yaml v3's encoder with a two-space indent, which also
/// indents sequences inside mappings and prints numbers as Go values (no JSON step, so
/// `1000000.0` stays `1e+06`).
pub fn to_yaml_pretty(v: &Json) -> String {
    trim_final_newline(marshal_with(
        v,
        Options {
            indent_sequences: true,
            json_numbers: false,
        },
    ))
}

fn trim_final_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

/// `sigs.k8s.io/yaml.Marshal`: the full document, ending in a newline.
pub fn marshal(v: &Json) -> String {
    marshal_with(
        v,
        Options {
            indent_sequences: false,
            json_numbers: true,
        },
    )
}

/// The encoder differences between Helm's two YAML printers.
#[derive(Clone, Copy)]
struct Options {
    /// go-yaml v3 indents a sequence under its key; v2 does not.
    indent_sequences: bool,
    /// Numbers went through `encoding/json` (v2 via `sigs.k8s.io/yaml`).
    json_numbers: bool,
}

fn marshal_with(v: &Json, opts: Options) -> String {
    let mut e = Emitter {
        opts,
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: -1,
        indents: Vec::new(),
    };
    e.node(
        v,
        Ctx {
            root: true,
            mapping: false,
            simple_key: false,
        },
    );
    e.write_indent();
    e.out
}

#[derive(Clone, Copy)]
struct Ctx {
    root: bool,
    mapping: bool,
    simple_key: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    opts: Options,
    out: String,
    column: usize,
    whitespace: bool,
    indention: bool,
    indent: i32,
    indents: Vec<i32>,
}

impl Emitter {
    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &str, need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(ind);
        self.column += ind.chars().count();
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, v: &Json, ctx: Ctx) {
        match v {
            Json::Object(m) if m.is_empty() => self.empty_flow("{", "}"),
            Json::Array(a) if a.is_empty() => self.empty_flow("[", "]"),
            Json::Object(m) => {
                self.increase_indent(false, false);
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| natural_cmp(a, b));
                for k in keys {
                    self.write_indent();
                    let (style, multiline) = string_style(k);
                    if !multiline && k.len() <= 128 {
                        self.scalar(
                            k,
                            style,
                            Ctx {
                                root: false,
                                mapping: true,
                                simple_key: true,
                            },
                        );
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.scalar(
                            k,
                            style,
                            Ctx {
                                root: false,
                                mapping: true,
                                simple_key: false,
                            },
                        );
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    if let Some(item) = m.get(k.as_str()) {
                        self.node(
                            item,
                            Ctx {
                                root: false,
                                mapping: true,
                                simple_key: false,
                            },
                        );
                    }
                }
                self.pop_indent();
            }
            Json::Array(a) => {
                let indentless = !self.opts.indent_sequences && ctx.mapping && !self.indention;
                self.increase_indent(false, indentless);
                for item in a {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(
                        item,
                        Ctx {
                            root: false,
                            mapping: false,
                            simple_key: false,
                        },
                    );
                }
                self.pop_indent();
            }
            Json::String(s) => {
                let (style, _) = string_style(s);
                self.scalar(s, style, ctx);
            }
            Json::Null => self.scalar("null", Style::Plain, ctx),
            Json::Bool(b) => self.scalar(if *b { "true" } else { "false" }, Style::Plain, ctx),
            Json::Number(n) => {
                let text = if self.opts.json_numbers {
                    number_text(n)
                } else if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                    match crate::helm::template::value::format_float_g(f).as_str() {
                        "+Inf" => ".inf".to_string(),
                        "-Inf" => "-.inf".to_string(),
                        "NaN" => ".nan".to_string(),
                        s => s.to_string(),
                    }
                } else {
                    n.to_string()
                };
                self.scalar(&text, Style::Plain, ctx);
            }
        }
    }

    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn scalar(&mut self, value: &str, requested: Style, ctx: Ctx) {
        let a = analyze(value, is_printable);
        let mut style = requested;
        if ctx.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (value.is_empty() && ctx.simple_key))
        {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || ctx.simple_key) {
            style = Style::Double;
        }
        let _ = ctx.root;
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.write_plain(value, allow_breaks),
            Style::Single => self.write_single(value, allow_breaks),
            Style::Double => self.write_double(value, allow_breaks),
            Style::Literal => self.write_literal(value),
        }
        self.pop_indent();
    }

    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_single(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        let n = chars.len();
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < n - 1
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let n = chars.len();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\x07' => self.put('a'),
                    '\x08' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\x0b' => self.put('v'),
                    '\x0c' => self.put('f'),
                    '\r' => self.put('r'),
                    '\x1b' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{A0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    c => {
                        let v = c as u32;
                        let (letter, width) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        for k in (0..width).rev() {
                            let d = (v >> (k * 4)) & 0xF;
                            self.put(
                                char::from_digit(d, 16).map_or('0', |c| c.to_ascii_uppercase()),
                            );
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i < n - 1 {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        // Block scalar hints: an indentation indicator when the text starts with a
        // space or break, and the chomping indicator from its trailing breaks.
        if value.starts_with(|c: char| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let mut last = value.chars().rev();
        let chomp = match (last.next(), last.next()) {
            (None, _) => Some("-"),
            (Some(c), _) if !is_break(c) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(c)) if is_break(c) => Some("+"),
            _ => None,
        };
        if let Some(ch) = chomp {
            self.write_indicator(ch, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        // Line by line rather than character by character (as libyaml does): a run of
        // text always starts the value or follows a break, so it is indented once and
        // copied whole; the column counts characters.
        let mut rest = value;
        while !rest.is_empty() {
            let run_end = rest.find(is_break).unwrap_or(rest.len());
            if run_end > 0 {
                self.write_indent();
                let run = &rest[..run_end];
                self.out.push_str(run);
                self.column += run.chars().count();
                self.indention = false;
            }
            let Some(c) = rest[run_end..].chars().next() else {
                break;
            };
            self.write_break(c);
            self.indention = true;
            rest = &rest[run_end + c.len_utf8()..];
        }
    }
}

pub(crate) fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's printable set (with Unicode output enabled): its byte test admits no
/// four-byte UTF-8 sequence, so characters beyond the BMP (emoji) are escaped.
fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
}

/// What libyaml's scalar analysis found: which styles can carry a text unchanged.
pub(crate) struct Analysis {
    pub(crate) multiline: bool,
    pub(crate) block_plain_allowed: bool,
    pub(crate) single_quoted_allowed: bool,
    pub(crate) block_allowed: bool,
}

/// libyaml's `yaml_emitter_analyze_scalar`, for block context: one port shared by Helm's
/// `toYaml` and the kustomize printer. The two go-yaml versions behind them differ only
/// in which characters they print unescaped, so that set is the `printable` argument.
pub(crate) fn analyze(value: &str, printable: fn(char) -> bool) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let blank = |c: char| c == ' ' || c == '\t' || is_break(c);
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let mut preceded_by_ws = true;
    let (mut prev_space, mut prev_break) = (false, false);
    let mut chars = value.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let last = next.is_none();
        let followed_by_ws = next.is_none_or(blank);
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    block_indicators = true;
                }
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= first;
            trailing_break |= last;
            space_break |= prev_space;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = blank(c);
        first = false;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks {
        a.block_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// go-yaml's choice for a string before the emitter's own checks, and whether it spans
/// lines.
fn string_style(s: &str) -> (Style, bool) {
    if s.contains('\n') {
        return (Style::Literal, true);
    }
    let multiline = s.chars().any(is_break);
    if resolves_to_string(s) && !is_base60_float(s) {
        (Style::Plain, multiline)
    } else {
        (Style::Double, multiline)
    }
}

/// How go-yaml v2 prints a number that went through Go's JSON encoding.
fn number_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64().filter(|_| !n.is_f64()) {
        return i.to_string();
    }
    if let Some(u) = n.as_u64().filter(|_| !n.is_f64()) {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    let json = go_json_float(f);
    if !json.contains(['.', 'e', 'E']) {
        if let Ok(i) = json.parse::<i64>() {
            return i.to_string();
        }
        if let Ok(u) = json.parse::<u64>() {
            return u.to_string();
        }
    }
    crate::helm::template::value::format_float_g(f)
}

/// `encoding/json`'s float text: plain decimals in [1e-6, 1e21), exponent form outside.
pub fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (neg, digits, exp) = crate::helm::template::value::shortest_digits(f);
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&exp.unsigned_abs().to_string());
        return s;
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = crate::helm::template::value::shortest_digits(f);
    let body = crate::helm::template::value::fixed_from_digits(&digits, exp);
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// go-yaml v2's base-60 float, `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`,
/// matched by hand: compiling that regex cost about half a million instructions in
/// every run that printed a string (4% of rendering a small chart).
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let digit_or_underscore = |c: &u8| c.is_ascii_digit() || *c == b'_';
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while b.get(i).is_some_and(digit_or_underscore) {
        i += 1;
    }
    // `(?::[0-5]?[0-9])+`: taking two digits when the first is 0-5 is never wrong,
    // since what follows a group (`:`, `.` or the end) is never a digit.
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        match (b.get(i), b.get(i + 1)) {
            (Some(b'0'..=b'5'), Some(d)) if d.is_ascii_digit() => i += 2,
            (Some(d), _) if d.is_ascii_digit() => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(digit_or_underscore) {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml v2's `resolve`: would this text, unquoted, read back as a string?
pub fn resolves_to_string(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return false;
    };
    let hint = match first {
        b'+' | b'-' | b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return true,
    };
    if matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "true"
            | "True"
            | "TRUE"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "false"
            | "False"
            | "FALSE"
            | "off"
            | "Off"
            | "OFF"
            | "~"
            | "null"
            | "Null"
            | "NULL"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
    ) {
        return false;
    }
    match hint {
        '.' => go_parse_float(s).is_none(),
        'D' => {
            if is_timestamp(s) {
                return false;
            }
            let plain = s.replace('_', "");
            if go_parse_int(&plain).is_some() {
                return false;
            }
            if crate::helm::yaml11::is_yaml_style_float(&plain) && plain.parse::<f64>().is_ok() {
                return false;
            }
            if let Some(b) = plain.strip_prefix("-0b") {
                if i64::from_str_radix(b, 2).is_ok() {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}

/// `strconv.ParseInt(s, 0, 64)` or `ParseUint`: does it parse as an integer?
fn go_parse_int(s: &str) -> Option<()> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let _ = neg;
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h)
        } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, o)
        } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, b)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok().map(|_| ())
}

/// `strconv.ParseFloat(s, 64)` for text starting with '.'.
fn go_parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    if lower.contains("inf") || lower.contains("nan") || lower.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

/// go-yaml v2's timestamp forms: `2006-1-2`, optionally with a time (`T`, `t` or space).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let (date, time) = match rest.find(['T', 't', ' ']) {
        Some(i) => (&rest[..i], Some((&rest[i..i + 1], &rest[i + 1..]))),
        None => (rest, None),
    };
    let mut parts = date.split('-');
    let (Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok_num = |x: &str, max: u32| {
        (1..=2).contains(&x.len())
            && x.bytes().all(|c| c.is_ascii_digit())
            && x.parse::<u32>().is_ok_and(|v| (1..=max).contains(&v))
    };
    if !ok_num(m, 12) || !ok_num(d, 31) {
        return false;
    }
    let year: i32 = s[..4].parse().unwrap_or(0);
    let month: u32 = m.parse().unwrap_or(1);
    let day: u32 = d.parse().unwrap_or(1);
    if chrono::NaiveDate::from_ymd_opt(year, month, day).is_none() {
        return false;
    }
    let Some((sep, time)) = time else { return true };
    // Time: H:M:S with optional fraction, then a zone for the T forms.
    let (clock, zone) = match time.find(['Z', '+', '-']) {
        Some(i) => (&time[..i], Some(&time[i..])),
        None => (time, None),
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (clock, None),
    };
    let mut t = hms.split(':');
    let (Some(h), Some(mi), Some(se), None) = (t.next(), t.next(), t.next(), t.next()) else {
        return false;
    };
    let ok_t = |x: &str, max: u32| {
        (1..=2).contains(&x.len())
            && x.bytes().all(|c| c.is_ascii_digit())
            && x.parse::<u32>().is_ok_and(|v| v <= max)
    };
    if !ok_t(h, 23) || !ok_t(mi, 59) || !ok_t(se, 59) {
        return false;
    }
    if frac.is_some_and(|f| f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit())) {
        return false;
    }
    match (sep, zone) {
        (" ", None) => true,
        (" ", Some(_)) => false,
        (_, None) => false,
        (_, Some("Z")) => true,
        (_, Some(z)) => {
            let zb = z.as_bytes();
            zb.len() == 6
                && zb[3] == b':'
                && z[1..3].bytes().all(|c| c.is_ascii_digit())
                && z[4..].bytes().all(|c| c.is_ascii_digit())
        }
    }
}

/// go-yaml v2's key order: letters before digits, digit runs compared as numbers.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let less = |x: bool| if x { Ordering::Less } else { Ordering::Greater };
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return less(bl);
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base60_floats_match_go_yamls_regex() {
        let re = regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
            .expect("valid regex");
        let cases = [
            "",
            "1",
            "1:2",
            "+1:20",
            "-1_0:59.5",
            "190:20:30.15",
            "1:60",
            "1:6",
            "1:06",
            "1:5",
            "1:123",
            "1:",
            ":1",
            "1::2",
            "1:2.",
            "1:2.3_4",
            "1:2.a",
            "a1:2",
            "1:2:",
            "12:34:56",
            "1_:2",
            "_1:2",
            "1:2 ",
            "1:99",
            "1:59",
            "1.5:2",
            "+:1",
            "1:2:3.4.5",
        ];
        for c in cases {
            assert_eq!(is_base60_float(c), re.is_match(c), "{c:?}");
        }
    }

    #[test]
    fn mappings_sequences_and_scalars() {
        let v = json!({"b": [1, "two", {"x": true, "y": null}], "a": {"c": 1.5, "d": []}, "e": {}});
        assert_eq!(
            to_yaml(&v),
            "a:\n  c: 1.5\n  d: []\nb:\n- 1\n- two\n- x: true\n  \"y\": null\ne: {}"
        );
    }

    #[test]
    fn strings_that_read_back_differently_are_quoted() {
        let v = json!({"a": "true", "b": "1.0", "c": "", "d": "2024-01-02", "e": "yes", "f": "0x1F", "g": "1e3", "h": "plain text", "i": "12:30"});
        assert_eq!(
            to_yaml(&v),
            "a: \"true\"\nb: \"1.0\"\nc: \"\"\nd: \"2024-01-02\"\ne: \"yes\"\nf: \"0x1F\"\ng: \"1e3\"\nh: plain text\ni: \"12:30\""
        );
    }

    #[test]
    fn indicators_force_single_quotes() {
        let v = json!({"a": "- x", "b": "*star", "c": "a: b", "d": "x #y", "e": " lead", "f": "it's", "g": "tab\there"});
        assert_eq!(
            to_yaml(&v),
            "a: '- x'\nb: '*star'\nc: 'a: b'\nd: 'x #y'\ne: ' lead'\nf: it's\ng: \"tab\\there\""
        );
    }

    #[test]
    fn multiline_strings_are_literal_blocks() {
        assert_eq!(to_yaml(&json!({"a": "x\ny"})), "a: |-\n  x\n  y");
        assert_eq!(to_yaml(&json!({"a": "x\ny\n"})), "a: |\n  x\n  y");
        assert_eq!(to_yaml(&json!({"a": "x\n\n"})), "a: |+\n  x\n");
        assert_eq!(to_yaml(&json!({"a": "  x\ny"})), "a: |2-\n    x\n  y");
        assert_eq!(to_yaml(&json!(["x\ny"])), "- |-\n  x\n  y");
        assert_eq!(to_yaml(&json!({"a": "x \ny"})), "a: \"x \\ny\"");
    }

    #[test]
    fn floats_go_through_json() {
        assert_eq!(
            to_yaml(
                &json!({"a": 3.0, "b": 1000000.0, "c": 0.0000001, "d": 123456789.5, "e": 1e21})
            ),
            "a: 3\nb: 1000000\nc: 1e-07\nd: 1.234567895e+08\ne: 1e+21"
        );
    }

    #[test]
    fn pretty_indents_sequences_and_keeps_go_floats() {
        // Expectation from helm 4.1.4: toYamlPretty (dict "a" (list 1 (dict "b" 2)) "c" "x").
        assert_eq!(
            to_yaml_pretty(&json!({"a": [1, {"b": 2}], "c": "x"})),
            "a:\n  - 1\n  - b: 2\nc: x"
        );
        assert_eq!(to_yaml_pretty(&json!({"f": 1000000.0})), "f: 1e+06");
    }

    #[test]
    fn keys_sort_naturally() {
        assert_eq!(
            to_yaml(&json!({"a10": 1, "a2": 2, "B": 3, "1": 4})),
            "\"1\": 4\nB: 3\na2: 2\na10: 1"
        );
    }

    #[test]
    fn long_plain_strings_fold_at_80_columns() {
        let s = "word ".repeat(20).trim_end().to_string();
        let y = to_yaml(&json!({ "k": s }));
        assert_eq!(
            y,
            "k: word word word word word word word word word word word word word word word word\n  word word word word"
        );
    }
}
