//! The functions templates can call: Go's builtins, Sprig's library and Helm's extras.
//!
//! Every function has the same shape, [`Func`]: it receives its evaluated arguments
//! (the piped value last, as Go passes it) and returns a value or a [`FuncError`] worded
//! as Go/Sprig/Helm word it. [`lookup`] is the single table of names; `include`, `tpl`,
//! `and` and `or` are run by the executor itself (they need it) and only listed here
//! so the parser accepts them.
//!
//! Coverage: Go's builtins, Helm 4.1's own functions and Sprig's library, except
//! `env`/`expandenv` (Helm removes them too), and `encryptAES`, `decryptAES` and
//! `derivePassword`, which are not provided (a chart using them fails to parse with
//! Go's "function not defined"). Keys and certificates are ECDSA P-256 rather than
//! Sprig's RSA (see [`crypto`]).

pub mod builtins;
pub mod capabilities;
pub mod crypto;
pub mod dates;
pub mod dicts;
pub mod encoding;
pub mod files;
pub mod goyaml;
pub mod json;
pub mod lists;
pub mod logic;
pub mod math;
pub mod paths;
pub mod printf;
pub mod random;
pub mod regex;
pub mod semver;
pub mod strings;
pub mod toml;
pub mod yaml;

use minijinja::Value;

use crate::helm::template::value::{self, as_float, as_int, as_list, as_map, kind, GoMap, Kind};

/// A template function.
pub type Func = fn(&Args<'_>) -> Result<Value, FuncError>;

/// Why a function call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FuncError {
    /// The function itself failed: shown as `error calling NAME: MESSAGE`.
    Call(String),
    /// Wrong number of arguments: shown as is, at the function's name.
    Arg(String),
    /// Argument `index` does not fit its Go parameter type: shown as is, at that
    /// argument.
    Type { index: usize, msg: String },
    /// `fail` or `required`: Helm shows the message on its own.
    Fail(String),
}

/// The evaluated arguments of one call, with the function's name for errors.
pub struct Args<'a> {
    pub name: &'a str,
    pub vals: &'a [Value],
}

impl Args<'_> {
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    /// Go's check of a fixed parameter count.
    pub fn arity(&self, n: usize) -> Result<(), FuncError> {
        if self.vals.len() != n {
            return Err(FuncError::Arg(format!(
                "wrong number of args for {}: want {n} got {}",
                self.name,
                self.vals.len()
            )));
        }
        Ok(())
    }

    /// Go's check for a variadic function.
    pub fn at_least(&self, n: usize) -> Result<(), FuncError> {
        if self.vals.len() < n {
            return Err(FuncError::Arg(format!(
                "wrong number of args for {}: want at least {n} got {}",
                self.name,
                self.vals.len()
            )));
        }
        Ok(())
    }

    pub fn get(&self, i: usize) -> &Value {
        static NIL: Value = Value::UNDEFINED;
        self.vals.get(i).unwrap_or(&NIL)
    }

    /// A `string` parameter: Go refuses other types and nil.
    pub fn string(&self, i: usize) -> Result<String, FuncError> {
        self.str(i).map(str::to_string)
    }

    pub fn str(&self, i: usize) -> Result<&str, FuncError> {
        let v = self.get(i);
        match kind(v) {
            Kind::String => Ok(v.as_str().unwrap_or("")),
            _ => Err(wrong_type(i, "string", v)),
        }
    }

    /// A `string` parameter as the bytes Go holds (see [`value::go_bytes`]).
    pub fn bytes(&self, i: usize) -> Result<std::borrow::Cow<'_, [u8]>, FuncError> {
        self.str(i).map(value::go_bytes)
    }

    /// An `int` parameter (Go converts no floats or strings).
    pub fn int(&self, i: usize) -> Result<i64, FuncError> {
        let v = self.get(i);
        match kind(v) {
            Kind::Int | Kind::Int64 => Ok(as_int(v).unwrap_or(0)),
            _ => Err(wrong_type(i, "int", v)),
        }
    }

    /// A `float64` parameter.
    pub fn float(&self, i: usize) -> Result<f64, FuncError> {
        let v = self.get(i);
        match kind(v) {
            Kind::Int | Kind::Int64 | Kind::Float => Ok(as_float(v).unwrap_or(0.0)),
            _ => Err(wrong_type(i, "float64", v)),
        }
    }

    /// A `bool` parameter.
    pub fn bool(&self, i: usize) -> Result<bool, FuncError> {
        let v = self.get(i);
        match kind(v) {
            Kind::Bool => Ok(v.is_true()),
            _ => Err(wrong_type(i, "bool", v)),
        }
    }

    /// A `[]interface{}` parameter.
    pub fn list(&self, i: usize) -> Result<Vec<Value>, FuncError> {
        let v = self.get(i);
        match kind(v) {
            Kind::Slice => Ok(as_list(v).unwrap_or_default()),
            // Untyped nil becomes a nil slice; a nil interface does not convert.
            Kind::Invalid => Ok(Vec::new()),
            _ => Err(wrong_type(i, "[]interface {}", v)),
        }
    }

    /// A `map[string]interface{}` parameter.
    pub fn map(&self, i: usize) -> Result<std::sync::Arc<GoMap>, FuncError> {
        let v = self.get(i);
        match as_map(v) {
            Some(m) => Ok(m),
            // Untyped nil becomes a nil map (reads find nothing).
            None if kind(v) == Kind::Invalid => Ok(std::sync::Arc::new(GoMap::default())),
            None => Err(wrong_type(i, "map[string]interface {}", v)),
        }
    }

    /// A `...string` tail starting at `from`.
    pub fn strings_from(&self, from: usize) -> Result<Vec<String>, FuncError> {
        (from..self.len()).map(|i| self.string(i)).collect()
    }
}

/// Go's `validateType` wording: no value at all is "invalid"; a nil from a map or a
/// function is an `interface {}` that does not convert.
fn wrong_type(index: usize, want: &str, got: &Value) -> FuncError {
    let msg = match kind(got) {
        Kind::Invalid => format!("invalid value; expected {want}"),
        Kind::Nil => format!("wrong type for value; expected {want}; got interface {{}}"),
        _ => format!(
            "wrong type for value; expected {want}; got {}",
            value::type_name(got)
        ),
    };
    FuncError::Type { index, msg }
}

/// A value as an `interface{}` holds it: Go's invalid "no value" becomes nil.
pub fn stored(v: &Value) -> Value {
    if v.is_undefined() {
        Value::from(())
    } else {
        v.clone()
    }
}

/// Sprig's `strval`: strings as they are, byte slices as text, anything else with `%v`.
pub fn strval(v: &Value) -> String {
    match kind(v) {
        Kind::String => v.as_str().unwrap_or("").to_string(),
        Kind::Bytes => String::from_utf8_lossy(v.as_bytes().unwrap_or(&[])).into_owned(),
        _ => value::fmt_v(v),
    }
}

/// Does a function of this name exist (for the parser's check)?
pub fn exists(name: &str) -> bool {
    matches!(name, "and" | "or" | "include" | "tpl") || lookup(name).is_some()
}

/// The function called `name`, if there is one.
pub fn lookup(name: &str) -> Option<Func> {
    builtins::lookup(name)
        .or_else(|| strings::lookup(name))
        .or_else(|| lists::lookup(name))
        .or_else(|| dicts::lookup(name))
        .or_else(|| logic::lookup(name))
        .or_else(|| math::lookup(name))
        .or_else(|| encoding::lookup(name))
        .or_else(|| yaml::lookup(name))
        .or_else(|| json::lookup(name))
        .or_else(|| toml::lookup(name))
        .or_else(|| regex::lookup(name))
        .or_else(|| crypto::lookup(name))
        .or_else(|| random::lookup(name))
        .or_else(|| semver::lookup(name))
        .or_else(|| dates::lookup(name))
        .or_else(|| paths::lookup(name))
}
