//! Builds the parse tree of one template file, with Go's grammar and its parse-time checks.
//!
//! Like Go's `parse.Parse`, one file yields its own body plus every `{{define}}` (and
//! `{{block}}`) it contains; undefined variables, unknown functions, `break` outside
//! `range` and misplaced `{{end}}`/`{{else}}` are reported here with the file and line.

use minijinja::Value;

use super::ast::{Arg, Branch, Command, List, Node, Pipe};
use super::lexer::{lex, Keyword, Tok, Token};
use super::{value, ParseError};

/// A parsed file: its own body and the templates it defines, in source order.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub body: List,
    pub defines: Vec<(String, List)>,
}

/// Parses `src` (named `name` in errors). `is_func` says which function names exist.
pub fn parse(
    name: &str,
    src: &str,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<ParsedFile, ParseError> {
    let tokens = lex(name, src)?;
    let mut p = Parser {
        name,
        src,
        tokens,
        idx: 0,
        vars: vec!["$"],
        range_depth: 0,
        is_func,
        defines: Vec::new(),
    };
    let body = p.top()?;
    Ok(ParsedFile {
        body,
        defines: p.defines,
    })
}

/// Why an item list stopped.
enum Stop {
    Close,
    Else(usize),
    Eof,
}

struct Parser<'a> {
    name: &'a str,
    src: &'a str,
    tokens: Vec<Token<'a>>,
    idx: usize,
    /// The variables in scope, borrowed from the source.
    vars: Vec<&'a str>,
    range_depth: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: Vec<(String, List)>,
}

impl<'a> Parser<'a> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.name, self.src, pos, msg)
    }

    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.idx.min(self.tokens.len() - 1)]
    }

    /// Consumes the current token, moving it out (the parser never steps back over a
    /// consumed token; it looks ahead with [`Self::non_space_from`] instead).
    fn next(&mut self) -> Token<'a> {
        let last = self.tokens.len() - 1;
        if self.idx >= last {
            return self.tokens[last].clone();
        }
        let pos = self.tokens[self.idx].pos;
        let t = std::mem::replace(
            &mut self.tokens[self.idx],
            Token {
                tok: Tok::Space,
                pos,
            },
        );
        self.idx += 1;
        t
    }

    /// The index of the first non-space token at or after `i`, without consuming.
    fn non_space_from(&self, mut i: usize) -> usize {
        let last = self.tokens.len() - 1;
        while i < last && self.tokens[i].tok == Tok::Space {
            i += 1;
        }
        i.min(last)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek().tok, Tok::Space) {
            self.idx += 1;
        }
    }

    fn next_non_space(&mut self) -> Token<'a> {
        self.skip_space();
        self.next()
    }

    fn peek_non_space(&mut self) -> &Token<'a> {
        self.skip_space();
        self.peek()
    }

    fn expect_right_delim(&mut self, context: &str) -> Result<(), ParseError> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return Err(self.err(
                t.pos,
                format!("unexpected {} in {context}", describe(&t.tok)),
            ));
        }
        Ok(())
    }

    fn top(&mut self) -> Result<List, ParseError> {
        let mut list = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                return Ok(list);
            }
            if self.peek().tok == Tok::LeftDelim {
                let k = self.non_space_from(self.idx + 1);
                if self.tokens[k].tok == Tok::Keyword(Keyword::Define) {
                    self.idx = k + 1;
                    self.definition()?;
                    continue;
                }
            }
            match self.text_or_action(&mut list)? {
                None => {}
                Some(Stop::Close) => {
                    let pos = self.tokens[self.idx.saturating_sub(1)].pos;
                    return Err(self.err(pos, "unexpected {{end}}"));
                }
                Some(Stop::Else(pos)) => return Err(self.err(pos, "unexpected {{else}}")),
                Some(Stop::Eof) => return Ok(list),
            }
        }
    }

    fn definition(&mut self) -> Result<(), ParseError> {
        let t = self.next_non_space();
        let name = self.template_name(&t, "define clause")?;
        self.expect_right_delim("define clause")?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$"]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if !matches!(end, Stop::Close) {
            return Err(self.err(t.pos, "unexpected EOF in define clause"));
        }
        self.add_define(name, list)
    }

    /// Go's `Tree.add` within one file: a define whose body is only white space gives
    /// way to one with content, and two with content are refused.
    fn add_define(&mut self, name: String, body: List) -> Result<(), ParseError> {
        if let Some(i) = self.defines.iter().position(|(n, _)| *n == name) {
            if super::is_empty_tree(&self.defines[i].1) {
                self.defines.remove(i);
            } else if super::is_empty_tree(&body) {
                return Ok(());
            } else {
                let pos = self.tokens[self.idx.saturating_sub(1)].pos;
                return Err(self.err(
                    pos,
                    format!("template: multiple definition of template {name:?}"),
                ));
            }
        }
        self.defines.push((name, body));
        Ok(())
    }

    fn template_name(&self, t: &Token<'a>, context: &str) -> Result<String, ParseError> {
        match &t.tok {
            Tok::Str(_, v) => Ok(v.to_string()),
            other => Err(self.err(
                t.pos,
                format!("unexpected {} in {context}", describe(other)),
            )),
        }
    }

    /// Parses nodes until `{{end}}`, `{{else}}` or EOF.
    fn item_list(&mut self) -> Result<(List, Stop), ParseError> {
        let mut list = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                let pos = self.peek().pos;
                return Err(self.err(pos, "unexpected EOF"));
            }
            if let Some(end) = self.text_or_action(&mut list)? {
                return Ok((list, end));
            }
        }
    }

    /// Appends one text or action node; returns `Some` when it met a terminator.
    fn text_or_action(&mut self, list: &mut List) -> Result<Option<Stop>, ParseError> {
        let t = self.next();
        match t.tok {
            Tok::Text(s) => {
                list.push(Node::Text(s.into()));
                Ok(None)
            }
            Tok::LeftDelim => self.action(list),
            Tok::Eof => Ok(Some(Stop::Eof)),
            other => Err(self.err(t.pos, format!("unexpected {}", describe(&other)))),
        }
    }

    fn action(&mut self, list: &mut List) -> Result<Option<Stop>, ParseError> {
        let t = self.peek_non_space();
        if let Tok::Keyword(k) = t.tok {
            let t = Token {
                tok: t.tok.clone(),
                pos: t.pos,
            };
            self.next();
            match k {
                Keyword::End => {
                    self.expect_right_delim("end")?;
                    return Ok(Some(Stop::Close));
                }
                Keyword::Else => {
                    // `else if` / `else with` leave the keyword for the caller.
                    if !matches!(
                        self.peek_non_space().tok,
                        Tok::Keyword(Keyword::If | Keyword::With)
                    ) {
                        self.expect_right_delim("else")?;
                    }
                    return Ok(Some(Stop::Else(t.pos)));
                }
                Keyword::If => list.push(Node::If(self.control("if", t.pos)?)),
                Keyword::With => list.push(Node::With(self.control("with", t.pos)?)),
                Keyword::Range => list.push(Node::Range(self.control("range", t.pos)?)),
                Keyword::Break | Keyword::Continue => {
                    let word = if k == Keyword::Break {
                        "break"
                    } else {
                        "continue"
                    };
                    let n = self.next_non_space();
                    if n.tok != Tok::RightDelim {
                        return Err(self.err(
                            n.pos,
                            format!("unexpected {} in {{{{{word}}}}}", describe(&n.tok)),
                        ));
                    }
                    if self.range_depth == 0 {
                        return Err(
                            self.err(t.pos, format!("{{{{{word}}}}} outside {{{{range}}}}"))
                        );
                    }
                    list.push(if k == Keyword::Break {
                        Node::Break(t.pos)
                    } else {
                        Node::Continue(t.pos)
                    });
                }
                Keyword::Template | Keyword::Block => {
                    let context = if k == Keyword::Block {
                        "block clause"
                    } else {
                        "template clause"
                    };
                    let nt = self.next_non_space();
                    let name = self.template_name(&nt, context)?;
                    // `template` may omit its pipeline; Go's `block` may not.
                    let pipe =
                        if k == Keyword::Template && self.peek_non_space().tok == Tok::RightDelim {
                            self.next();
                            None
                        } else {
                            Some(self.pipeline(context, &Tok::RightDelim)?)
                        };
                    if k == Keyword::Block {
                        let saved_vars = std::mem::replace(&mut self.vars, vec!["$"]);
                        let (body, end) = self.item_list()?;
                        self.vars = saved_vars;
                        if !matches!(end, Stop::Close) {
                            return Err(self.err(t.pos, "unexpected {{else}} in block clause"));
                        }
                        self.add_define(name.clone(), body)?;
                    }
                    list.push(Node::Template {
                        pos: t.pos,
                        name,
                        pipe,
                    });
                }
                Keyword::Define => {
                    return Err(self.err(t.pos, "unexpected define: {{define}} only at top level"));
                }
            }
            return Ok(None);
        }
        let pipe = self.pipeline("command", &Tok::RightDelim)?;
        list.push(Node::Action(pipe));
        Ok(None)
    }

    fn control(&mut self, context: &str, pos: usize) -> Result<Branch, ParseError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, &Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, end) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            Stop::Close => None,
            Stop::Eof => return Err(self.err(pos, "unexpected EOF")),
            Stop::Else(epos) => {
                let kw = self.peek_non_space().tok.clone();
                if context == "if" && kw == Tok::Keyword(Keyword::If) {
                    self.next();
                    Some(vec![Node::If(self.control("if", epos)?)])
                } else if context == "with" && kw == Tok::Keyword(Keyword::With) {
                    self.next();
                    Some(vec![Node::With(self.control("with", epos)?)])
                } else {
                    let (l, e) = self.item_list()?;
                    if !matches!(e, Stop::Close) {
                        return Err(self.err(epos, "expected end; found {{else}}"));
                    }
                    Some(l)
                }
            }
        };
        self.vars.truncate(mark);
        Ok(Branch {
            pos,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: &Tok<'a>) -> Result<Pipe, ParseError> {
        let start = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos: start,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$i, $v :=` (range only).
        loop {
            let vi = self.non_space_from(self.idx);
            if !matches!(self.tokens[vi].tok, Tok::Variable(_)) {
                break;
            }
            let after = self.non_space_from(vi + 1);
            if !matches!(
                self.tokens[after].tok,
                Tok::Declare | Tok::Assign | Tok::Comma
            ) {
                break;
            }
            let save = vi;
            self.idx = vi;
            let Tok::Variable(v) = self.next().tok else {
                break;
            };
            match self.peek_non_space().tok {
                Tok::Declare | Tok::Assign => {
                    pipe.is_assign = self.peek().tok == Tok::Assign;
                    if pipe.is_assign && !self.vars.contains(&v) {
                        let pos = self.tokens[save].pos;
                        return Err(self.err(pos, format!("undefined variable {v:?}")));
                    }
                    self.next();
                    pipe.decl.push(v.to_string());
                    self.vars.push(v);
                    break;
                }
                Tok::Comma => {
                    self.next();
                    pipe.decl.push(v.to_string());
                    self.vars.push(v);
                    if context == "range" && pipe.decl.len() < 2 {
                        if matches!(self.peek_non_space().tok, Tok::Variable(_)) {
                            continue;
                        }
                        let pos = self.peek().pos;
                        return Err(self.err(pos, "range can only initialize variables"));
                    }
                    let pos = self.peek().pos;
                    return Err(self.err(pos, format!("too many declarations in {context}")));
                }
                _ => break,
            }
        }
        loop {
            let t = self.peek_non_space();
            let t = Token {
                tok: if &t.tok == end {
                    t.tok.clone()
                } else {
                    Tok::Space
                },
                pos: t.pos,
            };
            if &t.tok == end {
                self.next();
                if pipe.cmds.is_empty() {
                    return Err(self.err(t.pos, format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args.first(),
                        Some(Arg::Const { .. } | Arg::Dot(_) | Arg::Nil(_))
                    ) {
                        return Err(self.err(
                            c.pos,
                            format!("non executable command in pipeline stage {}", i + 1),
                        ));
                    }
                }
                return Ok(pipe);
            }
            match &self.peek().tok {
                Tok::Bool(_)
                | Tok::Char(..)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::Str(..)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                other => {
                    return Err(self.err(
                        t.pos,
                        format!("unexpected {} in {context}", describe(other)),
                    ))
                }
            }
        }
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let pos = self.peek().pos;
            match &self.peek().tok {
                Tok::Space => {
                    self.next();
                    continue;
                }
                Tok::RightDelim | Tok::RightParen => {}
                Tok::Pipe => {
                    self.next();
                }
                other => {
                    return Err(self.err(pos, format!("unexpected {} in operand", describe(other))))
                }
            }
            break;
        }
        if args.is_empty() {
            return Err(self.err(pos, "empty command"));
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        // Go gives a chained operand the position of its first chained field.
        let chain_pos = self.peek().pos;
        let mut idents = Vec::new();
        while matches!(self.peek().tok, Tok::Field(_)) {
            if let Tok::Field(f) = self.next().tok {
                idents.push(f.to_string());
            }
        }
        if idents.is_empty() {
            return Ok(Some(term));
        }
        Ok(Some(match term {
            Arg::Field {
                idents: mut first, ..
            } => {
                first.extend(idents);
                Arg::Field {
                    pos: chain_pos,
                    idents: first,
                }
            }
            Arg::Variable {
                name,
                idents: mut first,
                ..
            } => {
                first.extend(idents);
                Arg::Variable {
                    pos: chain_pos,
                    name,
                    idents: first,
                }
            }
            Arg::Pipe(pipe) => Arg::Chain {
                pos: chain_pos,
                pipe,
                idents,
                paren: true,
            },
            // Go parses `fn.A.B` and fails only if it runs (the call has no arguments).
            ident @ Arg::Ident { .. } => Arg::Chain {
                pos: chain_pos,
                pipe: Box::new(Pipe {
                    pos: ident.pos(),
                    is_assign: false,
                    decl: Vec::new(),
                    cmds: vec![Command {
                        pos: ident.pos(),
                        args: vec![ident],
                    }],
                }),
                idents,
                paren: false,
            },
            Arg::Chain {
                pos,
                pipe,
                idents: mut first,
                paren,
            } => {
                first.extend(idents);
                Arg::Chain {
                    pos,
                    pipe,
                    idents: first,
                    paren,
                }
            }
            other => {
                return Err(self.err(
                    other.pos(),
                    format!("unexpected . after term {:?}", other.to_string()),
                ))
            }
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>, ParseError> {
        let starts_term = matches!(
            self.peek_non_space().tok,
            Tok::Ident(_)
                | Tok::Dot
                | Tok::Nil
                | Tok::Variable(_)
                | Tok::Field(_)
                | Tok::Bool(_)
                | Tok::Char(..)
                | Tok::Number(_)
                | Tok::Str(..)
                | Tok::LeftParen
        );
        if !starts_term {
            return Ok(None);
        }
        let t = self.next();
        let arg = match t.tok {
            Tok::Ident(name) => {
                if !(self.is_func)(name) {
                    return Err(self.err(t.pos, format!("function {name:?} not defined")));
                }
                Arg::Ident {
                    pos: t.pos,
                    name: name.to_string(),
                }
            }
            Tok::Dot => Arg::Dot(t.pos),
            Tok::Nil => Arg::Nil(t.pos),
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(t.pos, format!("undefined variable {name:?}")));
                }
                Arg::Variable {
                    pos: t.pos,
                    name: name.to_string(),
                    idents: Vec::new(),
                }
            }
            Tok::Field(f) => Arg::Field {
                pos: t.pos,
                idents: vec![f.to_string()],
            },
            Tok::Bool(b) => Arg::Const {
                pos: t.pos,
                text: b.to_string(),
                value: Value::from(b),
            },
            Tok::Char(text, c) => Arg::Const {
                pos: t.pos,
                text: text.to_string(),
                value: Value::from(i64::from(c)),
            },
            Tok::Number(text) => {
                let value = number_value(text)
                    .ok_or_else(|| self.err(t.pos, format!("illegal number syntax: {text:?}")))?;
                Arg::Const {
                    pos: t.pos,
                    text: text.to_string(),
                    value,
                }
            }
            Tok::Str(text, v) => Arg::Const {
                pos: t.pos,
                text: text.to_string(),
                value: Value::from(v.as_ref()),
            },
            Tok::LeftParen => {
                let pipe = self.pipeline("parenthesized pipeline", &Tok::RightParen)?;
                return Ok(Some(Arg::Pipe(Box::new(pipe))));
            }
            _ => return Ok(None),
        };
        Ok(Some(arg))
    }
}

/// The Go value of a number constant as `text/template` passes it to an `interface{}`
/// parameter (Go's `idealConstant`): `complex128` for complex and imaginary constants,
/// `int` unless the text has a fraction or exponent, then `float64`.
fn number_value(text: &str) -> Option<Value> {
    if text.ends_with('i') {
        return complex_value(text);
    }
    real_value(text)
}

/// `1+2i`, `-1.2-3e2i` (what `fmt.Sscan` reads as a complex) or an imaginary `4i`.
fn complex_value(text: &str) -> Option<Value> {
    let body = text.strip_suffix('i')?;
    // The imaginary part starts at the last sign that does not follow an exponent.
    let split = body
        .char_indices()
        .skip(1)
        .filter(|&(i, c)| {
            matches!(c, '+' | '-') && !matches!(body.as_bytes()[i - 1], b'e' | b'E' | b'p' | b'P')
        })
        .map(|(i, _)| i)
        .last();
    let float = |t: &str| {
        let t = t.strip_prefix('+').unwrap_or(t);
        t.parse::<f64>().ok().filter(|f| f.is_finite())
    };
    let (re, im) = match split {
        Some(i) => (float(&body[..i])?, float(&body[i..])?),
        None => (0.0, float(body)?),
    };
    Some(value::complex(re, im))
}

fn real_value(text: &str) -> Option<Value> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains(['.', 'p']) {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Value::from(if neg { -i } else { i }));
    }
    if let Some(h) = lower.strip_prefix("0x") {
        let f = hex_float(h)?;
        return Some(Value::from(if neg { -f } else { f }));
    }
    // `strconv.ParseFloat` refuses what overflows a float64 (`1e400`).
    let f: f64 = lower.parse().ok().filter(|f: &f64| f.is_finite())?;
    Some(Value::from(if neg { -f } else { f }))
}

/// A hexadecimal float mantissa with a binary exponent (`1p60`, `1.8p-3`).
fn hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = h.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::LeftDelim => "<{{>".into(),
        Tok::RightDelim => "<}}>".into(),
        Tok::LeftParen => "<(>".into(),
        Tok::RightParen => "<)>".into(),
        Tok::Pipe => "<|>".into(),
        Tok::Declare => "<:=>".into(),
        Tok::Assign => "<=>".into(),
        Tok::Comma => "<,>".into(),
        Tok::Space => "space".into(),
        Tok::Dot => "<.>".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Variable(v) | Tok::Ident(v) | Tok::Number(v) => format!("<{v}>"),
        Tok::Bool(b) => format!("<{b}>"),
        Tok::Nil => "<nil>".into(),
        Tok::Char(t, _) | Tok::Str(t, _) => format!("<{t}>"),
        Tok::Keyword(k) => format!("<{}>", format!("{k:?}").to_lowercase()),
        Tok::Eof => "EOF".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Result<ParsedFile, ParseError> {
        parse("t.yaml", src, &|n| {
            matches!(n, "include" | "quote" | "printf" | "eq")
        })
    }

    #[test]
    fn defines_are_collected_apart_from_the_body() {
        let f = p("a{{define \"x\"}}b{{end}}c").unwrap();
        assert_eq!(f.body.len(), 2);
        assert_eq!(f.defines.len(), 1);
        assert_eq!(f.defines[0].0, "x");
    }

    #[test]
    fn chains_of_fields_join() {
        let f = p("{{ .Values.a.b | quote }}").unwrap();
        let Node::Action(pipe) = &f.body[0] else {
            panic!()
        };
        assert_eq!(pipe.to_string(), ".Values.a.b | quote");
    }

    #[test]
    fn else_if_chains_share_one_end() {
        let f = p("{{if .a}}1{{else if .b}}2{{else}}3{{end}}").unwrap();
        let Node::If(b) = &f.body[0] else { panic!() };
        assert!(matches!(b.else_list.as_ref().unwrap()[0], Node::If(_)));
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        assert_eq!(
            p("\n{{ nope }}").unwrap_err().to_string(),
            "template: t.yaml:2: function \"nope\" not defined"
        );
        assert_eq!(
            p("{{ $x }}").unwrap_err().to_string(),
            "template: t.yaml:1: undefined variable \"$x\""
        );
        assert_eq!(
            p("{{ end }}").unwrap_err().to_string(),
            "template: t.yaml:1: unexpected {{end}}"
        );
        assert!(p("{{ break }}").is_err());
        assert!(p("{{ if .x }}").is_err());
    }

    #[test]
    fn variables_declared_in_a_block_end_with_it() {
        assert!(p("{{ if .a }}{{ $x := 1 }}{{ end }}{{ $x }}").is_err());
        assert!(p("{{ $x := 1 }}{{ if .a }}{{ $x = 2 }}{{ end }}{{ $x }}").is_ok());
    }

    #[test]
    fn numbers_take_go_types() {
        assert!(number_value("12").unwrap().is_integer());
        assert!(!number_value("1e3").unwrap().is_integer());
        assert_eq!(number_value("0x1F").unwrap(), Value::from(31));
        assert_eq!(number_value("-2.5").unwrap(), Value::from(-2.5));
        assert_eq!(
            number_value("0x1p60").unwrap(),
            Value::from(1152921504606846976.0)
        );
        assert!(!number_value("0x1p4").unwrap().is_integer());
    }
}
