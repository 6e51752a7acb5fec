#!/usr/bin/env bash
# `make bench`: builds release binaries once, prints the machine, then runs every
# benchmark section in scripts/bench/ (each prints ratios against the real tools
# measured in the same run).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== machine: $(nproc) cores, $(free -h | awk '/Mem:/{print $2}') memory, $(uname -srm)"
cargo build --release --workspace --bins
for section in scripts/bench/*.sh; do
  [ -e "$section" ] || continue
  echo "== $(basename "$section" .sh)"
  "$section"
done
