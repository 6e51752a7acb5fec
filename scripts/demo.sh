#!/usr/bin/env bash
# `make demo`: the main job on the embedded default.
#
# Renders the example repo (examples/) for three sample clusters, showing what each one
# gets from the same commit according to its labels.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p fleet-bundle --bin fleet-bundle
bin=target/release/fleet-bundle

for labels in "env=prod,region=eu" "env=prod,region=us" "env=dev,region=eu"; do
  args=()
  IFS=, read -ra pairs <<<"$labels"
  for p in "${pairs[@]}"; do args+=(-l "$p"); done
  echo "=================== cluster with labels $labels"
  "$bin" target examples "${args[@]}" -o json
done
