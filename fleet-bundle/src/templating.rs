//! Cluster-specific Helm values, as Fleet's target builder computes them
//! (internal/cmd/controller/target/builder.go `preprocessHelmValues`): strings
//! `global.fleet.clusterLabels.<label>` replaced by the label's value, then the values
//! written as YAML, run as one Go template with `${`/`}` delimiters and
//! `missingkey=error` over `.ClusterName`, `.ClusterNamespace`, `.ClusterLabels`,
//! `.ClusterAnnotations` and `.ClusterValues`, and read back as YAML, so a template that
//! prints JSON or YAML (`${ list "a" "b" | toJson }`) becomes a list or a map.
//!
//! The templates run on the crate's one Go-template engine ([`crate::helm::template`])
//! with Sprig's function set, less `env`, `expandenv`, `include`, `tpl` and
//! `getHostByName`, which Fleet removes; Helm's own functions (`toYaml`, `required`,
//! `lookup` …) are not there, as in Fleet.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::helm::template::exec::{Exec, Limits};
use crate::helm::template::lexer::Delims;
use crate::helm::template::value::from_json;
use crate::helm::template::TemplateSet;

use crate::bundle::{BundleDeploymentOptions, HelmOptions};
use crate::target::ClusterInfo;

/// A value as templates see it.
pub type TemplateValue = minijinja::Value;

/// A values string starting with this is replaced by the cluster label named after it.
pub const CLUSTER_LABEL_PREFIX: &str = "global.fleet.clusterLabels.";
/// Fleet's bound on the nesting of values it walks.
pub const MAX_RECURSION_DEPTH: usize = 50;

/// Why a cluster's values could not be computed; messages follow Fleet's (the engine's
/// `template: values:LINE:COL: …` part locates the fault in the values' YAML, or in the
/// `templateValues` entry named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("maximum recursion depth of {MAX_RECURSION_DEPTH} exceeded for cluster label prefix processing, too many nested values")]
    TooDeep,
    #[error("failed to parse helm values template: {message}{}", in_key(key))]
    Parse { key: String, message: String },
    #[error("failed to render helm values template: {message}{}", in_key(key))]
    Execute { key: String, message: String },
    #[error(
        "failed to interpret rendered template as helm values: {text}, {message}{}",
        in_key(key)
    )]
    Interpret {
        key: String,
        text: String,
        message: String,
    },
}

/// `(in templateValues KEY)` after a message about one `templateValues` entry.
fn in_key(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(" (in templateValues {key})")
    }
}

/// The template name Fleet gives values templates, shown in errors.
const TEMPLATE_NAME: &str = "values";

/// Fleet's delimiters: `{}` are YAML syntax, so fleet.yaml templates use `${ }`.
const DELIMS: Delims<'static> = Delims {
    left: "${",
    right: "}",
};

/// Sprig's functions (v3.3, `TxtFuncMap`) less those Fleet deletes, plus Go's builtins:
/// the names values templates may call.
fn is_func(name: &str) -> bool {
    const GO_BUILTINS: &[&str] = &[
        "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
        "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
    ];
    const REMOVED_BY_FLEET: &[&str] = &["env", "expandenv", "include", "tpl", "getHostByName"];
    if REMOVED_BY_FLEET.contains(&name) {
        return false;
    }
    (GO_BUILTINS.contains(&name) || SPRIG_FUNCTIONS.binary_search(&name).is_ok())
        && crate::helm::funcs::exists(name)
}

/// Sprig v3.3's function names, sorted.
const SPRIG_FUNCTIONS: &[&str] = &[
    "abbrev",
    "abbrevboth",
    "add",
    "add1",
    "add1f",
    "addf",
    "adler32sum",
    "ago",
    "all",
    "any",
    "append",
    "atoi",
    "b32dec",
    "b32enc",
    "b64dec",
    "b64enc",
    "base",
    "bcrypt",
    "biggest",
    "buildCustomCert",
    "camelcase",
    "cat",
    "ceil",
    "chunk",
    "clean",
    "coalesce",
    "compact",
    "concat",
    "contains",
    "date",
    "dateInZone",
    "dateModify",
    "date_in_zone",
    "date_modify",
    "decryptAES",
    "deepCopy",
    "deepEqual",
    "default",
    "derivePassword",
    "dict",
    "dig",
    "dir",
    "div",
    "divf",
    "duration",
    "durationRound",
    "empty",
    "encryptAES",
    "env",
    "expandenv",
    "ext",
    "fail",
    "first",
    "float64",
    "floor",
    "fromJson",
    "genCA",
    "genCAWithKey",
    "genPrivateKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "get",
    "getHostByName",
    "has",
    "hasKey",
    "hasPrefix",
    "hasSuffix",
    "hello",
    "htmlDate",
    "htmlDateInZone",
    "htpasswd",
    "indent",
    "initial",
    "initials",
    "int",
    "int64",
    "isAbs",
    "join",
    "kebabcase",
    "keys",
    "kindIs",
    "kindOf",
    "last",
    "list",
    "lower",
    "max",
    "maxf",
    "merge",
    "mergeOverwrite",
    "min",
    "minf",
    "mod",
    "mul",
    "mulf",
    "mustAppend",
    "mustChunk",
    "mustCompact",
    "mustDateModify",
    "mustDeepCopy",
    "mustFirst",
    "mustFromJson",
    "mustHas",
    "mustInitial",
    "mustLast",
    "mustMerge",
    "mustMergeOverwrite",
    "mustPrepend",
    "mustPush",
    "mustRegexFind",
    "mustRegexFindAll",
    "mustRegexMatch",
    "mustRegexReplaceAll",
    "mustRegexReplaceAllLiteral",
    "mustRegexSplit",
    "mustRest",
    "mustReverse",
    "mustSlice",
    "mustToDate",
    "mustToJson",
    "mustToPrettyJson",
    "mustToRawJson",
    "mustUniq",
    "mustWithout",
    "must_date_modify",
    "nindent",
    "nospace",
    "omit",
    "osBase",
    "osClean",
    "osDir",
    "osExt",
    "osIsAbs",
    "pick",
    "pluck",
    "plural",
    "prepend",
    "push",
    "quote",
    "randAlpha",
    "randAlphaNum",
    "randAscii",
    "randBytes",
    "randInt",
    "randNumeric",
    "regexFind",
    "regexFindAll",
    "regexMatch",
    "regexQuoteMeta",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "repeat",
    "replace",
    "rest",
    "reverse",
    "round",
    "semver",
    "semverCompare",
    "seq",
    "set",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "shuffle",
    "slice",
    "snakecase",
    "sortAlpha",
    "split",
    "splitList",
    "splitn",
    "squote",
    "sub",
    "subf",
    "substr",
    "swapcase",
    "ternary",
    "title",
    "toDate",
    "toDecimal",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "toString",
    "toStrings",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "trimall",
    "trunc",
    "tuple",
    "typeIs",
    "typeIsLike",
    "typeOf",
    "uniq",
    "unixEpoch",
    "unset",
    "until",
    "untilStep",
    "untitle",
    "upper",
    "urlJoin",
    "urlParse",
    "uuidv4",
    "values",
    "without",
    "wrap",
    "wrapWith",
];

/// Label and annotation prefixes Fleet strips before handing them to templates
/// (wrangler's `CleanAnnotationsForExport`), except that Fleet keeps its own
/// `fleet.cattle.io/` and `management.cattle.io/` labels.
const EXPORT_STRIPPED_PREFIXES: &[&str] = &["objectset.rio.cattle.io/", "kubectl.kubernetes.io/"];

fn cleaned(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .filter(|(k, _)| !EXPORT_STRIPPED_PREFIXES.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Rewrites `options.helm.values` for `cluster`, exactly in Fleet's order.
///
/// Flow: nothing happens for a cluster without labels (as in Fleet). Otherwise `helm` and
/// `helm.values` are created empty when absent; when there are neither values nor
/// `templateValues`, nothing else happens. Then every string value starting with
/// `global.fleet.clusterLabels.` becomes that label's value (empty, with a log line, when
/// the cluster lacks it). Unless `helm.disablePreProcess`, the values are written as YAML
/// (as `sigs.k8s.io/yaml` writes them), that text is executed as one template and read
/// back as YAML: `${ .ClusterLabels.replicas }` gives the number 3, and
/// `${ list "a" "b" | toJson }` the list `[a, b]`. Each `templateValues` entry is
/// executed and read as YAML into the top-level value of its key.
///
/// Errors: a template naming a missing label or key fails (`map has no entry for key`),
/// as do unknown functions and malformed templates, worded as Fleet's, with the line and
/// column in the values' YAML (or the `templateValues` entry named).
pub fn preprocess_helm_values(
    options: &mut BundleDeploymentOptions,
    cluster: &ClusterInfo,
) -> Result<(), TemplateError> {
    let labels = cleaned(&cluster.labels);
    if labels.is_empty() {
        return Ok(());
    }
    let Some(helm) = options.helm.as_mut() else {
        options.helm = Some(HelmOptions::default());
        return Ok(());
    };
    let values = helm.values.get_or_insert_with(|| Value::Object(Map::new()));
    if !values.is_object() {
        return Ok(());
    }
    let empty_values = values.as_object().is_some_and(Map::is_empty);
    if helm.template_values.is_empty() && empty_values {
        return Ok(());
    }
    if let Value::Object(map) = values {
        substitute_label_values(map, &labels, 0)?;
    }
    if helm.disable_pre_process {
        return Ok(());
    }
    let context = template_context(cluster, &labels);
    if let Some(values @ Value::Object(_)) = helm.values.as_mut() {
        // Fleet's `processTemplateValues`: the values' YAML is the template.
        let text = crate::helm::funcs::goyaml::marshal(values);
        let rendered = execute(&text, &context, "")?;
        *values = match read_yaml(&rendered, "")? {
            Value::Null => Value::Object(Map::new()),
            v @ Value::Object(_) => v,
            other => {
                return Err(TemplateError::Interpret {
                    key: String::new(),
                    text: rendered,
                    message: format!("the values are a {}, not a map", json_kind(&other)),
                })
            }
        };
    }
    let mut templated = Map::new();
    for (key, template) in &helm.template_values {
        let text = execute(template, &context, key)?;
        templated.insert(key.clone(), read_yaml(&text, key)?);
    }
    if let Some(Value::Object(map)) = helm.values.as_mut() {
        map.extend(templated);
    }
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "list",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        _ => "value",
    }
}

/// Runs `text` as a values template (`key` names a `templateValues` entry in errors).
pub fn execute(text: &str, context: &TemplateValue, key: &str) -> Result<String, TemplateError> {
    let mut set = TemplateSet::new();
    set.add_file_with(TEMPLATE_NAME, text, &is_func, DELIMS)
        .map_err(|e| TemplateError::Parse {
            key: key.to_string(),
            message: e.to_string(),
        })?;
    let mut exec = Exec::new(&set, Limits::default()).with_missing_key_error();
    let mut out = String::new();
    exec.execute(TEMPLATE_NAME, context, &mut out)
        .map_err(|e| TemplateError::Execute {
            key: key.to_string(),
            message: e.to_string(),
        })?;
    Ok(out)
}

/// `sigs.k8s.io/yaml.Unmarshal` of a rendered template.
fn read_yaml(text: &str, key: &str) -> Result<Value, TemplateError> {
    crate::helm::yaml11::parse_first(text).map_err(|e| TemplateError::Interpret {
        key: key.to_string(),
        text: text.to_string(),
        message: e.to_string(),
    })
}

fn template_context(cluster: &ClusterInfo, labels: &BTreeMap<String, String>) -> TemplateValue {
    let to_map = |m: &BTreeMap<String, String>| {
        Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        )
    };
    let mut ctx = Map::new();
    ctx.insert(
        "ClusterNamespace".into(),
        Value::String(cluster.namespace.clone()),
    );
    ctx.insert("ClusterName".into(), Value::String(cluster.name.clone()));
    ctx.insert("ClusterLabels".into(), to_map(labels));
    ctx.insert(
        "ClusterAnnotations".into(),
        to_map(&cleaned(&cluster.annotations)),
    );
    // The cluster's templateValues went through JSON into Go: numbers are float64.
    ctx.insert(
        "ClusterValues".into(),
        crate::helm::yaml11::into_helm_numbers(Value::Object(cluster.template_values.clone())),
    );
    from_json(&Value::Object(ctx))
}

fn substitute_label_values(
    map: &mut Map<String, Value>,
    labels: &BTreeMap<String, String>,
    depth: usize,
) -> Result<(), TemplateError> {
    if depth > MAX_RECURSION_DEPTH {
        return Err(TemplateError::TooDeep);
    }
    for (key, value) in map.iter_mut() {
        match value {
            Value::String(s) => {
                if let Some(label) = s.strip_prefix(CLUSTER_LABEL_PREFIX) {
                    let replacement = match labels.get(label) {
                        Some(v) => v.clone(),
                        None => {
                            tracing::info!(label = %s, key = %key, "Cluster label for key is missing from some clusters, setting value to empty string for these clusters.");
                            String::new()
                        }
                    };
                    *s = replacement;
                }
            }
            Value::Object(inner) => substitute_label_values(inner, labels, depth + 1)?,
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        substitute_label_values(inner, labels, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
