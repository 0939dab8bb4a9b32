#!/usr/bin/env bash
# The root-namespace Docker engine that the agent tests drive.
#
#   scripts/dockerd.sh start    # prints the DOCKER_HOST value on stdout
#   scripts/dockerd.sh stop
#   scripts/dockerd.sh status
#
# When the socket (FLOTILLA_DOCKER_SOCK, default /var/run/docker.sock)
# already answers, that engine is used as is and `stop` leaves it alone.
# Otherwise dockerd is started in the background with its PID file and log
# under .flotilla/dockerd/, and only that one is ever stopped.
# FLOTILLA_DOCKERD_ARGS adds flags (e.g. "--data-root /srv/docker").
# Note: a dockerd in the root namespace sets the iptables FORWARD policy to DROP.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

sock="${FLOTILLA_DOCKER_SOCK:-/var/run/docker.sock}"
dir="$FLOTILLA_STATE/dockerd"
pidfile="$dir/dockerd.pid"
logfile="$dir/dockerd.log"

answers() { curl -fsS --max-time 2 --unix-socket "$sock" http://docker/_ping; }

case "${1:-}" in
  start)
    if pid="$(pidfile_alive "$pidfile")"; then
      wait_for 60 "our dockerd (PID $pid) on $sock" answers || die "our dockerd (PID $pid) does not answer; see $logfile"
      log "dockerd already running (PID $pid, started by this repo)"
    elif answers >/dev/null 2>&1; then
      log "using the Docker engine already answering on $sock (not ours: stop will leave it running)"
    else
      command -v dockerd >/dev/null || die "dockerd is not installed; run scripts/setup.sh"
      mkdir -p "$dir"
      : >"$logfile"
      # dockerd writes its own PID file too; ours comes from start_bg, which
      # records the exact process we launched.
      # shellcheck disable=SC2086 # word splitting of the extra flags is wanted
      start_bg "$pidfile" "$logfile" dockerd -H "unix://$sock" --pidfile "$dir/dockerd.own.pid" ${FLOTILLA_DOCKERD_ARGS:-}
      pid="$(cat "$pidfile")"
      if ! wait_for 60 "dockerd to answer on $sock" answers; then
        tail -n 20 "$logfile" >&2 || true
        stop_pid "$pidfile" 20
        die "dockerd did not start; log: $logfile"
      fi
      log "dockerd started (PID $pid, log $logfile)"
    fi
    printf 'unix://%s\n' "$sock"
    ;;
  stop)
    if pid="$(pidfile_alive "$pidfile")"; then
      # dockerd stops its containers first (10 s each by default), then containerd.
      stop_pid "$pidfile" 60
      log "dockerd stopped (PID $pid)"
    else
      rm -f "$pidfile"
    fi
    ;;
  status)
    if pid="$(pidfile_alive "$pidfile")"; then
      log "dockerd running (PID $pid, started by this repo)"
    elif answers >/dev/null 2>&1; then
      log "a Docker engine not started by this repo answers on $sock"
    else
      log "no Docker engine answers on $sock"
      exit 1
    fi
    printf 'unix://%s\n' "$sock"
    ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
