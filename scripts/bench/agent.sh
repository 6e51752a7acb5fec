#!/usr/bin/env bash
# Agent benchmark (part of `make bench`): the release fleet-agent binary against the
# Kubernetes API double and an in-process manager; prints its resident memory idle, while
# applying a 200-resource bundle and after, its idle CPU, and the time to apply the bundle.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p fleet-agent --bin fleet-agent --example agent-bench
FLEET_AGENT_BIN=target/release/fleet-agent target/release/examples/agent-bench 200
