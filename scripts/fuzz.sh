#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target for a bounded time (FUZZ_SECONDS each, default
# 60) over its corpus kept in fuzz/corpus/<target>. A crash leaves its input under
# fuzz/artifacts/<target>/ and fails the run; turn it into a regression test.
#
# cargo-fuzz needs nightly-only sanitizer flags; the machine has one stable toolchain, so
# RUSTC_BOOTSTRAP=1 unlocks them for this build only.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
seconds="${FUZZ_SECONDS:-60}"
shared="$(cd .. && pwd)/../shared"

# Seeds: the repo's own examples are kept in corpus/<target>; real-world inputs from the
# shared corpus (charts, kustomizations, Fleet examples) are added at run time, not
# committed.
seed_from_shared() { # target, find arguments...
  local target="$1"; shift
  mkdir -p "seeds/$target"
  [ -d "$shared" ] || return 0
  # `head` closes the pipe early by design: that SIGPIPE is not a failure.
  find "$shared" "$@" -size -16k 2>/dev/null | head -300 | while read -r f; do
    cp "$f" "seeds/$target/$(echo "$f" | sha1sum | cut -c1-16)"
  done || true
}
seed_from_shared kustomization -name kustomization.yaml
seed_from_shared fleet_yaml -name fleet.yaml
seed_from_shared go_template -path '*/templates/*' -type f
seed_from_shared agent_api -name '*.json' -path '*kube-transcripts*'

for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "corpus/$target"
  mkdir -p "seeds/$target"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536
done
