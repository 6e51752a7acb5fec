//! Go's `text/template` language: lexer, parser, parse tree, values and executor.
//!
//! Helm charts are written in Go templates, so this module reproduces Go's semantics
//! rather than Jinja's: pipelines pass the previous value as the last argument, `$` and
//! `.` scope as in Go, `range` walks maps in key order, variables assigned with `=` keep
//! their value after the block, `and`/`or` short-circuit and return an operand, and the
//! zero value of a missing map key prints as `<no value>` (Helm's `missingkey=zero`).
//!
//! Values are [`minijinja::Value`]s (see [`value`] for how Go's types map onto them);
//! Helm's functions live in [`super::funcs`], and [`super::engine`] wires both into a
//! chart render.

pub mod ast;
pub mod exec;
pub mod lexer;
pub mod parser;
pub mod value;

use std::collections::HashMap;
use std::sync::Arc;

use ast::List;

/// A template file could not be parsed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("template: {file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(file: &str, src: &str, pos: usize, message: impl Into<String>) -> Self {
        ParseError {
            file: file.to_string(),
            line: Source::line_col_of(src, pos).0,
            message: message.into(),
        }
    }
}

/// The text of a parsed file, kept to turn node offsets into `line:column` for errors.
#[derive(Debug)]
pub struct Source {
    /// The file name as Helm shows it (`mychart/templates/x.yaml`).
    pub name: String,
    pub text: String,
}

impl Source {
    /// Go's `ErrorContext`: 1-based line, 0-based byte column.
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        Self::line_col_of(&self.text, pos)
    }

    fn line_col_of(text: &str, pos: usize) -> (usize, usize) {
        let before = &text.as_bytes()[..pos.min(text.len())];
        let line = 1 + before.iter().filter(|b| **b == b'\n').count();
        let col = match before.iter().rposition(|b| *b == b'\n') {
            Some(nl) => before.len() - nl - 1,
            None => before.len(),
        };
        (line, col)
    }
}

/// A named template: a file's body or a `define`, with the file it came from.
#[derive(Debug)]
pub struct Template {
    pub name: String,
    pub source: Arc<Source>,
    pub body: List,
}

/// Maps keyed by template names or `tpl` texts, looked up on every `include` and `tpl`:
/// foldhash hashes such keys several times faster than the default SipHash and is
/// still seeded at random, so a chart cannot craft colliding names.
pub(crate) type NameMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// All templates that can see one another (Go's template set: one namespace of names).
#[derive(Debug, Default)]
pub struct TemplateSet {
    templates: NameMap<Arc<Template>>,
}

impl TemplateSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a file and adds its body (under `name`) and its `define`s. A define that
    /// is only white space does not replace an existing one, as in Go; otherwise the
    /// last file added wins.
    pub fn add_file(
        &mut self,
        name: &str,
        text: &str,
        is_func: &dyn Fn(&str) -> bool,
    ) -> Result<(), ParseError> {
        self.add_file_with(name, text, is_func, lexer::Delims::GO)
    }

    /// [`TemplateSet::add_file`] with other action delimiters (Fleet's `${ }`).
    pub fn add_file_with(
        &mut self,
        name: &str,
        text: &str,
        is_func: &dyn Fn(&str) -> bool,
        delims: lexer::Delims<'_>,
    ) -> Result<(), ParseError> {
        let parsed = parser::parse_with(name, text, is_func, delims)?;
        self.add_parsed(name, text, parsed);
        Ok(())
    }

    /// Adds many files as [`TemplateSet::add_file`] would one after the other, parsing
    /// them in parallel (`files` are (name, text) in the order they are added: later
    /// defines win). On failure, the error is the first file's in that order, as with
    /// sequential adds. `stack` is the stack of helper threads: parsing recurses with
    /// the nesting of the template.
    pub fn add_files(
        &mut self,
        files: &[(&str, &str)],
        is_func: &(dyn Fn(&str) -> bool + Sync),
        stack: usize,
    ) -> Result<(), ParseError> {
        // Below this much text a helper thread costs more than it saves.
        const PARALLEL_BYTES: usize = 64 * 1024;
        let parsed = crate::helm::parallel::map_weighted(
            files,
            |(_, text)| text.len(),
            PARALLEL_BYTES,
            stack,
            |(name, text)| parser::parse(name, text, is_func),
        );
        for ((name, text), parsed) in files.iter().zip(parsed) {
            self.add_parsed(name, text, parsed?);
        }
        Ok(())
    }

    fn add_parsed(&mut self, name: &str, text: &str, parsed: parser::ParsedFile) {
        let source = Arc::new(Source {
            name: name.to_string(),
            text: text.to_string(),
        });
        for (def, body) in parsed.defines {
            self.insert(def, source.clone(), body);
        }
        self.insert(name.to_string(), source, parsed.body);
    }

    /// Adds a template, applying Go's rule that an empty body never replaces a real one.
    pub fn insert(&mut self, name: String, source: Arc<Source>, body: List) {
        if is_empty_tree(&body) && self.templates.contains_key(&name) {
            return;
        }
        self.templates
            .insert(name.clone(), Arc::new(Template { name, source, body }));
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Template>> {
        self.templates.get(name)
    }
}

/// The mark Go prints for a missing value (Helm's `missingkey=zero`).
const NO_VALUE: &str = "<no value>";

/// Removes every `<no value>` mark, as Helm does on each template's output (and on
/// `tpl`'s). Most outputs have none, so they are returned as they are, without the copy
/// `str::replace` always makes; the search looks for `<` with `memchr` rather than for
/// the whole mark, which is several times faster on megabytes of CRDs.
pub fn strip_no_value(out: String) -> String {
    let Some(first) = find_no_value(&out, 0) else {
        return out;
    };
    let mut stripped = String::with_capacity(out.len());
    let mut from = 0;
    let mut at = Some(first);
    while let Some(i) = at {
        stripped.push_str(&out[from..i]);
        from = i + NO_VALUE.len();
        at = find_no_value(&out, from);
    }
    stripped.push_str(&out[from..]);
    stripped
}

/// The offset of the next `<no value>` at or after `from`.
fn find_no_value(s: &str, mut from: usize) -> Option<usize> {
    while let Some(i) = s[from..].find('<') {
        let at = from + i;
        if s[at..].starts_with(NO_VALUE) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Go's `parse.IsEmptyTree`: only white-space text.
fn is_empty_tree(list: &List) -> bool {
    list.iter()
        .all(|n| matches!(n, ast::Node::Text(t) if t.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_follow_go() {
        assert_eq!(Source::line_col_of("ab\ncd{{x}}", 5), (2, 2));
        assert_eq!(Source::line_col_of("{{x}}", 2), (1, 2));
    }

    #[test]
    fn no_value_marks_are_removed() {
        assert_eq!(strip_no_value("a: <no value>\n".into()), "a: \n");
        assert_eq!(
            strip_no_value("<<no value><no value>x<no valu".into()),
            "<x<no valu"
        );
        assert_eq!(strip_no_value("a < b".into()), "a < b");
    }

    #[test]
    fn empty_define_does_not_replace() {
        let mut set = TemplateSet::new();
        let any = |_: &str| true;
        set.add_file("a", "{{define \"x\"}}real{{end}}", &any)
            .unwrap();
        set.add_file("b", "{{define \"x\"}}  {{end}}", &any)
            .unwrap();
        assert!(matches!(&set.get("x").unwrap().body[0], ast::Node::Text(t) if &**t == "real"));
        set.add_file("c", "{{define \"x\"}}new{{end}}", &any)
            .unwrap();
        assert!(matches!(&set.get("x").unwrap().body[0], ast::Node::Text(t) if &**t == "new"));
    }
}
