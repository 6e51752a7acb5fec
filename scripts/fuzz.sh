#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target for a bounded time (FUZZ_SECONDS each, default
# 60), all of them even when one fails, then exits non-zero if any found a crash, a
# timeout (one input running over FUZZ_TIMEOUT seconds, default 20) or an out-of-memory
# (over 2 GiB), printing where each failing input is and how to reproduce and minimize
# it. Every such input becomes a regression test beside the code it broke.
#
# Corpora: the committed corpus fuzz/corpus/<target> (minimized, small) is read, never
# written; what a run discovers goes to fuzz/target/corpus/<target> (not committed, kept
# between runs). Real-world seeds from the shared corpus beside the repository
# (../shared: charts, kustomizations, Fleet examples; FUZZ_SHARED overrides) are copied
# to fuzz/seeds/<target> at run time, when that directory exists. To fold a run's
# discoveries into the committed corpus: FUZZ_UPDATE_CORPUS=1 scripts/fuzz.sh, then
# commit fuzz/corpus.
#
# cargo-fuzz needs nightly-only sanitizer flags; the machine has one stable toolchain, so
# RUSTC_BOOTSTRAP=1 unlocks them for this build only.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-60}"
timeout="${FUZZ_TIMEOUT:-20}"
shared="${FUZZ_SHARED:-$(cd .. && pwd)/../shared}"

# Seeds: real-world inputs, added at run time, not committed.
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

cargo fuzz build
failed=()
for target in $(cargo fuzz list); do
  echo "== fuzz $target for ${seconds}s"
  work="target/corpus/$target"
  log="target/fuzz-$target.log"
  mkdir -p "$work" "corpus/$target" "seeds/$target" "artifacts/$target"
  # The full libFuzzer log goes to $log; the terminal gets the lines that matter.
  set +e
  cargo fuzz run "$target" "$work" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 2>&1 | tee "$log" |
    grep -E '^(Done|stat::(number_of_executed_units|peak_rss_mb)|==[0-9]+==|SUMMARY|thread .* panicked|Test unit written)'
  status="${PIPESTATUS[0]}"
  set -e
  if [ "$status" != 0 ]; then
    input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    echo "!! $target failed (exit $status); the input is ${input:-in fuzz/artifacts/$target/}"
    echo "   reproduce: (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target ${input:-<input>})"
    echo "   minimize:  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz tmin $target ${input:-<input>})"
    echo "   full log:  fuzz/$log"
    failed+=("$target")
    continue
  fi
  if [ -n "${FUZZ_UPDATE_CORPUS:-}" ]; then
    # The fewest inputs of at most 4 KiB covering the edges the committed corpus and this
    # run's discoveries cover (edge coverage only: hit counts and comparison features
    # would keep thousands), without copies of the shared seeds, which are not ours.
    pool="target/corpus-pool/$target" fresh="target/corpus-merge/$target"
    rm -rf "$pool" "$fresh" && mkdir -p "$pool" "$fresh"
    # One copy per directory: the same input (named by its sha1) may be in both.
    for dir in "corpus/$target" "$work"; do
      find "$dir" -type f -size -4097c -exec cp -f -t "$pool" {} +
    done
    for s in "seeds/$target"/*; do
      if [ -f "$s" ]; then rm -f "$pool/$(sha1sum <"$s" | cut -c1-40)"; fi
    done
    cargo fuzz run "$target" "$fresh" "$pool" -- -merge=1 -use_counters=0 -use_cmp=0 \
      -use_value_profile=0 -timeout="$timeout" -rss_limit_mb=2048 >/dev/null 2>&1
    rm -rf "corpus/$target" && mv "$fresh" "corpus/$target"
    echo "   corpus/$target: $(ls "corpus/$target" | wc -l) inputs, $(du -sh --apparent-size "corpus/$target" | cut -f1)"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: every target ran ${seconds}s without a crash"
