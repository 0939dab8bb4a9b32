#!/usr/bin/env bash
# Installs what is missing and builds. Idempotent and quiet when all is in
# place; on failure it prints the output of the step that failed.
#   - Debian packages: docker.io docker-compose etcd-server etcd-client busybox-static
#     iproute2 iptables conntrack openssl ca-certificates curl nginx wrk (apt-get update only if one
#     is missing)
#   - npm ci, only if node_modules is missing or older than package-lock.json
#   - npx tsc -b
#   - as root, /usr/local/bin/flotilla and flotctl: wrappers running this build
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$FLOTILLA_ROOT"

# run_quiet DESCRIPTION CMD...: runs CMD, shows its output only if it fails.
run_quiet() {
  local what="$1" out
  shift
  out="$(mktemp)"
  if ! "$@" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "$what failed: $*"
  fi
  rm -f "$out"
}

packages=(docker.io docker-compose etcd-server etcd-client busybox-static iproute2 iptables conntrack openssl ca-certificates curl nginx wrk)
missing=()
for p in "${packages[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  ((EUID == 0)) || die "packages missing (${missing[*]}) and not root: run as root, or install them"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  run_quiet "apt-get update" apt-get update
  run_quiet "apt-get install" apt-get install -y --no-install-recommends "${missing[@]}"
fi

major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
((major >= 20)) || die "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"

# node_modules/.package-lock.json is what npm writes after an install; it is
# newer than package-lock.json exactly when the install is up to date.
if [[ ! -d node_modules || ! -e node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  log "npm ci"
  run_quiet "npm ci" npm ci --no-audit --no-fund
fi

run_quiet "TypeScript build" npx tsc -b

# `flotilla` and `flotctl` on the PATH, as the README has users type them:
# small wrappers in /usr/local/bin that run this checkout's build. An
# installed artifact (scripts/package.sh) is never replaced; a wrapper of
# another checkout is (the last checkout set up wins).
if ((EUID == 0)); then
  for cmd in flotilla flotctl; do
    target="/usr/local/bin/$cmd"
    if [[ "$cmd" == flotilla ]]; then entry="$FLOTILLA_ROOT/packages/cli/dist/bin/flotilla.js"; else entry="$FLOTILLA_ROOT/packages/flotctl/dist/bin/flotctl.js"; fi
    if [[ -e "$target" ]] && ! grep -q '^# flotilla checkout wrapper' "$target"; then
      log "$target exists and is not a checkout wrapper: left alone"
      continue
    fi
    printf '#!/bin/sh\n# flotilla checkout wrapper (scripts/setup.sh): runs %s\nexec node %q "$@"\n' "$FLOTILLA_ROOT" "$entry" >"$target.tmp"
    chmod 755 "$target.tmp"
    mv "$target.tmp" "$target"
  done
else
  log "not root: flotilla and flotctl are node $FLOTILLA_ROOT/packages/cli/dist/bin/flotilla.js and …/flotctl/dist/bin/flotctl.js"
fi
