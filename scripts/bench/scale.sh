#!/usr/bin/env bash
# Scale simulation (issue 9): N simulated agents speaking the real agent API against a
# real manager and Git server, for N = 1,000, 10,000 and 100,000 (SCALE_SIZES overrides).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes="${SCALE_SIZES:-1000 10000 100000}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for n in $sizes; do
  echo "-- $n agents"
  FLEET_BIN_DIR="$PWD/target/release" ./target/release/fleet-sim --agents "$n" --repo examples \
    ${SCALE_IDLE_SECONDS:+--idle-seconds "$SCALE_IDLE_SECONDS"}
done
