//! The parse tree of a Go template, shaped like Go's `text/template/parse` nodes.
//!
//! Positions are byte offsets into the template source; [`super::Source`] turns them
//! into `line:column` only when an error needs them. `Display` reproduces Go's
//! `Node.String()`, which Helm shows in errors (`at <.Values.x>`).

use std::fmt;
use std::sync::Arc;

use minijinja::Value;

/// A sequence of nodes: a template body or a branch of `if`/`range`/`with`.
pub type List = Vec<Node>;

/// A statement of the template.
#[derive(Debug, Clone)]
pub enum Node {
    /// Literal text, printed as is.
    Text(Arc<str>),
    /// `{{ pipeline }}`: prints the value unless the pipeline declares variables.
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
    /// `{{ template "name" pipeline }}` (also the call half of `block`).
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break(usize),
    Continue(usize),
}

impl Node {
    /// Where the node starts in its source, for errors; literal text has no position of
    /// its own.
    pub fn pos(&self) -> Option<usize> {
        match self {
            Node::Text(_) => None,
            Node::Action(pipe) => Some(pipe.pos),
            Node::If(b) | Node::With(b) | Node::Range(b) => Some(b.pos),
            Node::Template { pos, .. } | Node::Break(pos) | Node::Continue(pos) => Some(*pos),
        }
    }
}

/// The shared shape of `if`, `with` and `range`.
#[derive(Debug, Clone)]
pub struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

/// A pipeline, optionally declaring (`:=`) or assigning (`=`) variables.
#[derive(Debug, Clone)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// One stage of a pipeline: its first word is what runs, the rest are arguments.
#[derive(Debug, Clone)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B`: field chain on dot.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A.B`: a variable and an optional field chain.
    Variable {
        pos: usize,
        name: String,
        idents: Vec<String>,
    },
    /// `(pipeline).A.B`, or `fn.A.B` (a function called without arguments, then the
    /// fields of its result; `paren` is false).
    Chain {
        pos: usize,
        pipe: Box<Pipe>,
        idents: Vec<String>,
        paren: bool,
    },
    /// A function name.
    Ident {
        pos: usize,
        name: String,
    },
    Dot(usize),
    Nil(usize),
    /// A constant with its source text (for errors) and its Go value (`int`, `float64`,
    /// `string`, `bool`).
    Const {
        pos: usize,
        text: String,
        value: Value,
    },
    /// A parenthesized pipeline.
    Pipe(Box<Pipe>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Const { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { name, idents, .. } => {
                f.write_str(name)?;
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Chain {
                pipe,
                idents,
                paren,
                ..
            } => {
                if *paren {
                    write!(f, "({pipe})")?;
                } else {
                    write!(f, "{pipe}")?;
                }
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Ident { name, .. } => f.write_str(name),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Const { text, .. } => f.write_str(text),
            Arg::Pipe(p) => write!(f, "({p})"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}
