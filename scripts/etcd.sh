#!/usr/bin/env bash
# A local single-member etcd for Flotilla.
#
#   scripts/etcd.sh start [--port N] [--auto-compaction-retention R]
#   scripts/etcd.sh stop  [--port N] [--purge]
#   scripts/etcd.sh status [--port N]
#
# Client port: --port, else FLOTILLA_ETCD_PORT, else 2379; the peer port is
# the client port + 1. State (data, PID file, log) lives in
# .flotilla/etcd/<port>/, so a test etcd on another port never touches the
# developer's. `start` prints the client endpoint on stdout.
# Auto-compaction is off unless asked for: a watch must be able to resume
# from any revision the tests saw, and compaction is what answers 410 Gone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift
port="${FLOTILLA_ETCD_PORT:-2379}"
retention="${FLOTILLA_ETCD_AUTO_COMPACTION_RETENTION:-0}"
purge=0
while (($#)); do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --port=*) port="${1#*=}"; shift ;;
    --auto-compaction-retention) retention="$2"; shift 2 ;;
    --auto-compaction-retention=*) retention="${1#*=}"; shift ;;
    --purge) purge=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$port'"

peer_port=$((port + 1))
dir="$FLOTILLA_STATE/etcd/$port"
pidfile="$dir/etcd.pid"
logfile="$dir/etcd.log"
endpoint="http://127.0.0.1:$port"

healthy() {
  ETCDCTL_API=3 etcdctl --endpoints="$endpoint" --command-timeout=2s endpoint health
}

case "$cmd" in
  start)
    command -v etcd >/dev/null || die "etcd is not installed; run scripts/setup.sh"
    if pid="$(pidfile_alive "$pidfile")"; then
      wait_for 30 "etcd (PID $pid) on $endpoint to be healthy" healthy || die "our etcd (PID $pid) is not healthy; see $logfile"
      log "etcd already running (PID $pid)"
      printf '%s\n' "$endpoint"
      exit 0
    fi
    for p in "$port" "$peer_port"; do
      if port_in_use "$p"; then
        owners="$(port_owner_pids "$p" | tr '\n' ' ')"
        die "port $p is already in use${owners:+ by PID ${owners% }}, and not by an etcd this script started (no live $pidfile). Stop it, or pick another port: --port N or FLOTILLA_ETCD_PORT=N"
      fi
    done
    mkdir -p "$dir/data"
    chmod 700 "$dir/data"
    : >"$logfile"
    start_bg "$pidfile" "$logfile" etcd \
      --name "flotilla-$port" \
      --data-dir "$dir/data" \
      --listen-client-urls "$endpoint" \
      --advertise-client-urls "$endpoint" \
      --listen-peer-urls "http://127.0.0.1:$peer_port" \
      --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
      --initial-cluster "flotilla-$port=http://127.0.0.1:$peer_port" \
      --auto-compaction-retention "$retention" \
      --logger zap --log-outputs stderr
    pid="$(cat "$pidfile")"
    if ! wait_for 30 "etcd on $endpoint to be healthy" healthy; then
      tail -n 20 "$logfile" >&2 || true
      stop_pid "$pidfile" 5
      die "etcd did not become healthy; log: $logfile"
    fi
    log "etcd started (PID $pid, data $dir/data, log $logfile)"
    printf '%s\n' "$endpoint"
    ;;
  stop)
    if pid="$(pidfile_alive "$pidfile")"; then
      stop_pid "$pidfile" 20
      log "etcd stopped (PID $pid)"
    else
      rm -f "$pidfile"
    fi
    if ((purge)); then rm -rf "$dir"; fi
    ;;
  status)
    if pid="$(pidfile_alive "$pidfile")" && healthy >/dev/null 2>&1; then
      log "etcd running (PID $pid) on $endpoint"
      printf '%s\n' "$endpoint"
    else
      log "etcd not running on $endpoint (from this repo)"
      exit 1
    fi
    ;;
  *) usage ;;
esac
