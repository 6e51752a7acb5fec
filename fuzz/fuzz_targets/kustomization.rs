//! Fuzzes the reading of a `kustomization.yaml`: any input yields a value or an error,
//! never a panic or unbounded work.
//!
//! Three readers see the text, as a build would: the typed kustomization parser, the
//! YAML stream reader kustomize uses for resources and patches (anchors and aliases
//! expanded, so alias bombs must stay bounded), and, for every inline patch of a
//! kustomization that parses, that reader again plus the JSON 6902 operation parser.
#![no_main]

use fleet_bundle::kustomize::{document, json6902, kustomization};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = document::parse_stream(text);
    let Ok(k) = kustomization::parse(text) else {
        return;
    };
    let inline = k
        .patches
        .iter()
        .chain(&k.patches_json6902)
        .filter_map(|p| p.patch.as_deref())
        .chain(k.patches_strategic_merge.iter().map(String::as_str));
    for patch in inline {
        if let Ok(docs) = document::parse_stream(patch) {
            for doc in docs.iter().filter(|d| json6902::looks_like_json_patch(d)) {
                let _ = json6902::parse(doc);
            }
        }
    }
});
