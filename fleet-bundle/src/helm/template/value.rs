//! Go's values on minijinja's value model: kinds, truthiness, `%v` printing, equality.
//!
//! [`minijinja::Value`] carries every template value. Go's types map onto it so:
//!
//! | Go                         | minijinja                                   |
//! |----------------------------|---------------------------------------------|
//! | invalid (no value)         | `Value::UNDEFINED`                          |
//! | `nil` interface            | `Value::from(())` (none)                    |
//! | `bool`, `string`, `[]byte` | bool, string, bytes                         |
//! | `int`                      | an `i64` number                             |
//! | `int64` (`--set`, math)    | an `i128` number (the only way it is made)  |
//! | `float64` (values files)   | an `f64` number                             |
//! | `[]interface{}`            | a sequence                                  |
//! | `map[string]interface{}`   | a [`GoMap`] object (shared, mutable)        |
//! | Helm's structs             | a [`GoStruct`] object                       |
//!
//! Maps are objects rather than minijinja maps because Go maps are references: Sprig's
//! `set`, `unset` and `merge` change them in place and every holder sees the change.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use minijinja::value::ValueKind;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use minijinja::Value;

/// Go's `map[string]interface{}`: keys kept sorted, as Go prints and ranges them.
#[derive(Debug, Default)]
pub struct GoMap {
    entries: Mutex<BTreeMap<String, Value>>,
}

impl GoMap {
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Value>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.lock().get(key).cloned()
    }

    pub fn set(&self, key: String, value: Value) {
        self.lock().insert(key, value);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// A copy of the entries (values are shared, as in a Go map copy).
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.lock().clone()
    }
}

impl Object for GoMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        key.as_str().and_then(|k| self.get(k))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.lock()
                .keys()
                .map(|k| Value::from(k.as_str()))
                .collect(),
        )
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.len())
    }
}

/// The first of the 256 private-use characters that stand for the bytes of a Go string
/// that are not UTF-8 (see [`go_string`]).
const RAW_BYTE: u32 = 0x10_FF00;

/// A Go string made of `bytes`. Go strings are bytes, Rust strings UTF-8: a byte that
/// is not part of valid UTF-8 (a binary chart file read with `.Files.Get`) is kept as
/// the private-use character U+10FF00 + byte, so functions that work on bytes
/// (`b64enc`, `sha256sum`, `len`) see the file's exact bytes (see [`go_bytes`]).
pub fn go_string(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push(char::from_u32(RAW_BYTE + u32::from(*b)).unwrap_or('\u{FFFD}'));
        }
    }
    out
}

/// The bytes of a Go string made by [`go_string`].
pub fn go_bytes(s: &str) -> std::borrow::Cow<'_, [u8]> {
    if !s.chars().any(|c| u32::from(c) >= RAW_BYTE) {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u32::from(c).checked_sub(RAW_BYTE) {
            Some(b) => out.push(b as u8),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Makes a Go map value.
pub fn new_map(entries: BTreeMap<String, Value>) -> Value {
    Value::from_object(GoMap {
        entries: Mutex::new(entries),
    })
}

/// The map behind a value, if it is one.
pub fn as_map(v: &Value) -> Option<Arc<GoMap>> {
    v.downcast_object::<GoMap>()
}

/// Fields and methods of one of Helm's Go structs (`.Capabilities`, `.Files`, `.Chart`).
pub trait GoFields: fmt::Debug + Send + Sync {
    /// The Go type as `%T` prints it.
    fn type_name(&self) -> &'static str;
    /// A field or method by name; `None` when the type has no such member.
    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// How `%v` prints it.
    fn display(&self) -> String;
    /// What `json.Marshal` makes of it.
    fn to_json(&self) -> serde_json::Value;
    /// For Go map types (Helm's `.Files`): the entries `range` and `len` see.
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }
    /// Go's truth of the value: structs are always true; numbers of these types are
    /// true unless zero.
    fn truth(&self) -> bool {
        true
    }
    /// The parts of a `complex128`.
    fn complex(&self) -> Option<(f64, f64)> {
        None
    }
    /// For Go slice types (`.Capabilities.APIVersions`): the elements, which `len`,
    /// `index`, `range` and every list function see.
    fn items(&self) -> Option<Vec<Value>> {
        None
    }
}

/// Go's `complex128`: only a template's constants make one (`1+2i`, `3i`, `0i`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Complex {
    pub re: f64,
    pub im: f64,
}

impl GoFields for Complex {
    fn type_name(&self) -> &'static str {
        "complex128"
    }

    fn field(&self, _: &str, _: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    /// `%v`: `(1+2i)`, the imaginary part always signed.
    fn display(&self) -> String {
        let im = format_float_g(self.im);
        let sign = if im.starts_with(['-', '+']) { "" } else { "+" };
        format!("({}{sign}{im}i)", format_float_g(self.re))
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn truth(&self) -> bool {
        self.re != 0.0 || self.im != 0.0
    }

    fn complex(&self) -> Option<(f64, f64)> {
        Some((self.re, self.im))
    }
}

/// Makes a `complex128` value.
pub fn complex(re: f64, im: f64) -> Value {
    new_struct(Complex { re, im })
}

/// The parts of a `complex128` value.
pub fn as_complex(v: &Value) -> Option<(f64, f64)> {
    v.downcast_object_ref::<GoStruct>()
        .and_then(|s| s.0.complex())
}

/// A Go struct value exposed to templates.
#[derive(Debug)]
pub struct GoStruct(pub Box<dyn GoFields>);

impl Object for GoStruct {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        if self.0.items().is_some() {
            ObjectRepr::Seq
        } else {
            ObjectRepr::Plain
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.items()?.get(key.as_usize()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.0.items() {
            Some(items) => Enumerator::Seq(items.len()),
            None => Enumerator::NonEnumerable,
        }
    }
}

pub fn new_struct(fields: impl GoFields + 'static) -> Value {
    Value::from_object(GoStruct(Box::new(fields)))
}

/// Go's reflect kinds as far as templates can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Nil,
    Bool,
    Int,
    Int64,
    Float,
    String,
    Bytes,
    Slice,
    Map,
    Struct,
}

pub fn kind(v: &Value) -> Kind {
    match v.kind() {
        ValueKind::Undefined | ValueKind::Invalid => Kind::Invalid,
        ValueKind::None => Kind::Nil,
        ValueKind::Bool => Kind::Bool,
        ValueKind::Number => {
            if !v.is_integer() {
                Kind::Float
            } else if is_int64(v) {
                Kind::Int64
            } else {
                Kind::Int
            }
        }
        ValueKind::String => Kind::String,
        ValueKind::Bytes => Kind::Bytes,
        ValueKind::Seq | ValueKind::Iterable => Kind::Slice,
        ValueKind::Map => {
            if as_map(v).is_some() {
                Kind::Map
            } else {
                Kind::Struct
            }
        }
        _ => {
            if v.downcast_object_ref::<GoStruct>().is_some() {
                Kind::Struct
            } else {
                Kind::Map
            }
        }
    }
}

/// Makes a Go `int64`.
pub fn int64(i: i64) -> Value {
    Value::from(i128::from(i))
}

/// Is this integer an `int64` (stored as `i128`)? Found by asking serde which integer
/// width the value serializes as, since minijinja does not expose its representation.
fn is_int64(v: &Value) -> bool {
    use serde::Serialize;
    v.serialize(width_probe::Probe).unwrap_or(false)
}

mod width_probe {
    //! A serializer that only answers "was this an i128?".
    use serde::ser::{Impossible, Serializer};

    #[derive(Debug)]
    pub struct NotANumber;
    impl std::fmt::Display for NotANumber {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("not a number")
        }
    }
    impl std::error::Error for NotANumber {}
    impl serde::ser::Error for NotANumber {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            NotANumber
        }
    }

    pub struct Probe;

    macro_rules! no {
        ($($name:ident: $t:ty),*) => {
            $(fn $name(self, _: $t) -> Result<bool, NotANumber> { Ok(false) })*
        };
    }

    impl Serializer for Probe {
        type Ok = bool;
        type Error = NotANumber;
        type SerializeSeq = Impossible<bool, NotANumber>;
        type SerializeTuple = Impossible<bool, NotANumber>;
        type SerializeTupleStruct = Impossible<bool, NotANumber>;
        type SerializeTupleVariant = Impossible<bool, NotANumber>;
        type SerializeMap = Impossible<bool, NotANumber>;
        type SerializeStruct = Impossible<bool, NotANumber>;
        type SerializeStructVariant = Impossible<bool, NotANumber>;

        no!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
            serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_f32: f32,
            serialize_f64: f64, serialize_char: char, serialize_str: &str, serialize_bytes: &[u8],
            serialize_unit_struct: &'static str);

        fn serialize_i128(self, _: i128) -> Result<bool, NotANumber> {
            Ok(true)
        }
        fn serialize_none(self) -> Result<bool, NotANumber> {
            Ok(false)
        }
        fn serialize_some<T: ?Sized + serde::Serialize>(self, _: &T) -> Result<bool, NotANumber> {
            Ok(false)
        }
        fn serialize_unit(self) -> Result<bool, NotANumber> {
            Ok(false)
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<bool, NotANumber> {
            Ok(false)
        }
        fn serialize_newtype_struct<T: ?Sized + serde::Serialize>(
            self,
            _: &'static str,
            _: &T,
        ) -> Result<bool, NotANumber> {
            Ok(false)
        }
        fn serialize_newtype_variant<T: ?Sized + serde::Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<bool, NotANumber> {
            Ok(false)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotANumber> {
            Err(NotANumber)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotANumber> {
            Err(NotANumber)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, NotANumber> {
            Err(NotANumber)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, NotANumber> {
            Err(NotANumber)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotANumber> {
            Err(NotANumber)
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, NotANumber> {
            Err(NotANumber)
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, NotANumber> {
            Err(NotANumber)
        }
    }
}

/// The integer inside a Go integer value.
pub fn as_int(v: &Value) -> Option<i64> {
    if v.is_integer() {
        i64::try_from(v.clone()).ok()
    } else {
        None
    }
}

/// The number as `float64` (integers converted).
pub fn as_float(v: &Value) -> Option<f64> {
    if v.is_number() {
        f64::try_from(v.clone()).ok()
    } else {
        None
    }
}

/// Go's truth: zero values are false, nil is false, empty collections are false.
pub fn truth(v: &Value) -> bool {
    match kind(v) {
        Kind::Invalid | Kind::Nil => false,
        Kind::Bool => v.is_true(),
        Kind::Int | Kind::Int64 => as_int(v) != Some(0),
        Kind::Float => as_float(v).is_some_and(|f| f != 0.0),
        Kind::String | Kind::Bytes | Kind::Slice => v.len().unwrap_or(0) > 0,
        Kind::Map => as_map(v).is_some_and(|m| !m.is_empty()),
        Kind::Struct => v
            .downcast_object_ref::<GoStruct>()
            .is_none_or(|s| s.0.truth()),
    }
}

/// `%T` of the value.
pub fn type_name(v: &Value) -> String {
    if let Some(s) = v.downcast_object_ref::<GoStruct>() {
        return s.0.type_name().into();
    }
    match kind(v) {
        Kind::Invalid | Kind::Nil => "<nil>".into(),
        Kind::Bool => "bool".into(),
        Kind::Int => "int".into(),
        Kind::Int64 => "int64".into(),
        Kind::Float => "float64".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "[]uint8".into(),
        Kind::Slice => "[]interface {}".into(),
        Kind::Map => "map[string]interface {}".into(),
        Kind::Struct => v
            .downcast_object_ref::<GoStruct>()
            .map_or("struct", |s| s.0.type_name())
            .into(),
    }
}

/// `reflect.Kind.String()` of the value (Sprig's `kindOf`).
pub fn kind_name(v: &Value) -> &'static str {
    match kind(v) {
        Kind::Invalid | Kind::Nil => "invalid",
        Kind::Bool => "bool",
        Kind::Int => "int",
        Kind::Int64 => "int64",
        Kind::Float => "float64",
        Kind::String => "string",
        Kind::Bytes | Kind::Slice => "slice",
        Kind::Map => "map",
        Kind::Struct => {
            if v.downcast_object_ref::<GoStruct>()
                .is_some_and(|s| s.0.type_name().starts_with('*'))
            {
                "ptr"
            } else {
                "struct"
            }
        }
    }
}

/// The items of a slice value.
pub fn as_list(v: &Value) -> Option<Vec<Value>> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => v.try_iter().ok().map(Iterator::collect),
        _ => None,
    }
}

/// `fmt.Sprint` of one operand (`%v`).
pub fn fmt_v(v: &Value) -> String {
    let mut s = String::new();
    write_v(v, &mut s);
    s
}

pub fn write_v(v: &Value, out: &mut String) {
    match kind(v) {
        Kind::Invalid | Kind::Nil => out.push_str("<nil>"),
        Kind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        Kind::Int | Kind::Int64 => out.push_str(&as_int(v).unwrap_or(0).to_string()),
        Kind::Float => out.push_str(&format_float_g(as_float(v).unwrap_or(0.0))),
        Kind::String => out.push_str(v.as_str().unwrap_or("")),
        Kind::Bytes => {
            out.push('[');
            let bytes = v.as_bytes().unwrap_or(&[]);
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(&b.to_string());
            }
            out.push(']');
        }
        Kind::Slice => {
            out.push('[');
            for (i, item) in as_list(v).unwrap_or_default().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(item, out);
            }
            out.push(']');
        }
        Kind::Map => {
            out.push_str("map[");
            if let Some(m) = as_map(v) {
                for (i, (k, item)) in m.snapshot().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    write_v(item, out);
                }
            }
            out.push(']');
        }
        Kind::Struct => {
            if let Some(s) = v.downcast_object_ref::<GoStruct>() {
                out.push_str(&s.0.display());
            }
        }
    }
}

/// `strconv.FormatFloat(f, 'g', -1, 64)`, which is also `%v` of a `float64`: the
/// shortest digits that round-trip, in exponent form when the decimal exponent is
/// below -4 or at least 6 (Go's switch point for the shortest form: `1e+06`).
pub fn format_float_g(f: f64) -> String {
    format_float_shortest(f, 6)
}

/// Shortest round-trip digits, switching to exponent form when the decimal exponent is
/// below -4 or at least `eprec` (6 for `%v`/`'g'`, 21 for JSON-like output).
pub fn format_float_shortest(f: f64, eprec: i32) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let (neg, digits, exp) = shortest_digits(f);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else {
        out.push_str(&fixed_from_digits(&digits, exp));
    }
    out
}

/// Decimal digits and exponent (of the first digit) of the shortest round-trip form.
pub fn shortest_digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    (
        f.is_sign_negative(),
        digits.to_string(),
        exp.parse().unwrap_or(0),
    )
}

/// Renders digits `d1d2d3...` with exponent `exp` (value d1.d2d3 × 10^exp) in plain form.
pub fn fixed_from_digits(digits: &str, exp: i32) -> String {
    let mut out = String::new();
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// `reflect.DeepEqual` for template values (what Sprig's `has`, `uniq`, `without` use).
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return matches!(
            (ka, kb),
            (Kind::Invalid | Kind::Nil, Kind::Invalid | Kind::Nil)
        );
    }
    match ka {
        Kind::Invalid | Kind::Nil => true,
        Kind::Bool | Kind::String | Kind::Bytes => a == b,
        Kind::Int | Kind::Int64 => as_int(a) == as_int(b),
        Kind::Float => as_float(a) == as_float(b),
        Kind::Slice => {
            let (la, lb) = (
                as_list(a).unwrap_or_default(),
                as_list(b).unwrap_or_default(),
            );
            la.len() == lb.len() && la.iter().zip(&lb).all(|(x, y)| deep_equal(x, y))
        }
        Kind::Map => match (as_map(a), as_map(b)) {
            (Some(x), Some(y)) => {
                if Arc::ptr_eq(&x, &y) {
                    return true;
                }
                let (mx, my) = (x.snapshot(), y.snapshot());
                mx.len() == my.len()
                    && mx
                        .iter()
                        .all(|(k, v)| my.get(k).is_some_and(|w| deep_equal(v, w)))
            }
            _ => false,
        },
        Kind::Struct => fmt_v(a) == fmt_v(b),
    }
}

/// Template values from JSON: objects become [`GoMap`]s, floats `float64`, integers
/// `int64` (as Helm's `--set` makes them).
pub fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64().filter(|_| !n.is_f64()) {
                int64(i)
            } else if let Some(u) = n.as_u64().filter(|_| !n.is_f64()) {
                Value::from(i128::from(u))
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::from(a.iter().map(from_json).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => {
            new_map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Why a value has no JSON form.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("json: unsupported value: {0}")]
pub struct JsonError(pub String);

/// What `json.Marshal` sees: maps with sorted keys, `[]byte` as base64, numbers typed.
pub fn to_json(v: &Value) -> Result<serde_json::Value, JsonError> {
    Ok(match kind(v) {
        Kind::Invalid | Kind::Nil => serde_json::Value::Null,
        Kind::Bool => serde_json::Value::Bool(v.is_true()),
        Kind::Int | Kind::Int64 => serde_json::Value::from(as_int(v).unwrap_or(0)),
        Kind::Float => {
            let f = as_float(v).unwrap_or(0.0);
            serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .ok_or_else(|| JsonError(format_float_g(f)))?
        }
        Kind::String => serde_json::Value::String(v.as_str().unwrap_or("").to_string()),
        Kind::Bytes => {
            use base64::Engine;
            serde_json::Value::String(
                base64::engine::general_purpose::STANDARD.encode(v.as_bytes().unwrap_or(&[])),
            )
        }
        Kind::Slice => serde_json::Value::Array(
            as_list(v)
                .unwrap_or_default()
                .iter()
                .map(to_json)
                .collect::<Result<_, _>>()?,
        ),
        Kind::Map => {
            let mut m = serde_json::Map::new();
            if let Some(map) = as_map(v) {
                for (k, item) in map.snapshot() {
                    m.insert(k, to_json(&item)?);
                }
            }
            serde_json::Value::Object(m)
        }
        Kind::Struct => v
            .downcast_object_ref::<GoStruct>()
            .map_or(serde_json::Value::Null, |s| s.0.to_json()),
    })
}

/// A deep copy: maps and lists are new, scalars shared (Sprig's `deepCopy`).
pub fn deep_copy(v: &Value) -> Value {
    match kind(v) {
        Kind::Map => as_map(v).map_or_else(
            || v.clone(),
            |m| {
                new_map(
                    m.snapshot()
                        .iter()
                        .map(|(k, x)| (k.clone(), deep_copy(x)))
                        .collect(),
                )
            },
        ),
        Kind::Slice => Value::from(
            as_list(v)
                .unwrap_or_default()
                .iter()
                .map(deep_copy)
                .collect::<Vec<_>>(),
        ),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_strings_keep_bytes_that_are_not_utf8() {
        let bytes = b"BZh9\xff\x00caf\xc3\xa9\xe9";
        let s = go_string(bytes);
        assert!(s.starts_with("BZh9") && s.contains("café"));
        assert_eq!(&*go_bytes(&s), bytes);
        assert!(matches!(
            go_bytes("plain"),
            std::borrow::Cow::Borrowed(b"plain")
        ));
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float_g(1_000_000.0), "1e+06");
        assert_eq!(format_float_g(100_000.0), "100000");
        assert_eq!(format_float_g(1.5), "1.5");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(0.00001), "1e-05");
        assert_eq!(format_float_g(123_456_789.5), "1.234567895e+08");
        assert_eq!(format_float_g(3.0), "3");
        assert_eq!(format_float_g(-2.25), "-2.25");
    }

    #[test]
    fn int_widths_are_told_apart() {
        assert_eq!(kind(&Value::from(3)), Kind::Int);
        assert_eq!(kind(&int64(3)), Kind::Int64);
        assert_eq!(kind(&Value::from(3.0)), Kind::Float);
        assert_eq!(type_name(&int64(3)), "int64");
    }

    #[test]
    fn truth_follows_go() {
        assert!(!truth(&Value::UNDEFINED));
        assert!(!truth(&Value::from(())));
        assert!(!truth(&Value::from(0.0)));
        assert!(!truth(&Value::from("")));
        assert!(!truth(&new_map(BTreeMap::new())));
        assert!(truth(&Value::from(vec![Value::from(0)])));
    }

    #[test]
    fn maps_print_sorted() {
        let m = from_json(&serde_json::json!({"b": 1.0, "a": [1, "x"]}));
        assert_eq!(fmt_v(&m), "map[a:[1 x] b:1]");
    }
}
