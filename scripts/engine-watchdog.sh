#!/usr/bin/env bash
# Watches a Docker engine while tests run, and ends the run when the engine
# hangs instead of letting every test that needs it time out one by one.
#
#   scripts/engine-watchdog.sh --socket /var/run/docker.sock --signal-pid PID \
#       [--engine-pid PID] [--every SECONDS] [--timeout SECONDS] [--strikes N]
#
# Every --every seconds (30) it asks the engine for /info; an engine that has
# not answered --strikes (3) times in a row within --timeout seconds (20) is
# taken as hung. Docker 20.10's libnetwork can deadlock between one
# container's exit and another's start: every start, inspect and /info then
# waits forever, and a test run stalls until its budget (45 min) with a
# handful of unexplained timeouts. The watchdog then says so on stderr, asks
# the engine for its goroutine dump (SIGUSR1 to --engine-pid, which Docker
# writes under its exec root and names in its log), and sends SIGTERM to
# --signal-pid (the test run, which cleans up and fails). It exits once it
# has done that, or when --signal-pid is gone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

socket="" signal_pid="" engine_pid="" every=30 timeout_s=20 strikes=3
while (($#)); do
  case "$1" in
    --socket) socket="$2"; shift 2 ;;
    --signal-pid) signal_pid="$2"; shift 2 ;;
    --engine-pid) engine_pid="$2"; shift 2 ;;
    --every) every="$2"; shift 2 ;;
    --timeout) timeout_s="$2"; shift 2 ;;
    --strikes) strikes="$2"; shift 2 ;;
    *) die "engine-watchdog: unknown argument $1" ;;
  esac
done
[[ -n "$socket" && -n "$signal_pid" ]] || die "engine-watchdog: --socket and --signal-pid are required"

# Stopped (the run is over): take the sleep or the request in flight along.
child=""
trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; exit 0' TERM INT

missed=0
while kill -0 "$signal_pid" 2>/dev/null; do
  sleep "$every" &
  child=$!
  wait "$child"
  child=""
  if curl -sf -o /dev/null -m "$timeout_s" --unix-socket "$socket" http://docker/info; then
    missed=0
    continue
  fi
  missed=$((missed + 1))
  ((missed >= strikes)) || continue
  warn "the Docker engine on $socket has not answered /info $missed times in a row (${timeout_s}s each): it is hung; ending the test run"
  if [[ -n "$engine_pid" ]] && kill -USR1 "$engine_pid" 2>/dev/null; then
    warn "asked the engine (PID $engine_pid) for its goroutine dump (SIGUSR1): its log names the file"
  fi
  kill -TERM "$signal_pid" 2>/dev/null || true
  exit 0
done
