//! Executes parse trees with Go's `text/template` semantics (Helm's `missingkey=zero`).
//!
//! The executor walks the tree directly, evaluating pipelines over [`minijinja::Value`]s.
//! It knows the four functions that need the executor itself: `and`/`or` (which
//! evaluate their arguments lazily) and Helm's `include`/`tpl` (which run templates);
//! every other function comes from [`crate::helm::funcs`].
//!
//! Hostile templates are bounded: nested `include`/`tpl`/`template` calls stop at
//! [`Limits::max_depth`], any output buffer growing past [`Limits::max_output`] stops the
//! render, and so does walking more than [`Limits::max_steps`] nodes (loops that emit
//! nothing, such as nested `range until 10000000`, would otherwise run for hours).

use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;

use minijinja::Value;

use super::ast::{Arg, Branch, Command, Node, Pipe};
use super::value::{self, as_list, as_map, kind, truth, GoStruct, Kind};
use super::{parser, NameMap, Source, Template, TemplateSet};
use crate::helm::funcs::{self, Args, FuncError};

/// Bounds a chart cannot exceed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nesting of `include`, `tpl` and `{{template}}` calls.
    pub max_depth: usize,
    /// Bytes of any one output (a template's, or an `include`'s).
    pub max_output: usize,
    /// Template nodes walked in one render, all templates together. The heaviest real
    /// charts walk a few million; at this bound a render stops within seconds.
    pub max_steps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 1000,
            max_output: 64 << 20,
            max_steps: 100_000_000,
        }
    }
}

/// A failed execution, worded like Go's `template.ExecError`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ExecError {
    /// An error at a node of a template.
    #[error("{0}")]
    At(Box<Located>),
    /// `include` of a name nobody defined.
    #[error("template: no template {name:?} associated with template \"gotpl\"")]
    NoTemplate { name: String },
    /// A bound of [`Limits`] was reached. Passed up unchanged through `include` and
    /// `tpl`, so a runaway recursion yields one line, not a thousand nested ones.
    #[error("{at}: {message}")]
    Limit { at: String, message: String },
}

/// Where and why execution stopped:
/// `template: FILE:LINE:COL: executing "NAME" at <NODE>: CAUSE`.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("template: {file}:{line}:{col}: executing \"{template}\" at <{context}>: {cause}")]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub template: String,
    pub context: String,
    pub cause: String,
    /// The message of a `fail`/`required` somewhere down the chain, which Helm shows
    /// on its own.
    pub fail: Option<String>,
    /// The chain ends in a plain function error, which Helm prints as Go's one-line
    /// message rather than its per-template layout.
    pub raw: bool,
}

impl ExecError {
    /// The message of a `fail`/`required` that caused this error, if one did.
    pub fn fail_message(&self) -> Option<&str> {
        match self {
            ExecError::At(at) => at.fail.as_deref(),
            ExecError::NoTemplate { .. } | ExecError::Limit { .. } => None,
        }
    }

    /// Whether Helm would print this as Go's one-line message.
    pub fn is_raw(&self) -> bool {
        match self {
            ExecError::At(at) => at.raw,
            ExecError::NoTemplate { .. } => false,
            ExecError::Limit { .. } => true,
        }
    }

    /// `FILE:LINE:COL` of the outermost location.
    pub fn location(&self) -> Option<String> {
        match self {
            ExecError::At(at) => Some(format!("{}:{}:{}", at.file, at.line, at.col)),
            ExecError::NoTemplate { .. } | ExecError::Limit { .. } => None,
        }
    }
}

/// The name under which `tpl` parses its text, as Helm does (its root template's name).
const TPL_NAME: &str = "gotpl";

enum Flow {
    Normal,
    Break,
    Continue,
}

/// One template invocation: which template runs (for errors) and its variables.
struct Frame {
    tmpl: Arc<Template>,
    vars: Vec<(String, Value)>,
}

/// A `tpl` text parsed once: its body and the templates it defines.
struct TplTree {
    main: Arc<Template>,
    defines: NameMap<Arc<Template>>,
}

/// Runs templates of one set. Keeps a cache of parsed `tpl` texts.
pub struct Exec<'a> {
    set: &'a TemplateSet,
    limits: Limits,
    depth: usize,
    /// Nodes walked so far, against [`Limits::max_steps`].
    steps: u64,
    /// Templates defined by enclosing `tpl` texts, innermost last.
    overlays: Vec<Rc<TplTree>>,
    tpl_cache: NameMap<Rc<TplTree>>,
}

type R<T> = Result<T, ExecError>;

impl<'a> Exec<'a> {
    pub fn new(set: &'a TemplateSet, limits: Limits) -> Self {
        Exec {
            set,
            limits,
            depth: 0,
            steps: 0,
            overlays: Vec::new(),
            tpl_cache: NameMap::default(),
        }
    }

    fn lookup(&self, name: &str) -> Option<Arc<Template>> {
        for o in self.overlays.iter().rev() {
            if o.main.name == name {
                return Some(o.main.clone());
            }
            if let Some(t) = o.defines.get(name) {
                return Some(t.clone());
            }
        }
        self.set.get(name).cloned()
    }

    /// Executes the template `name` with `data` as dot and `$`, appending to `out`.
    pub fn execute(&mut self, name: &str, data: &Value, out: &mut String) -> R<()> {
        let tmpl = self.lookup(name).ok_or_else(|| ExecError::NoTemplate {
            name: name.to_string(),
        })?;
        self.run(tmpl, data, out)
    }

    fn run(&mut self, tmpl: Arc<Template>, data: &Value, out: &mut String) -> R<()> {
        let data = if data.is_none() {
            Value::UNDEFINED
        } else {
            data.clone()
        };
        let mut fr = Frame {
            tmpl: tmpl.clone(),
            vars: vec![("$".to_string(), data.clone())],
        };
        self.walk(&mut fr, &data, &tmpl.body, out)?;
        Ok(())
    }

    fn error(
        &self,
        fr: &Frame,
        pos: usize,
        context: &dyn std::fmt::Display,
        cause: impl Into<String>,
    ) -> ExecError {
        self.error_with(fr, pos, context, cause.into(), None, false)
    }

    fn error_with(
        &self,
        fr: &Frame,
        pos: usize,
        context: &dyn std::fmt::Display,
        cause: String,
        fail: Option<String>,
        raw: bool,
    ) -> ExecError {
        let (line, col) = fr.tmpl.source.line_col(pos);
        ExecError::At(Box::new(Located {
            file: fr.tmpl.source.name.clone(),
            line,
            col,
            template: fr.tmpl.name.clone(),
            context: context.to_string(),
            cause,
            fail,
            raw,
        }))
    }

    fn limit(&self, fr: &Frame, pos: usize, message: String) -> ExecError {
        let (line, col) = fr.tmpl.source.line_col(pos);
        ExecError::Limit {
            at: format!("template: {}:{line}:{col}", fr.tmpl.source.name),
            message,
        }
    }

    fn check_output(&self, fr: &Frame, pos: usize, out: &str) -> R<()> {
        if out.len() > self.limits.max_output {
            return Err(self.limit(
                fr,
                pos,
                format!(
                    "output exceeds the limit of {} bytes",
                    self.limits.max_output
                ),
            ));
        }
        Ok(())
    }

    /// Counts `n` steps against [`Limits::max_steps`]; `pos` says where for the error.
    fn step(&mut self, fr: &Frame, pos: impl FnOnce() -> usize, n: u64) -> R<()> {
        self.steps += n;
        if self.steps > self.limits.max_steps {
            return Err(self.limit(
                fr,
                pos(),
                format!(
                    "exceeded {} template steps in one render: a loop that does not end in time",
                    self.limits.max_steps
                ),
            ));
        }
        Ok(())
    }

    fn walk(&mut self, fr: &mut Frame, dot: &Value, list: &[Node], out: &mut String) -> R<Flow> {
        self.step(
            fr,
            || list.iter().find_map(Node::pos).unwrap_or(0),
            list.len() as u64,
        )?;
        for node in list {
            match node {
                Node::Text(t) => {
                    out.push_str(t);
                    if out.len() > self.limits.max_output {
                        self.check_output(fr, 0, out)?;
                    }
                }
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(fr, dot, pipe)?;
                    if pipe.decl.is_empty() {
                        if v.is_undefined() {
                            out.push_str("<no value>");
                        } else {
                            value::write_v(&v, out);
                        }
                        self.check_output(fr, pipe.pos, out)?;
                    }
                }
                Node::If(b) => {
                    let f = self.walk_if_with(fr, dot, b, false, out)?;
                    if !matches!(f, Flow::Normal) {
                        return Ok(f);
                    }
                }
                Node::With(b) => {
                    let f = self.walk_if_with(fr, dot, b, true, out)?;
                    if !matches!(f, Flow::Normal) {
                        return Ok(f);
                    }
                }
                Node::Range(b) => self.walk_range(fr, dot, b, out)?,
                Node::Template { pos, name, pipe } => {
                    let Some(tmpl) = self.lookup(name) else {
                        let ctx = TemplateCtx(name, pipe.as_ref());
                        return Err(self.error(
                            fr,
                            *pos,
                            &ctx,
                            format!("template {name:?} not defined"),
                        ));
                    };
                    let data = match pipe {
                        Some(p) => self.eval_pipeline(fr, dot, p)?,
                        None => Value::UNDEFINED,
                    };
                    self.enter(fr, *pos)?;
                    let r = self.run(tmpl, &data, out);
                    self.depth -= 1;
                    r?;
                }
                Node::Break(_) => return Ok(Flow::Break),
                Node::Continue(_) => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn enter(&mut self, fr: &Frame, pos: usize) -> R<()> {
        if self.depth >= self.limits.max_depth {
            return Err(self.limit(
                fr,
                pos,
                format!(
                    "exceeded maximum template depth ({}): nested include, tpl or template calls",
                    self.limits.max_depth
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_if_with(
        &mut self,
        fr: &mut Frame,
        dot: &Value,
        b: &Branch,
        is_with: bool,
        out: &mut String,
    ) -> R<Flow> {
        let mark = fr.vars.len();
        let v = self.eval_pipeline(fr, dot, &b.pipe)?;
        let r = if truth(&v) {
            if is_with {
                self.walk(fr, &v, &b.list, out)
            } else {
                self.walk(fr, dot, &b.list, out)
            }
        } else if let Some(e) = &b.else_list {
            self.walk(fr, dot, e, out)
        } else {
            Ok(Flow::Normal)
        };
        fr.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, fr: &mut Frame, dot: &Value, b: &Branch, out: &mut String) -> R<()> {
        let outer = fr.vars.len();
        let val = self.eval_pipeline(fr, dot, &b.pipe)?;
        let mark = fr.vars.len();
        let decl = &b.pipe.decl;
        let mut one = |this: &mut Self, fr: &mut Frame, key: Value, elem: Value| -> R<bool> {
            // Each iteration is a step even when its body is empty.
            this.step(fr, || b.pos, 1)?;
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    let first = if decl.len() > 1 {
                        key.clone()
                    } else {
                        elem.clone()
                    };
                    set_var(fr, &decl[0], first);
                } else {
                    let n = fr.vars.len();
                    fr.vars[n - 1].1 = elem.clone();
                }
            }
            if decl.len() > 1 {
                if b.pipe.is_assign {
                    set_var(fr, &decl[1], elem.clone());
                } else {
                    let n = fr.vars.len();
                    fr.vars[n - 2].1 = key;
                }
            }
            let r = this.walk(fr, &elem, &b.list, out);
            fr.vars.truncate(mark);
            Ok(matches!(r?, Flow::Break))
        };
        let mut iterated = false;
        match kind(&val) {
            Kind::Slice => {
                let items = as_list(&val).unwrap_or_default();
                iterated = !items.is_empty();
                for (i, item) in items.into_iter().enumerate() {
                    if one(self, fr, Value::from(i), item)? {
                        break;
                    }
                }
            }
            Kind::Map => {
                let entries = as_map(&val).map(|m| m.snapshot()).unwrap_or_default();
                iterated = !entries.is_empty();
                for (k, v) in entries {
                    if one(self, fr, Value::from(k), v)? {
                        break;
                    }
                }
            }
            Kind::Struct
                if val
                    .downcast_object_ref::<GoStruct>()
                    .and_then(|s| s.0.entries())
                    .is_some() =>
            {
                let entries = val
                    .downcast_object_ref::<GoStruct>()
                    .and_then(|s| s.0.entries())
                    .unwrap_or_default();
                iterated = !entries.is_empty();
                for (k, v) in entries {
                    if one(self, fr, Value::from(k), v)? {
                        break;
                    }
                }
            }
            Kind::Int | Kind::Int64 if decl.len() > 1 => {
                fr.vars.truncate(outer);
                let msg = format!(
                    "can't use {} to iterate over more than one variable",
                    value::fmt_v(&val)
                );
                return Err(self.range_error(fr, b, msg));
            }
            Kind::Int | Kind::Int64 => {
                let n = value::as_int(&val).unwrap_or(0);
                iterated = n > 0;
                for i in 0..n {
                    if one(self, fr, Value::from(i), Value::from(i))? {
                        break;
                    }
                }
            }
            Kind::Invalid | Kind::Nil => {}
            _ => {
                fr.vars.truncate(outer);
                let msg = format!("range can't iterate over {}", value::fmt_v(&val));
                return Err(self.range_error(fr, b, msg));
            }
        }
        if !iterated {
            if let Some(e) = &b.else_list {
                self.walk(fr, dot, e, out)?;
            }
        }
        fr.vars.truncate(outer);
        Ok(())
    }

    /// A `range` that cannot run: Go reports the node it evaluated last, the last
    /// command's operand.
    fn range_error(&self, fr: &Frame, b: &Branch, msg: String) -> ExecError {
        let node = b.pipe.cmds.last().and_then(|c| c.args.last());
        let pos = node.map_or(b.pos, Arg::pos);
        let ctx: &dyn std::fmt::Display = match node {
            Some(n) => n,
            None => &RangeCtx(b),
        };
        self.error(fr, pos, ctx, msg)
    }

    fn eval_pipeline(&mut self, fr: &mut Frame, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut v: Option<Value> = None;
        for cmd in &pipe.cmds {
            let r = self.eval_command(fr, dot, cmd, v)?;
            // After every command Go unwraps an empty interface: a nil interface becomes
            // "no value", which is what the next command receives.
            v = Some(if r.is_none() { Value::UNDEFINED } else { r });
        }
        let v = v.unwrap_or(Value::UNDEFINED);
        for name in &pipe.decl {
            if pipe.is_assign {
                set_var(fr, name, v.clone());
            } else {
                fr.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_command(
        &mut self,
        fr: &mut Frame,
        dot: &Value,
        cmd: &Command,
        fin: Option<Value>,
    ) -> R<Value> {
        let first = &cmd.args[0];
        let rest = &cmd.args[1..];
        match first {
            Arg::Field { pos, idents } => {
                self.eval_field_chain(fr, dot, dot.clone(), idents, rest, fin, *pos, first)
            }
            Arg::Chain {
                pos, pipe, idents, ..
            } => {
                let recv = self.eval_pipeline(fr, dot, pipe)?;
                self.eval_field_chain(fr, dot, recv, idents, rest, fin, *pos, first)
            }
            Arg::Variable { pos, name, idents } => {
                let v = var_value(fr, name);
                if idents.is_empty() {
                    self.not_a_function(fr, cmd, rest, &fin)?;
                    return Ok(v);
                }
                self.eval_field_chain(fr, dot, v, idents, rest, fin, *pos, first)
            }
            Arg::Ident { name, .. } => self.eval_function(fr, dot, name, cmd, rest, fin),
            Arg::Pipe(p) => {
                self.not_a_function(fr, cmd, rest, &fin)?;
                self.eval_pipeline(fr, dot, p)
            }
            Arg::Nil(pos) => Err(self.error(fr, *pos, first, "nil is not a command")),
            Arg::Dot(_) => {
                self.not_a_function(fr, cmd, rest, &fin)?;
                Ok(dot.clone())
            }
            Arg::Const { value, .. } => {
                self.not_a_function(fr, cmd, rest, &fin)?;
                Ok(value.clone())
            }
        }
    }

    fn not_a_function(
        &self,
        fr: &Frame,
        cmd: &Command,
        rest: &[Arg],
        fin: &Option<Value>,
    ) -> R<()> {
        if !rest.is_empty() || fin.is_some() {
            return Err(self.error(
                fr,
                cmd.pos,
                cmd,
                format!("can't give argument to non-function {}", cmd.args[0]),
            ));
        }
        Ok(())
    }

    /// An argument to a function or method: evaluated without arguments of its own.
    fn eval_arg(&mut self, fr: &mut Frame, dot: &Value, arg: &Arg) -> R<Value> {
        let v = match arg {
            Arg::Field { pos, idents } => {
                self.eval_field_chain(fr, dot, dot.clone(), idents, &[], None, *pos, arg)?
            }
            Arg::Variable { pos, name, idents } => {
                let v = var_value(fr, name);
                if idents.is_empty() {
                    v
                } else {
                    self.eval_field_chain(fr, dot, v, idents, &[], None, *pos, arg)?
                }
            }
            Arg::Chain {
                pos, pipe, idents, ..
            } => {
                let recv = self.eval_pipeline(fr, dot, pipe)?;
                self.eval_field_chain(fr, dot, recv, idents, &[], None, *pos, arg)?
            }
            Arg::Ident { name, pos } => {
                let cmd = Command {
                    pos: *pos,
                    args: vec![arg.clone()],
                };
                self.eval_function(fr, dot, name, &cmd, &[], None)?
            }
            Arg::Pipe(p) => self.eval_pipeline(fr, dot, p)?,
            Arg::Dot(_) => dot.clone(),
            // Go gives a nillable parameter its type's nil for the nil constant, as it
            // does for "no value" (below).
            Arg::Nil(_) => Value::UNDEFINED,
            Arg::Const { value, .. } => value.clone(),
        };
        // Go's `validateType`: "no value" (a pipeline's or variable's nil, unwrapped
        // from its interface) becomes the nil of a map, slice or interface parameter,
        // while a nil read out of a map is still an `interface {}`, which a map or slice
        // parameter refuses. Both reach the function as they are ([`Kind::Invalid`]
        // and [`Kind::Nil`]), and its parameter types decide.
        Ok(v)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        fr: &mut Frame,
        dot: &Value,
        mut recv: Value,
        idents: &[String],
        args: &[Arg],
        fin: Option<Value>,
        pos: usize,
        node: &Arg,
    ) -> R<Value> {
        let n = idents.len();
        // Values read out of a map are `interface {}` to Go, which shows in errors.
        let mut from_map = false;
        for ident in &idents[..n - 1] {
            let was_map = kind(&recv) == Kind::Map;
            recv = self.eval_field(fr, dot, &recv, ident, &[], None, pos, node, from_map)?;
            from_map = was_map;
        }
        self.eval_field(
            fr,
            dot,
            &recv,
            &idents[n - 1],
            args,
            fin,
            pos,
            node,
            from_map,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        fr: &mut Frame,
        dot: &Value,
        recv: &Value,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
        pos: usize,
        node: &Arg,
        from_map: bool,
    ) -> R<Value> {
        match kind(recv) {
            // Go: a field of "no value" is silently no value (missingkey is not "error").
            Kind::Invalid => Ok(Value::UNDEFINED),
            // Helm's Go types, slices among them (`.Capabilities.APIVersions.Has`).
            _ if recv.downcast_object_ref::<GoStruct>().is_some() => {
                self.eval_struct_field(fr, dot, recv, name, args, fin, pos, node)
            }
            Kind::Map => {
                if !args.is_empty() || fin.is_some() {
                    return Err(self.error(
                        fr,
                        pos,
                        node,
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                let m = as_map(recv);
                // missingkey=zero: the zero value of interface{}, a nil interface.
                Ok(m.and_then(|m| m.get(name))
                    .unwrap_or_else(|| Value::from(())))
            }
            Kind::Struct => Err(self.error(
                fr,
                pos,
                node,
                format!(
                    "can't evaluate field {name} in type {}",
                    value::type_name(recv)
                ),
            )),
            Kind::Nil => Err(self.error(
                fr,
                pos,
                node,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            _ => {
                let ty = if from_map {
                    "interface {}".to_string()
                } else {
                    value::type_name(recv)
                };
                Err(self.error(
                    fr,
                    pos,
                    node,
                    format!("can't evaluate field {name} in type {ty}"),
                ))
            }
        }
    }

    /// A field or method of one of Helm's Go types.
    #[allow(clippy::too_many_arguments)]
    fn eval_struct_field(
        &mut self,
        fr: &mut Frame,
        dot: &Value,
        recv: &Value,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
        pos: usize,
        node: &Arg,
    ) -> R<Value> {
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(fr, dot, a)?);
        }
        if let Some(f) = fin {
            vals.push(if f.is_undefined() { Value::from(()) } else { f });
        }
        let Some(s) = recv.downcast_object_ref::<GoStruct>() else {
            return Ok(Value::UNDEFINED);
        };
        match s.0.field(name, &vals) {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(self.error(fr, pos, node, e)),
            None => Err(self.error(
                fr,
                pos,
                node,
                format!("can't evaluate field {name} in type {}", s.0.type_name()),
            )),
        }
    }

    fn eval_function(
        &mut self,
        fr: &mut Frame,
        dot: &Value,
        name: &str,
        cmd: &Command,
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        match name {
            "and" | "or" => {
                if args.is_empty() && fin.is_none() {
                    return Err(self.error(
                        fr,
                        cmd.pos,
                        cmd,
                        format!("wrong number of args for {name}: want at least 1 got 0"),
                    ));
                }
                let want = name == "or";
                let mut v = Value::UNDEFINED;
                for a in args {
                    v = self.eval_arg(fr, dot, a)?;
                    if truth(&v) == want {
                        return Ok(v);
                    }
                }
                if let Some(f) = fin {
                    v = f;
                }
                return Ok(v);
            }
            "include" | "tpl" => {
                let vals = self.eval_args(fr, dot, args, fin)?;
                let a = Args { name, vals: &vals };
                let wrap =
                    |this: &Self, fr: &Frame, e: FuncError| this.func_error(fr, cmd, args, name, e);
                a.arity(2).map_err(|e| wrap(self, fr, e))?;
                let text = a.string(0).map_err(|e| wrap(self, fr, e))?;
                let mut out = String::new();
                self.enter(fr, cmd.pos)?;
                let r = if name == "include" {
                    self.execute(&text, &vals[1], &mut out)
                        .map_err(TplError::Exec)
                } else {
                    self.tpl(&text, &vals[1], &mut out)
                };
                self.depth -= 1;
                return match r {
                    Ok(()) => {
                        if name == "tpl" {
                            out = super::strip_no_value(out);
                        }
                        Ok(Value::from(out))
                    }
                    Err(TplError::Exec(e @ ExecError::Limit { .. })) => Err(e),
                    Err(e) => {
                        let fail = e.fail_message().map(str::to_string);
                        let raw = match &e {
                            TplError::Exec(x) if name == "include" => x.is_raw(),
                            _ => true,
                        };
                        let cause = match e {
                            TplError::Parse(p) => {
                                format!("error calling tpl: cannot parse template {text:?}: {p}")
                            }
                            TplError::Exec(x) if name == "tpl" => {
                                format!("error calling tpl: error during tpl function execution for {text:?}: {x}")
                            }
                            TplError::Exec(x) => format!("error calling include: {x}"),
                        };
                        Err(self.error_with(fr, cmd.pos, cmd, cause, fail, raw))
                    }
                };
            }
            _ => {}
        }
        let Some(f) = funcs::lookup(name) else {
            return Err(self.error(
                fr,
                cmd.pos,
                cmd,
                format!("{name:?} is not a defined function"),
            ));
        };
        let vals = self.eval_args(fr, dot, args, fin)?;
        f(&Args { name, vals: &vals }).map_err(|e| self.func_error(fr, cmd, args, name, e))
    }

    /// Places a function's error as Go does: type errors at the argument, arity errors
    /// at the function name, failures at the command.
    fn func_error(
        &self,
        fr: &Frame,
        cmd: &Command,
        args: &[Arg],
        name: &str,
        e: FuncError,
    ) -> ExecError {
        match e {
            FuncError::Call(m) => self.error_with(
                fr,
                cmd.pos,
                cmd,
                format!("error calling {name}: {m}"),
                None,
                true,
            ),
            FuncError::Arg(m) => {
                let pos = cmd.args.first().map_or(cmd.pos, Arg::pos);
                self.error(fr, pos, &name, m)
            }
            FuncError::Type { index, msg } => match args.get(index) {
                Some(node) => self.error(fr, node.pos(), node, msg),
                // The piped value: Go reports the node it evaluated last.
                None => match args.last() {
                    Some(node) => self.error(fr, node.pos(), node, msg),
                    None => {
                        let pos = cmd.args.first().map_or(cmd.pos, Arg::pos);
                        self.error(fr, pos, &name, msg)
                    }
                },
            },
            FuncError::Fail(m) => self.error_with(
                fr,
                cmd.pos,
                cmd,
                format!("error calling {name}: {m}"),
                Some(m),
                false,
            ),
        }
    }

    fn eval_args(
        &mut self,
        fr: &mut Frame,
        dot: &Value,
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Vec<Value>> {
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(fr, dot, a)?);
        }
        // The piped value stays as it is: "no value" there is Go's invalid value, which
        // typed parameters refuse with "invalid value" (functions store it as nil).
        if let Some(f) = fin {
            vals.push(f);
        }
        Ok(vals)
    }

    /// Helm's `tpl`: parses `text` as a template named "gotpl" that sees every defined
    /// template (and defines its own), then runs it with `data`.
    fn tpl(&mut self, text: &str, data: &Value, out: &mut String) -> Result<(), TplError> {
        let tree = match self.tpl_cache.get(text) {
            Some(t) => t.clone(),
            None => {
                let parsed =
                    parser::parse(TPL_NAME, text, &funcs::exists).map_err(TplError::Parse)?;
                let source = Arc::new(Source {
                    name: TPL_NAME.to_string(),
                    text: text.to_string(),
                });
                let mut defines = NameMap::default();
                for (name, body) in parsed.defines {
                    defines.insert(
                        name.clone(),
                        Arc::new(Template {
                            name,
                            source: source.clone(),
                            body,
                        }),
                    );
                }
                let main = Arc::new(Template {
                    name: TPL_NAME.to_string(),
                    source,
                    body: parsed.body,
                });
                let t = Rc::new(TplTree { main, defines });
                self.tpl_cache.insert(text.to_string(), t.clone());
                t
            }
        };
        self.overlays.push(tree.clone());
        let r = self.run(tree.main.clone(), data, out);
        self.overlays.pop();
        r.map_err(TplError::Exec)
    }
}

/// Why `tpl` failed.
enum TplError {
    Parse(super::ParseError),
    Exec(ExecError),
}

impl TplError {
    fn fail_message(&self) -> Option<&str> {
        match self {
            TplError::Parse(_) => None,
            TplError::Exec(e) => e.fail_message(),
        }
    }
}

impl From<ExecError> for TplError {
    fn from(e: ExecError) -> Self {
        TplError::Exec(e)
    }
}

fn var_value(fr: &Frame, name: &str) -> Value {
    fr.vars
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::UNDEFINED)
}

fn set_var(fr: &mut Frame, name: &str, v: Value) {
    if let Some(slot) = fr.vars.iter_mut().rev().find(|(n, _)| n == name) {
        slot.1 = v;
    }
}

/// Go's `TemplateNode.String()`.
struct TemplateCtx<'a>(&'a str, Option<&'a Pipe>);

impl std::fmt::Display for TemplateCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            Some(p) => write!(f, "{{{{template {:?} {p}}}}}", self.0),
            None => write!(f, "{{{{template {:?}}}}}", self.0),
        }
    }
}

/// Go's `RangeNode.String()` (abridged: the pipeline).
struct RangeCtx<'a>(&'a Branch);

impl std::fmt::Display for RangeCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        let _ = write!(s, "{{{{range {}}}}}", self.0.pipe);
        f.write_str(&s)
    }
}
