//! The `fleet-manager` server and admin CLI.
fn main() {}
