#!/usr/bin/env bash
# Stops everything scripts/up.sh started, by PID file: the agents, ingress,
# dns, the proxies (and the root namespace's proxy rules), the
# controller-managers, the schedulers, the load balancer, the apiservers, the worker hosts
# (scripts/hosts.sh delete: dockerds, containers, namespaces, bridge,
# routes, iptables rules) and etcd.
#
#   ./scripts/down.sh           # keeps the etcd data, tokens and certificates
#   ./scripts/down.sh --purge   # deletes them too (the next up.sh starts empty)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$FLOTILLA_ROOT"

purge=0
for arg in "$@"; do
  case "$arg" in
    --purge) purge=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

run_dir="$FLOTILLA_STATE/run"
up_env="$FLOTILLA_STATE/up.env"

# stop_all PIDFILE...: stops them at once (each SIGTERM, SIGKILL after 20 s).
stop_all() {
  local pidfile name pid
  for pidfile in "$@"; do
    [[ -e "$pidfile" ]] || continue
    name="$(basename "$pidfile" .pid)"
    if pid="$(pidfile_alive "$pidfile")"; then
      (stop_pid "$pidfile" 20 && log "$name stopped (PID $pid)") &
    else
      rm -f "$pidfile"
    fi
  done
  wait
}

# Agents first (they would otherwise report their pods failing), then the
# control loops, then the apiserver they talk to.
stop_all "$run_dir"/agent-*.pid "$run_dir/ingress.pid" "$run_dir/dns.pid"
stop_all "$run_dir"/proxy-*.pid "$run_dir"/controller-manager*.pid "$run_dir"/scheduler*.pid "$run_dir/host-routes.pid"
# A stopped proxy leaves its rules (running traffic keeps flowing); the
# hosts' rules go with their namespaces, the root namespace's go here.
[[ -f packages/cli/dist/bin/flotilla.js ]] && node packages/cli/dist/bin/flotilla.js proxy --cleanup >/dev/null 2>&1 || true
stop_all "$run_dir/lb.pid" "$run_dir"/apiserver*.pid

scripts/hosts.sh delete

etcd_port=""
etcd_members=""
if [[ -f "$up_env" ]]; then
  etcd_port="$(sed -n 's/^etcd_port=//p' "$up_env")"
  etcd_members="$(sed -n 's/^etcd_members=//p' "$up_env")"
fi
if [[ -n "$etcd_port" ]]; then
  if ((purge)); then
    scripts/etcd.sh stop --port "$etcd_port" --members "${etcd_members:-1}" --purge
    rm -f "$up_env"
  else
    scripts/etcd.sh stop --port "$etcd_port" --members "${etcd_members:-1}"
  fi
fi

if ((purge)); then
  rm -rf "$FLOTILLA_STATE/pki" "$FLOTILLA_STATE/agents" "$FLOTILLA_STATE/logs" "$run_dir"
  rm -f "$FLOTILLA_STATE/tokens.csv" "$FLOTILLA_STATE"/*.kubeconfig "$FLOTILLA_STATE/kubeconfig"
  log "purged: etcd data, tokens, certificates, kubeconfigs, logs"
fi
if ((purge)); then log "down"; else log "down${etcd_port:+ (etcd data kept in .flotilla/etcd/$etcd_port; --purge deletes it)}"; fi
