#!/usr/bin/env bash
# A whole local Flotilla cluster, from nothing, in one command. Idempotent:
# run it again and it starts only what is not running.
#
#   ./scripts/up.sh            # then: export KUBECONFIG=$PWD/.flotilla/kubeconfig
#   ./scripts/down.sh [--purge]
#
# 1. scripts/setup.sh (packages, npm ci, build)
# 2. etcd (scripts/etcd.sh) on FLOTILLA_ETCD_PORT, default 2379 (the next
#    free of 12379, 12389, … when something else holds 2379)
# 3. FLOTILLA_HOSTS worker hosts (default 3; scripts/hosts.sh): network
#    namespaces flot-h1 … on the bridge flot0 (10.250.0.1), each with its
#    own dockerd; cluster ranges routed to the local sink (flotsink)
# 4. `flotilla apiserver` on https://10.250.0.1:FLOTILLA_APISERVER_PORT
#    (default 6443), certs in .flotilla/pki, tokens in .flotilla/tokens.csv
# 5. `flotilla scheduler`, `flotilla controller-manager` (it gives each
#    Node a pod range of 10.244.0.0/20) and `flotilla host-routes` (routes
#    from this machine to every node's pod range)
# 6. one `flotilla agent` per host, inside the host's namespace: it makes
#    its node's range the `flotilla` Docker network and routes the others'
# 7. `flotilla proxy` in every host and in the root namespace (ClusterIPs
#    and NodePorts), `flotilla dns` on the bridge (kube-dns at 10.96.0.10),
#    `flotilla ingress` on the bridge's ports 80/443
# 8. kubectl apply -f manifests/demo.yaml -f manifests/ingress.yaml
#
# FLOTILLA_HA=1: a highly available control plane instead — a 3-member etcd
# cluster (client ports 2379, 2389, 2399), two apiservers (ports 6444 and
# 6445 of the bridge) behind `flotilla lb` on 10.250.0.1:6443 (the address
# every kubeconfig names), two schedulers and two controller-managers
# electing their leaders. Chosen on the first run (with a fresh state:
# down.sh --purge to switch).
#
# State: .flotilla/ (PID files in run/, logs in logs/, kubeconfigs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$FLOTILLA_ROOT"

count="${FLOTILLA_HOSTS:-3}"
ha="${FLOTILLA_HA:-0}"
[[ "$ha" == 0 || "$ha" == 1 ]] || die "FLOTILLA_HA must be 0 or 1, got '$ha'"
[[ "$count" =~ ^[1-9]$ ]] || die "FLOTILLA_HOSTS must be 1-9, got '$count'"
api_port="${FLOTILLA_APISERVER_PORT:-6443}"
gateway="${FLOTILLA_HOSTS_SUBNET:-10.250.0}.1"
server="https://$gateway:$api_port"
run_dir="$(state_dir run)"
logs_dir="$(state_dir logs)"
pki="$FLOTILLA_STATE/pki"
tokens="$FLOTILLA_STATE/tokens.csv"
up_env="$FLOTILLA_STATE/up.env"
flotilla=(node "$FLOTILLA_ROOT/packages/cli/dist/bin/flotilla.js")
kubectl=(kubectl --kubeconfig "$FLOTILLA_STATE/kubeconfig")
missing=()

started=$SECONDS
((EUID == 0)) || die "up.sh needs root (network namespaces, dockerd)"

# A numbered step, with the seconds spent so far.
step() { log "$1 (+$((SECONDS - started))s)"; }

step "1/8 set-up and build (scripts/setup.sh)"
if ! scripts/setup.sh; then
  # A compile error in a tree being edited should not stop a cluster from
  # running what is built (tsc still emits what it could).
  [[ -f packages/cli/dist/bin/flotilla.js ]] || die "set-up failed and nothing is built"
  warn "set-up or build failed (above); running what is built"
fi

has_command() { "${flotilla[@]}" --help 2>/dev/null | grep -qE "^  $1( |$)"; }

# --- etcd -----------------------------------------------------------------
# The port is chosen once and remembered, so a second run and down.sh find it.
etcd_port=""
etcd_members=""
if [[ -f "$up_env" ]]; then
  etcd_port="$(sed -n 's/^etcd_port=//p' "$up_env")"
  etcd_members="$(sed -n 's/^etcd_members=//p' "$up_env")"
fi
want_members=1
((ha)) && want_members=3
if [[ -n "$etcd_port" && "${etcd_members:-1}" != "$want_members" ]]; then
  die "this state was made with FLOTILLA_HA=$((${etcd_members:-1} > 1)): run ./scripts/down.sh --purge to switch"
fi
# Member i uses the ports + 10·i (scripts/etcd.sh).
ports_free() { # PORT: every member's client and peer port
  local i
  for ((i = 0; i < want_members; i++)); do
    port_in_use $(($1 + 10 * i)) && return 1
    port_in_use $(($1 + 10 * i + 1)) && return 1
  done
  return 0
}
if [[ -z "$etcd_port" ]]; then
  etcd_port="${FLOTILLA_ETCD_PORT:-2379}"
  if [[ -z "${FLOTILLA_ETCD_PORT:-}" ]] && ! ports_free 2379; then
    for ((p = 12379; p < 13379; p += 100)); do
      if ports_free "$p"; then etcd_port=$p; break; fi
    done
    log "port 2379 is taken by something this repo did not start: etcd goes on $etcd_port"
  fi
  printf 'etcd_port=%s\netcd_members=%s\n' "$etcd_port" "$want_members" >"$up_env"
fi
step "2/8 etcd on port $etcd_port ($want_members member(s))"
etcd_endpoint="$(scripts/etcd.sh start --port "$etcd_port" --members "$want_members")"

# --- hosts ----------------------------------------------------------------
step "3/8 $count worker host(s) (scripts/hosts.sh create $count)"
# Built in the root engine when one answers, copied into each host.
host_lines="$(scripts/hosts.sh create "$count")"

# --- tokens ---------------------------------------------------------------
# Generated once (mode 0600): restarting the apiserver keeps every credential.
# A user missing from an older file (a component added since) is appended;
# a running apiserver reads the file at start, so it is restarted then.
# The format of `flotilla token generate --user`: token,"user","uid","groups";
# openssl instead of a node process per line keeps this instant.
token_line() { printf '%s,"%s","%s","%s"\n' "$(openssl rand -hex 32)" "$1" "$1" "$2"; }
components=(scheduler controller-manager proxy dns ingress)
(
  umask 077
  if [[ ! -s "$tokens" ]]; then
    log "generating $tokens"
    {
      token_line admin system:masters
      for ((n = 1; n <= 9; n++)); do token_line "system:node:h$n" system:nodes; done
    } >"$tokens.tmp"
    mv "$tokens.tmp" "$tokens"
  fi
  for c in "${components[@]}"; do
    grep -q ",\"system:flotilla:$c\"," "$tokens" || { token_line "system:flotilla:$c" system:flotilla-components >>"$tokens"; touch "$FLOTILLA_STATE/.tokens-added"; }
  done
)
chmod 600 "$tokens"
if [[ -e "$FLOTILLA_STATE/.tokens-added" ]]; then
  rm -f "$FLOTILLA_STATE/.tokens-added"
  for f in "$run_dir"/apiserver*.pid; do
    [[ -e "$f" ]] || continue
    pidfile_alive "$f" >/dev/null && { log "new component tokens: restarting $(basename "$f" .pid)"; stop_pid "$f" 20; }
  done
fi
token_of() { awk -F, -v u="\"$1\"" '$2 == u { print $1; exit }' "$tokens"; }

# --- apiserver ------------------------------------------------------------
ready() { curl -fsS --max-time 2 --cacert "$pki/ca.crt" "https://$gateway:$1/readyz"; }
# start_apiserver PIDNAME PORT: bound to the bridge, where the agents in the
# hosts' namespaces reach it; not exposed on the machine's own network.
start_apiserver() {
  local name="$1" port="$2"
  if ! pidfile_alive "$run_dir/$name.pid" >/dev/null; then
    if port_in_use "$port"; then
      die "port $port is in use by something else (PID $(port_owner_pids "$port" | tr '\n' ' ')); set FLOTILLA_APISERVER_PORT"
    fi
    start_bg "$run_dir/$name.pid" "$logs_dir/$name.log" "${flotilla[@]}" apiserver \
      --etcd-servers "$etcd_endpoint" --bind-address "$gateway" --advertise-address "$gateway" \
      --secure-port "$port" --cert-dir "$pki" --token-auth-file "$tokens"
  fi
  wait_for 60 "$name's /readyz on port $port" ready "$port" || { tail -n 20 "$logs_dir/$name.log" >&2; die "$name is not ready; log: $logs_dir/$name.log"; }
}
if ((ha)); then
  step "4/8 two apiservers behind flotilla lb on $server"
  # The first makes the certificates and the encryption key in $pki; the second reuses them.
  start_apiserver apiserver-1 $((api_port + 1))
  start_apiserver apiserver-2 $((api_port + 2))
  if ! pidfile_alive "$run_dir/lb.pid" >/dev/null; then
    port_in_use "$api_port" && die "port $api_port is in use by something else; set FLOTILLA_APISERVER_PORT"
    start_bg "$run_dir/lb.pid" "$logs_dir/lb.log" "${flotilla[@]}" lb --listen "$gateway:$api_port" \
      --backend "$gateway:$((api_port + 1))" --backend "$gateway:$((api_port + 2))" --ca-file "$pki/ca.crt"
  fi
  wait_for 30 "flotilla lb on $server" ready "$api_port" || { tail -n 20 "$logs_dir/lb.log" >&2; die "the load balancer does not answer; log: $logs_dir/lb.log"; }
else
  step "4/8 apiserver on $server"
  start_apiserver apiserver "$api_port"
fi

kubeconfig_for() { # FILE USER
  "${flotilla[@]}" kubeconfig --server "$server" --ca-file "$pki/ca.crt" --token "$(token_of "$2")" \
    --user "$2" --namespace default -o "$1" 2>/dev/null
}
kubeconfig_for "$FLOTILLA_STATE/kubeconfig" admin

# --- control loops --------------------------------------------------------
step "5/8 scheduler and controller-manager"
start_component() { # NAME[:INSTANCE] ARGS... (an instance gets its own PID file and log: NAME-INSTANCE)
  local name="${1%%:*}" id="$1"
  id="${id/:/-}"
  shift
  if ! has_command "$name"; then
    missing+=("flotilla $name")
    warn "'flotilla $name' does not exist yet: not started"
    return 0
  fi
  pidfile_alive "$run_dir/$id.pid" >/dev/null && return 0
  kubeconfig_for "$FLOTILLA_STATE/$name.kubeconfig" "system:flotilla:$name"
  start_bg "$run_dir/$id.pid" "$logs_dir/$id.log" "${flotilla[@]}" "$name" \
    --kubeconfig "$FLOTILLA_STATE/$name.kubeconfig" "$@"
}
# Slot 0 of the machine's pod range: test clusters (createHosts) take 10.244.16.0/20 and up.
pod_cidr="10.244.0.0/20"
# The cluster CA that signs joining nodes' certificates (csr-signing) is this cluster's, not /var/lib/flotilla's.
signing=(--cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key")
if ((ha)); then
  # Two of each; one leads (a Lease in kube-system), the other waits to take over.
  for n in 1 2; do
    start_component "scheduler:$n"
    start_component "controller-manager:$n" --cluster-cidr "$pod_cidr" "${signing[@]}"
  done
else
  start_component scheduler
  start_component controller-manager --cluster-cidr "$pod_cidr" "${signing[@]}"
fi
# The control plane's machine runs no agent: this keeps its routes to the pods.
if ! pidfile_alive "$run_dir/host-routes.pid" >/dev/null; then
  start_bg "$run_dir/host-routes.pid" "$logs_dir/host-routes.log" "${flotilla[@]}" host-routes \
    --kubeconfig "$FLOTILLA_STATE/kubeconfig" --within "$pod_cidr" \
    --sink-cidr 10.96.0.0/12 --sink-cidr 10.244.0.0/16 --sink-cidr 10.250.0.0/16
fi

# --- agents ---------------------------------------------------------------
step "6/8 one agent per host"
if has_command agent; then
  # Empty when every agent already ran: then any Ready Node counts.
  agents_since=""
  while IFS=$'\t' read -r host ip docker_host netns _veth _pid; do
    [[ -n "$host" ]] || continue
    pidfile_alive "$run_dir/agent-$host.pid" >/dev/null && continue
    [[ -n "$agents_since" ]] || agents_since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    kubeconfig_for "$FLOTILLA_STATE/$host.kubeconfig" "system:node:$host"
    # In the host's namespace, so the Node's address and its log server are the host's.
    start_bg "$run_dir/agent-$host.pid" "$logs_dir/agent-$host.log" \
      nsenter --net="/var/run/netns/$netns" "${flotilla[@]}" agent \
      --node-name "$host" --kubeconfig "$FLOTILLA_STATE/$host.kubeconfig" \
      --docker-host "$docker_host" --node-ip "$ip" \
      --cluster-dns 10.96.0.10 --cluster-domain cluster.local \
      --state-dir "$FLOTILLA_STATE/agents/$host"
  done <<<"$host_lines"
  # A Node kept in etcd from an earlier run still says Ready: count only
  # those whose agent has reported since this run started them.
  nodes_ready() {
    local n
    n="$("${kubectl[@]}" get nodes -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{" "}{.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}{"\n"}{end}' |
      awk -v since="$agents_since" '$1 == "True" && $2 >= since' | wc -l)"
    ((n >= count))
  }
  wait_for 60 "$count node(s) to be Ready" nodes_ready || warn "not every node is Ready yet; see $logs_dir/agent-h*.log"
else
  missing+=("flotilla agent")
  warn "'flotilla agent' does not exist yet: the hosts run no agent"
fi

# --- services: proxies, cluster DNS, ingress -------------------------------
step "7/8 flotilla proxy on every host and here, flotilla dns, flotilla ingress"
# One proxy per host (in its namespace) and one in the root namespace, so a
# ClusterIP answers from pods, hosts and this machine; NodePorts on every host.
kubeconfig_for "$FLOTILLA_STATE/proxy.kubeconfig" system:flotilla:proxy
while IFS=$'\t' read -r host ip _docker_host netns _veth _pid; do
  [[ -n "$host" ]] || continue
  pidfile_alive "$run_dir/proxy-$host.pid" >/dev/null && continue
  start_bg "$run_dir/proxy-$host.pid" "$logs_dir/proxy-$host.log" \
    nsenter --net="/var/run/netns/$netns" "${flotilla[@]}" proxy \
    --kubeconfig "$FLOTILLA_STATE/proxy.kubeconfig" --hostname-override "$host" --node-ip "$ip" \
    --cluster-cidr 10.244.0.0/16 --metrics-bind-address "$ip:10249"
done <<<"$host_lines"
pidfile_alive "$run_dir/proxy-root.pid" >/dev/null ||
  start_bg "$run_dir/proxy-root.pid" "$logs_dir/proxy-root.log" "${flotilla[@]}" proxy \
    --kubeconfig "$FLOTILLA_STATE/proxy.kubeconfig" --hostname-override control-plane \
    --cluster-cidr 10.244.0.0/16 --nodeport-addresses "$gateway/32" --metrics-bind-address 127.0.0.1:10249
# Cluster DNS on the bridge; pods reach it at the kube-dns ClusterIP
# (10.96.0.10) through the proxies. --no-forward: this machine's own
# resolver is off-machine, where no test traffic may go.
start_component dns --bind-address "$gateway" --port 53 --metrics-port 9153 --no-forward
# The L7 front door on the bridge address, ports 80 and 443; one worker
# process per core unless FLOTILLA_INGRESS_WORKERS says otherwise.
start_component ingress --http-port "${FLOTILLA_INGRESS_HTTP_PORT:-80}" --https-port "${FLOTILLA_INGRESS_HTTPS_PORT:-443}" \
  --bind-address "$gateway" --publish-address "$gateway" --metrics-bind-address 127.0.0.1:10254 \
  ${FLOTILLA_INGRESS_WORKERS:+--workers "$FLOTILLA_INGRESS_WORKERS"}

# --- demo -----------------------------------------------------------------
step "8/8 kubectl apply -f manifests/demo.yaml -f manifests/ingress.yaml"
"${kubectl[@]}" apply -f manifests/demo.yaml >&2
"${kubectl[@]}" apply -f manifests/ingress.yaml >&2
if ((${#missing[@]} == 0)); then
  available() { (($("${kubectl[@]}" get deployment echo -o jsonpath='{.status.availableReplicas}' || echo 0) >= 3)); }
  wait_for 90 "deployment/echo to have 3 available replicas" available || warn "deployment/echo is not fully available yet"
fi

missing_line=""
((${#missing[@]} == 0)) || missing_line="MISSING (not built yet, so not started): ${missing[*]}"

cat <<EOF

Flotilla is up ($((SECONDS - started)) s): etcd $etcd_endpoint, apiserver $server$( ((ha)) && echo " (two apiservers behind flotilla lb)"), $count host(s).
Logs: $logs_dir/   PIDs: $run_dir/
$missing_line
Try:
  export KUBECONFIG=$FLOTILLA_STATE/kubeconfig
  kubectl get nodes,pods -o wide
  kubectl get deploy,rs,svc,endpoints
  kubectl scale deployment echo --replicas 5
  # a pod answers on its pod IP from this machine (the flat pod network):
  curl -s http://\$(kubectl get pod -l app=echo -o jsonpath='{.items[0].status.podIP}'):8080/hello
  # the Service's stable address spreads over the replicas on every host:
  curl -s http://\$(kubectl get svc echo -o jsonpath='{.spec.clusterIP}')/hello
  # the same by name, from inside a pod (cluster DNS):
  kubectl exec deploy/echo -- wget -qO- http://echo/hello
  # through the ingress, by host name:
  curl -s -H 'Host: echo.flotilla.local' http://$gateway/hello
  flotctl status                          # hosts, their pods, what is unhealthy

Kill a host (a power cut: its dockerd, containers and agent die) and watch it heal:
  ./scripts/hosts.sh kill 2
  kubectl get nodes,pods -o wide -w     # h2 goes NotReady, its pods come back on h1 and h3
  ./scripts/hosts.sh disconnect 3       # or pull a host's network cable (connect 3 to plug it back)
  ./scripts/up.sh                       # brings the killed host and its agent back

Stop everything: ./scripts/down.sh   (--purge also deletes the etcd data, tokens and certificates)
EOF
