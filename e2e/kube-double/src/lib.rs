//! A Kubernetes API server double for tests and the demo.
