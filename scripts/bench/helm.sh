#!/usr/bin/env bash
# Helm rendering speed: every chart of the shared corpus rendered by the release
# `fleet-bundle template` and by the real `helm template`, same arguments, same run.
# Each is run RUNS times (default 5) after one warm-up, helm and ours alternating so
# both see the same load; the median wall time is kept.
# Prints per chart both medians and the ratio helm/ours, then the overall ratio (sum of
# helm medians / sum of ours), and flags any chart where ours is slower or fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OURS="$ROOT/target/release/fleet-bundle"
HELM="${HELM_BIN:-$ROOT/.tools/bin/helm}"
CORPUS="${CORPUS:-$ROOT/../shared/corpus/helm}"
RUNS="${RUNS:-5}"

[ -x "$OURS" ] || cargo build --release -p fleet-bundle --bin fleet-bundle
[ -x "$HELM" ] || { echo "helm not found at $HELM (run scripts/setup.sh)"; exit 1; }
[ -d "$CORPUS" ] || { echo "corpus not found at $CORPUS"; exit 1; }

# Wall time in microseconds of one run of "$@", or FAIL when it fails.
time_us() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || { echo FAIL; return; }
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))
}

median() {
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# Median wall times "HELM OURS" in microseconds of running helm and ours RUNS times
# each (after one warm-up each), alternating, so both see the same load on a shared
# machine; FAIL for a side that fails.
medians_us() {
  local helm_t=() ours_t=() h o
  h=$(time_us "$HELM" template "$@")
  o=$(time_us "$OURS" template "$@")
  for _ in $(seq "$RUNS"); do
    [ "$h" = FAIL ] || { h=$(time_us "$HELM" template "$@"); helm_t+=("$h"); }
    [ "$o" = FAIL ] || { o=$(time_us "$OURS" template "$@"); ours_t+=("$o"); }
  done
  if [ "$h" = FAIL ]; then h=FAIL; else h=$(median "${helm_t[@]}"); fi
  if [ "$o" = FAIL ]; then o=FAIL; else o=$(median "${ours_t[@]}"); fi
  echo "$h $o"
}

printf '%-30s %12s %12s %8s\n' chart "helm (ms)" "ours (ms)" "helm/ours"
total_helm=0
total_ours=0
slower=()
failed=()
for dir in "$CORPUS"/*/; do
  case_name=$(basename "$dir")
  [ -f "$dir/cmd" ] || continue
  read -r -a words < "$dir/cmd"
  args=("${words[@]:2}")
  pushd "$dir" >/dev/null
  read -r helm_us ours_us < <(medians_us "${args[@]}")
  popd >/dev/null
  if [ "$helm_us" = FAIL ] || [ "$ours_us" = FAIL ]; then
    printf '%-30s %12s %12s %8s\n' "$case_name" "$helm_us" "$ours_us" "-"
    failed+=("$case_name")
    continue
  fi
  ratio=$(awk -v h="$helm_us" -v o="$ours_us" 'BEGIN {printf "%.1f", h / o}')
  printf '%-30s %12.1f %12.1f %7sx\n' "$case_name" \
    "$(awk -v t="$helm_us" 'BEGIN {print t / 1000}')" \
    "$(awk -v t="$ours_us" 'BEGIN {print t / 1000}')" "$ratio"
  total_helm=$((total_helm + helm_us))
  total_ours=$((total_ours + ours_us))
  if [ "$ours_us" -gt "$helm_us" ]; then slower+=("$case_name"); fi
done

if [ "$total_ours" -gt 0 ]; then
  overall=$(awk -v h="$total_helm" -v o="$total_ours" 'BEGIN {printf "%.1f", h / o}')
  echo "overall: helm ${total_helm}us, ours ${total_ours}us, helm/ours ${overall}x (goal >= 5x)"
fi
[ ${#slower[@]} -eq 0 ] || echo "slower than helm on: ${slower[*]}"
[ ${#failed[@]} -eq 0 ] || echo "not compared (a render failed): ${failed[*]}"
