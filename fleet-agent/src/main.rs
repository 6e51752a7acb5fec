//! The `fleet-agent` edge agent.
fn main() {}
