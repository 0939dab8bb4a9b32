#!/bin/sh
# The entry point of the flotilla containers of docker-compose.yml: makes the
# credentials a role needs (once, in the shared volume /var/lib/flotilla),
# then runs the role as the README runs it on a machine. Settings come from
# the environment docker-compose.yml passes (FLOTILLA_NODE_NAME, …).
#
#   compose-entry.sh setup        tokens.csv, once (the admin, each component, the node)
#   compose-entry.sh kubeconfigs  a kubeconfig per component, and the admin's in /out
#   compose-entry.sh ROLE [ARG…]  apiserver | scheduler | controller-manager | agent | proxy | dns | ingress
set -eu

state=/var/lib/flotilla
pki="$state/pki"
tokens="$state/tokens.csv"
node="${FLOTILLA_NODE_NAME:-node1}"
api_port="${FLOTILLA_APISERVER_PORT:-6443}"
components="scheduler controller-manager proxy dns ingress"

log() { echo "compose-entry: $*" >&2; }

# The node's address: FLOTILLA_NODE_IP, else the first global IPv4 address of
# the interface the default route leaves by, else the first global one at all
# (roles on the host's network only: on the compose network it is the container's).
node_ip() {
  if [ -n "${FLOTILLA_NODE_IP:-}" ]; then echo "$FLOTILLA_NODE_IP"; return; fi
  dev="$(ip -4 -o route show default | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -n 1)"
  ip -4 -o addr show ${dev:+dev "$dev"} scope global | awk '{ split($4, a, "/"); print a[1]; exit }'
}

token_of() { awk -F, -v u="\"$1\"" '$2 == u { print $1; exit }' "$tokens"; }

role="${1:?usage: compose-entry.sh ROLE [ARG…]}"
shift

case "$role" in
  setup)
    mkdir -p "$state"
    if [ ! -s "$tokens" ]; then
      {
        flotilla token generate --user admin --groups system:masters
        flotilla token generate --user "system:node:$node" --groups system:nodes
        for c in $components; do flotilla token generate --user "system:flotilla:$c" --groups system:flotilla-components; done
      } >"$tokens.tmp"
      chmod 600 "$tokens.tmp"
      mv "$tokens.tmp" "$tokens"
      log "wrote $tokens"
    fi
    ;;

  kubeconfigs)
    # Roles on the compose network reach the apiserver by its service name;
    # roles on the host's network by the port published on the host.
    for c in scheduler controller-manager; do
      flotilla kubeconfig --server https://apiserver:6443 --ca-file "$pki/ca.crt" --token "$(token_of "system:flotilla:$c")" --user "system:flotilla:$c" -o "$state/$c.kubeconfig"
    done
    for c in proxy dns ingress; do
      flotilla kubeconfig --server "https://127.0.0.1:$api_port" --ca-file "$pki/ca.crt" --token "$(token_of "system:flotilla:$c")" --user "system:flotilla:$c" -o "$state/$c.kubeconfig"
    done
    flotilla kubeconfig --server "https://127.0.0.1:$api_port" --ca-file "$pki/ca.crt" --token "$(token_of "system:node:$node")" --user "system:node:$node" -o "$state/agent.kubeconfig"
    if [ -d /out ]; then
      flotilla kubeconfig --server "https://127.0.0.1:$api_port" --ca-file "$pki/ca.crt" --token "$(token_of admin)" --user admin -o /out/kubeconfig
      log "wrote the admin kubeconfig (server https://127.0.0.1:$api_port)"
    fi
    ;;

  apiserver)
    exec flotilla apiserver --etcd-servers http://etcd:2379 --token-auth-file "$tokens" --cert-dir "$pki" \
      --tls-san apiserver --tls-san 127.0.0.1 --tls-san localhost "$@"
    ;;

  scheduler | controller-manager)
    exec flotilla "$role" --kubeconfig "$state/$role.kubeconfig" "$@"
    ;;

  agent)
    # What the README asks of a worker before its agent starts: the cluster
    # ranges go to a local sink, so an address no rule or route catches never
    # leaves the machine.
    ip link show flotsink >/dev/null 2>&1 || ip link add flotsink type bridge
    ip link set flotsink up
    ip route replace 10.96.0.0/12 dev flotsink
    ip route replace "${FLOTILLA_CLUSTER_CIDR:-10.244.0.0/16}" dev flotsink
    exec flotilla agent --node-name "$node" --kubeconfig "$state/agent.kubeconfig" --node-ip "$(node_ip)" \
      --cluster-dns 10.96.0.10 --remove-pods-on-exit "$@"
    ;;

  proxy)
    exec flotilla proxy --kubeconfig "$state/proxy.kubeconfig" --hostname-override "$node" --node-ip "$(node_ip)" \
      --cluster-cidr "${FLOTILLA_CLUSTER_CIDR:-10.244.0.0/16}" "$@"
    ;;

  dns)
    exec flotilla dns --kubeconfig "$state/dns.kubeconfig" --bind-address "$(node_ip)" "$@"
    ;;

  ingress)
    exec flotilla ingress --kubeconfig "$state/ingress.kubeconfig" --publish-address "$(node_ip)" "$@"
    ;;

  *)
    log "unknown role: $role"
    exit 2
    ;;
esac
