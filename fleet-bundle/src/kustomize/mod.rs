//! Kustomize in Rust, output identical to `kubectl kustomize`.
