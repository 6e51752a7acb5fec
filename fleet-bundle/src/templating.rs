//! Cluster-specific Helm values, as Fleet's target builder computes them: strings
//! `global.fleet.clusterLabels.<label>` replaced by the label's value, and `${ … }` Go
//! templates over `.ClusterName`, `.ClusterNamespace`, `.ClusterLabels`,
//! `.ClusterAnnotations` and `.ClusterValues` with Sprig functions (minus `env`,
//! `expandenv`, `include`, `tpl` and `getHostByName`, which Fleet removes).
//!
//! The template language is Go's `text/template` with `${`/`}` delimiters and
//! `missingkey=error`: pipelines, `if`/`else if`/`else`, `with`, `range`, `end` and the
//! Sprig functions values templates use (listed in `FUNCTIONS`); a function outside that
//! list fails as undefined rather than being silently ignored.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value};

use crate::bundle::{BundleDeploymentOptions, HelmOptions};
use crate::target::ClusterInfo;

/// A values string starting with this is replaced by the cluster label named after it.
pub const CLUSTER_LABEL_PREFIX: &str = "global.fleet.clusterLabels.";
/// Fleet's bound on the nesting of values it walks.
pub const MAX_RECURSION_DEPTH: usize = 50;

/// Why a cluster's values could not be computed; messages follow Fleet's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("maximum recursion depth of {MAX_RECURSION_DEPTH} exceeded for cluster label prefix processing, too many nested values")]
    TooDeep,
    #[error("failed to parse helm values template: template: values:1:{column}: {message} (in helm value {key})")]
    Parse {
        key: String,
        column: usize,
        message: String,
    },
    #[error("failed to render helm values template: template: values:1:{column}: executing \"values\" at <{at}>: {message} (in helm value {key})")]
    Execute {
        key: String,
        column: usize,
        at: String,
        message: String,
    },
    #[error("failed to interpret rendered template as helm values: {text}, {message} (in helm value {key})")]
    Interpret {
        key: String,
        text: String,
        message: String,
    },
}

/// Label and annotation prefixes Fleet strips before handing them to templates
/// (wrangler's `CleanAnnotationsForExport`), except that Fleet keeps its own
/// `fleet.cattle.io/` and `management.cattle.io/` labels.
const EXPORT_STRIPPED_PREFIXES: &[&str] = &["objectset.rio.cattle.io/", "kubectl.kubernetes.io/"];

fn cleaned(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, _)| !EXPORT_STRIPPED_PREFIXES.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Rewrites `options.helm.values` for `cluster`, exactly in Fleet's order.
///
/// Flow: nothing happens for a cluster without labels (as in Fleet). Otherwise `helm` and
/// `helm.values` are created empty when absent; when there are neither values nor
/// `templateValues`, nothing else happens. Then every string value starting with
/// `global.fleet.clusterLabels.` becomes that label's value (empty, with a log line, when
/// the cluster lacks it). Unless `helm.disablePreProcess`, every string value holding `${`
/// is executed as a Go template; a result on one line is re-read as a YAML scalar (so
/// `${ .ClusterLabels.replicas }` gives the number 3, as Fleet's re-parse of its YAML does);
/// each `templateValues` entry is executed and read as YAML into the top-level value of its
/// key.
///
/// Errors: a template naming a missing label or key fails (`map has no entry for key`),
/// as do unknown functions and malformed templates. Caveat: Fleet templates the YAML text
/// of all values at once, so its messages give a line of that text; ours give the key.
pub fn preprocess_helm_values(
    options: &mut BundleDeploymentOptions,
    cluster: &ClusterInfo,
) -> Result<(), TemplateError> {
    let labels = cleaned(&cluster.labels);
    if labels.is_empty() {
        return Ok(());
    }
    let Some(helm) = options.helm.as_mut() else {
        options.helm = Some(HelmOptions::default());
        return Ok(());
    };
    let values = helm.values.get_or_insert_with(|| Value::Object(Map::new()));
    if !values.is_object() {
        return Ok(());
    }
    let empty_values = values.as_object().is_some_and(Map::is_empty);
    if helm.template_values.is_empty() && empty_values {
        return Ok(());
    }
    if let Value::Object(map) = values {
        substitute_label_values(map, &labels, 0)?;
    }
    if helm.disable_pre_process {
        return Ok(());
    }
    let context = template_context(cluster, &labels);
    if let Some(Value::Object(map)) = helm.values.as_mut() {
        for (key, value) in map.iter_mut() {
            render_value(value, &context, key)?;
        }
    }
    let mut templated = Map::new();
    for (key, template) in &helm.template_values {
        let text = execute(template, &context, key)?;
        let value: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| TemplateError::Interpret {
                key: key.clone(),
                text: text.clone(),
                message: e.to_string(),
            })?;
        let json = serde_json::to_value(value).unwrap_or(Value::Null);
        templated.insert(key.clone(), json);
    }
    if let Some(Value::Object(map)) = helm.values.as_mut() {
        map.extend(templated);
    }
    Ok(())
}

fn template_context(cluster: &ClusterInfo, labels: &BTreeMap<String, String>) -> Value {
    let to_map = |m: &BTreeMap<String, String>| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    let mut ctx = Map::new();
    ctx.insert(
        "ClusterNamespace".into(),
        Value::String(cluster.namespace.clone()),
    );
    ctx.insert("ClusterName".into(), Value::String(cluster.name.clone()));
    ctx.insert("ClusterLabels".into(), to_map(labels));
    ctx.insert(
        "ClusterAnnotations".into(),
        to_map(&cleaned(&cluster.annotations)),
    );
    ctx.insert(
        "ClusterValues".into(),
        Value::Object(cluster.template_values.clone()),
    );
    Value::Object(ctx)
}

fn substitute_label_values(
    map: &mut Map<String, Value>,
    labels: &BTreeMap<String, String>,
    depth: usize,
) -> Result<(), TemplateError> {
    if depth > MAX_RECURSION_DEPTH {
        return Err(TemplateError::TooDeep);
    }
    for (key, value) in map.iter_mut() {
        match value {
            Value::String(s) => {
                if let Some(label) = s.strip_prefix(CLUSTER_LABEL_PREFIX) {
                    let replacement = match labels.get(label) {
                        Some(v) => v.clone(),
                        None => {
                            tracing::info!(label = %s, key = %key, "Cluster label for key is missing from some clusters, setting value to empty string for these clusters.");
                            String::new()
                        }
                    };
                    *s = replacement;
                }
            }
            Value::Object(inner) => substitute_label_values(inner, labels, depth + 1)?,
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        substitute_label_values(inner, labels, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn render_value(value: &mut Value, ctx: &Value, key: &str) -> Result<(), TemplateError> {
    match value {
        Value::String(s) if s.contains("${") => {
            let text = execute(s, ctx, key)?;
            *value = if text.contains('\n') {
                Value::String(text)
            } else {
                reparse_scalar(&text)
            };
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                render_value(v, ctx, &format!("{key}.{k}"))?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                render_value(v, ctx, &format!("{key}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Reads a rendered one-line value as the YAML scalar it would be in Fleet's re-parsed YAML.
fn reparse_scalar(text: &str) -> Value {
    match serde_yaml::from_str::<serde_yaml::Value>(text) {
        Ok(v @ (serde_yaml::Value::Bool(_) | serde_yaml::Value::Number(_))) => {
            serde_json::to_value(v).unwrap_or_else(|_| Value::String(text.to_string()))
        }
        Ok(serde_yaml::Value::Null)
            if text.trim().is_empty() || text.trim() == "null" || text.trim() == "~" =>
        {
            Value::Null
        }
        Ok(serde_yaml::Value::String(s)) => Value::String(s),
        _ => Value::String(text.to_string()),
    }
}

/// One piece of a template: text, or an action (`${ … }`) with its position.
enum Segment<'a> {
    Text(String),
    Action { body: &'a str, column: usize },
}

/// A parsed template: output actions and the control structures values templates use.
enum Node {
    Text(String),
    Output(Vec<Vec<Operand>>, usize),
    /// `if`, `with` (dot becomes the value) and `range` (over a list or a map's values).
    Block {
        kind: BlockKind,
        pipeline: Vec<Vec<Operand>>,
        column: usize,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    If,
    With,
    Range,
}

/// Executes one `${ … }` template text against `ctx` (Go's `text/template` with `${`/`}`
/// delimiters and `missingkey=error`): output actions with pipelines, `if`/`else if`/
/// `else`, `with`, `range` and `end`, and `${-`/`-}` trimming. Variables other than the
/// dot are not supported and fail as undefined.
pub fn execute(src: &str, ctx: &Value, key: &str) -> Result<String, TemplateError> {
    let segments = segments(src, key)?;
    let mut pos = 0;
    let (nodes, terminator) = parse_nodes(&segments, &mut pos, key)?;
    if let Some((word, column)) = terminator {
        return Err(TemplateError::Parse {
            key: key.to_string(),
            column,
            message: format!("unexpected {{{{{word}}}}}"),
        });
    }
    let mut out = String::new();
    exec_nodes(&nodes, ctx, key, &mut out, 0)?;
    Ok(out)
}

fn segments<'a>(src: &'a str, key: &str) -> Result<Vec<Segment<'a>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut offset = 0;
    let mut trim_next = false;
    while let Some(start) = rest.find("${") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut body_start = start + 2;
        if rest[body_start..].starts_with("- ") {
            text = text.trim_end();
            body_start += 1;
        }
        out.push(Segment::Text(text.to_string()));
        let Some(end) = find_action_end(&rest[body_start..]) else {
            return Err(TemplateError::Parse {
                key: key.to_string(),
                column: offset + start,
                message: "unclosed action".to_string(),
            });
        };
        let mut body = &rest[body_start..body_start + end];
        trim_next = false;
        if let Some(b) = body.strip_suffix(" -") {
            body = b;
            trim_next = true;
        }
        let column = offset + body_start + (body.len() - body.trim_start().len());
        out.push(Segment::Action { body, column });
        let consumed = body_start + end + 1;
        offset += consumed;
        rest = &rest[consumed..];
    }
    out.push(Segment::Text(
        if trim_next { rest.trim_start() } else { rest }.to_string(),
    ));
    Ok(out)
}

fn parse_pipeline(
    body: &str,
    key: &str,
    column: usize,
) -> Result<Vec<Vec<Operand>>, TemplateError> {
    let mut parser = ActionParser {
        src: body,
        pos: 0,
        key,
        column,
    };
    let pipeline = parser.pipeline()?;
    parser.skip_ws();
    if parser.pos < body.len() {
        return Err(parser.err(&format!("unexpected {:?} in operand", &body[parser.pos..])));
    }
    Ok(pipeline)
}

/// Parses nodes up to an `else` or `end` (returned with its column) or the end of input.
#[allow(clippy::type_complexity)] // (nodes, the keyword that ended them)
fn parse_nodes(
    segments: &[Segment],
    pos: &mut usize,
    key: &str,
) -> Result<(Vec<Node>, Option<(String, usize)>), TemplateError> {
    let mut nodes = Vec::new();
    while *pos < segments.len() {
        let segment = &segments[*pos];
        *pos += 1;
        let (body, column) = match segment {
            Segment::Text(t) => {
                if !t.is_empty() {
                    nodes.push(Node::Text(t.clone()));
                }
                continue;
            }
            Segment::Action { body, column } => (body.trim(), *column),
        };
        let (word, rest) = match body.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (body, ""),
        };
        let kind = match word {
            "end" => return Ok((nodes, Some(("end".to_string(), column)))),
            "else" => {
                return Ok((
                    nodes,
                    Some((format!("else {rest}").trim().to_string(), column)),
                ))
            }
            "if" => BlockKind::If,
            "with" => BlockKind::With,
            "range" => BlockKind::Range,
            _ => {
                nodes.push(Node::Output(parse_pipeline(body, key, column)?, column));
                continue;
            }
        };
        nodes.push(parse_block(kind, rest, column, segments, pos, key)?);
    }
    Ok((nodes, None))
}

fn parse_block(
    kind: BlockKind,
    condition: &str,
    column: usize,
    segments: &[Segment],
    pos: &mut usize,
    key: &str,
) -> Result<Node, TemplateError> {
    let pipeline = parse_pipeline(condition, key, column)?;
    let (body, terminator) = parse_nodes(segments, pos, key)?;
    let unclosed = || TemplateError::Parse {
        key: key.to_string(),
        column,
        message: "unexpected EOF".to_string(),
    };
    let otherwise = match terminator {
        None => return Err(unclosed()),
        Some((word, _)) if word == "end" => Vec::new(),
        Some((word, else_column)) => match word.strip_prefix("else").map(str::trim) {
            Some("") => {
                let (otherwise, end) = parse_nodes(segments, pos, key)?;
                match end {
                    Some((w, _)) if w == "end" => otherwise,
                    _ => return Err(unclosed()),
                }
            }
            // `else if …` / `else with …`: a nested block sharing this block's `end`.
            Some(chained) => {
                let (w, rest) = chained
                    .split_once(char::is_whitespace)
                    .unwrap_or((chained, ""));
                let nested = match w {
                    "if" => BlockKind::If,
                    "with" => BlockKind::With,
                    _ => {
                        return Err(TemplateError::Parse {
                            key: key.to_string(),
                            column: else_column,
                            message: format!("unexpected {w:?} after else"),
                        })
                    }
                };
                vec![parse_block(
                    nested,
                    rest.trim(),
                    else_column,
                    segments,
                    pos,
                    key,
                )?]
            }
            None => return Err(unclosed()),
        },
    };
    Ok(Node::Block {
        kind,
        pipeline,
        column,
        body,
        otherwise,
    })
}

/// Bound on nested blocks and range iterations, so a template cannot run away.
const MAX_EXEC_DEPTH: usize = 100;
const MAX_OUTPUT: usize = 1024 * 1024;

fn exec_nodes(
    nodes: &[Node],
    dot: &Value,
    key: &str,
    out: &mut String,
    depth: usize,
) -> Result<(), TemplateError> {
    if depth > MAX_EXEC_DEPTH {
        return Err(exec_err(
            key,
            0,
            "",
            "exceeded maximum template depth".to_string(),
        ));
    }
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Output(pipeline, column) => {
                let value = eval_pipeline(pipeline, dot, key, *column)?;
                out.push_str(&go_print(&value));
            }
            Node::Block {
                kind,
                pipeline,
                column,
                body,
                otherwise,
            } => {
                let value = eval_pipeline(pipeline, dot, key, *column)?;
                match kind {
                    BlockKind::If if !is_empty(&value) => {
                        exec_nodes(body, dot, key, out, depth + 1)?
                    }
                    BlockKind::With if !is_empty(&value) => {
                        exec_nodes(body, &value, key, out, depth + 1)?
                    }
                    BlockKind::Range if !is_empty(&value) => {
                        let items: Vec<Value> = match &value {
                            Value::Array(a) => a.clone(),
                            Value::Object(m) => {
                                let mut keys: Vec<&String> = m.keys().collect();
                                keys.sort();
                                keys.into_iter().map(|k| m[k].clone()).collect()
                            }
                            Value::Number(n) => (0..n.as_u64().unwrap_or(0).min(10_000))
                                .map(Value::from)
                                .collect(),
                            other => {
                                return Err(exec_err(
                                    key,
                                    *column,
                                    "range",
                                    format!("range can't iterate over {}", go_print(other)),
                                ))
                            }
                        };
                        for item in &items {
                            exec_nodes(body, item, key, out, depth + 1)?;
                        }
                    }
                    _ => exec_nodes(otherwise, dot, key, out, depth + 1)?,
                }
            }
        }
        if out.len() > MAX_OUTPUT {
            return Err(exec_err(
                key,
                0,
                "",
                format!("output exceeds {MAX_OUTPUT} bytes"),
            ));
        }
    }
    Ok(())
}

/// Finds the `}` closing an action, skipping quoted strings.
fn find_action_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone)]
enum Operand {
    Field(Vec<String>, String),
    Dot,
    Literal(Value),
    Func(String),
    Sub(Vec<Vec<Operand>>),
}

struct ActionParser<'a> {
    src: &'a str,
    pos: usize,
    key: &'a str,
    column: usize,
}

impl ActionParser<'_> {
    fn err(&self, message: &str) -> TemplateError {
        TemplateError::Parse {
            key: self.key.to_string(),
            column: self.column + self.pos,
            message: message.to_string(),
        }
    }

    fn skip_ws(&mut self) {
        while self.src[self.pos..].starts_with(|c: char| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn pipeline(&mut self) -> Result<Vec<Vec<Operand>>, TemplateError> {
        let mut commands = vec![self.command()?];
        loop {
            self.skip_ws();
            if self.src[self.pos..].starts_with('|') {
                self.pos += 1;
                commands.push(self.command()?);
            } else {
                return Ok(commands);
            }
        }
    }

    fn command(&mut self) -> Result<Vec<Operand>, TemplateError> {
        let mut ops = Vec::new();
        loop {
            self.skip_ws();
            let rest = &self.src[self.pos..];
            if rest.is_empty() || rest.starts_with('|') || rest.starts_with(')') {
                break;
            }
            ops.push(self.operand()?);
        }
        if ops.is_empty() {
            return Err(self.err("missing value for command"));
        }
        Ok(ops)
    }

    fn operand(&mut self) -> Result<Operand, TemplateError> {
        let rest = &self.src[self.pos..];
        let c = rest.chars().next().unwrap_or(' ');
        if c == '(' {
            self.pos += 1;
            let p = self.pipeline()?;
            self.skip_ws();
            if !self.src[self.pos..].starts_with(')') {
                return Err(self.err("unclosed left paren"));
            }
            self.pos += 1;
            return Ok(Operand::Sub(p));
        }
        if c == '"' {
            let end =
                find_closing_quote(rest).ok_or_else(|| self.err("unterminated quoted string"))?;
            let lit = &rest[..=end];
            self.pos += end + 1;
            let s: String = serde_json::from_str(lit)
                .map_err(|_| self.err(&format!("invalid syntax in string {lit}")))?;
            return Ok(Operand::Literal(Value::String(s)));
        }
        if c == '`' {
            let end = rest[1..]
                .find('`')
                .ok_or_else(|| self.err("unterminated raw quoted string"))?;
            self.pos += end + 2;
            return Ok(Operand::Literal(Value::String(rest[1..=end].to_string())));
        }
        let len = rest
            .find(|ch: char| ch.is_whitespace() || ch == '|' || ch == '(' || ch == ')')
            .unwrap_or(rest.len());
        let word = &rest[..len];
        self.pos += len;
        if word == "." {
            return Ok(Operand::Dot);
        }
        if let Some(path) = word.strip_prefix('.') {
            let parts: Vec<String> = path.split('.').map(str::to_string).collect();
            if parts.iter().any(String::is_empty) {
                return Err(self.err(&format!("bad field {word}")));
            }
            return Ok(Operand::Field(parts, word.to_string()));
        }
        match word {
            "true" => return Ok(Operand::Literal(Value::Bool(true))),
            "false" => return Ok(Operand::Literal(Value::Bool(false))),
            "nil" => return Ok(Operand::Literal(Value::Null)),
            _ => {}
        }
        if word.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-' || ch == '+') {
            if let Ok(i) = word.parse::<i64>() {
                return Ok(Operand::Literal(Value::from(i)));
            }
            if let Ok(f) = word.parse::<f64>() {
                return Ok(Operand::Literal(Value::from(f)));
            }
            return Err(self.err(&format!("bad number syntax: {word:?}")));
        }
        if word.starts_with('$') {
            return Err(self.err(&format!("undefined variable {word:?}")));
        }
        if !FUNCTIONS.contains(&word) {
            return Err(self.err(&format!("function {word:?} not defined")));
        }
        Ok(Operand::Func(word.to_string()))
    }
}

fn find_closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// The Sprig and builtin functions values templates may call.
const FUNCTIONS: &[&str] = &[
    "default",
    "empty",
    "coalesce",
    "ternary",
    "quote",
    "squote",
    "upper",
    "lower",
    "title",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "trunc",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "nospace",
    "b64enc",
    "b64dec",
    "toString",
    "toJson",
    "index",
    "len",
    "print",
    "printf",
    "eq",
    "ne",
    "not",
    "and",
    "or",
    "join",
    "splitList",
    "list",
    "kebabcase",
    "snakecase",
    "sha256sum",
    "int",
    "atoi",
    "get",
    "hasKey",
    "keys",
];

fn eval_pipeline(
    commands: &[Vec<Operand>],
    ctx: &Value,
    key: &str,
    column: usize,
) -> Result<Value, TemplateError> {
    let mut previous: Option<Value> = None;
    for command in commands {
        previous = Some(eval_command(command, previous.take(), ctx, key, column)?);
    }
    Ok(previous.unwrap_or(Value::Null))
}

fn exec_err(key: &str, column: usize, at: &str, message: String) -> TemplateError {
    TemplateError::Execute {
        key: key.to_string(),
        column,
        at: at.to_string(),
        message,
    }
}

fn eval_operand(
    op: &Operand,
    ctx: &Value,
    key: &str,
    column: usize,
) -> Result<Value, TemplateError> {
    match op {
        Operand::Dot => Ok(ctx.clone()),
        Operand::Literal(v) => Ok(v.clone()),
        Operand::Sub(p) => eval_pipeline(p, ctx, key, column),
        Operand::Field(parts, text) => {
            let mut current = ctx;
            for part in parts {
                current = match current {
                    Value::Object(map) => map.get(part).ok_or_else(|| {
                        exec_err(
                            key,
                            column,
                            text,
                            format!("map has no entry for key {part:?}"),
                        )
                    })?,
                    Value::Null => {
                        return Err(exec_err(
                            key,
                            column,
                            text,
                            format!("nil pointer evaluating interface {{}}.{part}"),
                        ))
                    }
                    other => {
                        return Err(exec_err(
                            key,
                            column,
                            text,
                            format!("can't evaluate field {part} in type {}", go_type(other)),
                        ))
                    }
                };
            }
            Ok(current.clone())
        }
        Operand::Func(name) => call(name, Vec::new(), key, column),
    }
}

fn eval_command(
    command: &[Operand],
    piped: Option<Value>,
    ctx: &Value,
    key: &str,
    column: usize,
) -> Result<Value, TemplateError> {
    match &command[0] {
        Operand::Func(name) => {
            let mut args = command[1..]
                .iter()
                .map(|op| eval_operand(op, ctx, key, column))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            call(name, args, key, column)
        }
        first => {
            if command.len() > 1 || piped.is_some() {
                return Err(exec_err(
                    key,
                    column,
                    "",
                    "can't give argument to non-function".to_string(),
                ));
            }
            eval_operand(first, ctx, key, column)
        }
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
        Value::Null => "<nil>",
    }
}

/// Prints a value as Go's `fmt.Print` does for the types values hold.
fn go_print(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_print).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn call(name: &str, args: Vec<Value>, key: &str, column: usize) -> Result<Value, TemplateError> {
    let at = name.to_string();
    let fail = |m: String| exec_err(key, column, &at, format!("error calling {name}: {m}"));
    let want = |n: usize| -> Result<(), TemplateError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(exec_err(
                key,
                column,
                &at,
                format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ),
            ))
        }
    };
    let s = |i: usize| args.get(i).map(go_print).unwrap_or_default();
    let out = match name {
        "default" => {
            want(2)?;
            if is_empty(&args[1]) {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }
        "empty" => {
            want(1)?;
            Value::Bool(is_empty(&args[0]))
        }
        "coalesce" => args
            .iter()
            .find(|v| !is_empty(v))
            .cloned()
            .unwrap_or(Value::Null),
        "ternary" => {
            want(3)?;
            if args[2].as_bool().unwrap_or(false) {
                args[0].clone()
            } else {
                args[1].clone()
            }
        }
        "quote" => Value::String(
            args.iter()
                .filter(|v| !v.is_null())
                .map(|v| format!("{:?}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => Value::String(
            args.iter()
                .filter(|v| !v.is_null())
                .map(|v| format!("'{}'", go_print(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "upper" => {
            want(1)?;
            Value::String(s(0).to_uppercase())
        }
        "lower" => {
            want(1)?;
            Value::String(s(0).to_lowercase())
        }
        "title" => {
            want(1)?;
            let mut prev_space = true;
            Value::String(
                s(0).chars()
                    .map(|c| {
                        let out = if prev_space {
                            c.to_uppercase().next().unwrap_or(c)
                        } else {
                            c
                        };
                        prev_space = c.is_whitespace();
                        out
                    })
                    .collect(),
            )
        }
        "trim" => {
            want(1)?;
            Value::String(s(0).trim().to_string())
        }
        "trimAll" => {
            want(2)?;
            let cut = s(0);
            Value::String(s(1).trim_matches(|c| cut.contains(c)).to_string())
        }
        "trimPrefix" => {
            want(2)?;
            let v = s(1);
            Value::String(v.strip_prefix(&s(0)).unwrap_or(&v).to_string())
        }
        "trimSuffix" => {
            want(2)?;
            let v = s(1);
            Value::String(v.strip_suffix(&s(0)).unwrap_or(&v).to_string())
        }
        "replace" => {
            want(3)?;
            Value::String(s(2).replace(&s(0), &s(1)))
        }
        "trunc" => {
            want(2)?;
            let n = args[0]
                .as_i64()
                .ok_or_else(|| fail("length must be an integer".into()))?;
            let v: Vec<char> = s(1).chars().collect();
            let len = v.len() as i64;
            let out: String = if n >= 0 {
                v.iter().take(n.min(len) as usize).collect()
            } else {
                v.iter().skip((len + n).max(0) as usize).collect()
            };
            Value::String(out)
        }
        "contains" => {
            want(2)?;
            Value::Bool(s(1).contains(&s(0)))
        }
        "hasPrefix" => {
            want(2)?;
            Value::Bool(s(1).starts_with(&s(0)))
        }
        "hasSuffix" => {
            want(2)?;
            Value::Bool(s(1).ends_with(&s(0)))
        }
        "repeat" => {
            want(2)?;
            let n = args[0]
                .as_u64()
                .ok_or_else(|| fail("count must be a non-negative integer".into()))?;
            if n > 10_000 {
                return Err(fail("count too large".into()));
            }
            Value::String(s(1).repeat(n as usize))
        }
        "nospace" => {
            want(1)?;
            Value::String(s(0).chars().filter(|c| !c.is_whitespace()).collect())
        }
        "b64enc" => {
            want(1)?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(s(0)))
        }
        "b64dec" => {
            want(1)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s(0))
                .map_err(|e| fail(e.to_string()))?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        "toString" => {
            want(1)?;
            Value::String(s(0))
        }
        "toJson" => {
            want(1)?;
            Value::String(serde_json::to_string(&args[0]).unwrap_or_default())
        }
        "sha256sum" => {
            use sha2::Digest;
            want(1)?;
            Value::String(hex::encode(sha2::Sha256::digest(s(0).as_bytes())))
        }
        "int" | "atoi" => {
            want(1)?;
            match &args[0] {
                Value::Number(n) => Value::from(n.as_f64().unwrap_or(0.0) as i64),
                other => Value::from(go_print(other).trim().parse::<i64>().unwrap_or(0)),
            }
        }
        "index" => {
            if args.is_empty() {
                return Err(fail("missing collection".into()));
            }
            let mut current = args[0].clone();
            for idx in &args[1..] {
                current = match (&current, idx) {
                    (Value::Object(m), Value::String(k)) => {
                        m.get(k).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n
                            .as_u64()
                            .ok_or_else(|| fail(format!("index out of range: {n}")))?;
                        a.get(i as usize)
                            .cloned()
                            .ok_or_else(|| fail(format!("index out of range: {i}")))?
                    }
                    (Value::Null, _) => Value::Null,
                    (c, i) => {
                        return Err(fail(format!(
                            "can't index item of type {} with {}",
                            go_type(c),
                            go_type(i)
                        )))
                    }
                };
            }
            current
        }
        "get" => {
            want(2)?;
            match &args[0] {
                Value::Object(m) => m
                    .get(&s(1))
                    .cloned()
                    .unwrap_or(Value::String(String::new())),
                other => return Err(fail(format!("get of type {}", go_type(other)))),
            }
        }
        "hasKey" => {
            want(2)?;
            match &args[0] {
                Value::Object(m) => Value::Bool(m.contains_key(&s(1))),
                other => return Err(fail(format!("hasKey of type {}", go_type(other)))),
            }
        }
        "keys" => {
            let mut keys: Vec<Value> = Vec::new();
            for a in &args {
                match a {
                    Value::Object(m) => keys.extend(m.keys().map(|k| Value::String(k.clone()))),
                    other => return Err(fail(format!("keys of type {}", go_type(other)))),
                }
            }
            Value::Array(keys)
        }
        "len" => {
            want(1)?;
            Value::from(match &args[0] {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                other => return Err(fail(format!("len of type {}", go_type(other)))),
            })
        }
        "print" => Value::String(args.iter().map(go_print).collect::<Vec<_>>().join("")),
        "printf" => {
            if args.is_empty() {
                return Err(fail("missing format".into()));
            }
            Value::String(sprintf(&s(0), &args[1..]))
        }
        "eq" => {
            if args.len() < 2 {
                return Err(fail("missing argument for comparison".into()));
            }
            Value::Bool(args[1..].iter().any(|a| loose_eq(&args[0], a)))
        }
        "ne" => {
            want(2)?;
            Value::Bool(!loose_eq(&args[0], &args[1]))
        }
        "not" => {
            want(1)?;
            Value::Bool(is_empty(&args[0]))
        }
        "and" => args
            .iter()
            .find(|v| is_empty(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|v| !is_empty(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "join" => {
            want(2)?;
            let items = match &args[1] {
                Value::Array(a) => a.iter().map(go_print).collect::<Vec<_>>(),
                other => vec![go_print(other)],
            };
            Value::String(items.join(&s(0)))
        }
        "splitList" => {
            want(2)?;
            Value::Array(
                s(1).split(&s(0))
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )
        }
        "list" => Value::Array(args),
        "kebabcase" | "snakecase" => {
            want(1)?;
            let sep = if name == "kebabcase" { '-' } else { '_' };
            let mut out = String::new();
            for (i, c) in s(0).chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    out.push(sep);
                }
                if c == ' ' || c == '-' || c == '_' {
                    out.push(sep);
                    continue;
                }
                out.extend(c.to_lowercase());
            }
            Value::String(out)
        }
        other => {
            return Err(exec_err(
                key,
                column,
                other,
                format!("function {other:?} not defined"),
            ))
        }
    };
    Ok(out)
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `printf` for the verbs values templates use: `%s %d %v %q %t %f %%`.
fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb) => match args.next() {
                Some(v) => match verb {
                    'q' => out.push_str(&format!("{:?}", go_print(v))),
                    _ => out.push_str(&go_print(v)),
                },
                None => out.push_str(&format!("%!{verb}(MISSING)")),
            },
            None => out.push_str("%!(NOVERB)"),
        }
    }
    out
}

#[cfg(test)]
mod tests;
