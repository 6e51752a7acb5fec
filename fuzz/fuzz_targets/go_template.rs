//! Fuzzes Helm's Go-template engine on one template file.
//!
//! Two passes per input, because they fail differently:
//! 1. the lexer and parser with every name treated as a known function (the widest
//!    grammar): any input parses or yields a positioned error, never a panic;
//! 2. a whole render through [`engine::render`], the entry point charts go through: the
//!    input is the chart's only template, parsed against Helm's real function table and
//!    executed over small values with the engine's default [`Limits`](fleet_bundle::helm::template::exec::Limits)
//!    (include depth, output size), so execution errors, recursion and output bombs stay
//!    bounded and never panic.
#![no_main]

use fleet_bundle::helm::chart::{Chart, ChartFile};
use fleet_bundle::helm::engine::{self, RenderContext};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = fleet_bundle::helm::template::parser::parse("fuzz/templates/t.yaml", text, &|_| true);

    let values = json!({
        "name": "web",
        "replicas": 2.0,
        "enabled": true,
        "list": ["a", "b"],
        "map": {"k": "v", "n": 1.0},
        "empty": null,
    });
    let chart = Chart {
        metadata: json!({"Name": "fuzz", "Version": "0.1.0", "APIVersion": "v2"}),
        name: "fuzz".into(),
        templates: vec![
            ChartFile {
                name: "templates/t.yaml".into(),
                data: data.to_vec(),
            },
            ChartFile {
                name: "templates/_helpers.tpl".into(),
                data: b"{{- define \"fuzz.name\" -}}{{ .Values.name | trunc 63 }}{{- end -}}"
                    .to_vec(),
            },
        ],
        files: vec![ChartFile {
            name: "files/a.txt".into(),
            data: b"a: 1\n".to_vec(),
        }],
        values: values.clone(),
        ..Chart::default()
    };
    let _ = engine::render(&chart, &values, &RenderContext::default());
});
