//! Fuzzes the decoding of every agent API body the manager accepts from the network, and
//! of the desired state the agent accepts from the manager.
#![no_main]

use fleet_bundle::deployment::{DesiredState, RegisterRequest, StatusReport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<RegisterRequest>(data);
    let _ = serde_json::from_slice::<StatusReport>(data);
    let _ = serde_json::from_slice::<DesiredState>(data);
});
