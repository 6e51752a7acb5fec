//! Helm's `.Files`: a chart's non-template files with `Get`, `GetBytes`, `Glob`,
//! `Lines`, `AsConfig` and `AsSecrets`, as in Helm's `engine/files.go`.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use minijinja::Value;

use super::goyaml::to_yaml;
use super::paths::base;
use crate::helm::chart::text_lossy;
use crate::helm::template::value::{go_string, new_struct, GoFields};

/// The files of one chart (shared: `Glob` returns a subset without copying data).
#[derive(Debug, Clone, Default)]
pub struct Files {
    files: BTreeMap<String, Arc<Vec<u8>>>,
}

impl Files {
    pub fn new(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        Files {
            files: files.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        }
    }

    /// `string(bytes)`: the file's exact bytes as a Go string (see [`go_string`]).
    fn text(&self, name: &str) -> String {
        self.files
            .get(name)
            .map(|d| go_string(d))
            .unwrap_or_default()
    }

    fn glob(&self, pattern: &str) -> Files {
        let pat: Vec<char> = pattern.chars().collect();
        Files {
            files: self
                .files
                .iter()
                .filter(|(name, _)| glob_match(&pat, &name.chars().collect::<Vec<_>>()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    fn lines(&self, name: &str) -> Result<Value, String> {
        let Some(data) = self.files.get(name) else {
            return Ok(Value::from(Vec::<Value>::new()));
        };
        let mut s = go_string(data);
        // Helm reads the last byte without checking for one: an empty file panics.
        if s.is_empty() {
            return Err("error calling Lines: runtime error: index out of range [-1]".into());
        }
        if s.ends_with('\n') {
            s.pop();
        }
        Ok(Value::from(
            s.split('\n').map(Value::from).collect::<Vec<_>>(),
        ))
    }

    fn as_map(&self, encode: bool) -> String {
        let mut m = serde_json::Map::new();
        for (k, v) in &self.files {
            let text = if encode {
                base64::engine::general_purpose::STANDARD.encode(v.as_slice())
            } else {
                text_lossy(v)
            };
            m.insert(base(k), serde_json::Value::String(text));
        }
        to_yaml(&serde_json::Value::Object(m))
    }
}

impl GoFields for Files {
    fn type_name(&self) -> &'static str {
        "engine.files"
    }

    fn field(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let want = |n: usize| -> Result<(), String> {
            if args.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                ))
            }
        };
        let arg_str = |i: usize| -> Result<&str, String> {
            args[i].as_str().ok_or_else(|| {
                format!(
                    "wrong type for value; expected string; got {}",
                    crate::helm::template::value::type_name(&args[i])
                )
            })
        };
        let r = match name {
            "Get" => want(1).and_then(|()| Ok(Value::from(self.text(arg_str(0)?)))),
            "GetBytes" => want(1).and_then(|()| {
                Ok(Value::from_bytes(
                    self.files
                        .get(arg_str(0)?)
                        .map(|d| d.to_vec())
                        .unwrap_or_default(),
                ))
            }),
            "Glob" => want(1).and_then(|()| Ok(new_struct(self.glob(arg_str(0)?)))),
            "Lines" => want(1).and_then(|()| self.lines(arg_str(0)?)),
            "AsConfig" => want(0).map(|()| Value::from(self.as_map(false))),
            "AsSecrets" => want(0).map(|()| Value::from(self.as_map(true))),
            // `files` is a Go map: other names are keys (`.Files.config`), the zero
            // value (an empty `[]byte`) when missing, with Helm's `missingkey=zero`.
            key if args.is_empty() => Ok(Value::from_bytes(
                self.files.get(key).map(|d| d.to_vec()).unwrap_or_default(),
            )),
            key => Err(format!("{key} is not a method but has arguments")),
        };
        Some(r)
    }

    /// A Go map: true unless empty (`.Files.Glob` of nothing is false).
    fn truth(&self) -> bool {
        !self.files.is_empty()
    }

    fn display(&self) -> String {
        let parts: Vec<String> = self
            .files
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}:[{}]",
                    v.iter().map(u8::to_string).collect::<Vec<_>>().join(" ")
                )
            })
            .collect();
        format!("map[{}]", parts.join(" "))
    }

    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.files
                .iter()
                .map(|(k, v)| (k.clone(), Value::from_bytes(v.to_vec())))
                .collect(),
        )
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.files
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        serde_json::Value::String(
                            base64::engine::general_purpose::STANDARD.encode(v.as_slice()),
                        ),
                    )
                })
                .collect(),
        )
    }
}

/// gobwas/glob with `/` as separator: `*` and `?` stay within a path segment, `**`
/// crosses segments, `[a-z]`/`[!a]` classes and `{a,b}` alternatives.
fn glob_match(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => {
            if p.get(1) == Some(&'*') {
                let rest = &p[2..];
                (0..=s.len()).any(|i| glob_match(rest, &s[i..]))
            } else {
                let rest = &p[1..];
                for i in 0..=s.len() {
                    if glob_match(rest, &s[i..]) {
                        return true;
                    }
                    if i < s.len() && s[i] == '/' {
                        break;
                    }
                }
                false
            }
        }
        Some('?') => !s.is_empty() && s[0] != '/' && glob_match(&p[1..], &s[1..]),
        Some('[') => {
            let Some(end) = p.iter().position(|c| *c == ']') else {
                return !s.is_empty() && s[0] == '[' && glob_match(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let class = &p[1..end];
            let (neg, class) = match class.first() {
                Some('!' | '^') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    if class[i] <= c && c <= class[i + 2] {
                        hit = true;
                    }
                    i += 3;
                } else {
                    if class[i] == c {
                        hit = true;
                    }
                    i += 1;
                }
            }
            hit != neg && glob_match(&p[end + 1..], &s[1..])
        }
        Some('{') => {
            let Some(end) = p.iter().position(|c| *c == '}') else {
                return !s.is_empty() && s[0] == '{' && glob_match(&p[1..], &s[1..]);
            };
            let rest = &p[end + 1..];
            p[1..end].split(|c| *c == ',').any(|alt| {
                let mut cand: Vec<char> = alt.to_vec();
                cand.extend_from_slice(rest);
                glob_match(&cand, s)
            })
        }
        Some('\\') if p.len() > 1 => !s.is_empty() && s[0] == p[1] && glob_match(&p[2..], &s[1..]),
        Some(&c) => !s.is_empty() && s[0] == c && glob_match(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Files {
        Files::new([
            ("files/a.conf".to_string(), b"x: 1\n".to_vec()),
            ("files/sub/b.conf".to_string(), b"line1\nline2\n".to_vec()),
            ("README.md".to_string(), b"hi".to_vec()),
        ])
    }

    fn call(f: &Files, name: &str, args: &[Value]) -> Value {
        f.field(name, args).unwrap().unwrap()
    }

    #[test]
    fn get_lines_and_missing_files() {
        let f = files();
        assert_eq!(
            call(&f, "Get", &[Value::from("README.md")]),
            Value::from("hi")
        );
        assert_eq!(call(&f, "Get", &[Value::from("nope")]), Value::from(""));
        assert_eq!(
            crate::helm::template::value::fmt_v(&call(
                &f,
                "Lines",
                &[Value::from("files/sub/b.conf")]
            )),
            "[line1 line2]"
        );
    }

    #[test]
    fn glob_stays_in_segments_unless_double_star() {
        let f = files();
        let one = f.glob("files/*.conf");
        assert_eq!(one.files.keys().collect::<Vec<_>>(), vec!["files/a.conf"]);
        let all = f.glob("files/**.conf");
        assert_eq!(all.files.len(), 2);
        assert_eq!(f.glob("{README,x}.md").files.len(), 1);
    }

    #[test]
    fn as_config_and_secrets() {
        let f = files().glob("files/**");
        assert_eq!(
            f.as_map(false),
            "a.conf: |\n  x: 1\nb.conf: |\n  line1\n  line2"
        );
        assert_eq!(files().glob("README.md").as_map(true), "README.md: aGk=");
    }
}
