//! Fuzzes the fleet.yaml parser: any input yields options and warnings or an error naming
//! the file, never a panic, and YAML alias bombs stay bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fleet_bundle::fleet_yaml::parse(std::path::Path::new("fleet.yaml"), text);
    }
});
