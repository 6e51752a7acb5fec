//! Fuzzes the kustomization.yaml parser: any input yields a value or an error, never a panic
//! or unbounded work.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fleet_bundle::kustomize::kustomization::parse(text);
    }
});
