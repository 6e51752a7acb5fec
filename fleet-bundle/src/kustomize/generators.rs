//! `configMapGenerator` and `secretGenerator`, and the content hash kustomize appends to
//! generated names.
//!
//! Data comes from `literals` (`key=value`, surrounding quotes removed), `files` (`path` or
//! `key=path`) and `envs` (`KEY=VALUE` lines). Secrets hold base64; ConfigMaps hold text,
//! or `binaryData` for files that are not UTF-8. The hash is kustomize's: SHA-256 of a
//! canonical JSON encoding of kind, name and data, first ten hex digits with some letters
//! swapped so the suffix never reads as a number or a word.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::KustomizeError;
use super::kustomization::{GeneratorArgs, GeneratorOptions};
use super::resource::{Behavior, Resource};
use super::target::{absorb_generated, Accumulator, Context};
use super::value::{Mapping, Value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ConfigMap,
    Secret,
}

/// Runs this kustomization's generators, adding or merging into `acc`.
pub fn run(ctx: &Context<'_>, acc: &mut Accumulator) -> Result<(), KustomizeError> {
    for args in &ctx.k.config_map_generator {
        let r = generate(ctx, args, Kind::ConfigMap)?;
        absorb_generated(acc, r, ctx.file)?;
    }
    for args in &ctx.k.secret_generator {
        let r = generate(ctx, args, Kind::Secret)?;
        absorb_generated(acc, r, ctx.file)?;
    }
    super::helmcharts::run(ctx, acc)
}

fn field(kind: Kind) -> &'static str {
    match kind {
        Kind::ConfigMap => "configMapGenerator",
        Kind::Secret => "secretGenerator",
    }
}

fn generate(
    ctx: &Context<'_>,
    args: &GeneratorArgs,
    kind: Kind,
) -> Result<Resource, KustomizeError> {
    let f = field(kind);
    let name = args
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| KustomizeError::transform(ctx.file, f, "a generator needs a name"))?;
    let options = merge_options(args.options.as_ref(), ctx.k.generator_options.as_ref());
    let behavior = match args.behavior.as_deref() {
        None | Some("") | Some("create") => Behavior::Create,
        Some("merge") => Behavior::Merge,
        Some("replace") => Behavior::Replace,
        Some(other) => {
            return Err(KustomizeError::transform(
                ctx.file,
                f,
                format!("{name}: unknown behavior {other:?} (use create, merge or replace)"),
            ))
        }
    };
    let mut text_data: Vec<(String, String)> = Vec::new();
    let mut binary_data: Vec<(String, Vec<u8>)> = Vec::new();
    let mut env_files: Vec<&String> = args.envs.iter().collect();
    if let Some(env) = &args.env {
        env_files.push(env);
    }
    for env in env_files {
        let (_, text) = ctx.read(env, f)?;
        for pair in parse_env_file(&text)
            .map_err(|e| KustomizeError::transform(ctx.file, f, format!("{env}: {e}")))?
        {
            add_pair(&mut text_data, pair, ctx, f)?;
        }
    }
    for literal in &args.literals {
        let (key, value) = literal.split_once('=').ok_or_else(|| {
            KustomizeError::transform(
                ctx.file,
                f,
                format!("literal {literal:?} must be key=value"),
            )
        })?;
        add_pair(
            &mut text_data,
            (key.to_string(), strip_quotes(value).to_string()),
            ctx,
            f,
        )?;
    }
    for file in &args.files {
        let (key, path) = match file.split_once('=') {
            Some((k, p)) => (k.to_string(), p.to_string()),
            None => (
                std::path::Path::new(file)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                file.clone(),
            ),
        };
        let resolved = ctx.loader.resolve(ctx.dir, &path, ctx.file, f)?;
        if resolved.is_dir() {
            return Err(KustomizeError::transform(
                ctx.file,
                f,
                format!("{path} is a directory, not a file"),
            ));
        }
        let bytes = ctx.loader.read_bytes(&resolved)?;
        match String::from_utf8(bytes) {
            Ok(text) => add_pair(&mut text_data, (key, text), ctx, f)?,
            Err(e) if kind == Kind::ConfigMap => {
                if text_data.iter().any(|(k, _)| *k == key)
                    || binary_data.iter().any(|(k, _)| *k == key)
                {
                    return Err(KustomizeError::transform(
                        ctx.file,
                        f,
                        format!("key {key:?} appears twice"),
                    ));
                }
                binary_data.push((key, e.into_bytes()));
            }
            Err(e) => add_pair(
                &mut text_data,
                (key, String::from_utf8_lossy(e.as_bytes()).into_owned()),
                ctx,
                f,
            )?,
        }
    }
    let mut obj = Mapping::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert(
        "kind".into(),
        Value::String(match kind {
            Kind::ConfigMap => "ConfigMap".into(),
            Kind::Secret => "Secret".into(),
        }),
    );
    let mut meta = Mapping::new();
    meta.insert("name".into(), Value::String(name.clone()));
    if let Some(ns) = args.namespace.as_ref().filter(|n| !n.is_empty()) {
        meta.insert("namespace".into(), Value::String(ns.clone()));
    }
    if !options.labels.is_empty() {
        meta.insert("labels".into(), string_map(&options.labels));
    }
    if !options.annotations.is_empty() {
        meta.insert("annotations".into(), string_map(&options.annotations));
    }
    obj.insert("metadata".into(), Value::Map(meta));
    let engine = base64::engine::general_purpose::STANDARD;
    if !text_data.is_empty() || kind == Kind::Secret {
        let data: Mapping = text_data
            .into_iter()
            .map(|(k, v)| {
                let v = match kind {
                    Kind::ConfigMap => v,
                    Kind::Secret => engine.encode(v.as_bytes()),
                };
                (k, Value::String(v))
            })
            .collect();
        if !data.is_empty() {
            obj.insert("data".into(), Value::Map(data));
        }
    }
    if !binary_data.is_empty() {
        obj.insert(
            "binaryData".into(),
            Value::Map(
                binary_data
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(engine.encode(v))))
                    .collect(),
            ),
        );
    }
    if kind == Kind::Secret {
        obj.insert(
            "type".into(),
            Value::String(
                args.secret_type
                    .clone()
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "Opaque".into()),
            ),
        );
    }
    if options.immutable {
        obj.insert("immutable".into(), Value::Bool(true));
    }
    let mut r = Resource::new(
        Value::Map(obj),
        format!("{} ({f} {name})", ctx.file.display()),
    );
    r.needs_hash = !options.disable_hash;
    r.behavior = behavior;
    r.hash_option_explicit = options.hash_explicit;
    Ok(r)
}

fn add_pair(
    data: &mut Vec<(String, String)>,
    (key, value): (String, String),
    ctx: &Context<'_>,
    f: &'static str,
) -> Result<(), KustomizeError> {
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(KustomizeError::transform(
            ctx.file,
            f,
            format!("{key:?} is not a valid key name: it must consist of alphanumeric characters, '-', '_' or '.'"),
        ));
    }
    if data.iter().any(|(k, _)| *k == key) {
        return Err(KustomizeError::transform(
            ctx.file,
            f,
            format!("cannot add key {key:?}, another key by that name already exists"),
        ));
    }
    data.push((key, value));
    Ok(())
}

fn strip_quotes(s: &str) -> &str {
    if s.len() >= 2 {
        let b = s.as_bytes();
        if (b[0] == b'"' && b[s.len() - 1] == b'"') || (b[0] == b'\'' && b[s.len() - 1] == b'\'') {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// `KEY=VALUE` lines; blank lines and `#` comments are skipped.
fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = if i == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => {
                let value = std::env::var(trimmed).unwrap_or_default();
                out.push((trimmed.to_string(), value));
            }
        }
    }
    Ok(out)
}

struct EffectiveOptions {
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    disable_hash: bool,
    hash_explicit: bool,
    immutable: bool,
}

/// A generator's own options over the kustomization's `generatorOptions`.
fn merge_options(
    local: Option<&GeneratorOptions>,
    global: Option<&GeneratorOptions>,
) -> EffectiveOptions {
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut annotations: Vec<(String, String)> = Vec::new();
    for o in [global, local].into_iter().flatten() {
        for (k, v) in &o.labels.0 {
            labels.retain(|(e, _)| e != k);
            labels.push((k.clone(), v.clone()));
        }
        for (k, v) in &o.annotations.0 {
            annotations.retain(|(e, _)| e != k);
            annotations.push((k.clone(), v.clone()));
        }
    }
    let disable = local
        .and_then(|o| o.disable_name_suffix_hash)
        .or_else(|| global.and_then(|o| o.disable_name_suffix_hash));
    EffectiveOptions {
        labels,
        annotations,
        disable_hash: disable.unwrap_or(false),
        hash_explicit: disable.is_some(),
        immutable: local
            .and_then(|o| o.immutable)
            .or_else(|| global.and_then(|o| o.immutable))
            .unwrap_or(false),
    }
}

fn string_map(pairs: &[(String, String)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Applies a `merge` or `replace` generator to the existing resource.
pub fn combine(existing: &mut Resource, generated: Resource, behavior: Behavior) {
    for field in ["data", "binaryData"] {
        let new = generated.value.get_path(&[field]).cloned();
        let Some(obj) = existing.value.as_map_mut() else {
            return;
        };
        match behavior {
            Behavior::Replace => match new {
                Some(v) => {
                    obj.insert(field.into(), v);
                }
                None => {
                    obj.shift_remove(field);
                }
            },
            _ => {
                if let Some(Value::Map(new)) = new {
                    let slot = obj
                        .entry(field.to_string())
                        .or_insert_with(|| Value::Map(Mapping::new()));
                    if let Value::Map(old) = slot {
                        for (k, v) in new {
                            old.insert(k, v);
                        }
                    } else {
                        *slot = Value::Map(new);
                    }
                }
            }
        }
    }
    for field in ["labels", "annotations"] {
        if let Some(Value::Map(new)) = generated.value.get_path(&["metadata", field]).cloned() {
            if let Some(meta) = existing.metadata_mut() {
                let slot = meta
                    .entry(field.to_string())
                    .or_insert_with(|| Value::Map(Mapping::new()));
                if let Value::Map(old) = slot {
                    for (k, v) in new {
                        old.insert(k, v);
                    }
                }
            }
        }
    }
    if generated.hash_option_explicit {
        existing.needs_hash = generated.needs_hash;
    }
}

/// The name suffix kustomize computes for a generated ConfigMap or Secret.
///
/// kustomize looks the name up with a path that never matches (`metadata/name` as one
/// key), so the name always enters the hash as the empty string; we do the same so the
/// suffixes agree.
pub fn content_hash(r: &Resource) -> String {
    let v = &r.value;
    let field = |name: &str| -> Value {
        v.get_path(&[name])
            .cloned()
            .unwrap_or(Value::String(String::new()))
    };
    let mut m = Mapping::new();
    match r.kind() {
        "ConfigMap" => {
            m.insert("kind".into(), Value::String("ConfigMap".into()));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), field("data"));
            if let Some(b @ Value::Map(_)) = v.get_path(&["binaryData"]) {
                m.insert("binaryData".into(), b.clone());
            }
        }
        "Secret" => {
            m.insert("kind".into(), Value::String("Secret".into()));
            m.insert("type".into(), field("type"));
            m.insert("name".into(), Value::String(String::new()));
            m.insert("data".into(), field("data"));
            if let Some(s @ Value::Map(_)) = v.get_path(&["stringData"]) {
                m.insert("stringData".into(), s.clone());
            }
        }
        _ => return encode_hash(&go_json(v)),
    }
    encode_hash(&go_json(&Value::Map(m)))
}

fn encode_hash(json: &str) -> String {
    let digest = Sha256::digest(json.as_bytes());
    hex::encode(digest)[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            c => c,
        })
        .collect()
}

/// Go's `json.Marshal` of generic data: sorted keys, no spaces, HTML-safe escapes.
fn go_json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::UInt(u) => out.push_str(&u.to_string()),
        Value::Float(f) => out.push_str(&super::scalar::float_after_json(*f)),
        Value::String(s) => write_json_string(s, out),
        Value::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kustomize::document::parse_one;

    /// Names printed by `kubectl kustomize` for the same generated objects.
    #[test]
    fn hash_matches_kustomize() {
        let cm = parse_one(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dbpass\ntype: Opaque\ndata:\n  dbpass.txt: ZGJwYXNzCg==\n",
        )
        .unwrap();
        assert_eq!(content_hash(&Resource::new(cm, "t")), "96786m5764");
    }

    #[test]
    fn literals_lose_surrounding_quotes() {
        assert_eq!(strip_quotes("\"false\""), "false");
        assert_eq!(strip_quotes("'x'"), "x");
        assert_eq!(strip_quotes("\"x"), "\"x");
    }

    #[test]
    fn env_files_skip_comments_and_blank_lines() {
        let pairs = parse_env_file("# c\n\nA=1\n  B=two=2\n").unwrap();
        assert_eq!(
            pairs,
            vec![("A".into(), "1".into()), ("B".into(), "two=2".into())]
        );
    }
}
