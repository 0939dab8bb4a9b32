# Shared helpers for Flotilla's scripts. Source it; do not run it.
#   . "$(dirname "$0")/lib.sh"
# Every script that sources it gets: FLOTILLA_ROOT (the repo), FLOTILLA_STATE
# (.flotilla/, ignored by git), logging, wait_for, and PID-file process control.

# shellcheck shell=bash

FLOTILLA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLOTILLA_STATE="${FLOTILLA_STATE:-$FLOTILLA_ROOT/.flotilla}"
export FLOTILLA_ROOT FLOTILLA_STATE

# The name that prefixes every log line: the script being run.
_flotilla_me="$(basename "${0:-flotilla}" .sh)"

# Progress line on stderr, so stdout stays free for values (an endpoint).
log() { printf '[%s] %s\n' "$_flotilla_me" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$_flotilla_me" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$_flotilla_me" "$*" >&2; exit 1; }

# Creates the state directory (and a subdirectory of it) on demand.
state_dir() {
  local d="$FLOTILLA_STATE${1:+/$1}"
  mkdir -p "$d"
  printf '%s\n' "$d"
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.2 s until it
# succeeds; fails with DESCRIPTION once SECONDS have passed.
wait_for() {
  local timeout="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      printf '[%s] ERROR: timed out after %ss waiting for %s\n' "$_flotilla_me" "$timeout" "$what" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Succeeds when process PID runs. A zombie counts as dead: PID 1 on this
# machine reaps late, so a killed daemon lingers as one and `kill -0` on it
# still succeeds.
pid_alive() {
  local stat
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  # The state follows the command name, which is in parentheses and may hold spaces.
  stat="${stat##*) }"
  [[ -n "$stat" && "${stat%% *}" != Z ]]
}

# Prints the PID in PIDFILE when that process is alive; fails otherwise.
pidfile_alive() {
  local pidfile="$1" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  pid_alive "$pid" || return 1
  printf '%s\n' "$pid"
}

# start_bg PIDFILE LOGFILE CMD...: starts CMD detached from this shell's
# terminal, output to LOGFILE, and records its PID in PIDFILE.
start_bg() {
  local pidfile="$1" logfile="$2"
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  # Without job control the child is not a process-group leader, so setsid
  # execs in place (no fork) and $! is the daemon's own PID.
  local -
  set +m
  # setsid: the daemon gets its own session, so a Ctrl-C in the caller's
  # terminal does not reach it and stop_pid decides when it ends.
  setsid "$@" </dev/null >>"$logfile" 2>&1 &
  printf '%s\n' "$!" >"$pidfile"
}

# stop_pid PIDFILE [GRACE_SECONDS]: SIGTERM the PID in PIDFILE, SIGKILL it
# after the grace period, then remove PIDFILE. Only ever the recorded PID.
stop_pid() {
  local pidfile="$1" grace="${2:-20}" pid
  if ! pid="$(pidfile_alive "$pidfile")"; then
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$grace" "PID $pid to exit" _pid_gone "$pid"; then
    warn "PID $pid ignored SIGTERM for ${grace}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 10 "PID $pid to die" _pid_gone "$pid" || true
  fi
  rm -f "$pidfile"
}

_pid_gone() { ! pid_alive "$1"; }

# Succeeds when something listens on 127.0.0.1:PORT (TCP).
port_in_use() {
  ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# Prints the PIDs listening on TCP PORT (needs root to see other users').
port_owner_pids() {
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}
