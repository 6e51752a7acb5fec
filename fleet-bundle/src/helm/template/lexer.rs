//! Tokens of Go's `text/template` language, with `{{-`/`-}}` trimming applied to text.
//!
//! The lexer follows Go's `text/template/parse/lex.go` rules: text up to `{{`, trim markers
//! only when followed (or preceded) by a space, comments `/* */` that must touch the
//! delimiters, and inside actions the operands Go knows (fields, variables, strings, raw
//! strings, characters, numbers, keywords). Every token carries its byte offset so errors
//! can name the line and column.
//!
//! Tokens borrow their text from the source (`'src`): lexing a chart's templates made
//! one allocation per token, most of them for names the parse tree copies again or
//! drops. Only a string constant whose escapes change its text owns a decoded copy.

use std::borrow::Cow;

use super::ParseError;

/// What a token is. Strings carry their decoded value; everything else its source text.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok<'src> {
    Text(&'src str),
    LeftDelim,
    RightDelim,
    LeftParen,
    RightParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Space,
    Dot,
    /// `.Name` (one segment; the parser joins consecutive ones into chains).
    Field(&'src str),
    /// `$` or `$name`.
    Variable(&'src str),
    Ident(&'src str),
    Bool(bool),
    Nil,
    /// A number or character constant, with its source text.
    Number(&'src str),
    /// A character constant like `'a'`, with its code point.
    Char(&'src str, u32),
    /// A quoted or raw string: (source text, decoded value, borrowed when decoding
    /// changes nothing).
    Str(&'src str, Cow<'src, str>),
    Keyword(Keyword),
    Eof,
}

/// The keywords of the template language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

/// One token and the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Token<'src> {
    pub tok: Tok<'src>,
    pub pos: usize,
}

/// Splits `src` into tokens. `name` is only used in errors.
pub fn lex<'src>(name: &str, src: &'src str) -> Result<Vec<Token<'src>>, ParseError> {
    let mut lx = Lexer {
        name,
        src,
        bytes: src.as_bytes(),
        pos: 0,
        // Chart templates run at about one token per 8 bytes; reserving that up front
        // saves the vector's repeated growth and copying.
        out: Vec::with_capacity(src.len() / 8 + 4),
        paren_depth: 0,
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'n, 'a> {
    name: &'n str,
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Vec<Token<'a>>,
    paren_depth: usize,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The offset of the first `{{`: a `memchr` for `{` then a check of the next byte,
/// several times faster than a substring search over long text between actions.
fn find_left_delim(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find('{') {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b'{') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'_, 'a> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.name, self.src, pos, msg)
    }

    fn push(&mut self, tok: Tok<'a>, pos: usize) {
        self.out.push(Token { tok, pos });
    }

    fn run(&mut self) -> Result<(), ParseError> {
        // Set when the previous action ended with ` -}}`: the next text loses its
        // leading white space.
        let mut trim_next = false;
        while self.pos < self.bytes.len() {
            let rest = &self.src[self.pos..];
            let (text_end, found) = match find_left_delim(rest) {
                Some(i) => (self.pos + i, true),
                None => (self.bytes.len(), false),
            };
            let mut text = &self.src[self.pos..text_end];
            let text_pos = self.pos;
            if trim_next {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            let mut after = text_end + 2;
            let trim_left = found && self.has_left_trim(text_end + 2);
            if trim_left {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
                after += 2;
            }
            if !text.is_empty() {
                let start =
                    text_pos + (text.as_ptr() as usize - self.src[text_pos..].as_ptr() as usize);
                self.push(Tok::Text(text), start);
            }
            if !found {
                self.pos = self.bytes.len();
                break;
            }
            self.pos = after;
            // A comment must touch the delimiters.
            if self.src[self.pos..].starts_with("/*") {
                let close = self.src[self.pos..]
                    .find("*/")
                    .ok_or_else(|| self.err(text_end, "unclosed comment"))?;
                self.pos += close + 2;
                let (trim, end_len) = self.right_delim_at(self.pos);
                if end_len == 0 {
                    return Err(self.err(text_end, "comment ends before closing delimiter"));
                }
                self.pos += end_len;
                trim_next = trim;
                continue;
            }
            self.push(Tok::LeftDelim, text_end);
            trim_next = self.lex_action(text_end)?;
        }
        self.push(Tok::Eof, self.bytes.len());
        Ok(())
    }

    /// `{{- ` needs a space after the dash; `{{-3}}` is the number -3.
    fn has_left_trim(&self, at: usize) -> bool {
        self.bytes.get(at) == Some(&b'-') && self.bytes.get(at + 1).is_some_and(|b| is_space(*b))
    }

    /// Is there a right delimiter at `at`? Returns (trims, length consumed).
    fn right_delim_at(&self, at: usize) -> (bool, usize) {
        let rest = &self.src[at..];
        if rest.len() >= 4 && is_space(self.bytes[at]) && rest[1..].starts_with("-}}") {
            return (true, 4);
        }
        if rest.starts_with("}}") {
            return (false, 2);
        }
        (false, 0)
    }

    /// Lexes one action after its left delimiter; returns whether it ended with ` -}}`.
    fn lex_action(&mut self, start: usize) -> Result<bool, ParseError> {
        self.paren_depth = 0;
        loop {
            let (trim, n) = self.right_delim_at(self.pos);
            if n > 0 && self.paren_depth == 0 {
                self.push(Tok::RightDelim, self.pos);
                self.pos += n;
                return Ok(trim);
            }
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.err(start, "unclosed action"));
            };
            let p = self.pos;
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    while self.bytes.get(self.pos).is_some_and(|b| is_space(*b)) {
                        // Stop before a trimming right delimiter so it is recognised.
                        if self.right_delim_at(self.pos).0 && self.paren_depth == 0 {
                            break;
                        }
                        self.pos += 1;
                    }
                    if self.pos == p {
                        // ` -}}` while a paren is still open.
                        return Err(self.err(p, "unclosed left paren"));
                    }
                    self.push(Tok::Space, p);
                }
                b'}' if self.src[p..].starts_with("}}") => {
                    return Err(self.err(p, "unclosed left paren"));
                }
                b'=' => {
                    self.pos += 1;
                    self.push(Tok::Assign, p);
                }
                b':' => {
                    if self.bytes.get(p + 1) != Some(&b'=') {
                        return Err(self.err(p, "expected :="));
                    }
                    self.pos += 2;
                    self.push(Tok::Declare, p);
                }
                b'|' => {
                    self.pos += 1;
                    self.push(Tok::Pipe, p);
                }
                b',' => {
                    self.pos += 1;
                    self.push(Tok::Comma, p);
                }
                b'(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.push(Tok::LeftParen, p);
                }
                b')' => {
                    if self.paren_depth == 0 {
                        return Err(self.err(p, "unexpected right paren"));
                    }
                    self.pos += 1;
                    self.paren_depth -= 1;
                    self.push(Tok::RightParen, p);
                }
                b'"' => self.lex_quote()?,
                b'`' => self.lex_raw()?,
                b'\'' => self.lex_char()?,
                b'$' => {
                    self.pos += 1;
                    self.scan_alnum();
                    self.check_terminator()?;
                    self.push(Tok::Variable(&self.src[p..self.pos]), p);
                }
                b'.' => {
                    // A number like .5, a field, or dot alone.
                    if self.bytes.get(p + 1).is_some_and(u8::is_ascii_digit) {
                        self.lex_number()?;
                    } else {
                        self.pos += 1;
                        let name = self.scan_alnum();
                        if name.is_empty() {
                            self.push(Tok::Dot, p);
                        } else {
                            self.check_terminator()?;
                            self.push(Tok::Field(name), p);
                        }
                    }
                }
                b'+' | b'-' | b'0'..=b'9' => self.lex_number()?,
                _ => {
                    let c = self.src[p..].chars().next().unwrap_or('\0');
                    if is_alnum(c) {
                        let word = self.scan_alnum();
                        self.check_terminator()?;
                        let tok = match word {
                            "true" => Tok::Bool(true),
                            "false" => Tok::Bool(false),
                            "nil" => Tok::Nil,
                            "block" => Tok::Keyword(Keyword::Block),
                            "break" => Tok::Keyword(Keyword::Break),
                            "continue" => Tok::Keyword(Keyword::Continue),
                            "define" => Tok::Keyword(Keyword::Define),
                            "else" => Tok::Keyword(Keyword::Else),
                            "end" => Tok::Keyword(Keyword::End),
                            "if" => Tok::Keyword(Keyword::If),
                            "range" => Tok::Keyword(Keyword::Range),
                            "template" => Tok::Keyword(Keyword::Template),
                            "with" => Tok::Keyword(Keyword::With),
                            _ => Tok::Ident(word),
                        };
                        self.push(tok, p);
                    } else {
                        return Err(self.err(p, format!("unrecognized character in action: {c:?}")));
                    }
                }
            }
        }
    }

    /// Advances over letters, digits and `_`, returning them as a slice of the source.
    fn scan_alnum(&mut self) -> &'a str {
        let start = self.pos;
        let src: &'a str = self.src;
        // ASCII first, byte by byte; a non-ASCII byte falls back to char decoding.
        let bytes = src.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if b.is_ascii_alphanumeric() || b == b'_' {
                self.pos += 1;
            } else if b.is_ascii() {
                return &src[start..self.pos];
            } else {
                break;
            }
        }
        for c in src[self.pos..].chars() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        &src[start..self.pos]
    }

    /// Go requires a field or identifier to be followed by a space, `.`, `,`, `|`, `:`,
    /// `=`, a paren or the closing delimiter.
    fn check_terminator(&self) -> Result<(), ParseError> {
        match self.bytes.get(self.pos) {
            None => Ok(()),
            Some(b) if is_space(*b) => Ok(()),
            Some(b'.' | b',' | b'|' | b':' | b')' | b'(' | b'=') => Ok(()),
            Some(b'}') if self.src[self.pos..].starts_with("}}") => Ok(()),
            Some(_) => {
                let c = self.src[self.pos..].chars().next().unwrap_or('\0');
                Err(self.err(self.pos, format!("bad character {c:?}")))
            }
        }
    }

    /// Go's `lexNumber`: a number, or a complex constant `1+2i` (no spaces, ending in
    /// `i`).
    fn lex_number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let mut ok = self.scan_number();
        if ok && matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
            ok = self.scan_number() && self.src[..self.pos].ends_with('i');
        }
        let text = &self.src[start..self.pos];
        if !ok || text == "+" || text == "-" {
            let end = self.src[self.pos..]
                .find(|c: char| !is_alnum(c))
                .map_or(self.src.len(), |i| self.pos + i);
            return Err(self.err(
                start,
                format!("bad number syntax: {:?}", &self.src[start..end]),
            ));
        }
        self.push(Tok::Number(text), start);
        Ok(())
    }

    /// Go's `scanNumber`: sign, base prefix, digits, fraction, exponent (`e` for
    /// decimals, `p` for hexadecimals), an optional `i`; false when a letter or digit
    /// follows.
    fn scan_number(&mut self) -> bool {
        if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let mut digits: &[u8] = b"0123456789_";
        if self.bytes.get(self.pos) == Some(&b'0') {
            self.pos += 1;
            match self.bytes.get(self.pos) {
                Some(b'x' | b'X') => {
                    self.pos += 1;
                    digits = b"0123456789abcdefABCDEF_";
                }
                Some(b'o' | b'O') => {
                    self.pos += 1;
                    digits = b"01234567_";
                }
                Some(b'b' | b'B') => {
                    self.pos += 1;
                    digits = b"01_";
                }
                _ => {}
            }
        }
        let scan = |lx: &mut Self, set: &[u8]| {
            while lx.bytes.get(lx.pos).is_some_and(|b| set.contains(b)) {
                lx.pos += 1;
            }
        };
        scan(self, digits);
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            scan(self, digits);
        }
        let exp: &[u8] = match digits.len() {
            11 => b"eE",
            23 => b"pP",
            _ => b"",
        };
        if self.bytes.get(self.pos).is_some_and(|b| exp.contains(b)) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            scan(self, b"0123456789_");
        }
        if self.bytes.get(self.pos) == Some(&b'i') {
            self.pos += 1;
        }
        !self.src[self.pos..].chars().next().is_some_and(is_alnum)
    }

    fn lex_quote(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.bytes.get(self.pos) {
                None | Some(b'\n') => return Err(self.err(start, "unterminated quoted string")),
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let text: &'a str = &self.src[start..self.pos];
        let inner = &text[1..text.len() - 1];
        let value = if inner.contains('\\') {
            Cow::Owned(unquote(inner).map_err(|e| self.err(start, e))?)
        } else {
            Cow::Borrowed(inner)
        };
        self.push(Tok::Str(text, value), start);
        Ok(())
    }

    fn lex_raw(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let end = self.src[start + 1..]
            .find('`')
            .ok_or_else(|| self.err(start, "unterminated raw quoted string"))?;
        self.pos = start + 1 + end + 1;
        let text: &'a str = &self.src[start..self.pos];
        let inner = &text[1..text.len() - 1];
        // Go drops carriage returns from raw strings.
        let value = if inner.contains('\r') {
            Cow::Owned(inner.replace('\r', ""))
        } else {
            Cow::Borrowed(inner)
        };
        self.push(Tok::Str(text, value), start);
        Ok(())
    }

    fn lex_char(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.bytes.get(self.pos) {
                None | Some(b'\n') => {
                    return Err(self.err(start, "unterminated character constant"))
                }
                Some(b'\\') => self.pos += 2,
                Some(b'\'') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        let text: &'a str = &self.src[start..self.pos];
        let inner = &text[1..text.len() - 1];
        let decoded = if inner == "\"" {
            "\"".to_string()
        } else if inner == "\\'" {
            "'".to_string()
        } else {
            unquote(inner).map_err(|e| self.err(start, e))?
        };
        let mut chars = decoded.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => {
                self.push(Tok::Char(text, c as u32), start);
                Ok(())
            }
            _ => Err(self.err(start, format!("malformed character constant: {text}"))),
        }
    }
}

/// Decodes the escapes of a Go interpreted string literal (without its quotes).
pub fn unquote(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or("invalid syntax")?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| "invalid syntax")?;
                let ch = char::from_u32(v).ok_or("invalid syntax")?;
                out.push(ch);
            }
            '0'..='7' => {
                let mut oct = String::from(e);
                for _ in 0..2 {
                    oct.push(chars.next().ok_or("invalid syntax")?);
                }
                let v = u32::from_str_radix(&oct, 8).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(v).ok_or("invalid syntax")?);
            }
            _ => return Err("invalid syntax".to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        lex("t", src).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn trims_around_actions() {
        assert_eq!(
            toks("a  {{- .x -}}  b"),
            vec![
                Tok::Text("a"),
                Tok::LeftDelim,
                Tok::Field("x"),
                Tok::RightDelim,
                Tok::Text("b"),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn negative_number_is_not_a_trim_marker() {
        assert_eq!(
            toks("{{-3}}"),
            vec![Tok::LeftDelim, Tok::Number("-3"), Tok::RightDelim, Tok::Eof]
        );
    }

    #[test]
    fn comments_vanish_and_trim() {
        assert_eq!(
            toks("a {{- /* c */ -}} b"),
            vec![Tok::Text("a"), Tok::Text("b"), Tok::Eof]
        );
        assert!(lex("t", "{{ /* c */ x }}").is_err());
    }

    #[test]
    fn strings_decode_escapes() {
        assert_eq!(
            toks(r#"{{"a\tb\u00e9"}}"#),
            vec![
                Tok::LeftDelim,
                Tok::Str(r#""a\tb\u00e9""#, "a\tbé".into()),
                Tok::RightDelim,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn unclosed_action_names_the_place() {
        let e = lex("c/t.yaml", "line\n  {{ .x ").unwrap_err();
        assert_eq!(e.to_string(), "template: c/t.yaml:2: unclosed action");
    }
}
