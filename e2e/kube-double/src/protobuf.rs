//! Decoding of the Kubernetes protobuf envelope for the few bodies real clients send that
//! way: Secrets and ConfigMaps (Helm's release storage, via client-go typed clients) and
//! DeleteOptions. Answers are always JSON, which those clients accept.

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::api_status::ApiError;

/// The content type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\x00";

/// A protobuf body the double cannot read.
#[derive(Debug, thiserror::Error)]
#[error("protobuf body: {0}")]
pub struct DecodeError(String);

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

/// One field of a protobuf message.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| DecodeError("truncated varint".into()))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint too long".into()))
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = match tag & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.pos += 8;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| DecodeError("length overflow".into()))?;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or_else(|| DecodeError("truncated field".into()))?;
                let bytes = &self.buf[self.pos..end];
                self.pos = end;
                Field::Bytes(bytes)
            }
            5 => {
                self.pos += 4;
                Field::Fixed
            }
            other => return Err(DecodeError(format!("unsupported wire type {other}"))),
        };
        if self.pos > self.buf.len() {
            return Err(DecodeError("truncated field".into()));
        }
        Ok(Some((tag >> 3, field)))
    }
}

fn string(bytes: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| DecodeError("invalid UTF-8 in a string field".into()))
}

/// A `map<string, string>` or `map<string, bytes>` entry.
fn map_entry(bytes: &[u8]) -> Result<(String, Vec<u8>), DecodeError> {
    let mut r = Reader::new(bytes);
    let (mut k, mut v) = (String::new(), Vec::new());
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(b)) => k = string(b)?,
            (2, Field::Bytes(b)) => v = b.to_vec(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn time(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut secs = 0i64;
    while let Some((n, f)) = r.next()? {
        if let (1, Field::Varint(v)) = (n, f) {
            secs = v as i64;
        }
    }
    Ok(
        chrono::DateTime::from_timestamp(secs, 0).map_or(Value::Null, |t| {
            json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }),
    )
}

fn owner_reference(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut m = Map::new();
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                m.insert("kind".into(), json!(string(b)?));
            }
            (3, Field::Bytes(b)) => {
                m.insert("name".into(), json!(string(b)?));
            }
            (4, Field::Bytes(b)) => {
                m.insert("uid".into(), json!(string(b)?));
            }
            (5, Field::Bytes(b)) => {
                m.insert("apiVersion".into(), json!(string(b)?));
            }
            (6, Field::Varint(v)) => {
                m.insert("controller".into(), json!(v != 0));
            }
            (7, Field::Varint(v)) => {
                m.insert("blockOwnerDeletion".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn object_meta(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut m = Map::new();
    let (mut labels, mut annotations, mut owners, mut finalizers) =
        (Map::new(), Map::new(), Vec::new(), Vec::new());
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                m.insert("name".into(), json!(string(b)?));
            }
            (2, Field::Bytes(b)) => {
                m.insert("generateName".into(), json!(string(b)?));
            }
            (3, Field::Bytes(b)) => {
                m.insert("namespace".into(), json!(string(b)?));
            }
            (5, Field::Bytes(b)) => {
                m.insert("uid".into(), json!(string(b)?));
            }
            (6, Field::Bytes(b)) => {
                m.insert("resourceVersion".into(), json!(string(b)?));
            }
            (7, Field::Varint(v)) => {
                m.insert("generation".into(), json!(v as i64));
            }
            (8, Field::Bytes(b)) => {
                m.insert("creationTimestamp".into(), time(b)?);
            }
            (11, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                labels.insert(k, json!(string(&v)?));
            }
            (12, Field::Bytes(b)) => {
                let (k, v) = map_entry(b)?;
                annotations.insert(k, json!(string(&v)?));
            }
            (13, Field::Bytes(b)) => owners.push(owner_reference(b)?),
            (14, Field::Bytes(b)) => finalizers.push(json!(string(b)?)),
            _ => {}
        }
    }
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !owners.is_empty() {
        m.insert("ownerReferences".into(), Value::Array(owners));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

/// Unwrap the `k8s\0` envelope: (apiVersion, kind, raw message).
fn envelope(body: &[u8]) -> Result<(String, String, &[u8]), DecodeError> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| DecodeError("missing the k8s protobuf prefix".into()))?;
    let mut r = Reader::new(inner);
    let (mut api_version, mut kind, mut raw): (String, String, &[u8]) =
        (String::new(), String::new(), &[]);
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                let mut t = Reader::new(tm);
                while let Some((tn, tf)) = t.next()? {
                    match (tn, tf) {
                        (1, Field::Bytes(b)) => api_version = string(b)?,
                        (2, Field::Bytes(b)) => kind = string(b)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    Ok((api_version, kind, raw))
}

/// Decode a protobuf Secret or ConfigMap into its JSON form.
///
/// # Errors
/// 415 for other kinds, 400 for malformed bodies.
pub fn decode_object(body: &[u8]) -> Result<Value, ApiError> {
    let (api_version, kind, raw) = envelope(body)?;
    let b64 = |b: &[u8]| json!(base64::engine::general_purpose::STANDARD.encode(b));
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let mut r = Reader::new(raw);
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    match kind.as_str() {
        "Secret" => {
            while let Some((n, f)) = r.next()? {
                match (n, f) {
                    (1, Field::Bytes(b)) => {
                        obj.insert("metadata".into(), object_meta(b)?);
                    }
                    (2, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b)?;
                        data.insert(k, b64(&v));
                    }
                    (3, Field::Bytes(b)) => {
                        obj.insert("type".into(), json!(string(b)?));
                    }
                    (4, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b)?;
                        string_data.insert(k, json!(string(&v)?));
                    }
                    (5, Field::Varint(v)) => {
                        obj.insert("immutable".into(), json!(v != 0));
                    }
                    _ => {}
                }
            }
        }
        "ConfigMap" => {
            while let Some((n, f)) = r.next()? {
                match (n, f) {
                    (1, Field::Bytes(b)) => {
                        obj.insert("metadata".into(), object_meta(b)?);
                    }
                    (2, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b)?;
                        data.insert(k, json!(string(&v)?));
                    }
                    (3, Field::Bytes(b)) => {
                        let (k, v) = map_entry(b)?;
                        binary.insert(k, b64(&v));
                    }
                    (4, Field::Varint(v)) => {
                        obj.insert("immutable".into(), json!(v != 0));
                    }
                    _ => {}
                }
            }
        }
        _ => return Err(ApiError::unsupported_media_type(CONTENT_TYPE)),
    }
    for (k, m) in [
        ("data", data),
        ("binaryData", binary),
        ("stringData", string_data),
    ] {
        if !m.is_empty() {
            obj.insert(k.into(), Value::Object(m));
        }
    }
    Ok(Value::Object(obj))
}

/// Decode protobuf DeleteOptions into their JSON form.
///
/// # Errors
/// 400 for malformed bodies.
pub fn decode_delete_options(body: &[u8]) -> Result<Value, ApiError> {
    let (_, _, raw) = envelope(body)?;
    let mut r = Reader::new(raw);
    let mut m = Map::new();
    let mut dry_run = Vec::new();
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Varint(v)) => {
                m.insert("gracePeriodSeconds".into(), json!(v as i64));
            }
            (2, Field::Bytes(b)) => {
                let mut p = Reader::new(b);
                let mut pre = Map::new();
                while let Some((pn, pf)) = p.next()? {
                    match (pn, pf) {
                        (1, Field::Bytes(x)) => {
                            pre.insert("uid".into(), json!(string(x)?));
                        }
                        (2, Field::Bytes(x)) => {
                            pre.insert("resourceVersion".into(), json!(string(x)?));
                        }
                        _ => {}
                    }
                }
                m.insert("preconditions".into(), Value::Object(pre));
            }
            (3, Field::Varint(v)) => {
                m.insert("orphanDependents".into(), json!(v != 0));
            }
            (4, Field::Bytes(b)) => {
                m.insert("propagationPolicy".into(), json!(string(b)?));
            }
            (5, Field::Bytes(b)) => dry_run.push(json!(string(b)?)),
            _ => {}
        }
    }
    if !dry_run.is_empty() {
        m.insert("dryRun".into(), Value::Array(dry_run));
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, n: u8, bytes: &[u8]) {
        out.push((n << 3) | 2);
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }

    fn entry(k: &str, v: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        field(&mut e, 1, k.as_bytes());
        field(&mut e, 2, v);
        e
    }

    #[test]
    fn secret_round_trips_to_json() {
        let mut meta = Vec::new();
        field(&mut meta, 1, b"sh.helm.release.v1.web.v1");
        field(&mut meta, 11, &entry("owner", b"helm"));
        let mut secret = Vec::new();
        field(&mut secret, 1, &meta);
        field(&mut secret, 2, &entry("release", b"abc"));
        field(&mut secret, 3, b"helm.sh/release.v1");
        let mut tm = Vec::new();
        field(&mut tm, 1, b"v1");
        field(&mut tm, 2, b"Secret");
        let mut unknown = Vec::new();
        field(&mut unknown, 1, &tm);
        field(&mut unknown, 2, &secret);
        let mut body = MAGIC.to_vec();
        body.extend(unknown);
        let v = decode_object(&body).expect("decodes");
        assert_eq!(v["metadata"]["name"], "sh.helm.release.v1.web.v1");
        assert_eq!(v["metadata"]["labels"]["owner"], "helm");
        assert_eq!(v["data"]["release"], "YWJj");
        assert_eq!(v["type"], "helm.sh/release.v1");
    }

    #[test]
    fn garbage_is_a_bad_request() {
        assert_eq!(decode_object(b"nope").expect_err("no magic").code, 400);
        assert_eq!(
            decode_object(b"k8s\x00\x0a\xff")
                .expect_err("truncated")
                .code,
            400
        );
    }
}
