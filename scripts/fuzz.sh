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
for target in $(RUSTC_BOOTSTRAP=1 cargo fuzz list); do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "corpus/$target"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536
done
