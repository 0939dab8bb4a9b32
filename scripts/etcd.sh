#!/usr/bin/env bash
# A local etcd for Flotilla: one member, or a cluster of several.
#
#   scripts/etcd.sh start [--port N] [--members M] [--auto-compaction-retention R]
#   scripts/etcd.sh stop  [--port N] [--members M] [--purge]
#   scripts/etcd.sh status [--port N] [--members M]
#
# Client port: --port, else FLOTILLA_ETCD_PORT, else 2379; the peer port is
# the client port + 1. With --members M (FLOTILLA_ETCD_MEMBERS, default 1),
# member i (0-based) uses the ports + 10·i: a 3-member cluster on 2379 has
# clients on 2379, 2389 and 2399. State (data, PID file, log) lives in
# .flotilla/etcd/<port>/ per member, so a test etcd on another port never
# touches the developer's. `start` prints the client endpoints on stdout,
# comma-separated (what --etcd-servers takes).
# Auto-compaction is off unless asked for: a watch must be able to resume
# from any revision the tests saw, and compaction is what answers 410 Gone.
# The backend may grow to 8 GiB (etcd's default quota is 2 GiB, which 150,000
# pods and their history outgrow, and past it etcd refuses every write), and
# bbolt keeps its free pages in a map: with the default array, finding free
# pages in a large, compacted database costs etcd CPU on every commit.
# etcd 3.4 (Debian's) copies its buffer of uncommitted writes for every
# request, and the buffer keeps the size of the largest batch it ever held
# while writes go on: after one delete of many keys at once (`etcdctl del
# --prefix` over thousands of them) every later request pays for it; one of
# 210,000 keys made each cost ~10 ms of etcd CPU. Delete a few hundred keys
# at a time, or restart the member afterwards.
# FLOTILLA_ETCD_FLAGS adds etcd flags (split on spaces), e.g. --enable-pprof
# to read etcd's profiles at /debug/pprof on its client port.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The usage is the comment block at the top, however long it grows.
usage() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift
port="${FLOTILLA_ETCD_PORT:-2379}"
retention="${FLOTILLA_ETCD_AUTO_COMPACTION_RETENTION:-0}"
purge=0
members="${FLOTILLA_ETCD_MEMBERS:-1}"
while (($#)); do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --port=*) port="${1#*=}"; shift ;;
    --members) members="$2"; shift 2 ;;
    --members=*) members="${1#*=}"; shift ;;
    --auto-compaction-retention) retention="$2"; shift 2 ;;
    --auto-compaction-retention=*) retention="${1#*=}"; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"
[[ "$members" =~ ^[1-9]$ ]] || die "--members must be 1-9, got '$members'"

# Member i: client port, peer port, state directory.
client_port() { echo $((port + 10 * $1)); }
peer_port() { echo $((port + 10 * $1 + 1)); }
member_dir() { echo "$FLOTILLA_STATE/etcd/$(client_port "$1")"; }
endpoint_of() { echo "http://127.0.0.1:$(client_port "$1")"; }

endpoints=""
initial_cluster=""
for ((i = 0; i < members; i++)); do
  endpoints+="${endpoints:+,}$(endpoint_of "$i")"
  initial_cluster+="${initial_cluster:+,}flotilla-$(client_port "$i")=http://127.0.0.1:$(peer_port "$i")"
done

healthy() { # [ENDPOINTS]: every member answers
  ETCDCTL_API=3 etcdctl --endpoints="${1:-$endpoints}" --command-timeout=2s endpoint health
}

case "$cmd" in
  start)
    command -v etcd >/dev/null || die "etcd is not installed; run scripts/setup.sh"
    started=()
    for ((i = 0; i < members; i++)); do
      dir="$(member_dir "$i")"
      pidfile="$dir/etcd.pid"
      logfile="$dir/etcd.log"
      if pid="$(pidfile_alive "$pidfile")"; then
        log "etcd member $i already running (PID $pid)"
        continue
      fi
      for p in "$(client_port "$i")" "$(peer_port "$i")"; do
        if port_in_use "$p"; then
          owners="$(port_owner_pids "$p" | tr '\n' ' ')"
          die "port $p is already in use${owners:+ by PID ${owners% }}, and not by an etcd this script started (no live $pidfile). Stop it, or pick another port: --port N or FLOTILLA_ETCD_PORT=N"
        fi
      done
      mkdir -p "$dir/data"
      chmod 700 "$dir/data"
      : >"$logfile"
      # A member with data rejoins its cluster from it; the initial-cluster flags only matter the first time.
      start_bg "$pidfile" "$logfile" etcd \
        --name "flotilla-$(client_port "$i")" \
        --data-dir "$dir/data" \
        --listen-client-urls "$(endpoint_of "$i")" \
        --advertise-client-urls "$(endpoint_of "$i")" \
        --listen-peer-urls "http://127.0.0.1:$(peer_port "$i")" \
        --initial-advertise-peer-urls "http://127.0.0.1:$(peer_port "$i")" \
        --initial-cluster "$initial_cluster" \
        --initial-cluster-token "flotilla-$port" \
        --auto-compaction-retention "$retention" \
        --quota-backend-bytes 8589934592 \
        --experimental-backend-bbolt-freelist-type map \
        --logger zap --log-outputs stderr \
        ${FLOTILLA_ETCD_FLAGS:-}
      started+=("$i")
    done
    # Members of a new cluster wait for each other (quorum): check them once all run.
    if ! wait_for 30 "etcd on $endpoints to be healthy" healthy; then
      for i in "${started[@]}"; do
        tail -n 20 "$(member_dir "$i")/etcd.log" >&2 || true
        stop_pid "$(member_dir "$i")/etcd.pid" 5
      done
      die "etcd did not become healthy; logs: $FLOTILLA_STATE/etcd/<port>/etcd.log"
    fi
    for i in "${started[@]}"; do
      log "etcd member $i started (PID $(cat "$(member_dir "$i")/etcd.pid"), data $(member_dir "$i")/data)"
    done
    printf '%s\n' "$endpoints"
    ;;
  stop)
    for ((i = 0; i < members; i++)); do
      dir="$(member_dir "$i")"
      pidfile="$dir/etcd.pid"
      if pid="$(pidfile_alive "$pidfile")"; then
        stop_pid "$pidfile" 20
        log "etcd stopped (PID $pid)"
      else
        rm -f "$pidfile"
      fi
      if ((purge)); then rm -rf "$dir"; fi
    done
    ;;
  status)
    running=0
    for ((i = 0; i < members; i++)); do
      if pid="$(pidfile_alive "$(member_dir "$i")/etcd.pid")" && healthy "$(endpoint_of "$i")" >/dev/null 2>&1; then
        log "etcd running (PID $pid) on $(endpoint_of "$i")"
        running=$((running + 1))
      else
        log "etcd not running on $(endpoint_of "$i") (from this repo)"
      fi
    done
    ((running > 0)) || exit 1
    printf '%s\n' "$endpoints"
    ;;
  *) usage ;;
esac
