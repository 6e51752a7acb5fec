//! The `helm template` output stream: rendered files split into documents, hooks set
//! apart, manifests in Helm's kind install order, CRDs, hooks and `--show-only` handled
//! as `helm template` prints them.
//!
//! What Helm does, step by step (and so what this module does):
//! 1. drop `NOTES.txt` outputs and partials (`_*`), and files that render to whitespace;
//! 2. split each file into documents on `---` lines (Helm's own loose splitter, not a
//!    YAML parser), in file path order, and read each document's head (`apiVersion`,
//!    `kind`, `metadata.name`, `metadata.annotations`);
//! 3. a document with a `helm.sh/hook` annotation is a hook (one naming an unknown event
//!    is dropped altogether); every other is a manifest;
//! 4. sort manifests and hooks by kind (Helm's install order, unknown kinds after in
//!    alphabetical order, stable otherwise);
//! 5. print `--include-crds` CRDs, then manifests, then hooks (unless `--no-hooks`,
//!    without test hooks under `--skip-tests`), each as `---\n# Source: PATH\nDOC\n`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ignore::go_match;
use super::yaml11;

/// Kinds in the order Helm installs them (`releaseutil.InstallOrder`).
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// The annotation that makes a document a hook.
pub const HOOK_ANNOTATION: &str = "helm.sh/hook";
const HOOK_WEIGHT_ANNOTATION: &str = "helm.sh/hook-weight";
const HOOK_DELETE_ANNOTATION: &str = "helm.sh/hook-delete-policy";

/// A rendered document Helm cannot read the head of.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("YAML parse error on {file}: {message}")]
    Parse { file: String, message: String },
    #[error("could not find template {0} in chart")]
    ShowOnlyMissing(String),
}

/// The fields of a document Helm looks at (`releaseutil.SimpleHead`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// A document that goes to the cluster in the release manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The template it came from (`chart/templates/x.yaml`).
    pub source: String,
    pub content: String,
    pub head: Head,
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookEvent {
    PreInstall,
    PostInstall,
    PreDelete,
    PostDelete,
    PreUpgrade,
    PostUpgrade,
    PreRollback,
    PostRollback,
    Test,
}

impl HookEvent {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pre-install" => HookEvent::PreInstall,
            "post-install" => HookEvent::PostInstall,
            "pre-delete" => HookEvent::PreDelete,
            "post-delete" => HookEvent::PostDelete,
            "pre-upgrade" => HookEvent::PreUpgrade,
            "post-upgrade" => HookEvent::PostUpgrade,
            "pre-rollback" => HookEvent::PreRollback,
            "post-rollback" => HookEvent::PostRollback,
            // `test-success` is Helm 2's name, still accepted.
            "test" | "test-success" => HookEvent::Test,
            _ => return None,
        })
    }
}

/// A document annotated as a Helm hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub name: String,
    pub kind: String,
    /// The template it came from.
    pub source: String,
    pub manifest: String,
    pub events: Vec<HookEvent>,
    pub weight: i64,
    pub delete_policies: Vec<String>,
}

impl Hook {
    /// Whether `helm test` runs it (`--skip-tests` leaves it out).
    pub fn is_test(&self) -> bool {
        self.events.contains(&HookEvent::Test)
    }
}

/// A file of a chart's `crds/` directory, named as `helm template --include-crds` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrdFile {
    /// `chart/crds/x.yaml`, or `parent/charts/sub/crds/x.yaml` for a subchart.
    pub source: String,
    pub data: String,
}

/// The sorted result of a render.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortedRelease {
    pub manifests: Vec<Manifest>,
    pub hooks: Vec<Hook>,
    /// The chart's `NOTES.txt`, rendered (root chart only).
    pub notes: Option<String>,
}

/// Helm's `SplitManifests`: documents of a stream separated by `---` at a line start
/// (Go regex `(?:^|\s*\n)---\s*`), each trimmed; empty pieces skipped.
pub fn split_manifests(text: &str) -> Vec<String> {
    let trimmed = go_trim_space(text);
    let bytes = trimmed.as_bytes();
    let mut docs = Vec::new();
    let mut start = 0;
    let mut search = 0;
    while let Some((m_start, m_end)) = find_separator(bytes, search) {
        let piece = &trimmed[start..m_start];
        if !piece.is_empty() {
            docs.push(go_trim_space(piece).to_string());
        }
        start = m_end;
        search = if m_end > m_start { m_end } else { m_end + 1 };
        if search > bytes.len() {
            break;
        }
    }
    let piece = &trimmed[start..];
    if !piece.is_empty() {
        docs.push(go_trim_space(piece).to_string());
    }
    docs
}

/// The leftmost match of `(?:^|\s*\n)---\s*` at or after `from`.
///
/// Dashes are not whitespace, so the first `\n---` decides: the match starts where the
/// whitespace run holding that newline starts (never before `from`), and the greedy
/// `\s*` after the dashes takes the whitespace that follows.
fn find_separator(b: &[u8], from: usize) -> Option<(usize, usize)> {
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    let dashes_end = |at: usize| {
        let mut e = at + 3;
        while e < b.len() && is_space(b[e]) {
            e += 1;
        }
        e
    };
    if from == 0 && b.starts_with(b"---") {
        return Some((0, dashes_end(0)));
    }
    let rest = b.get(from..)?;
    let offset = rest.windows(4).position(|w| w == b"\n---")?;
    let newline = from + offset;
    let mut start = newline;
    while start > from && is_space(b[start - 1]) {
        start -= 1;
    }
    Some((start, dashes_end(newline + 1)))
}

/// Go's `strings.TrimSpace` (ASCII whitespace plus Unicode spaces).
fn go_trim_space(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace())
}

/// Reads a document's head as Helm does (YAML, then JSON into a typed struct).
pub fn read_head(doc: &str, file: &str) -> Result<Head, OutputError> {
    let parse_err = |message: String| OutputError::Parse {
        file: file.to_string(),
        message,
    };
    let value = yaml11::parse_first_pruned(doc, &head_path)
        .map_err(|e| parse_err(format!("error converting YAML to JSON: yaml: {e}")))?;
    let map = match value {
        Value::Object(m) => m,
        Value::Null => return Ok(Head::default()),
        other => {
            return Err(parse_err(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type releaseutil.SimpleHead",
                json_kind(&other)
            )))
        }
    };
    let string_field = |v: Option<&Value>, field: &str| -> Result<String, OutputError> {
        match v {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(parse_err(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field {field} of type string",
                json_kind(other)
            ))),
        }
    };
    let mut head = Head {
        api_version: string_field(map.get("apiVersion"), "SimpleHead.apiVersion")?,
        kind: string_field(map.get("kind"), "SimpleHead.kind")?,
        ..Head::default()
    };
    match map.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(meta)) => {
            head.name = string_field(meta.get("name"), "SimpleHead.metadata.name")?;
            match meta.get("annotations") {
                None | Some(Value::Null) => {}
                Some(Value::Object(ann)) => {
                    let mut out = BTreeMap::new();
                    for (k, v) in ann {
                        let s = match v {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => {
                                return Err(parse_err(format!(
                                    "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field .metadata.annotations of type string",
                                    json_kind(other)
                                )))
                            }
                        };
                        out.insert(k.clone(), s);
                    }
                    head.annotations = Some(out);
                }
                Some(other) => {
                    return Err(parse_err(format!(
                        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field .metadata.annotations of type map[string]string",
                        json_kind(other)
                    )))
                }
            }
        }
        Some(other) => {
            return Err(parse_err(format!(
                "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go struct field SimpleHead.metadata of type struct",
                json_kind(other)
            )))
        }
    }
    Ok(head)
}

/// The parts of a document [`Head`] reads: `apiVersion`, `kind`, `metadata.name` and
/// each of `metadata.annotations`.
fn head_path(path: &[String]) -> bool {
    match path {
        [top] => matches!(top.as_str(), "apiVersion" | "kind" | "metadata"),
        [meta, field] => meta == "metadata" && matches!(field.as_str(), "name" | "annotations"),
        [meta, annotations, _] => meta == "metadata" && annotations == "annotations",
        _ => false,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Helm's `SortManifests` plus its removal of `NOTES.txt`: rendered files (path →
/// text) into sorted manifests and hooks. `root_notes` is the path of the root chart's
/// `NOTES.txt`, the only notes Helm keeps.
pub fn sort_release(
    files: &BTreeMap<String, String>,
    root_notes: &str,
) -> Result<SortedRelease, OutputError> {
    let mut release = SortedRelease::default();
    let mut docs: Vec<(&String, String)> = Vec::new();
    for (path, content) in files {
        if path.ends_with("NOTES.txt") {
            if path == root_notes {
                release.notes = Some(content.clone());
            }
            continue;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || go_trim_space(content).is_empty() {
            continue;
        }
        docs.extend(split_manifests(content).into_iter().map(|doc| (path, doc)));
    }
    let heads = read_heads(&docs);
    for ((path, doc), head) in docs.into_iter().zip(heads) {
        // The first unreadable document in file order is the error, as in Helm.
        let head = head?;
        let hook_value = head
            .annotations
            .as_ref()
            .filter(|a| !a.is_empty())
            .and_then(|a| a.get(HOOK_ANNOTATION).cloned());
        let Some(hook_types) = hook_value else {
            release.manifests.push(Manifest {
                source: path.clone(),
                content: doc,
                head,
            });
            continue;
        };
        let annotations = head.annotations.clone().unwrap_or_default();
        let mut events = Vec::new();
        let mut unknown = false;
        for t in hook_types.split(',') {
            match HookEvent::parse(&t.trim().to_ascii_lowercase()) {
                Some(e) => events.push(e),
                None => {
                    unknown = true;
                    break;
                }
            }
        }
        if unknown {
            tracing::info!(hook_types = %hook_types, file = %path, "skipping unknown hooks");
            continue;
        }
        release.hooks.push(Hook {
            name: head.name.clone(),
            kind: head.kind.clone(),
            source: path.clone(),
            manifest: doc,
            events,
            weight: annotations
                .get(HOOK_WEIGHT_ANNOTATION)
                .and_then(|w| w.parse().ok())
                .unwrap_or(0),
            delete_policies: annotations
                .get(HOOK_DELETE_ANNOTATION)
                .map(|p| {
                    p.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    release
        .manifests
        .sort_by(|a, b| kind_order(&a.head.kind, &b.head.kind));
    release.hooks.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    Ok(release)
}

/// Reads the heads of all documents, in parallel when there is enough YAML to make it
/// worth a thread; results stay in document order.
fn read_heads(docs: &[(&String, String)]) -> Vec<Result<Head, OutputError>> {
    // Threads claim work as they start (see `parallel`), so a helper costs little even
    // when it turns out not to be needed.
    const PARALLEL_BYTES: usize = 64 * 1024;
    // YAML nesting recurses in the reader: the helpers get the main thread's stack.
    const STACK: usize = 8 << 20;
    super::parallel::map_weighted(
        docs,
        |(_, doc)| doc.len(),
        PARALLEL_BYTES,
        STACK,
        |(path, doc)| read_head(doc, path),
    )
}

/// Helm's `lessByKind` as an ordering (used with a stable sort).
fn kind_order(a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |k: &str| INSTALL_ORDER.iter().position(|o| *o == k);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The printing options of `helm template`.
#[derive(Debug, Clone, Default)]
pub struct StreamOptions {
    pub include_crds: bool,
    pub skip_tests: bool,
    pub no_hooks: bool,
    /// `--show-only` patterns (Go `filepath.Match` against the path after the chart name).
    pub show_only: Vec<String>,
}

/// Prints what `helm template` prints for a sorted release.
pub fn template_stream(
    release: &SortedRelease,
    crds: &[CrdFile],
    opts: &StreamOptions,
) -> Result<String, OutputError> {
    let mut manifest = String::new();
    if opts.include_crds {
        for crd in crds {
            push_doc(&mut manifest, &crd.source, &crd.data);
        }
    }
    for m in &release.manifests {
        push_doc(&mut manifest, &m.source, &m.content);
    }
    let mut out = String::with_capacity(manifest.len() + 64);
    out.push_str(go_trim_space(&manifest));
    out.push('\n');
    if !opts.no_hooks {
        for h in &release.hooks {
            if opts.skip_tests && h.is_test() {
                continue;
            }
            push_doc(&mut out, &h.source, &h.manifest);
        }
    }
    if opts.show_only.is_empty() {
        return Ok(out);
    }
    let docs = split_manifests(&out);
    let mut shown = String::new();
    for pattern in &opts.show_only {
        let pattern = pattern.replace('\\', "/");
        let mut missing = true;
        for doc in &docs {
            let Some(path) = source_path(doc) else {
                continue;
            };
            if go_match(&pattern, path).unwrap_or(false) {
                shown.push_str("---\n");
                shown.push_str(doc);
                shown.push('\n');
                missing = false;
            }
        }
        if missing {
            return Err(OutputError::ShowOnlyMissing(pattern));
        }
    }
    Ok(shown)
}

fn push_doc(out: &mut String, source: &str, content: &str) {
    out.push_str("---\n# Source: ");
    out.push_str(source);
    out.push('\n');
    out.push_str(content);
    out.push('\n');
}

/// The template path after the chart name in a document's `# Source: chart/PATH` line
/// (Go regex `# Source: [^/]+/(.+)`, first match anywhere in the document).
fn source_path(doc: &str) -> Option<&str> {
    let mut rest = doc;
    while let Some(at) = rest.find("# Source: ") {
        let after = &rest[at + "# Source: ".len()..];
        let line = after.split('\n').next().unwrap_or(after);
        if let Some(slash) = line.find('/') {
            if slash > 0 && slash + 1 < line.len() {
                return Some(&line[slash + 1..]);
            }
        }
        rest = &rest[at + 1..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn splits_like_helm() {
        assert_eq!(split_manifests("a: 1\n---\nb: 2\n"), vec!["a: 1", "b: 2"]);
        // A separator's trailing `\s*` eats the newline the next one would need, so
        // Helm keeps that `---` in the document (harmless: YAML reads it as a start).
        assert_eq!(
            split_manifests("---\na: 1\n---  \n\n---\nb: 2"),
            vec!["a: 1", "---\nb: 2"]
        );
        // `---` glued to text still separates (Helm's loose regex).
        assert_eq!(split_manifests("a: 1\n---b: 2"), vec!["a: 1", "b: 2"]);
        // Whitespace before the separator goes with it.
        assert_eq!(split_manifests("a: 1  \n\n---\nb: 2"), vec!["a: 1", "b: 2"]);
        // Inside a line it does not.
        assert_eq!(split_manifests("a: x---y"), vec!["a: x---y"]);
        assert!(split_manifests(" \n ").is_empty());
    }

    #[test]
    fn sorts_by_kind_and_sets_hooks_apart() {
        let f = files(&[
            ("c/templates/_helpers.tpl", "kind: Secret"),
            ("c/templates/NOTES.txt", "notes!"),
            ("c/templates/a.yaml", "kind: Deployment\nmetadata:\n  name: d\n---\nkind: Zed\n---\nkind: Alpha\n"),
            ("c/templates/b.yaml", "kind: Service\n---\nkind: ServiceAccount\n"),
            ("c/templates/empty.yaml", "  \n"),
            ("c/templates/hook.yaml", "kind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install,Test\n    helm.sh/hook-weight: \"-5\"\n"),
            ("c/templates/unknown.yaml", "kind: Job\nmetadata:\n  annotations:\n    helm.sh/hook: someday\n"),
        ]);
        let r = sort_release(&f, "c/templates/NOTES.txt").unwrap();
        let kinds: Vec<&str> = r.manifests.iter().map(|m| m.head.kind.as_str()).collect();
        assert_eq!(
            kinds,
            vec!["ServiceAccount", "Service", "Deployment", "Alpha", "Zed"]
        );
        assert_eq!(r.notes.as_deref(), Some("notes!"));
        assert_eq!(r.hooks.len(), 1);
        assert_eq!(r.hooks[0].weight, -5);
        assert!(r.hooks[0].is_test());

        let out = template_stream(&r, &[], &StreamOptions::default()).unwrap();
        assert!(out.starts_with("---\n# Source: c/templates/b.yaml\nkind: ServiceAccount\n---\n"));
        assert!(out.ends_with("---\n# Source: c/templates/hook.yaml\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install,Test\n    helm.sh/hook-weight: \"-5\"\n"));
        let no_tests = template_stream(
            &r,
            &[],
            &StreamOptions {
                skip_tests: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!no_tests.contains("hook.yaml"));
        let no_hooks = template_stream(
            &r,
            &[],
            &StreamOptions {
                no_hooks: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!no_hooks.contains("hook.yaml"));
    }

    #[test]
    fn crds_first_and_show_only() {
        let f = files(&[
            ("c/templates/a.yaml", "kind: ConfigMap\n"),
            ("c/templates/sub/b.yaml", "kind: Secret\n"),
        ]);
        let r = sort_release(&f, "c/templates/NOTES.txt").unwrap();
        let crds = vec![CrdFile {
            source: "c/crds/x.yaml".into(),
            data: "kind: CustomResourceDefinition\n".into(),
        }];
        let out = template_stream(
            &r,
            &crds,
            &StreamOptions {
                include_crds: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            out,
            "---\n# Source: c/crds/x.yaml\nkind: CustomResourceDefinition\n\n---\n# Source: c/templates/sub/b.yaml\nkind: Secret\n---\n# Source: c/templates/a.yaml\nkind: ConfigMap\n"
        );
        let only = template_stream(
            &r,
            &[],
            &StreamOptions {
                show_only: vec!["templates/a.yaml".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(only, "---\n# Source: c/templates/a.yaml\nkind: ConfigMap\n");
        let glob = template_stream(
            &r,
            &[],
            &StreamOptions {
                show_only: vec!["templates/*/*.yaml".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(glob.contains("sub/b.yaml") && !glob.contains("a.yaml"));
        let err = template_stream(
            &r,
            &[],
            &StreamOptions {
                show_only: vec!["templates/nope.yaml".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not find template templates/nope.yaml in chart"
        );
    }

    #[test]
    fn large_releases_keep_document_order_and_the_first_error() {
        let mut content = String::new();
        for i in 0..400 {
            content.push_str(&format!(
                "---\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  pad: {}\n",
                "x".repeat(1000)
            ));
        }
        let f = files(&[("c/templates/many.yaml", &content)]);
        let r = sort_release(&f, "").unwrap();
        let names: Vec<String> = r.manifests.iter().map(|m| m.head.name.clone()).collect();
        let expected: Vec<String> = (0..400).map(|i| format!("cm-{i}")).collect();
        assert_eq!(names, expected);
        let broken = format!("{content}---\nkind: [oops]\n---\nkind: {{bad\n");
        let f = files(&[("c/templates/many.yaml", &broken)]);
        let err = sort_release(&f, "").unwrap_err().to_string();
        assert!(
            err.contains("cannot unmarshal array"),
            "the first bad document wins: {err}"
        );
    }

    #[test]
    fn empty_release_prints_a_newline() {
        let r = sort_release(&files(&[]), "c/templates/NOTES.txt").unwrap();
        assert_eq!(
            template_stream(&r, &[], &StreamOptions::default()).unwrap(),
            "\n"
        );
    }

    #[test]
    fn unreadable_heads_name_the_file() {
        let f = files(&[("c/templates/a.yaml", "kind: [x]\n")]);
        let err = sort_release(&f, "").unwrap_err().to_string();
        assert!(
            err.starts_with("YAML parse error on c/templates/a.yaml"),
            "{err}"
        );
        let f = files(&[(
            "c/templates/a.yaml",
            "metadata:\n  annotations:\n    helm.sh/hook-weight: 5\n",
        )]);
        assert!(
            sort_release(&f, "").is_err(),
            "non-string annotations fail as in Helm"
        );
        let f = files(&[("c/templates/a.yaml", "a: b: c\n")]);
        assert!(sort_release(&f, "").is_err());
    }
}
