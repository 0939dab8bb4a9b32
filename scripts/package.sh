#!/usr/bin/env bash
# Builds the one artifact a machine needs: dist/flotilla-VERSION-linux.tar.gz,
# which unpacks under a prefix into
#   bin/flotilla   every server role (apiserver, scheduler, controller-manager, agent, …)
#   bin/flotctl    the command line
#   lib/flotilla/  the built packages and their production dependencies
# Install it on any machine with Node.js 20+ (and Docker, for a worker):
#   tar -C /usr/local -xzf flotilla-VERSION-linux.tar.gz
# Why a tarball run by the system's node rather than a single executable:
# etcd3 loads its .proto files from disk at run time, which bundlers and
# Node's single-executable applications do not carry; a directory tree
# keeps every dependency exactly as tested, and needs no registry to install.
#
#   scripts/package.sh [--out DIR]   # prints the tarball's path on stdout
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$FLOTILLA_ROOT"

out="$FLOTILLA_ROOT/dist"
while (($#)); do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#*=}"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done

"$FLOTILLA_ROOT/scripts/setup.sh"
version="$(node -p 'require("./packages/cli/package.json").version')"
name="flotilla-$version-linux"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
lib="$stage/lib/flotilla"
mkdir -p "$lib/node_modules" "$stage/bin" "$out"

# The built packages: package.json and dist/, without compiled tests.
for pkg in packages/*/; do
  pkg="${pkg%/}"
  [[ -d "$pkg/dist" ]] || continue
  mkdir -p "$lib/$pkg"
  cp "$pkg/package.json" "$lib/$pkg/"
  (cd "$pkg" && find dist -type f ! -name '*.test.*' ! -name '*.tsbuildinfo' ! -name '*.map' -print0 | tar --null -T - -cf -) | tar -C "$lib/$pkg" -xf -
done
cp package.json "$lib/"

# Exactly the installed packages of the production dependency tree
# (workspace links stay relative links into lib/flotilla/packages).
while read -r path; do
  rel="${path#"$FLOTILLA_ROOT"/}"
  [[ "$rel" == node_modules/* ]] || continue
  mkdir -p "$lib/$(dirname "$rel")"
  if [[ -L "$path" ]]; then
    cp -P "$path" "$lib/$rel"
  elif [[ ! -e "$lib/$rel" ]]; then
    # A nested package is copied with its parent; skip it then.
    cp -a "$path" "$lib/$rel"
  fi
done < <(npm ls --omit=dev --all --parseable 2>/dev/null | sort)

for cmd in flotilla flotctl; do
  if [[ "$cmd" == flotilla ]]; then entry=packages/cli/dist/bin/flotilla.js; else entry=packages/flotctl/dist/bin/flotctl.js; fi
  cat >"$stage/bin/$cmd" <<WRAPPER
#!/bin/sh
# $cmd of Flotilla $version, run by the system's Node.js (20 or newer).
here=\$(dirname "\$(readlink -f "\$0")")
command -v node >/dev/null 2>&1 || { echo "$cmd: Node.js 20 or newer is required (node is not on the PATH)" >&2; exit 127; }
exec node "\$here/../lib/flotilla/$entry" "\$@"
WRAPPER
  chmod 755 "$stage/bin/$cmd"
done

tarball="$out/$name.tar.gz"
# Written aside and renamed into place: whoever copies the artifact while it
# is rebuilt (two machines being set up at once) gets a whole one.
tar -C "$stage" -czf "$tarball.$$.tmp" bin lib
mv -f "$tarball.$$.tmp" "$tarball"
log "$(du -h "$tarball" | cut -f1) $tarball (install: tar -C /usr/local -xzf $(basename "$tarball"))"
printf '%s\n' "$tarball"
