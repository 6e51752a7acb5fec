//! The `kube-double` binary.
fn main() {}
