#!/usr/bin/env bash
# Times the release `fleet-bundle kustomize` against `kubectl kustomize` on every case of
# shared/corpus/kustomize, in the same run: RUNS runs each (default 7), median wall time,
# ratio kubectl/ours per case and overall (sum of medians). Fails if we are slower on any
# case.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS=${RUNS:-7}
CORPUS=${CORPUS:-$ROOT/../shared/corpus/kustomize}
[ -d "$CORPUS" ] || CORPUS=/work/shared/corpus/kustomize
OURS=$ROOT/target/release/fleet-bundle
[ -x "$OURS" ] || cargo build --release -p fleet-bundle --bin fleet-bundle
command -v kubectl >/dev/null || { echo "kubectl not found"; exit 1; }

# median_ms CMD...: runs the command RUNS times (output discarded), prints the median in ms.
median_ms() {
  local times=()
  for _ in $(seq "$RUNS"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.2f", m/1000}'
}

printf '%-32s %12s %12s %8s\n' case kubectl_ms ours_ms ratio
total_k=0; total_o=0; slower=0
for case in "$CORPUS"/*/; do
  name=$(basename "$case")
  dir=$(sed -e 's/^kubectl kustomize //' "$case/cmd")
  cd "$case"
  k=$(median_ms kubectl kustomize "$dir")
  o=$(median_ms "$OURS" kustomize "$dir")
  cd "$ROOT"
  ratio=$(awk -v k="$k" -v o="$o" 'BEGIN {printf "%.1f", k/o}')
  printf '%-32s %12s %12s %7sx\n' "$name" "$k" "$o" "$ratio"
  total_k=$(awk -v a="$total_k" -v b="$k" 'BEGIN {print a+b}')
  total_o=$(awk -v a="$total_o" -v b="$o" 'BEGIN {print a+b}')
  if awk -v k="$k" -v o="$o" 'BEGIN {exit !(o > k)}'; then slower=$((slower + 1)); fi
done
printf '%-32s %12.2f %12.2f %7sx\n' overall "$total_k" "$total_o" "$(awk -v k="$total_k" -v o="$total_o" 'BEGIN {printf "%.1f", k/o}')"
if [ "$slower" -gt 0 ]; then
  echo "slower than kubectl kustomize on $slower case(s)"
  exit 1
fi
