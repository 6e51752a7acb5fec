//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) as Fleet uses them to
//! pick clusters, cluster groups and partitions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A `metav1.LabelSelector`. An empty selector matches everything, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operators of a `matchExpressions` requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy every `matchLabels` pair and every expression.
    ///
    /// Follows `metav1.LabelSelectorAsSelector`: `In` needs the key present with one of
    /// the values, `NotIn` matches when the key is absent or has another value,
    /// `Exists`/`DoesNotExist` look at the key only.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|req| req.matches(labels))
    }

    /// True when the selector has no requirement at all (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

impl LabelSelectorRequirement {
    /// Whether `labels` satisfy this single requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

/// Parses `k=v` pairs (comma separated or repeated) into a label map, as the CLIs take
/// `--labels env=prod,region=eu` or `-l env=prod -l region=eu`.
pub fn parse_labels<'a>(
    items: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for item in items {
        for pair in item.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("label {pair:?} is not of the form key=value"))?;
            if k.is_empty() {
                return Err(format!("label {pair:?} has an empty key"));
            }
            labels.insert(k.to_string(), v.to_string());
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selector(yaml: &str) -> LabelSelector {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(LabelSelector::default().matches(&labels(&[])));
        assert!(LabelSelector::default().matches(&labels(&[("env", "prod")])));
    }

    #[test]
    fn match_labels_need_every_pair() {
        let s = selector("matchLabels: {env: prod, region: eu}");
        assert!(s.matches(&labels(&[("env", "prod"), ("region", "eu"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[("env", "dev"), ("region", "eu")])));
    }

    #[test]
    fn expressions_follow_kubernetes_semantics() {
        let s = selector(
            "matchExpressions:\n- {key: env, operator: In, values: [prod, staging]}\n- {key: tier, operator: NotIn, values: [edge]}\n- {key: gpu, operator: DoesNotExist}\n- {key: region, operator: Exists}",
        );
        assert!(s.matches(&labels(&[("env", "prod"), ("region", "eu")])));
        assert!(s.matches(&labels(&[
            ("env", "staging"),
            ("region", "us"),
            ("tier", "core")
        ])));
        assert!(
            !s.matches(&labels(&[("env", "dev"), ("region", "eu")])),
            "In"
        );
        assert!(
            !s.matches(&labels(&[
                ("env", "prod"),
                ("region", "eu"),
                ("tier", "edge")
            ])),
            "NotIn"
        );
        assert!(
            !s.matches(&labels(&[
                ("env", "prod"),
                ("region", "eu"),
                ("gpu", "a100")
            ])),
            "DoesNotExist"
        );
        assert!(!s.matches(&labels(&[("env", "prod")])), "Exists");
    }

    #[test]
    fn unknown_operator_is_an_error() {
        assert!(serde_yaml::from_str::<LabelSelector>(
            "matchExpressions: [{key: a, operator: Gt, values: ['1']}]"
        )
        .is_err());
    }

    #[test]
    fn parses_label_arguments() {
        let l = parse_labels(["env=prod,region=eu", "x=", "tier=core"]).unwrap();
        assert_eq!(
            l,
            labels(&[
                ("env", "prod"),
                ("region", "eu"),
                ("x", ""),
                ("tier", "core")
            ])
        );
        assert!(parse_labels(["novalue"]).is_err());
        assert!(parse_labels(["=v"]).is_err());
    }
}
