//! The order Helm installs and uninstalls kinds in, so that a Namespace exists before what
//! lives in it and a ServiceAccount before the Deployment running as it.

// Helm's `InstallOrder` (kinds not listed go last), shared with the chart renderer's
// output so both sort alike.
use fleet_bundle::helm::output::INSTALL_ORDER;
use serde_json::Value;

/// The rank of `kind` when installing: CRDs and Namespaces come first (their objects
/// depend on them), then Helm's order, then unknown kinds (custom resources) last.
pub fn install_rank(kind: &str) -> usize {
    match kind {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        _ => INSTALL_ORDER
            .iter()
            .position(|k| *k == kind)
            .map(|p| p + 2)
            .unwrap_or(INSTALL_ORDER.len() + 2),
    }
}

/// Sorts objects into install order, stable within a kind (keeps the manifest's order).
pub fn sort_for_install(objects: &mut [Value]) {
    objects.sort_by_key(|o| install_rank(kind_of(o)));
}

/// Sorts objects into uninstall order: the reverse of install order, so custom resources
/// go before their CRDs and workloads before their Namespace.
pub fn sort_for_uninstall(objects: &mut [Value]) {
    objects.sort_by_key(|o| std::cmp::Reverse(install_rank(kind_of(o))));
}

fn kind_of(obj: &Value) -> &str {
    obj.get("kind").and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(objects: &[Value]) -> Vec<&str> {
        objects.iter().map(kind_of).collect()
    }

    #[test]
    fn crds_and_namespaces_first_custom_resources_last() {
        let mut objects = vec![
            json!({"kind": "Widget"}),
            json!({"kind": "Deployment"}),
            json!({"kind": "Service"}),
            json!({"kind": "Namespace"}),
            json!({"kind": "ConfigMap"}),
            json!({"kind": "CustomResourceDefinition"}),
            json!({"kind": "ServiceAccount"}),
        ];
        sort_for_install(&mut objects);
        assert_eq!(
            kinds(&objects),
            [
                "CustomResourceDefinition",
                "Namespace",
                "ServiceAccount",
                "ConfigMap",
                "Service",
                "Deployment",
                "Widget"
            ]
        );
        sort_for_uninstall(&mut objects);
        assert_eq!(kinds(&objects)[0], "Widget");
        assert_eq!(kinds(&objects)[6], "CustomResourceDefinition");
    }
}
