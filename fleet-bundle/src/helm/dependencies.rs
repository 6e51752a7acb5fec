//! Which vendored subcharts take part in a render, under which name, and which of their
//! values they export to the parent: `dependencies:` with `condition`, `tags`, `alias`
//! and `import-values`, processed as Helm's `ProcessDependencies` does.
//!
//! Steps, for each chart from the root down:
//! 1. match every declared dependency to a vendored chart by name and version range
//!    (a copy per declaration, renamed to its alias); vendored charts that no declaration
//!    names stay as they are;
//! 2. enable all, then apply `tags` (a dependency is disabled only when one of its tags is
//!    false and none is true) and `condition` (the first path of the comma-separated list
//!    that resolves to a boolean wins), both read from the values coalesced so far;
//! 3. drop the disabled ones and recurse;
//! 4. bottom-up, merge each chart's tree of values (nulls kept) and import the requested
//!    child values under the parent's, the parent's own values winning.

use serde_json::{Map, Value};

use super::constraint::is_compatible_range;
use super::load::LoadedChart;
use super::values::{
    coalesce_tables, coalesce_values, merge_values, path_value, table, Values, ValuesError,
};

/// Declared dependencies that are not vendored under `charts/`.
#[derive(Debug, thiserror::Error)]
#[error("{chart}: found in Chart.yaml, but missing in charts/ directory: {}", missing.join(", "))]
pub struct MissingDependencies {
    pub chart: String,
    pub missing: Vec<String>,
}

/// Helm's `CheckDependencies` (top-level chart only, by name).
pub fn check_dependencies(chart: &LoadedChart) -> Result<(), MissingDependencies> {
    let missing: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !chart.dependencies.iter().any(|c| c.metadata.name == d.name))
        .map(|d| d.name.clone())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MissingDependencies {
            chart: chart.origin.clone(),
            missing,
        })
    }
}

/// Applies conditions, tags, aliases and import-values to the chart tree, given the
/// user's values.
pub fn process_dependencies(chart: &mut LoadedChart, user: &Values) -> Result<(), ValuesError> {
    process_enabled(chart, user, "")?;
    process_import_values(chart)
}

fn process_enabled(
    chart: &mut LoadedChart,
    values: &Values,
    path: &str,
) -> Result<(), ValuesError> {
    if chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let mut loaded: Vec<Option<LoadedChart>> = std::mem::take(&mut chart.dependencies)
        .into_iter()
        .map(Some)
        .collect();
    let compatible = |c: &LoadedChart, req: &super::metadata::Dependency| {
        c.metadata.name == req.name && is_compatible_range(&req.version, &c.metadata.version)
    };
    // Each declaration takes the first vendored chart of its name and version range.
    let picks: Vec<Option<usize>> = chart
        .metadata
        .dependencies
        .iter()
        .map(|req| {
            loaded
                .iter()
                .position(|c| c.as_ref().is_some_and(|c| compatible(c, req)))
        })
        .collect();
    // Vendored charts no declaration names come first, as Helm orders them.
    let mut selected: Vec<LoadedChart> = Vec::new();
    for slot in &mut loaded {
        let declared = slot.as_ref().is_some_and(|c| {
            chart
                .metadata
                .dependencies
                .iter()
                .any(|req| compatible(c, req))
        });
        if !declared {
            selected.extend(slot.take());
        }
    }
    for (i, req) in chart.metadata.dependencies.iter_mut().enumerate() {
        if let Some(index) = picks[i] {
            // A chart picked by several declarations (aliases) is copied for all but
            // the last; the last takes it.
            let last_use = !picks[i + 1..].contains(&Some(index));
            let found = if last_use {
                loaded[index].take()
            } else {
                loaded[index].clone()
            };
            if let Some(mut copy) = found {
                if !req.alias.is_empty() {
                    copy.metadata.name = req.alias.clone();
                }
                selected.push(copy);
            }
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    chart.dependencies = selected;

    for req in &mut chart.metadata.dependencies {
        req.enabled = true;
    }
    let cvals = coalesce_values(chart, values)?;
    apply_tags(chart, &cvals);
    apply_conditions(chart, &cvals, path);

    let disabled: Vec<String> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.name.clone())
        .collect();
    chart
        .dependencies
        .retain(|c| !disabled.contains(&c.metadata.name));
    chart
        .metadata
        .dependencies
        .retain(|r| !disabled.contains(&r.name));
    for sub in &mut chart.dependencies {
        let sub_path = format!("{path}{}.", sub.metadata.name);
        process_enabled(sub, &cvals, &sub_path)?;
    }
    Ok(())
}

fn apply_tags(chart: &mut LoadedChart, cvals: &Values) {
    let Some(tags) = table(cvals, "tags") else {
        return;
    };
    for req in &mut chart.metadata.dependencies {
        let (mut has_true, mut has_false) = (false, false);
        for tag in &req.tags {
            match tags.get(tag) {
                Some(Value::Bool(true)) => has_true = true,
                Some(Value::Bool(false)) => has_false = true,
                Some(_) => {
                    tracing::warn!(tag = %tag, chart = %req.name, "tag value is not a boolean")
                }
                None => {}
            }
        }
        req.enabled = has_true || !has_false;
    }
}

fn apply_conditions(chart: &mut LoadedChart, cvals: &Values, path: &str) {
    for req in &mut chart.metadata.dependencies {
        for condition in req.condition.trim().split(',') {
            if condition.is_empty() {
                continue;
            }
            match path_value(cvals, &format!("{path}{condition}")) {
                Some(Value::Bool(b)) => {
                    req.enabled = *b;
                    break;
                }
                Some(_) => tracing::warn!(
                    path = %condition,
                    chart = %req.name,
                    "condition path returned a non-bool value"
                ),
                None => {}
            }
        }
    }
}

fn process_import_values(chart: &mut LoadedChart) -> Result<(), ValuesError> {
    for sub in &mut chart.dependencies {
        process_import_values(sub)?;
    }
    if chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let cvals = merge_values(chart, &Values::new())?;
    let mut imported = Values::new();
    for req in &mut chart.metadata.dependencies {
        let mut normalized = Vec::new();
        for item in &req.import_values {
            let (child, parent) = match item {
                Value::Object(m) => (go_sprint(m.get("child")), go_sprint(m.get("parent"))),
                Value::String(s) => (format!("exports.{s}"), ".".to_string()),
                _ => continue,
            };
            let mut pair = Map::new();
            pair.insert("child".into(), Value::String(child.clone()));
            pair.insert("parent".into(), Value::String(parent.clone()));
            normalized.push(Value::Object(pair));
            let Some(found) = table(&cvals, &format!("{}.{child}", req.name)) else {
                tracing::warn!(chart = %req.name, child = %child, "import-values: missing table in chart");
                continue;
            };
            coalesce_tables(&mut imported, path_to_map(&parent, found.clone()), true);
        }
        req.import_values = normalized;
    }
    let mut merged = cvals;
    coalesce_tables(&mut merged, imported, true);
    chart.values = merged;
    Ok(())
}

/// Go's `fmt.Sprintf("%v", x)` for the scalars an import-values entry holds.
fn go_sprint(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Nests `data` under a dotted path (`.` is the root).
fn path_to_map(path: &str, data: Values) -> Values {
    if path == "." {
        return data;
    }
    let mut current = data;
    for part in path.split('.').rev() {
        let mut outer = Map::new();
        outer.insert(part.to_string(), Value::Object(current));
        current = outer;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helm::metadata::{ChartMetadata, Dependency};
    use serde_json::json;

    fn chart(
        name: &str,
        version: &str,
        values: Value,
        deps: Vec<Dependency>,
        vendored: Vec<LoadedChart>,
    ) -> LoadedChart {
        LoadedChart {
            metadata: ChartMetadata {
                name: name.into(),
                version: version.into(),
                api_version: "v2".into(),
                dependencies: deps,
                ..ChartMetadata::default()
            },
            values: values.as_object().cloned().unwrap_or_default(),
            dependencies: vendored,
            origin: name.into(),
            ..LoadedChart::default()
        }
    }

    fn dep(name: &str) -> Dependency {
        Dependency {
            name: name.into(),
            version: "1.x".into(),
            ..Dependency::default()
        }
    }

    fn names(c: &LoadedChart) -> Vec<&str> {
        c.dependencies
            .iter()
            .map(|d| d.metadata.name.as_str())
            .collect()
    }

    #[test]
    fn conditions_first_resolving_path_wins() {
        let mut c = chart(
            "p",
            "1.0.0",
            json!({"a": {"enabled": false}, "b": {"enabled": "yes"}}),
            vec![
                Dependency {
                    condition: "a.enabled".into(),
                    ..dep("a")
                },
                Dependency {
                    condition: "missing.x,b.enabled".into(),
                    ..dep("b")
                },
                Dependency {
                    condition: "c.enabled".into(),
                    ..dep("c")
                },
            ],
            vec![
                chart("a", "1.0.0", json!({}), vec![], vec![]),
                chart("b", "1.2.0", json!({}), vec![], vec![]),
                chart("c", "1.0.0", json!({"enabled": false}), vec![], vec![]),
            ],
        );
        process_dependencies(&mut c, &Values::new()).unwrap();
        // a: false; b: "yes" is not a bool and no other path resolves, so it stays
        // enabled; c: its own default says false.
        assert_eq!(names(&c), vec!["b"]);
    }

    #[test]
    fn user_values_and_tags_decide() {
        let mut c = chart(
            "p",
            "1.0.0",
            json!({"tags": {"front": false}}),
            vec![
                Dependency {
                    tags: vec!["front".into()],
                    ..dep("a")
                },
                Dependency {
                    tags: vec!["front".into(), "back".into()],
                    ..dep("b")
                },
                Dependency {
                    tags: vec!["front".into()],
                    condition: "a2.on".into(),
                    alias: "a2".into(),
                    ..dep("a")
                },
            ],
            vec![
                chart("a", "1.0.0", json!({}), vec![], vec![]),
                chart("b", "1.0.0", json!({}), vec![], vec![]),
            ],
        );
        let user = json!({"tags": {"back": true}, "a2": {"on": true}});
        process_dependencies(&mut c, user.as_object().unwrap()).unwrap();
        assert_eq!(names(&c), vec!["b", "a2"]);
        assert_eq!(c.metadata.dependencies[1].name, "a2");
    }

    #[test]
    fn version_mismatch_leaves_vendored_chart_undeclared() {
        let mut c = chart(
            "p",
            "1.0.0",
            json!({}),
            vec![Dependency {
                version: "~2.0".into(),
                ..dep("a")
            }],
            vec![chart("a", "1.0.0", json!({}), vec![], vec![])],
        );
        process_dependencies(&mut c, &Values::new()).unwrap();
        assert_eq!(names(&c), vec!["a"], "kept as an undeclared vendored chart");
    }

    #[test]
    fn import_values_both_forms() {
        let mut c = chart(
            "p",
            "1.0.0",
            json!({"own": 1, "fromChild": {"x": "parent-wins"}}),
            vec![Dependency {
                import_values: vec![
                    json!("data"),
                    json!({"child": "deep.inner", "parent": "fromChild"}),
                ],
                ..dep("sub")
            }],
            vec![chart(
                "sub",
                "1.0.0",
                json!({"exports": {"data": {"exported": true}}, "deep": {"inner": {"x": "child", "y": 2}}}),
                vec![],
                vec![],
            )],
        );
        process_dependencies(&mut c, &Values::new()).unwrap();
        assert_eq!(c.values["exported"], json!(true));
        assert_eq!(c.values["fromChild"], json!({"x": "parent-wins", "y": 2}));
        assert_eq!(c.values["own"], json!(1));
        assert_eq!(
            c.metadata.dependencies[0].import_values[0],
            json!({"child": "exports.data", "parent": "."})
        );
    }

    #[test]
    fn missing_vendored_dependencies_are_listed() {
        let c = chart(
            "p",
            "1.0.0",
            json!({}),
            vec![dep("a"), dep("b")],
            vec![chart("a", "1.0.0", json!({}), vec![], vec![])],
        );
        let err = check_dependencies(&c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p: found in Chart.yaml, but missing in charts/ directory: b"
        );
    }
}
