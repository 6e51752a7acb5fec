//! The data model of a resource: the values kustomize sees after reading YAML.
//!
//! `kubectl kustomize` reads YAML with go-yaml v3 rules, turns each resource into plain
//! data (maps, lists, strings, numbers) and prints that data with go-yaml v2. Styles,
//! comments and key order of the input are therefore lost; only the data survives. This
//! module is that data: [`Value`], plus path helpers used by every transformer.

use indexmap::IndexMap;

/// A mapping; key order is kept for determinism, the emitter sorts keys anyway.
pub type Mapping = IndexMap<String, Value>;

/// One YAML value as kustomize's Go data model holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A signed integer that fits 64 bits.
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    UInt(u64),
    /// A floating point number.
    Float(f64),
    /// A string.
    String(String),
    /// A list.
    Seq(Vec<Value>),
    /// A map.
    Map(Mapping),
}

impl Value {
    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The map, when this is a map.
    pub fn as_map(&self) -> Option<&Mapping> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The map, mutably, when this is a map.
    pub fn as_map_mut(&mut self) -> Option<&mut Mapping> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The list, when this is a list.
    pub fn as_seq(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value at a path of map keys, if every step exists.
    pub fn get_path(&self, path: &[&str]) -> Option<&Value> {
        let mut cur = self;
        for key in path {
            cur = cur.as_map()?.get(*key)?;
        }
        Some(cur)
    }

    /// The string at a path of map keys.
    pub fn get_str(&self, path: &[&str]) -> Option<&str> {
        self.get_path(path)?.as_str()
    }

    /// The value at a path of map keys, creating empty maps on the way.
    ///
    /// Returns `None` when a step exists but is not a map.
    pub fn ensure_map_path(&mut self, path: &[&str]) -> Option<&mut Mapping> {
        let mut cur = self;
        for key in path {
            let map = cur.as_map_mut()?;
            let entry = map
                .entry((*key).to_string())
                .or_insert_with(|| Value::Map(Mapping::new()));
            if matches!(entry, Value::Null) {
                *entry = Value::Map(Mapping::new());
            }
            cur = entry;
        }
        cur.as_map_mut()
    }

    /// How kustomize prints this scalar when it needs it as text (replacements, vars).
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(crate::kustomize::scalar::go_float_text(*f)),
            Value::String(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// Whether this is a scalar (not a list or map).
    pub fn is_scalar(&self) -> bool {
        !matches!(self, Value::Seq(_) | Value::Map(_))
    }
}

/// Builds a map value from string pairs.
pub fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}
