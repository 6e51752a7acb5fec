//! `values.schema.json`: validating the coalesced values against each chart's JSON
//! Schema, with the error text Helm prints (santhosh-tekuri/jsonschema v6 wording).
//!
//! The keywords charts use are implemented for drafts 4, 6, 7, 2019-09 and 2020-12:
//! `type`, `enum`, `const`, `$ref` (local JSON pointers, `$defs`/`definitions`),
//! object, array, string and number assertions, `allOf`/`anyOf`/`oneOf`/`not`,
//! `if`/`then`/`else`, `dependencies`/`dependentRequired`/`dependentSchemas`. `format`
//! is an annotation only (as for the validator Helm uses by default). A `$ref` to
//! another document is refused rather than fetched: rendering never goes to the network
//! for a schema.
//!
//! Each chart's schema sees that chart's section of the values; subcharts are checked
//! with their own schemas, and all failures are reported together, one block per chart.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// `dir/rel` with `.` and `..` segments folded (a `..` above the chart is dropped, so the
/// lookup stays among the chart's files).
fn normalize(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in dir.split('/').chain(rel.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// What a schema node with several failures reports above them.
const GROUP_MESSAGE: &str = "validation failed";

/// A schema that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error("{chart}: values.schema.json is not valid JSON: {message}")]
    NotJson { chart: String, message: String },
    #[error("{chart}: values.schema.json: {message}")]
    Unsupported { chart: String, message: String },
}

/// One failure in the tree Helm prints (`- at '/path': message`, causes indented).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending value (`/image/tag`, empty for the root).
    pub at: String,
    pub message: String,
    pub causes: Vec<Violation>,
}

impl Violation {
    fn leaf(at: &str, message: String) -> Self {
        Violation {
            at: at.to_string(),
            message,
            causes: Vec::new(),
        }
    }

    fn display(&self, out: &mut String, indent: usize) {
        // A group holding one cause adds nothing (as the reference formatter skips it).
        if indent > 0 {
            out.push('\n');
            for _ in 0..indent - 1 {
                out.push_str("  ");
            }
            out.push_str("- ");
        }
        out.push_str(&format!("at {}: {}", quote(&self.at), self.message));
        for cause in &self.causes {
            cause.display(out, indent + 1);
        }
    }
}

/// Validates `values` against one schema document; `chart` names it in errors. Returns
/// the violations, empty when valid.
pub fn validate(
    schema_json: &[u8],
    values: &Value,
    chart: &str,
) -> Result<Vec<Violation>, SchemaError> {
    validate_in_chart(schema_json, values, chart, &[])
}

/// [`validate`] with the chart's other files, so a `$ref` naming a relative file
/// (`defs.json#/definitions/port`) resolves to that file of the chart. (Helm 4.1 resolves
/// such a reference against the filesystem root and fails; a chart's schema split in
/// files is meant to be read from the chart.)
pub fn validate_in_chart(
    schema_json: &[u8],
    values: &Value,
    chart: &str,
    files: &[(&str, &[u8])],
) -> Result<Vec<Violation>, SchemaError> {
    let schema: Value = serde_json::from_slice(schema_json).map_err(|e| SchemaError::NotJson {
        chart: chart.to_string(),
        message: e.to_string(),
    })?;
    let docs: BTreeMap<String, Value> = files
        .iter()
        .filter(|(name, _)| name.ends_with(".json"))
        .filter_map(|(name, data)| Some((name.to_string(), serde_json::from_slice(data).ok()?)))
        .collect();
    let draft = draft_of(&schema);
    let v = Validator {
        root: &schema,
        base: "values.schema.json",
        docs: &docs,
        draft,
        chart,
        depth: 0,
    };
    // Like Helm's schema compiler, every referenced document is loaded up front, so a
    // reference that cannot be loaded fails even where no value reaches it.
    v.load_references(&schema, &mut BTreeSet::new())?;
    let mut errors = Vec::new();
    match v.validate(&schema, values, "")? {
        // The reference validator reports the root's failures side by side, not
        // under a "validation failed" group.
        Some(root) if root.message == GROUP_MESSAGE && root.at.is_empty() => {
            errors.extend(root.causes);
        }
        Some(root) => errors.push(root),
        None => {}
    }
    Ok(errors)
}

/// Formats violations the way Helm prints them under the chart's name.
pub fn format_violations(chart: &str, violations: &[Violation]) -> String {
    let mut out = format!("{chart}:\n");
    for (i, v) in violations.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str("- ");
        let mut body = String::new();
        v.display(&mut body, 1);
        // `display` at indent 1 starts with "\n- "; the first line is already prefixed.
        out.push_str(body.trim_start_matches("\n- "));
    }
    out.push('\n');
    out
}

fn draft_of(schema: &Value) -> u16 {
    let s = schema.get("$schema").and_then(Value::as_str).unwrap_or("");
    if s.contains("draft-04") {
        4
    } else if s.contains("draft-06") {
        6
    } else if s.contains("draft-07") {
        7
    } else if s.contains("2019-09") {
        2019
    } else {
        2020
    }
}

/// Go's `%q` quoting turned into single quotes, as the reference messages print paths.
fn quote(s: &str) -> String {
    let inner = serde_json::to_string(s).unwrap_or_default();
    let inner = &inner[1..inner.len().saturating_sub(1)];
    format!("'{}'", inner.replace("\\\"", "\"").replace('\'', "\\'"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Array(_) | Value::Object(_) => "value".into(),
        Value::Null => "<nil>".into(),
        Value::Number(n) => go_number(n.as_f64().unwrap_or_default()),
        Value::Bool(b) => b.to_string(),
    }
}

/// Go's `%v` of a float64 for the magnitudes schema bounds use.
fn go_number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{f:.0}")
    } else {
        format!("{f}")
    }
}

/// JSON equality with numbers compared by value (1 == 1.0).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

struct Validator<'a> {
    root: &'a Value,
    /// The chart file `root` was read from, the base of relative references.
    base: &'a str,
    /// The chart's JSON files by path, for references to other documents.
    docs: &'a BTreeMap<String, Value>,
    draft: u16,
    chart: &'a str,
    depth: usize,
}

/// `$ref` chains deeper than this are treated as a cycle.
const MAX_REF_DEPTH: usize = 256;

impl<'a> Validator<'a> {
    fn unsupported(&self, message: String) -> SchemaError {
        SchemaError::Unsupported {
            chart: self.chart.to_string(),
            message,
        }
    }

    /// The schema `reference` names and the validator to check it with (the other
    /// document's, for a reference to another file of the chart).
    fn resolve(&self, reference: &str) -> Result<(&'a Value, Validator<'a>), SchemaError> {
        if self.depth >= MAX_REF_DEPTH {
            return Err(self.unsupported("$ref nesting too deep (reference cycle?)".into()));
        }
        let (document, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let (root, base) = if document.is_empty() {
            (self.root, self.base)
        } else if document.contains("://") || document.starts_with('/') {
            return Err(self.unsupported(format!(
                "failing loading {document:?}: only files of the chart are read, never the network or the filesystem"
            )));
        } else {
            let dir = self.base.rsplit_once('/').map_or("", |(d, _)| d);
            let path = normalize(dir, document);
            match self.docs.get_key_value(&path) {
                Some((name, doc)) => (doc, name.as_str()),
                None => {
                    return Err(self.unsupported(format!(
                        "failing loading {document:?}: the chart has no JSON file {path:?}"
                    )))
                }
            }
        };
        let decoded = percent_decode(fragment);
        let target = root
            .pointer(&decoded)
            .ok_or_else(|| self.unsupported(format!("$ref {reference:?} does not resolve")))?;
        Ok((
            target,
            Validator {
                root,
                base,
                docs: self.docs,
                draft: self.draft,
                chart: self.chart,
                depth: self.depth + 1,
            },
        ))
    }

    /// Resolves every `$ref` below `node` that names another document, and the references
    /// of the documents so reached (each once).
    fn load_references(
        &self,
        node: &'a Value,
        seen: &mut BTreeSet<&'a str>,
    ) -> Result<(), SchemaError> {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    if !reference.starts_with('#') {
                        let (_, other) = self.resolve(reference)?;
                        if seen.insert(other.base) {
                            other.load_references(other.root, seen)?;
                        }
                    }
                }
                map.values().try_for_each(|v| self.load_references(v, seen))
            }
            Value::Array(items) => items.iter().try_for_each(|v| self.load_references(v, seen)),
            _ => Ok(()),
        }
    }

    /// Validates `v` (at pointer `at`) against `schema`.
    fn validate(
        &self,
        schema: &'a Value,
        v: &Value,
        at: &str,
    ) -> Result<Option<Violation>, SchemaError> {
        let s = match schema {
            Value::Bool(true) => return Ok(None),
            Value::Bool(false) => return Ok(Some(Violation::leaf(at, "false schema".into()))),
            Value::Object(s) => s,
            _ => return Ok(None),
        };
        if let Some(types) = s.get("type") {
            let wanted: Vec<&str> = match types {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !wanted.is_empty() {
                let got = type_name(v);
                let ok = wanted.contains(&got)
                    || (wanted.contains(&"integer") && got == "number" && is_integer(v));
                if !ok {
                    let order = [
                        "null", "boolean", "number", "integer", "string", "array", "object",
                    ];
                    let want: Vec<&str> = order
                        .iter()
                        .copied()
                        .filter(|t| wanted.contains(t))
                        .collect();
                    return Ok(Some(Violation::leaf(
                        at,
                        format!("got {got}, want {}", want.join(" or ")),
                    )));
                }
            }
        }
        if let Some(c) = s.get("const") {
            if !json_equal(v, c) {
                let msg = match c {
                    Value::Array(_) | Value::Object(_) => "const failed".to_string(),
                    other => format!("value must be {}", display(other)),
                };
                return Ok(Some(Violation::leaf(at, msg)));
            }
        }
        if let Some(Value::Array(items)) = s.get("enum") {
            if !items.iter().any(|i| json_equal(v, i)) {
                let primitive = items.iter().all(|i| !i.is_array() && !i.is_object());
                let msg = if !primitive {
                    "enum failed".to_string()
                } else if items.len() == 1 {
                    format!("value must be {}", display(&items[0]))
                } else {
                    format!(
                        "value must be one of {}",
                        items.iter().map(display).collect::<Vec<_>>().join(", ")
                    )
                };
                return Ok(Some(Violation::leaf(at, msg)));
            }
        }
        let mut errors = Vec::new();
        if let Some(Value::String(reference)) = s.get("$ref") {
            let (target, validator) = self.resolve(reference)?;
            let result = validator.validate(target, v, at)?;
            if self.draft < 2019 {
                // Before 2019-09 a `$ref` replaces its siblings.
                return Ok(result);
            }
            errors.extend(result);
        }
        match v {
            Value::Object(obj) => self.object(s, obj, at, &mut errors)?,
            Value::Array(arr) => self.array(s, arr, at, &mut errors)?,
            Value::String(st) => self.string(s, st, at, &mut errors),
            Value::Number(_) => self.number(s, v, at, &mut errors),
            _ => {}
        }
        self.combinators(s, v, at, &mut errors)?;
        Ok(match errors.len() {
            0 => None,
            1 => errors.pop(),
            _ => Some(Violation {
                at: at.to_string(),
                message: GROUP_MESSAGE.into(),
                causes: errors,
            }),
        })
    }

    fn child(
        &self,
        schema: &'a Value,
        v: &Value,
        at: &str,
        key: &str,
    ) -> Result<Option<Violation>, SchemaError> {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        self.validate(schema, v, &format!("{at}/{escaped}"))
    }

    fn object(
        &self,
        s: &'a Map<String, Value>,
        obj: &Map<String, Value>,
        at: &str,
        errors: &mut Vec<Violation>,
    ) -> Result<(), SchemaError> {
        let count = |k: &str| s.get(k).and_then(Value::as_u64);
        if let Some(min) = count("minProperties") {
            if (obj.len() as u64) < min {
                errors.push(Violation::leaf(
                    at,
                    format!("minProperties: got {}, want {min}", obj.len()),
                ));
            }
        }
        if let Some(max) = count("maxProperties") {
            if obj.len() as u64 > max {
                errors.push(Violation::leaf(
                    at,
                    format!("maxProperties: got {}, want {max}", obj.len()),
                ));
            }
        }
        if let Some(Value::Array(required)) = s.get("required") {
            let missing: Vec<&str> = required
                .iter()
                .filter_map(Value::as_str)
                .filter(|r| !obj.contains_key(*r))
                .collect();
            match missing.len() {
                0 => {}
                1 => errors.push(Violation::leaf(
                    at,
                    format!("missing property {}", quote(missing[0])),
                )),
                _ => errors.push(Violation::leaf(
                    at,
                    format!(
                        "missing properties {}",
                        missing
                            .iter()
                            .map(|m| quote(m))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        let dependent = |name: &str| s.get(name).and_then(Value::as_object);
        for (keyword, deps) in [
            ("dependencies", dependent("dependencies")),
            ("dependentRequired", dependent("dependentRequired")),
            ("dependentSchemas", dependent("dependentSchemas")),
        ] {
            let Some(deps) = deps else { continue };
            for (prop, dep) in deps {
                if !obj.contains_key(prop) {
                    continue;
                }
                match dep {
                    Value::Array(names) if keyword != "dependentSchemas" => {
                        let missing: Vec<String> = names
                            .iter()
                            .filter_map(Value::as_str)
                            .filter(|n| !obj.contains_key(*n))
                            .map(quote)
                            .collect();
                        if !missing.is_empty() {
                            errors.push(Violation::leaf(
                                at,
                                format!(
                                    "properties {} required, if {} exists",
                                    missing.join(", "),
                                    quote(prop)
                                ),
                            ));
                        }
                    }
                    schema if keyword != "dependentRequired" => {
                        errors.extend(self.validate(schema, &Value::Object(obj.clone()), at)?);
                    }
                    _ => {}
                }
            }
        }
        let properties = s.get("properties").and_then(Value::as_object);
        let patterns: Vec<(regex::Regex, &'a Value)> =
            match s.get("patternProperties").and_then(Value::as_object) {
                Some(p) => p
                    .iter()
                    .map(|(re, sch)| {
                        regex::Regex::new(re)
                            .map(|r| (r, sch))
                            .map_err(|e| self.unsupported(format!("patternProperties {re:?}: {e}")))
                    })
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            };
        let mut additional = Vec::new();
        let mut keys: Vec<&String> = obj.keys().collect();
        keys.sort();
        for key in keys {
            let value = &obj[key];
            let mut evaluated = false;
            if let Some(sch) = properties.and_then(|p| p.get(key)) {
                evaluated = true;
                errors.extend(self.child(sch, value, at, key)?);
            }
            for (re, sch) in &patterns {
                if re.is_match(key) {
                    evaluated = true;
                    errors.extend(self.child(sch, value, at, key)?);
                }
            }
            if !evaluated {
                match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => additional.push(quote(key)),
                    Some(sch @ Value::Object(_)) => errors.extend(self.child(sch, value, at, key)?),
                    _ => {}
                }
            }
        }
        if !additional.is_empty() {
            errors.push(Violation::leaf(
                at,
                format!(
                    "additional properties {} not allowed",
                    additional.join(", ")
                ),
            ));
        }
        if self.draft > 4 {
            if let Some(names) = s.get("propertyNames") {
                let mut keys: Vec<&String> = obj.keys().collect();
                keys.sort();
                for key in keys {
                    if self
                        .validate(names, &Value::String(key.clone()), at)?
                        .is_some()
                    {
                        errors.push(Violation::leaf(
                            at,
                            format!("invalid propertyName {}", quote(key)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn array(
        &self,
        s: &'a Map<String, Value>,
        arr: &[Value],
        at: &str,
        errors: &mut Vec<Violation>,
    ) -> Result<(), SchemaError> {
        let count = |k: &str| s.get(k).and_then(Value::as_u64);
        if let Some(min) = count("minItems") {
            if (arr.len() as u64) < min {
                errors.push(Violation::leaf(
                    at,
                    format!("minItems: got {}, want {min}", arr.len()),
                ));
            }
        }
        if let Some(max) = count("maxItems") {
            if arr.len() as u64 > max {
                errors.push(Violation::leaf(
                    at,
                    format!("maxItems: got {}, want {max}", arr.len()),
                ));
            }
        }
        if s.get("uniqueItems") == Some(&Value::Bool(true)) {
            'outer: for i in 0..arr.len() {
                for j in i + 1..arr.len() {
                    if json_equal(&arr[i], &arr[j]) {
                        errors.push(Violation::leaf(
                            at,
                            format!("items at {i} and {j} are equal"),
                        ));
                        break 'outer;
                    }
                }
            }
        }
        let index = |i: usize| i.to_string();
        let (prefix, rest): (Vec<&'a Value>, Option<&'a Value>) = if self.draft < 2020 {
            match s.get("items") {
                Some(Value::Array(items)) => (items.iter().collect(), s.get("additionalItems")),
                Some(single) => (Vec::new(), Some(single)),
                None => (Vec::new(), None),
            }
        } else {
            let prefix = s
                .get("prefixItems")
                .and_then(Value::as_array)
                .map(|p| p.iter().collect())
                .unwrap_or_default();
            (prefix, s.get("items"))
        };
        let evaluated = prefix.len().min(arr.len());
        for (i, item) in arr.iter().take(evaluated).enumerate() {
            errors.extend(self.child(prefix[i], item, at, &index(i))?);
        }
        match rest {
            Some(Value::Bool(false)) if evaluated < arr.len() => {
                errors.push(Violation::leaf(
                    at,
                    format!(
                        "last {} additionalItem(s) not allowed",
                        arr.len() - evaluated
                    ),
                ));
            }
            Some(sch @ Value::Object(_)) => {
                for (i, item) in arr.iter().enumerate().skip(evaluated) {
                    errors.extend(self.child(sch, item, at, &index(i))?);
                }
            }
            _ => {}
        }
        if let Some(contains) = s.get("contains") {
            let mut matched = 0;
            for item in arr {
                if self.validate(contains, item, at)?.is_none() {
                    matched += 1;
                }
            }
            let min = count("minContains").unwrap_or(1);
            if (matched as u64) < min {
                errors.push(Violation::leaf(
                    at,
                    if count("minContains").is_none() {
                        "no items match contains schema".to_string()
                    } else {
                        format!("min {min} items required to match contains schema, but matched {matched} items")
                    },
                ));
            }
        }
        Ok(())
    }

    fn string(&self, s: &Map<String, Value>, st: &str, at: &str, errors: &mut Vec<Violation>) {
        let len = st.chars().count();
        if let Some(min) = s.get("minLength").and_then(Value::as_u64) {
            if (len as u64) < min {
                errors.push(Violation::leaf(
                    at,
                    format!("minLength: got {len}, want {min}"),
                ));
            }
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
            if len as u64 > max {
                errors.push(Violation::leaf(
                    at,
                    format!("maxLength: got {len}, want {max}"),
                ));
            }
        }
        if let Some(Value::String(pattern)) = s.get("pattern") {
            match regex::Regex::new(pattern) {
                Ok(re) if !re.is_match(st) => errors.push(Violation::leaf(
                    at,
                    format!("{} does not match pattern {}", quote(st), quote(pattern)),
                )),
                Ok(_) => {}
                Err(e) => errors.push(Violation::leaf(
                    at,
                    format!(
                        "pattern {} is not a valid regular expression: {e}",
                        quote(pattern)
                    ),
                )),
            }
        }
    }

    fn number(&self, s: &Map<String, Value>, v: &Value, at: &str, errors: &mut Vec<Violation>) {
        let x = v.as_f64().unwrap_or_default();
        let bound = |k: &str| s.get(k).and_then(Value::as_f64);
        let draft4_exclusive = |k: &str| self.draft == 4 && s.get(k) == Some(&Value::Bool(true));
        if let Some(min) = bound("minimum") {
            if draft4_exclusive("exclusiveMinimum") {
                if x <= min {
                    errors.push(Violation::leaf(
                        at,
                        format!(
                            "exclusiveMinimum: got {}, want {}",
                            go_number(x),
                            go_number(min)
                        ),
                    ));
                }
            } else if x < min {
                errors.push(Violation::leaf(
                    at,
                    format!("minimum: got {}, want {}", go_number(x), go_number(min)),
                ));
            }
        }
        if let Some(max) = bound("maximum") {
            if draft4_exclusive("exclusiveMaximum") {
                if x >= max {
                    errors.push(Violation::leaf(
                        at,
                        format!(
                            "exclusiveMaximum: got {}, want {}",
                            go_number(x),
                            go_number(max)
                        ),
                    ));
                }
            } else if x > max {
                errors.push(Violation::leaf(
                    at,
                    format!("maximum: got {}, want {}", go_number(x), go_number(max)),
                ));
            }
        }
        if self.draft > 4 {
            if let Some(min) = bound("exclusiveMinimum") {
                if x <= min {
                    errors.push(Violation::leaf(
                        at,
                        format!(
                            "exclusiveMinimum: got {}, want {}",
                            go_number(x),
                            go_number(min)
                        ),
                    ));
                }
            }
            if let Some(max) = bound("exclusiveMaximum") {
                if x >= max {
                    errors.push(Violation::leaf(
                        at,
                        format!(
                            "exclusiveMaximum: got {}, want {}",
                            go_number(x),
                            go_number(max)
                        ),
                    ));
                }
            }
        }
        if let Some(m) = bound("multipleOf") {
            if m > 0.0 && ((x / m).fract().abs() > 1e-9) {
                errors.push(Violation::leaf(
                    at,
                    format!("multipleOf: got {}, want {}", go_number(x), go_number(m)),
                ));
            }
        }
    }

    fn combinators(
        &self,
        s: &'a Map<String, Value>,
        v: &Value,
        at: &str,
        errors: &mut Vec<Violation>,
    ) -> Result<(), SchemaError> {
        if let Some(not) = s.get("not") {
            if self.validate(not, v, at)?.is_none() {
                errors.push(Violation::leaf(at, "not failed".into()));
            }
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            let mut causes = Vec::new();
            for sch in all {
                causes.extend(self.validate(sch, v, at)?);
            }
            if !causes.is_empty() {
                errors.push(Violation {
                    at: at.to_string(),
                    message: "allOf failed".into(),
                    causes,
                });
            }
        }
        if let Some(Value::Array(any)) = s.get("anyOf") {
            let mut causes = Vec::new();
            for sch in any {
                match self.validate(sch, v, at)? {
                    None => {
                        causes.clear();
                        break;
                    }
                    Some(c) => causes.push(c),
                }
            }
            if causes.len() == any.len() && !any.is_empty() {
                errors.push(Violation {
                    at: at.to_string(),
                    message: "anyOf failed".into(),
                    causes,
                });
            }
        }
        if let Some(Value::Array(one)) = s.get("oneOf") {
            let mut matched = Vec::new();
            let mut causes = Vec::new();
            for (i, sch) in one.iter().enumerate() {
                match self.validate(sch, v, at)? {
                    None => matched.push(i),
                    Some(c) => causes.push(c),
                }
            }
            if matched.is_empty() {
                errors.push(Violation {
                    at: at.to_string(),
                    message: "oneOf failed, none matched".into(),
                    causes,
                });
            } else if matched.len() > 1 {
                errors.push(Violation::leaf(
                    at,
                    format!(
                        "oneOf failed, subschemas {}, {} matched",
                        matched[0], matched[1]
                    ),
                ));
            }
        }
        if self.draft >= 7 {
            if let Some(cond) = s.get("if") {
                let branch = if self.validate(cond, v, at)?.is_none() {
                    s.get("then")
                } else {
                    s.get("else")
                };
                if let Some(branch) = branch {
                    errors.extend(self.validate(branch, v, at)?);
                }
            }
        }
        Ok(())
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value, values: Value) -> String {
        let v = validate(schema.to_string().as_bytes(), &values, "demo").unwrap();
        if v.is_empty() {
            String::new()
        } else {
            format_violations("demo", &v)
        }
    }

    #[test]
    fn valid_values_pass() {
        let schema = json!({"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}}, "required": ["replicas"]});
        assert_eq!(check(schema, json!({"replicas": 3.0})), "");
    }

    #[test]
    fn messages_match_helm() {
        let schema = json!({"type": "object", "properties": {"replicas": {"type": "integer"}}});
        assert_eq!(
            check(schema, json!({"replicas": "x"})),
            "demo:\n- at '/replicas': got string, want integer\n"
        );
        let schema =
            json!({"required": ["image"], "additionalProperties": false, "properties": {"a": {}}});
        assert_eq!(
            check(schema, json!({"a": 1, "b": 2})),
            "demo:\n- at '': missing property 'image'\n- at '': additional properties 'b' not allowed\n"
        );
        let schema = json!({"properties": {"mode": {"enum": ["a", "b"]}, "n": {"maximum": 5}}});
        assert_eq!(
            check(schema, json!({"mode": "c", "n": 7})),
            "demo:\n- at '/mode': value must be one of 'a', 'b'\n- at '/n': maximum: got 7, want 5\n"
        );
    }

    #[test]
    fn refs_and_combinators() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"port": {"type": "integer", "maximum": 65535}},
            "properties": {
                "port": {"$ref": "#/definitions/port"},
                "x": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
                "y": {"if": {"const": 1}, "then": {"type": "string"}}
            }
        });
        assert_eq!(check(schema.clone(), json!({"port": 80, "x": true})), "");
        let out = check(schema, json!({"port": 70000, "x": 3}));
        assert!(
            out.contains("- at '/port': maximum: got 70000, want 65535"),
            "{out}"
        );
        assert!(
            out.contains("- at '/x': anyOf failed\n  - at '/x': got number, want string"),
            "{out}"
        );
        let err = validate(
            br#"{"$ref": "https://example.com/s.json"}"#,
            &json!({}),
            "demo",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("failing loading \"https://example.com/s.json\""),
            "{err}"
        );
        let err = validate(b"{nope", &json!({}), "demo").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("demo: values.schema.json is not valid JSON"),
            "{err}"
        );
    }

    // The issue's ask (Fleet users split schemas in files): a `$ref` to a relative file
    // resolves to that JSON file of the chart, its own `#` pointers within it, and its
    // relative references from its directory.
    #[test]
    fn relative_file_refs_resolve_from_the_chart() {
        let schema = br##"{"properties": {"port": {"$ref": "defs/types.json#/definitions/port"}, "name": {"$ref": "./defs/types.json#/definitions/name"}}}"##;
        let types = br##"{"definitions": {"port": {"$ref": "#/definitions/int"}, "int": {"type": "integer"}, "name": {"$ref": "more.json"}}}"##;
        let more = br#"{"type": "string", "minLength": 2}"#;
        let files: [(&str, &[u8]); 2] = [("defs/types.json", types), ("defs/more.json", more)];
        let check = |values| {
            let v = validate_in_chart(schema, &values, "demo", &files).unwrap();
            if v.is_empty() {
                String::new()
            } else {
                format_violations("demo", &v)
            }
        };
        assert_eq!(check(json!({"port": 80, "name": "ok"})), "");
        assert_eq!(
            check(json!({"port": "x", "name": "o"})),
            "demo:\n- at '/name': minLength: got 1, want 2\n- at '/port': got string, want integer\n"
        );
        let err = validate_in_chart(br#"{"$ref": "missing.json"}"#, &json!({}), "demo", &files)
            .unwrap_err();
        assert!(
            err.to_string().contains("no JSON file \"missing.json\""),
            "{err}"
        );
    }

    #[test]
    fn arrays_and_strings() {
        let schema = json!({"properties": {"l": {"type": "array", "items": {"type": "string", "pattern": "^a"}, "minItems": 1, "uniqueItems": true}}});
        let out = check(schema, json!({"l": ["ab", "ab", "b"]}));
        assert!(out.contains("items at 0 and 1 are equal"), "{out}");
        assert!(
            out.contains("at '/l/2': 'b' does not match pattern '^a'"),
            "{out}"
        );
    }
}
