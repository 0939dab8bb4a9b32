#!/usr/bin/env bash
# Builds the images Flotilla uses locally (no registry is reachable):
#   flotilla/pause:1    the pod sandbox (holds the network namespace)
#   flotilla/busybox:1  busybox with every applet, /bin/sh
#   flotilla/echo:1     an HTTP echo server on :8080 (a shell per request: demos)
#   flotilla/httpd:1    a fast HTTP backend on :8080 for tests and benchmarks:
#                       this machine's own `node` (stripped) plus the shared
#                       libraries `ldd` lists, and images/httpd/srv/server.js
# With --compose, also the images of docker-compose.yml:
#   flotilla/flotilla:VERSION  every `flotilla` role and `flotctl`: node, the
#                       artifact of scripts/package.sh, and the host tools the
#                       agent and proxy drive (iptables of this machine's
#                       backend, ip, nsenter, openssl), copied with their libraries
#   flotilla/etcd:VERSION      this machine's etcd and etcdctl
# Each is a `docker import` of a tiny rootfs around Debian's static busybox.
# Idempotent: an image is rebuilt only when missing, when its inputs changed
# (a content hash is kept in a label), or with --force. Honours DOCKER_HOST.
set -euo pipefail

force=0
compose=0
for arg in "$@"; do
  case "$arg" in
    --force|-f) force=1 ;;
    --compose) compose=1 ;;
    -h|--help) echo "usage: $0 [--force] [--compose]"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ctx="$root/images"

busybox=""
for b in /bin/busybox /usr/bin/busybox; do
  if [ -x "$b" ] && file -L "$b" 2>/dev/null | grep -q 'statically linked'; then busybox="$b"; break; fi
done
if [ -z "$busybox" ]; then
  for b in /bin/busybox /usr/bin/busybox; do [ -x "$b" ] && busybox="$b" && break; done
fi
if [ -z "$busybox" ]; then
  echo "images.sh: no busybox found; install it with: apt-get install -y busybox-static" >&2
  exit 1
fi

if ! docker info >/dev/null 2>&1; then
  echo "images.sh: cannot reach the Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}" >&2
  exit 1
fi

# The host programs the flotilla image carries besides node (resolved paths).
# iptables is whichever backend this machine's alternatives chose (nft or
# legacy): the rules a containerised proxy writes must be the host's kind.
host_tools() {
  local t
  for t in iptables ip nsenter openssl conntrack; do
    command -v "$t" >/dev/null 2>&1 && readlink -f "$(command -v "$t")"
  done
  # Match and target extensions are loaded at run time, not linked.
  [ -d /usr/lib/x86_64-linux-gnu/xtables ] && find /usr/lib/x86_64-linux-gnu/xtables -name '*.so'
  return 0
}

# Files an image copies from the host besides busybox.
extra_inputs() { # name
  case "$1" in
    httpd) node_files ;;
    # shellcheck disable=SC2046 # one path a line, no spaces
    flotilla) node_files; lib_files $(host_tools) ;;
    etcd) lib_files "$(readlink -f "$(command -v etcd)")" "$(readlink -f "$(command -v etcdctl)")" ;;
  esac
}

# The given files and every shared library they load (with the loader), one path a line.
lib_files() { # file...
  local f
  for f in "$@"; do
    echo "$f"
    ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do readlink -f "$lib"; echo "$lib"; done
  done | LC_ALL=C sort -u
}

# The node binary and every shared library it loads (with the loader), one path a line.
node_files() {
  lib_files "$(readlink -f "$(command -v node)")"
}

# Copies host files, one path a line on stdin, to the same paths in a rootfs:
# real files are copied once, other paths the loader may use (/lib on
# merged-/usr, sonames) become symlinks to them. What is already there is
# replaced, never written through: busybox's applet links point at the
# absolute /bin/busybox, and cp onto one would overwrite the host's busybox.
copy_paths() { # dir
  local dir="$1" f real
  while read -r f; do
    real="$(readlink -f "$f")"
    mkdir -p "$dir$(dirname "$f")"
    rm -f "$dir$f"
    if [ "$f" = "$real" ]; then cp "$f" "$dir$f"; else ln -s "$real" "$dir$f"; fi
  done
}

# Copies files and the libraries they load into a rootfs (see copy_paths).
add_files() { # dir file...
  local dir="$1"; shift
  lib_files "$@" | copy_paths "$dir"
}

# A hash of everything an image is made from, so a changed script rebuilds it.
# Host files are hashed by path, size and mtime: node is ~100 MB and a package upgrade changes all three.
inputs_hash() { # name
  {
    sha256sum "$busybox" "$0" | cut -d' ' -f1
    if [ -d "$ctx/$1" ]; then (cd "$ctx/$1" && find . -type f | LC_ALL=C sort | xargs -r sha256sum); fi
    extra_inputs "$1" | while read -r f; do stat -Lc '%n %s %Y' "$f"; done
    # The artifact by content: a rebuilt tarball has new mtimes, not new bytes.
    if [ "$1" = flotilla ]; then tar -xzOf "$artifact" | sha256sum; fi
  } | sha256sum | cut -c1-16
}

# Copies node (stripped when `strip` exists: ~12 MB less) and its libraries into a rootfs.
add_node() { # dir
  local dir="$1" node f
  node="$(readlink -f "$(command -v node)")"
  mkdir -p "$dir/usr/local/bin"
  if command -v strip >/dev/null 2>&1; then strip -o "$dir/usr/local/bin/node" "$node"; else cp "$node" "$dir/usr/local/bin/node"; fi
  node_files | grep -vxF "$node" | copy_paths "$dir"
}

# A rootfs with busybox, a symlink for every applet, and the bare /etc a
# shell and `id` expect.
make_rootfs() { # dir
  local dir="$1"
  mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var/run}
  chmod 1777 "$dir/tmp"
  cp "$busybox" "$dir/bin/busybox"
  local applet
  for applet in $("$busybox" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    ln -sf /bin/busybox "$dir/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
}

build() { # name tag [--change ...]
  local name="$1" ref="$2"; shift 2
  local hash; hash="$(inputs_hash "$name")"
  if [ "$force" = 0 ] && [ "$(docker image inspect -f '{{ index .Config.Labels "flotilla.image.hash" }}' "$ref" 2>/dev/null || true)" = "$hash" ]; then
    echo "images.sh: $ref is up to date"
    return
  fi
  local old; old="$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)"
  local tmp; tmp="$(mktemp -d)"
  make_rootfs "$tmp"
  if [ -d "$ctx/$name" ]; then cp -a "$ctx/$name/." "$tmp/"; fi
  case "$name" in
    httpd) add_node "$tmp" ;;
    flotilla) add_flotilla "$tmp" ;;
    etcd) add_etcd "$tmp" ;;
  esac
  tar --numeric-owner --owner=0 --group=0 -C "$tmp" -c . |
    docker import \
      --change 'LABEL flotilla.image=1' \
      --change "LABEL flotilla.image.hash=$hash" \
      --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
      "$@" - "$ref" >/dev/null
  rm -rf "$tmp"
  # Drop the superseded image unless a container still uses it.
  if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$ref")" ]; then docker rmi "$old" >/dev/null 2>&1 || true; fi
  echo "images.sh: built $ref"
}

# The flotilla image: node, the artifact unpacked under /usr/local (as the
# README installs it on a machine), the host tools and their libraries.
add_flotilla() { # dir
  local dir="$1" t tool p
  add_node "$dir"
  tar -C "$dir/usr/local" -xzf "$artifact"
  # shellcheck disable=SC2046 # one path a line, no spaces
  add_files "$dir" $(host_tools)
  # The programs by the names the code calls (the multi-call iptables binary dispatches on its name).
  for t in iptables ip nsenter openssl conntrack iptables-save iptables-restore; do
    command -v "$t" >/dev/null 2>&1 || continue
    tool="$(readlink -f "$(command -v "$t")")"
    # busybox's applet of the same name (ip, nsenter) would shadow the real tool.
    for p in usr/sbin usr/bin sbin bin; do
      [ "$(readlink "$dir/$p/$t" 2>/dev/null)" = /bin/busybox ] && rm -f "$dir/$p/$t"
    done
    [ -e "$dir/usr/sbin/$t" ] || ln -s "$tool" "$dir/usr/sbin/$t"
  done
  [ -f /usr/lib/ssl/openssl.cnf ] && mkdir -p "$dir/usr/lib/ssl" && cp /usr/lib/ssl/openssl.cnf "$dir/usr/lib/ssl/"
  return 0
}

add_etcd() { # dir
  local dir="$1" t
  mkdir -p "$dir/usr/local/bin" "$dir/var/lib/etcd"
  for t in etcd etcdctl; do
    add_files "$dir" "$(readlink -f "$(command -v "$t")")"
    ln -sfn "$(readlink -f "$(command -v "$t")")" "$dir/usr/local/bin/$t"
  done
}

build pause flotilla/pause:1 --change 'ENTRYPOINT ["/pause.sh"]'
build busybox flotilla/busybox:1 --change 'CMD ["/bin/sh"]'
build echo flotilla/echo:1 --change 'ENTRYPOINT ["/serve.sh"]' --change 'EXPOSE 8080/tcp'
build httpd flotilla/httpd:1 --change 'ENTRYPOINT ["/usr/local/bin/node", "/srv/server.js"]' --change 'ENV PORT=8080' --change 'EXPOSE 8080/tcp'

if [ "$compose" = 1 ]; then
  command -v etcd >/dev/null || { echo "images.sh: etcd is not installed; run scripts/setup.sh" >&2; exit 1; }
  version="$(node -p 'require(process.argv[1]).version' "$root/packages/cli/package.json")"
  artifact="$("$root/scripts/package.sh")"
  build flotilla "flotilla/flotilla:$version" --change 'ENTRYPOINT ["/usr/local/bin/flotilla"]' --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  build etcd "flotilla/etcd:$(etcd --version | awk '/^etcd Version/ { print $3 }')" --change 'ENTRYPOINT ["/usr/local/bin/etcd"]'
fi
