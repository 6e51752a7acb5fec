//! Field names matched as Go's `encoding/json` matches them.
//!
//! kustomize turns a kustomization into JSON and decodes it with `encoding/json`
//! (unknown fields disallowed). A JSON key picks the struct field whose name it equals,
//! or else the one it equals ignoring case, so `fieldPath`, `fieldpath` and `FIELDPATH`
//! set the same field; a key matching no field is still refused, and when two keys set
//! one field the later wins. [`Folded`] is a deserializer over a parsed YAML value that
//! gives serde's derived structs their keys renamed that way; maps that are data
//! (labels, annotations, embedded manifests) keep their keys as written, since only a
//! struct's known field names are folded to.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_yaml::Value;

/// A YAML value read with Go's case-insensitive field matching.
pub struct Folded(pub Value);

/// Decodes `T` from `value` with Go's field matching. An error names the path of the
/// field it is about, as serde_yaml does (`replicas[0].count: invalid type …`).
pub fn from_value<T: de::DeserializeOwned>(value: Value) -> Result<T, serde_yaml::Error> {
    T::deserialize(Folded(value)).map_err(|e| {
        let msg = e.to_string();
        match msg.strip_prefix(MARK).and_then(|m| m.split_once(MARK)) {
            Some((path, cause)) => {
                let path = path.strip_prefix('.').unwrap_or(path);
                de::Error::custom(format!("{path}: {cause}"))
            }
            None => e,
        }
    })
}

/// Brackets the path while an error travels up (`MARK path MARK cause`), so each level
/// can put its own segment in front; [`from_value`] turns it into `path: cause`.
const MARK: char = '\u{1}';

/// `err`, raised while decoding the value under `segment` (`.key` or `[i]`), with that
/// segment in front of its path.
fn under(segment: String, err: serde_yaml::Error) -> serde_yaml::Error {
    let msg = err.to_string();
    let (path, cause) = match msg.strip_prefix(MARK).and_then(|m| m.split_once(MARK)) {
        Some((path, cause)) => (format!("{segment}{path}"), cause.to_string()),
        None => (segment, msg),
    };
    de::Error::custom(format!("{MARK}{path}{MARK}{cause}"))
}

/// The keys of a mapping decoded into a struct with these `fields`: each key becomes the
/// field it names, exactly or ignoring ASCII case; a field named twice keeps the later.
fn fold_keys(map: serde_yaml::Mapping, fields: &[&str]) -> Vec<(Value, Value)> {
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(map.len());
    for (key, value) in map {
        let key = match key {
            Value::String(s) if !fields.contains(&s.as_str()) => {
                match fields.iter().find(|f| f.eq_ignore_ascii_case(&s)) {
                    Some(field) => Value::String((*field).to_string()),
                    None => Value::String(s),
                }
            }
            other => other,
        };
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    out
}

impl<'de> Deserializer<'de> for Folded {
    type Error = serde_yaml::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Sequence(items) => visitor.visit_seq(Items::new(items)),
            Value::Mapping(map) => visitor.visit_map(Entries::new(map.into_iter().collect())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Folded(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Mapping(map) => visitor.visit_map(Entries::new(fold_keys(map, fields))),
            other => Folded(other).deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct Items {
    items: std::vec::IntoIter<Value>,
    index: usize,
}

impl Items {
    fn new(items: Vec<Value>) -> Self {
        Items {
            items: items.into_iter(),
            index: 0,
        }
    }
}

impl<'de> SeqAccess<'de> for Items {
    type Error = serde_yaml::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        seed.deserialize(Folded(item))
            .map(Some)
            .map_err(|e| under(format!("[{index}]"), e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries {
    entries: std::vec::IntoIter<(Value, Value)>,
    /// The value of the key last read, and that key as a path segment.
    value: Option<(Value, String)>,
}

impl Entries {
    fn new(entries: Vec<(Value, Value)>) -> Self {
        Entries {
            entries: entries.into_iter(),
            value: None,
        }
    }
}

/// `key` as the segment of a path: a string as it is, anything else as YAML prints it.
fn segment(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
    }
}

impl<'de> MapAccess<'de> for Entries {
    type Error = serde_yaml::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some((value, segment(&key)));
                seed.deserialize(Folded(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (value, key) = self.value.take().unwrap_or((Value::Null, String::new()));
        seed.deserialize(Folded(value))
            .map_err(|e| under(format!(".{key}"), e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Ref {
        field_path: Option<String>,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
    }

    fn read(text: &str) -> Result<Ref, serde_yaml::Error> {
        from_value(serde_yaml::from_str(text).unwrap())
    }

    #[test]
    fn keys_match_fields_ignoring_case() {
        assert_eq!(
            read("fieldpath: a").unwrap().field_path.as_deref(),
            Some("a")
        );
        assert_eq!(
            read("FieldPath: a").unwrap().field_path.as_deref(),
            Some("a")
        );
        // Two keys for one field: the later wins, as in Go.
        assert_eq!(
            read("fieldPath: a\nfieldpath: b")
                .unwrap()
                .field_path
                .as_deref(),
            Some("b")
        );
    }

    #[test]
    fn data_keys_keep_their_case_and_unknown_keys_are_refused() {
        let r = read("labels: {Fieldpath: x}").unwrap();
        assert_eq!(r.labels.keys().collect::<Vec<_>>(), ["Fieldpath"]);
        let err = read("fieldPth: a").unwrap_err().to_string();
        assert!(err.contains("unknown field `fieldPth`"), "{err}");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        refs: Vec<Ref>,
    }

    #[test]
    fn errors_name_the_path_of_the_field() {
        let value = serde_yaml::from_str("refs:\n- fieldPath: a\n- fieldPath: [x]\n").unwrap();
        let err = from_value::<Outer>(value).unwrap_err().to_string();
        assert!(err.starts_with("refs[1].fieldPath: invalid type"), "{err}");
    }
}
