#!/usr/bin/env bash
# Manager benchmarks (part of `make bench`): targeting recompute after a push for 100k
# clusters x 200 bundles, memory per registered cluster, and desired-state 304 polls per
# second answered by a real manager over loopback. Bounded: a few seconds of load.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=target/release/manager-bench
[ -x "$bin" ] || cargo build --release -p fleet-manager --bin manager-bench
"$bin" --clusters 100000 --bundles 200 --poll-clusters 1000 --connections 64 --poll-seconds 5
