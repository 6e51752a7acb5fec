#!/usr/bin/env bash
# `make demo`: the whole system on the embedded default, on one machine.
#
# Builds, starts the manager on its embedded SQLite store, serves a Git repo made from
# examples/ with `git daemon`, registers it as a GitRepo, starts three agents, each against
# its own Kubernetes API double, labelled as three clusters, waits until every bundle is
# Ready everywhere, then commits a change and shows it rolling out. KUBECONFIG pointing at a
# real cluster adds a fourth agent against it. Ctrl-C stops everything.
#
# DEMO_EXIT_AFTER_ROLLOUT=1 exits once the change has rolled out (used by the test that
# runs the demo headless); DEMO_DIR sets the scratch directory (default .demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
demo="${DEMO_DIR:-$root/.demo}"
bin="${DEMO_BIN:-$root/target/release}"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

pids=()
cleanup() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    say "stopping ${#pids[@]} processes"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; die "nothing listens on port $1"; }

if [ -z "${DEMO_BIN:-}" ]; then
  say "building (release)"
  cargo build --release -q -p fleet-manager -p fleet-agent -p kube-double -p fleet-bundle
fi

rm -rf "$demo"
mkdir -p "$demo/logs" "$demo/git" "$demo/clusters"

say "serving a Git repo made from examples/ with git daemon"
git init -q --bare -b main "$demo/git/fleet-examples.git"
work="$demo/git/work"
git init -q -b main "$work"
cp -r examples/. "$work/"
git -C "$work" add -A
git -C "$work" -c user.name=demo -c user.email=demo@example.org commit -q -m "examples"
git -C "$work" remote add origin "$demo/git/fleet-examples.git"
git -C "$work" push -q origin main
git_port=$(free_port)
"$(git --exec-path)/git-daemon" --reuseaddr --export-all --listen=127.0.0.1 --port="$git_port" \
  --base-path="$demo/git" "$demo/git" >"$demo/logs/git-daemon.log" 2>&1 &
pids+=($!)
wait_port "$git_port"
repo_url="git://127.0.0.1:$git_port/fleet-examples.git"

say "starting the manager (embedded SQLite in $demo/manager)"
mgr_port=$(free_port)
webhook_secret=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
FLEET_WEBHOOK_SECRET="$webhook_secret" "$bin/fleet-manager" serve --listen "127.0.0.1:$mgr_port" \
  --data-dir "$demo/manager" >"$demo/logs/manager.log" 2>&1 &
pids+=($!)
wait_port "$mgr_port"
for _ in $(seq 1 100); do [ -s "$demo/manager/admin-token" ] && break; sleep 0.1; done
export FLEET_SERVER="http://127.0.0.1:$mgr_port"
FLEET_TOKEN="$(cat "$demo/manager/admin-token")"
export FLEET_TOKEN
fm() { "$bin/fleet-manager" "$@"; }

say "registering the repo as a GitRepo"
cat >"$demo/gitrepo.yaml" <<YAML
apiVersion: fleet.cattle.io/v1alpha1
kind: GitRepo
metadata:
  name: examples
  namespace: fleet-default
spec:
  repo: $repo_url
  branch: main
  pollingInterval: 5s
  targets:
  - name: everywhere
    clusterSelector:
      matchExpressions:
      - key: env
        operator: Exists
YAML
fm apply -f "$demo/gitrepo.yaml"
reg_token="$(fm token create --ttl 24h | tail -n 1)"

start_agent() { # name labels kubeconfig
  "$bin/fleet-agent" run --manager "$FLEET_SERVER" --token "$reg_token" --cluster-name "$1" \
    --labels "$2" --state-dir "$demo/clusters/$1/agent" --kubeconfig "$3" \
    --poll-wait-seconds 20 >"$demo/logs/agent-$1.log" 2>&1 &
  pids+=($!)
}

clusters=("prod-eu:env=prod,region=eu" "prod-us:env=prod,region=us" "dev-eu:env=dev,region=eu")
for c in "${clusters[@]}"; do
  name="${c%%:*}"; labels="${c#*:}"
  mkdir -p "$demo/clusters/$name"
  say "cluster $name ($labels): a Kubernetes API double and an agent"
  "$bin/kube-double" --port 0 --kubeconfig-out "$demo/clusters/$name/kubeconfig" \
    --state "$demo/clusters/$name/state.json" >"$demo/logs/kube-$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$demo/clusters/$name/kubeconfig" ] && break; sleep 0.1; done
  [ -s "$demo/clusters/$name/kubeconfig" ] || die "kube-double for $name wrote no kubeconfig (see $demo/logs/kube-$name.log)"
  start_agent "$name" "$labels" "$demo/clusters/$name/kubeconfig"
done
if [ -n "${KUBECONFIG:-}" ]; then
  say "KUBECONFIG is set: a fourth agent against that real cluster"
  start_agent "real" "env=dev,region=real" "$KUBECONFIG"
  clusters+=("real:env=dev,region=real")
fi

# Succeeds once every bundle is Ready on every targeted cluster and the GitRepo has seen
# the commit in $expect_commit.
expect_commit=""
converged() {
  local js
  js="$(fm status -o json 2>/dev/null)" || return 1
  [ -z "$expect_commit" ] || grep -q "$expect_commit" <<<"$js" || return 1
  jq -e '.summary.desiredReady > 0 and .summary.ready == .summary.desiredReady' <<<"$js" >/dev/null
}
wait_converged() {
  local what="$1" deadline=$((SECONDS + ${DEMO_TIMEOUT:-180}))
  until converged; do
    [ $SECONDS -lt $deadline ] || { fm status || true; die "$what did not converge; logs in $demo/logs"; }
    sleep 2
  done
  fm status
}

say "waiting until every bundle is Ready on every cluster"
wait_converged "the first deployment"

say "the fleet is up"
cat <<INFO
  dashboard:    $FLEET_SERVER/   (admin token below)
  admin token:  $FLEET_TOKEN
  manager CLI:  export FLEET_SERVER=$FLEET_SERVER FLEET_TOKEN=\$(cat $demo/manager/admin-token)
                $bin/fleet-manager status
INFO
for c in "${clusters[@]}"; do
  name="${c%%:*}"
  kc="$demo/clusters/$name/kubeconfig"; [ "$name" = real ] && kc="$KUBECONFIG"
  echo "  $name: KUBECONFIG=$kc helm -n fleet-system ls    |    kubectl --kubeconfig $kc get deploy -A"
done
if command -v helm >/dev/null; then
  say "helm -n fleet-system ls on prod-eu"
  KUBECONFIG="$demo/clusters/prod-eu/kubeconfig" helm -n fleet-system ls || true
fi

say "committing a change: web-helm gets 4 replicas in prod and a new greeting"
sed -i 's/replicaCount: 3/replicaCount: 4/; s/greeting: Hello from Fleet/greeting: Hello again from Fleet/' "$work/web-helm/fleet.yaml"
git -C "$work" -c user.name=demo -c user.email=demo@example.org commit -q -am "web: 4 replicas in prod"
git -C "$work" push -q origin main
expect_commit="$(git -C "$work" rev-parse HEAD)"
sig=$(printf '{"ref":"refs/heads/main","repository":{"git_url":"%s","clone_url":"%s"}}' "$repo_url" "$repo_url" \
  | tee "$demo/push.json" | openssl dgst -sha256 -hmac "$webhook_secret" | awk '{print $NF}')
curl -fsS -o /dev/null -X POST "$FLEET_SERVER/webhooks/git" -H 'x-github-event: push' \
  -H "x-hub-signature-256: sha256=$sig" -H 'content-type: application/json' --data-binary @"$demo/push.json" \
  || echo "(webhook not accepted; the manager will see the commit at its next poll)"
wait_converged "the change"
say "rolled out: the web release is at revision 2 on the prod clusters (4 replicas); dev, whose values did not change, and the other releases stay at revision 1"
if command -v helm >/dev/null; then
  for c in "${clusters[@]}"; do
    name="${c%%:*}"; [ "$name" = real ] && continue
    echo "--- helm -n fleet-system ls on $name"
    KUBECONFIG="$demo/clusters/$name/kubeconfig" helm -n fleet-system ls
  done
fi

if [ "${DEMO_EXIT_AFTER_ROLLOUT:-0}" = 1 ]; then exit 0; fi
say "running; Ctrl-C stops everything"
wait
