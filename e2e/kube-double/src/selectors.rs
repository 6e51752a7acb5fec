//! Label selectors (the full `labels.Parse` syntax) and field selectors, as list and watch use them.

use serde_json::Value;

/// A label or field selector that could not be parsed; the message is what the server answers.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectorError {
    /// Malformed label selector.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// Malformed field selector.
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    FieldSyntax(String, String),
    /// A field the resource cannot be selected on.
    #[error("field label not supported: {0}")]
    FieldUnsupported(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Gt(i64),
    Lt(i64),
}

/// One `key op values` requirement.
#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector: all requirements must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Comma,
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    Open,
    Close,
    Gt,
    Lt,
    In,
    NotIn,
}

impl Token {
    fn literal(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Comma => ",".into(),
            Token::Eq => "=".into(),
            Token::DoubleEq => "==".into(),
            Token::NotEq => "!=".into(),
            Token::Bang => "!".into(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Gt => ">".into(),
            Token::Lt => "<".into(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
        }
    }
}

fn lex(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            ',' => {
                out.push(Token::Comma);
                i += 1
            }
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            '>' => {
                out.push(Token::Gt);
                i += 1
            }
            '<' => {
                out.push(Token::Lt);
                i += 1
            }
            '=' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push(Token::DoubleEq);
                    i += 2
                } else {
                    out.push(Token::Eq);
                    i += 1
                }
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push(Token::NotEq);
                    i += 2
                } else {
                    out.push(Token::Bang);
                    i += 1
                }
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !",()=!<>".contains(chars[i])
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                });
            }
        }
    }
    out
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn found(t: Option<&Token>) -> String {
        t.map(Token::literal).unwrap_or_default()
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let negated = if self.peek() == Some(&Token::Bang) {
            self.pos += 1;
            true
        } else {
            false
        };
        let key = match self.next() {
            Some(Token::Ident(k)) => k,
            other => {
                return Err(format!(
                    "found '{}', expected: identifier",
                    Self::found(other.as_ref())
                ))
            }
        };
        validate_label_key(&key)?;
        if negated {
            return match self.peek() {
                None | Some(Token::Comma) => Ok(Requirement {
                    key,
                    op: Op::DoesNotExist,
                }),
                Some(t) => Err(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    t.literal()
                )),
            };
        }
        let op = match self.peek() {
            None | Some(Token::Comma) => {
                return Ok(Requirement {
                    key,
                    op: Op::Exists,
                })
            }
            Some(t) => t.clone(),
        };
        self.pos += 1;
        let op = match op {
            Token::Eq | Token::DoubleEq => Op::Equals(self.single_value()?),
            Token::NotEq => Op::NotEquals(self.single_value()?),
            Token::Gt | Token::Lt => {
                let v = self.single_value()?;
                let n: i64 = v.parse().map_err(|_| {
                    format!("for 'Gt', 'Lt' operators, the value must be an integer: {v}")
                })?;
                if op == Token::Gt {
                    Op::Gt(n)
                } else {
                    Op::Lt(n)
                }
            }
            Token::In => Op::In(self.value_set()?),
            Token::NotIn => Op::NotIn(self.value_set()?),
            other => {
                return Err(format!(
                    "found '{}', expected: '=', '!=', '==', 'in', notin'",
                    other.literal()
                ))
            }
        };
        Ok(Requirement { key, op })
    }

    fn single_value(&mut self) -> Result<String, String> {
        match self.peek() {
            None | Some(Token::Comma) => Ok(String::new()),
            Some(Token::Ident(_)) => match self.next() {
                Some(Token::Ident(v)) => {
                    validate_label_value(&v)?;
                    Ok(v)
                }
                _ => Ok(String::new()),
            },
            Some(Token::In) | Some(Token::NotIn) => {
                Ok(self.next().map(|t| t.literal()).unwrap_or_default())
            }
            Some(t) => Err(format!("found '{}', expected: identifier", t.literal())),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Some(Token::Open) => {}
            other => {
                return Err(format!(
                    "found '{}' expected: '('",
                    Self::found(other.as_ref())
                ))
            }
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(Token::Ident(v)) => {
                    validate_label_value(&v)?;
                    values.push(v);
                    match self.next() {
                        Some(Token::Comma) => continue,
                        Some(Token::Close) => break,
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or ')'",
                                Self::found(other.as_ref())
                            ))
                        }
                    }
                }
                Some(Token::Close) => break,
                Some(Token::Comma) => values.push(String::new()),
                other => {
                    return Err(format!(
                        "found '{}', expected: ',', ')' or identifier",
                        Self::found(other.as_ref())
                    ))
                }
            }
        }
        Ok(values)
    }
}

fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(crate::validation::is_dns1123_subdomain);
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(format!("key: Invalid value: {}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", crate::api_status::go_quote(key)))
    }
}

fn validate_label_value(v: &str) -> Result<(), String> {
    if crate::validation::is_label_value(v) {
        Ok(())
    } else {
        Err(format!("values[0]: Invalid value: {}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character", crate::api_status::go_quote(v)))
    }
}

impl LabelSelector {
    /// Parse the `labelSelector` query parameter.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let tokens = lex(input);
        let mut p = Parser { tokens, pos: 0 };
        let mut requirements = Vec::new();
        if p.tokens.is_empty() {
            return Ok(Self::default());
        }
        loop {
            requirements.push(p.requirement().map_err(SelectorError::Label)?);
            match p.next() {
                None => break,
                Some(Token::Comma) => {
                    if p.peek().is_none() {
                        return Err(SelectorError::Label(
                            "found '', expected: identifier".into(),
                        ));
                    }
                }
                Some(t) => {
                    return Err(SelectorError::Label(format!(
                        "found '{}', expected: ',' or 'end of string'",
                        t.literal()
                    )))
                }
            }
        }
        Ok(Self { requirements })
    }

    /// Build from a `LabelSelector` object (`matchLabels` and `matchExpressions`).
    pub fn from_object(selector: &Value) -> Self {
        let mut requirements = Vec::new();
        if let Some(m) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                requirements.push(Requirement {
                    key: k.clone(),
                    op: Op::Equals(v.as_str().unwrap_or_default().into()),
                });
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Op::In(values),
                    Some("NotIn") => Op::NotIn(values),
                    Some("Exists") => Op::Exists,
                    _ => Op::DoesNotExist,
                };
                requirements.push(Requirement { key, op });
            }
        }
        Self { requirements }
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match &r.op {
                Op::Equals(v) => value == Some(v.as_str()),
                Op::NotEquals(v) => value != Some(v.as_str()),
                Op::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
                Op::NotIn(vs) => value.is_none_or(|x| !vs.iter().any(|v| v == x)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Gt(n) => value
                    .and_then(|x| x.parse::<i64>().ok())
                    .is_some_and(|x| x > *n),
                Op::Lt(n) => value
                    .and_then(|x| x.parse::<i64>().ok())
                    .is_some_and(|x| x < *n),
            }
        })
    }

    /// Whether the selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// A parsed field selector: `field=value`, `field==value` or `field!=value`, comma separated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

/// The fields every resource can be selected on, plus those specific to `kind`.
fn supported_fields(kind: &str) -> Vec<&'static str> {
    let mut f = vec!["metadata.name", "metadata.namespace"];
    match kind {
        "Pod" => f.extend([
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
        ]),
        "Secret" => f.push("type"),
        "Event" => f.extend([
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]),
        "Namespace" => f.push("status.phase"),
        "Job" => f.push("status.successful"),
        _ => {}
    }
    f
}

impl FieldSelector {
    /// Parse the `fieldSelector` query parameter for a resource of `kind`.
    pub fn parse(input: &str, kind: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        let supported = supported_fields(kind);
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(SelectorError::FieldSyntax(input.into(), part.into()));
            };
            let field = field.trim();
            if !supported.contains(&field) {
                return Err(SelectorError::FieldUnsupported(field.into()));
            }
            terms.push((field.to_string(), equal, value.trim().to_string()));
        }
        Ok(Self { terms })
    }

    /// Whether `object` satisfies every term.
    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }

    /// Whether the selector has no term.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn full_label_syntax() {
        let l = labels(json!({"app": "x", "tier": "a", "n": "5"}));
        let yes = [
            "app in (x,z)",
            "app=x,tier==a",
            "app!=y",
            "tier",
            "!missing",
            "n>3",
            "n<6",
            "app notin (y)",
            "app in (x, z) , tier",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).expect(s).matches(Some(&l)), "{s}");
        }
        let no = [
            "app in (y,z)",
            "app=y",
            "missing",
            "!tier",
            "n>5",
            "app notin (x)",
            "tier!=a",
        ];
        for s in no {
            assert!(!LabelSelector::parse(s).expect(s).matches(Some(&l)), "{s}");
        }
    }

    #[test]
    fn malformed_label_selector_is_worded_as_the_server_does() {
        let err = LabelSelector::parse("app in x").expect_err("malformed");
        assert_eq!(
            err.to_string(),
            "unable to parse requirement: found 'x' expected: '('"
        );
        assert!(LabelSelector::parse("app=(").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let obj = json!({"metadata": {"name": "cm2", "namespace": "demo"}});
        assert!(FieldSelector::parse("metadata.name=cm2", "ConfigMap")
            .expect("ok")
            .matches(&obj));
        assert!(!FieldSelector::parse("metadata.name!=cm2", "ConfigMap")
            .expect("ok")
            .matches(&obj));
        assert!(
            FieldSelector::parse("metadata.namespace==demo,metadata.name=cm2", "ConfigMap")
                .expect("ok")
                .matches(&obj)
        );
        assert_eq!(
            FieldSelector::parse("spec.foo=1", "ConfigMap")
                .expect_err("unsupported")
                .to_string(),
            "field label not supported: spec.foo"
        );
    }
}
