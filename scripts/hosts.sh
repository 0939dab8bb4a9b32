#!/usr/bin/env bash
# Worker hosts on this machine: one network namespace per host, joined by a
# bridge in the root namespace, each with its own dockerd. The pod network is
# not made here: the controller manager gives each Node a podCIDR and the
# agent (run inside its host's namespace) makes that range a Docker network
# and routes the other hosts' ranges (host-gw). What this script does for it:
# the local route sink, so that cluster addresses nothing more specific
# catches never follow the default route off this machine.
#
#   scripts/hosts.sh create N [options]   # idempotent; prints one line per host
#   scripts/hosts.sh delete [options]     # stops the engines, removes everything
#   scripts/hosts.sh status [options]     # prints the host lines; fails if none
#   scripts/hosts.sh kill N [options]     # power cut: SIGKILL every process of host N
#                                         # (dockerd, containerd, its containers, an agent)
#   scripts/hosts.sh disconnect N | connect N   # pull / plug host N's network cable
#
# Options (or environment variables), so that several clusters can coexist:
#   --name NAME        FLOTILLA_HOSTS_NAME, default flot: bridge NAME0, hosts NAME-h1 …
#                      (netns and the root side of each veth), state in .flotilla/hosts/NAME/
#   --subnet A.B.C     FLOTILLA_HOSTS_SUBNET, default 10.250.0: bridge A.B.C.1/24,
#                      host N at A.B.C.(10+N)
#   --no-images        FLOTILLA_HOSTS_IMAGES=0: do not load the flotilla/* images
#
# Host line (stdout, tab separated):
#   name  ip  dockerHost  netns  veth  dockerdPid
#
# The sink: a bridge with no ports called flotsink, in the root namespace
# (shared by every cluster of this machine, never removed) and in each host,
# with routes to it for 10.96.0.0/12 (services), 10.244.0.0/16 (pods) and
# 10.250.0.0/16 (the hosts' bridges). More specific routes (a host's own
# bridge, the agents' routes to pod ranges) win; anything else dies there.
# Not a blackhole route: that makes connect() fail before the NAT of the
# service proxy can rewrite the address; and this kernel has no dummy devices.
#
# The images of scripts/images.sh are built in the root engine when one
# answers (DOCKER_HOST, else /var/run/docker.sock) and copied with
# `docker save | docker load`; otherwise each host's engine builds them.
# A root-namespace dockerd, when one runs, is never started or stopped here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift
count=""
if [[ "$cmd" =~ ^(create|kill|disconnect|connect)$ ]]; then
  count="${1:-}"
  [[ "$count" =~ ^[1-9]$ ]] || die "$cmd needs a number from 1 to 9, got '${count}'"
  shift
fi
name="${FLOTILLA_HOSTS_NAME:-flot}"
subnet="${FLOTILLA_HOSTS_SUBNET:-10.250.0}"
images="${FLOTILLA_HOSTS_IMAGES:-1}"
while (($#)); do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --name=*) name="${1#*=}"; shift ;;
    --subnet) subnet="$2"; shift 2 ;;
    --subnet=*) subnet="${1#*=}"; shift ;;
    --no-images) images=0; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1" ;;
  esac
done

# Interface names are at most 15 bytes: NAME-h9 and NAME0 must fit.
[[ "$name" =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "--name must be 1-8 lower-case letters or digits, starting with a letter; got '$name'"
octet='(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])'
[[ "$subnet" =~ ^$octet\.$octet\.$octet$ ]] || die "--subnet must be three octets like 10.250.0, got '$subnet'"

exec 3>&2
bridge="${name}0"
dir="$FLOTILLA_STATE/hosts/$name"
cluster_env="$dir/cluster.env"
image_refs=(flotilla/pause:1 flotilla/busybox:1 flotilla/echo:1 flotilla/httpd:1)
# The root engine: where images are built once and copied from.
root_docker="${DOCKER_HOST:-unix:///var/run/docker.sock}"

ns_of() { printf '%s-h%s' "$name" "$1"; }
ip_of() { printf '%s.%s' "$subnet" $((10 + $1)); }
# Cluster ranges that must never leave the machine (see the header).
sink_dev=flotsink
sink_cidrs=(10.96.0.0/12 10.244.0.0/16 10.250.0.0/16)
hdir_of() { printf '%s/h%s' "$dir" "$1"; }
sock_of() { printf '%s/h%s/docker.sock' "$dir" "$1"; }
in_ns() { local ns="$1"; shift; nsenter --net="/var/run/netns/$ns" "$@"; }
answers() { curl -fsS --max-time 2 --unix-socket "$1" http://docker/_ping; }
ipt() { iptables -w 10 "$@"; }
# The root namespace's raw rule for frames switched between hosts (see create).
bridged_notrack=(-i "$bridge" -m addrtype ! --dst-type LOCAL -m comment --comment "flotilla hosts $bridge: switched, not ours" -j CT --notrack)

# A cluster's parameters are fixed at creation: addresses of the hosts
# already made depend on them.
load_cluster_env() {
  [[ -f "$cluster_env" ]] || return 1
  sed -n 's/^subnet=//p' "$cluster_env"
}

# The sink bridge and the routes to it, in the namespace `$@` runs in
# (nothing for the root namespace, `in_ns NS` for a host). Idempotent.
ensure_sink() {
  local c
  "$@" ip link show "$sink_dev" >/dev/null 2>&1 || "$@" ip link add "$sink_dev" type bridge 2>/dev/null ||
    "$@" ip link show "$sink_dev" >/dev/null 2>&1 || die "cannot create the route sink $sink_dev"
  "$@" ip link set "$sink_dev" up
  for c in "${sink_cidrs[@]}"; do "$@" ip route replace "$c" dev "$sink_dev"; done
}

host_line() { # N
  local n="$1" pid
  pid="$(pidfile_alive "$(hdir_of "$n")/dockerd.pid" || echo -)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "h$n" "$(ip_of "$n")" \
    "unix://$(sock_of "$n")" "$(ns_of "$n")" "$(ns_of "$n")" "$pid"
}

# Hosts that exist now, by number: a netns or a state directory.
existing_hosts() {
  local n
  for n in 1 2 3 4 5 6 7 8 9; do
    if [[ -e "/var/run/netns/$(ns_of "$n")" || -d "$(hdir_of "$n")" ]]; then printf '%s\n' "$n"; fi
  done
}

start_dockerd() { # N
  local n="$1" ns hd
  ns="$(ns_of "$n")"
  hd="$(hdir_of "$n")"
  pidfile_alive "$hd/dockerd.pid" >/dev/null && return 0
  mkdir -p "$hd/docker" "$hd/exec"
  # PID files of a killed engine: dockerd refuses to start over its own, and
  # would adopt whatever process now holds containerd's old PID.
  rm -f "$hd/dockerd.own.pid" "$hd/exec/containerd/containerd.pid"
  # nsenter execs dockerd in place, so the recorded PID is dockerd's own.
  # Fd 3 (our stderr) is closed for it: a caller reading our output to EOF
  # must not wait for the daemon. DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: in
  # Swarm mode (the e2e benchmark's baseline) a task uses the local image
  # instead of asking a registry first, which is off this machine.
  start_bg "$hd/dockerd.pid" "$hd/dockerd.log" 3>&- env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 nsenter --net="/var/run/netns/$ns" \
    dockerd --data-root "$hd/docker" --exec-root "$hd/exec" -H "unix://$hd/docker.sock" \
    --pidfile "$hd/dockerd.own.pid" --iptables=true
}

# Polled until dockerd answers; a dockerd that exited ends the wait at once.
dockerd_up() { # N
  answers "$(sock_of "$1")" && return 0
  # wait_for hides the output of what it polls: report on fd 3 (stderr).
  pidfile_alive "$(hdir_of "$1")/dockerd.pid" >/dev/null || { tail -n 5 "$(hdir_of "$1")/dockerd.log" >&3; die "dockerd of $(ns_of "$1") exited; log: $(hdir_of "$1")/dockerd.log" 2>&3; }
  return 1
}

# Every process of the host: those in its network namespace (dockerd,
# containerd, shims, an agent run there) and those in its containers'
# cgroups (they have namespaces of their own). Container IDs are random,
# so /docker/<id> cgroups of this data root hold only this host's processes.
host_pids() { # N
  local n="$1" ns hd id f
  ns="$(ns_of "$n")"
  hd="$(hdir_of "$n")"
  [[ -e "/var/run/netns/$ns" ]] && ip netns pids "$ns" 2>/dev/null
  for id in $(ls "$hd/docker/containers" 2>/dev/null); do
    for f in /sys/fs/cgroup/*/docker/"$id"/cgroup.procs; do
      # An exited container (Swarm keeps old tasks) has no cgroup: an if, so the loop's status stays 0
      # (under pipefail a false && made `pids=$(host_pids …)` fail and set -e end `kill` silently).
      if [[ -r "$f" ]]; then cat "$f"; fi
    done
  done | sort -u
}

# SIGKILLs every process of the host at once: a power cut, not a shutdown.
power_off() { # N
  local pids
  pids="$(host_pids "$1" | tr '\n' ' ')"
  # A process may exit between the listing and the kill (a dying container): not a failure.
  # shellcheck disable=SC2086
  [[ -n "${pids// /}" ]] && { kill -KILL $pids 2>/dev/null || true; }
  wait_for 10 "the processes of $(ns_of "$1") to die" no_live_pids "$1" || true
}

# Zombies count as dead (lib.sh's pid_alive): PID 1 here reaps late.
no_live_pids() { # N
  local p
  for p in $(host_pids "$1"); do
    ! pid_alive "$p" || return 1
  done
}

# Removes what a dockerd that did not stop cleanly leaves: processes (its
# containers, shims), their cgroups, and mounts under the host's state.
reap_host() { # N
  local n="$1" hd m id d
  hd="$(hdir_of "$n")"
  if ! no_live_pids "$n"; then
    warn "$(ns_of "$n"): killing processes left behind: $(host_pids "$n" | tr '\n' ' ')"
    power_off "$n"
  fi
  for id in $(ls "$hd/docker/containers" 2>/dev/null); do
    for d in /sys/fs/cgroup/*/docker/"$id"; do
      [[ -d "$d" ]] && rmdir "$d" 2>/dev/null
    done
  done
  # Deepest first, so nested mounts come off before their parents.
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v p="$hd/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  return 0
}

delete_host() { # N
  local n="$1" ns hd sock ids
  ns="$(ns_of "$n")"
  hd="$(hdir_of "$n")"
  sock="$(sock_of "$n")"
  if pidfile_alive "$hd/dockerd.pid" >/dev/null; then
    if answers "$sock" >/dev/null 2>&1; then
      ids="$(docker -H "unix://$sock" ps -aq 2>/dev/null || true)"
      # shellcheck disable=SC2086
      [[ -z "$ids" ]] || docker -H "unix://$sock" rm -f $ids >/dev/null 2>&1 || true
    fi
    stop_pid "$hd/dockerd.pid" 30
  fi
  reap_host "$n"
  [[ ! -e "/var/run/netns/$ns" ]] || ip netns delete "$ns"
  # The veth's root end goes with the namespace; one left by a failed create does not.
  ip link delete "$ns" 2>/dev/null || true
  rm -rf "$hd"
}

# `docker save` of the images in the root engine into the engine at $1.
copy_images() { # SOCK
  DOCKER_HOST="$root_docker" docker save "${image_refs[@]}" | docker -H "$1" load -q >/dev/null
}

# Builds the images in the root engine (once, serialised between concurrent
# callers) and copies them into every host whose copy differs.
load_images() { # N...
  local n sock want have pids=() rc=0
  local lock="$FLOTILLA_STATE/hosts/.images.lock"
  if answers "${root_docker#unix://}" >/dev/null 2>&1 || DOCKER_HOST="$root_docker" docker info >/dev/null 2>&1; then
    flock "$lock" env DOCKER_HOST="$root_docker" bash "$FLOTILLA_ROOT/scripts/images.sh" >/dev/null
    want="$(DOCKER_HOST="$root_docker" docker image inspect -f '{{.Id}}' "${image_refs[@]}")"
    for n in "$@"; do
      sock="unix://$(sock_of "$n")"
      have="$(docker -H "$sock" image inspect -f '{{.Id}}' "${image_refs[@]}" 2>/dev/null || true)"
      [[ "$have" == "$want" ]] && continue
      # Tried twice: one load in a full test run failed with "Error processing tar file(signal: terminated)" (a SIGTERM to the engine's untar process, from no one known).
      (copy_images "$sock" || { warn "loading the images into host $n failed; trying once more"; copy_images "$sock"; }) &
      pids+=($!)
    done
  else
    log "no root Docker engine answers at $root_docker: building the images in each host"
    for n in "$@"; do
      (DOCKER_HOST="unix://$(sock_of "$n")" bash "$FLOTILLA_ROOT/scripts/images.sh" >/dev/null) &
      pids+=($!)
    done
  fi
  for n in "${pids[@]}"; do wait "$n" || rc=1; done
  ((rc == 0)) || die "loading the images into the hosts failed"
}

case "$cmd" in
  create)
    ((EUID == 0)) || die "creating network namespaces needs root"
    for tool in ip iptables nsenter dockerd docker curl flock; do
      command -v "$tool" >/dev/null || die "$tool is not installed; run scripts/setup.sh"
    done
    start_ns="$(date +%s%N)"
    mkdir -p "$dir"
    if params="$(load_cluster_env)"; then
      [[ "$params" == "$subnet" ]] || die "cluster '$name' exists with subnet $params; delete it first (scripts/hosts.sh delete --name $name)"
    fi
    printf 'subnet=%s\n' "$subnet" >"$cluster_env"
    # Before anything can send to a cluster address.
    ensure_sink
    # Fewer hosts than last time: the extra ones go.
    for n in $(existing_hosts); do ((n > count)) && delete_host "$n"; done

    # The bridge every host's veth joins, and the root end of the routes.
    ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
    ip -br addr show dev "$bridge" | grep -qw "$subnet.1/24" || ip addr add "$subnet.1/24" dev "$bridge"
    ip link set "$bridge" up
    # A root-namespace dockerd sets FORWARD to DROP, and bridged frames pass
    # iptables (br_netfilter): hosts could not talk to each other without this.
    ipt -C FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null || ipt -A FORWARD -i "$bridge" -o "$bridge" -j ACCEPT
    # Frames switched between hosts are not this namespace's traffic: untracked,
    # they skip its NAT, so a proxy here (its rules for external and
    # load-balancer IPs, which are hosts' addresses) never rewrites them.
    ipt -t raw -C PREROUTING "${bridged_notrack[@]}" 2>/dev/null || ipt -t raw -I PREROUTING "${bridged_notrack[@]}"

    for ((n = 1; n <= count; n++)); do
      ns="$(ns_of "$n")"
      [[ -e "/var/run/netns/$ns" ]] || ip netns add "$ns"
      if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
        ip link show "$ns" >/dev/null 2>&1 && ip link delete "$ns"
        ip link add "$ns" type veth peer name eth0 netns "$ns"
      fi
      ip link set "$ns" master "$bridge" up
      ip -n "$ns" link set lo up
      ip -n "$ns" -br addr show dev eth0 | grep -qw "$(ip_of "$n")/24" || ip -n "$ns" addr add "$(ip_of "$n")/24" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$ns" route replace default via "$subnet.1"
      ensure_sink in_ns "$ns"
      # Forwarding on before dockerd starts, so it keeps FORWARD at ACCEPT.
      in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
      start_dockerd "$n"
    done
    for ((n = 1; n <= count; n++)); do
      if ! wait_for 60 "dockerd of $(ns_of "$n")" dockerd_up "$n"; then
        tail -n 20 "$(hdir_of "$n")/dockerd.log" >&2 || true
        die "dockerd of $(ns_of "$n") did not start; log: $(hdir_of "$n")/dockerd.log"
      fi
    done
    if [[ "$images" != 0 ]]; then
      load_images $(seq 1 "$count")
    fi
    elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
    log "$count host(s) of '$name' ready in ${elapsed_ms} ms (bridge $bridge $subnet.1/24)"
    for ((n = 1; n <= count; n++)); do host_line "$n"; done
    ;;
  delete)
    hosts="$(existing_hosts)"
    if params="$(load_cluster_env)"; then
      subnet="$params"
    fi
    for n in $hosts; do delete_host "$n" & done
    wait
    # Routes to pod ranges via the bridge that a partial create may have left.
    if ip link show "$bridge" >/dev/null 2>&1; then
      while ipt -C FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null; do
        ipt -D FORWARD -i "$bridge" -o "$bridge" -j ACCEPT
      done
      ip route flush dev "$bridge" 2>/dev/null || true
      ip link delete "$bridge"
    fi
    while ipt -C FORWARD -i "$bridge" -o "$bridge" -j ACCEPT 2>/dev/null; do
      ipt -D FORWARD -i "$bridge" -o "$bridge" -j ACCEPT
    done
    while ipt -t raw -C PREROUTING "${bridged_notrack[@]}" 2>/dev/null; do
      ipt -t raw -D PREROUTING "${bridged_notrack[@]}"
    done
    rm -rf "$dir"
    log "cluster '$name' deleted${hosts:+ (hosts: $(echo $hosts | tr ' ' ','))}"
    ;;
  status)
    subnet="$(load_cluster_env)" || { log "no hosts of cluster '$name'"; exit 1; }
    hosts="$(existing_hosts)"
    [[ -n "$hosts" ]] || { log "no hosts of cluster '$name'"; exit 1; }
    for n in $hosts; do
      if answers "$(sock_of "$n")" >/dev/null 2>&1; then
        log "$(ns_of "$n"): dockerd answers, $(docker -H "unix://$(sock_of "$n")" ps -q | wc -l) container(s) running"
      else
        log "$(ns_of "$n"): dockerd does not answer"
      fi
      host_line "$n"
    done
    ;;
  kill)
    [[ -e "/var/run/netns/$(ns_of "$count")" ]] || die "no host $(ns_of "$count")"
    power_off "$count"
    log "$(ns_of "$count"): every process killed (create again to restart its dockerd)"
    ;;
  disconnect|connect)
    ip link show "$(ns_of "$count")" >/dev/null 2>&1 || die "no host $(ns_of "$count")"
    ip link set "$(ns_of "$count")" "$([[ "$cmd" == connect ]] && echo up || echo down)"
    log "$(ns_of "$count"): ${cmd}ed"
    ;;
  *) usage ;;
esac
