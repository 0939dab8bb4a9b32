#!/usr/bin/env bash
# Flotilla's benchmarks, each printed against a baseline measured in the
# same run (bare etcd, raw `docker run`), as a table and a BENCH_JSON line.
#
#   scripts/bench.sh [apiserver|agent|scheduler|scale|dns|ingress|network|e2e|liveness|failover|all] [--quick] [--cpu-prof DIR]
#   scripts/bench.sh apiserver-op get|create|list [-c N] [-d SECONDS] [--cpu-prof DIR]
#
# apiserver  GET/create at 1/16/64 clients, LIST of 10,000 pods, watch
#            delivery with 1,000 watches, and GET again once the store holds
#            300,000 more keys, vs etcd3 put/get (issues 2 and 11);
#            -d SECONDS measured per run (default 5), --warmup SECONDS
#            discarded before each (default 1)
# agent      pod start and container restart through the agent vs raw
#            `docker run -d` (issue 3; needs Docker and the flotilla/busybox image)
# scheduler  scheduler_perf: 10,000 pods on 1,000 hollow nodes (issue 4);
#            --nodes N --pods N for another size, --create-rate N to pace creates,
#            --nodes-per-process N hollow nodes per process (default 1,000),
#            --fleet-pod-watch per-node: each hollow node watches its own pods
#            (as a kubelet; default shared: one watch per fleet process),
#            --node-probe-interval S the controller-manager's PING period per node,
#            --init-pods N pods created, bound and run first and measured apart
#            (scheduler_perf's initPods: the processes' cold start; default one
#            per node, at most 1,000; 0 measures the first pods they see),
#            --previous FILE prints an earlier run's figures (its output) beside
# scale      the same at Kubernetes' largest size: 150,000 pods on 5,000
#            hollow nodes, created at 75/s; API call latency p99 per verb and
#            resource against Kubernetes' SLOs, pod startup, watch delivery,
#            LIST of every pod, RSS and CPU per process, etcd's slow applies
#            by request (from its log) (issue 11; 35-50 min: run it by hand,
#            on a machine with nothing else running)
# dns        flotilla dns queries/s and p50/p99 (zone name, NXDOMAIN, forwarded)
#            vs dnsmasq answering a local name on loopback (issue 7; needs
#            dnsmasq-base, installed when missing)
# ingress    flotilla ingress vs nginx vs the backends, wrk, HTTP/HTTPS, small
#            and 64 KiB responses (issue 9; needs nginx and wrk)
# network    ClusterIP and NodePort vs pod IP with wrk, endpoint propagation (stage by stage)
#            over 3 hosts, proxy sync time with 1,000 Services x 10 endpoints
#            (issue 7; needs Docker, root, wrk; --sync-only skips the hosts;
#            --only sync,throughput,propagation picks parts)
# e2e        apply 10/30 replicas, scale 10 → 30, a killed container, a
#            rolling update, a killed host: Flotilla vs Docker Swarm mode vs
#            `docker run -d` on the same engines, two runs (issue 12; root, Docker);
#            --runs N, --no-host-kill, --trace (Flotilla alone, where apply→Ready goes)
# liveness   node liveness: etcd writes/s and CPU at 1,000 and 5,000 hollow
#            nodes, 60 s Lease + HTTP/2 PINGs vs the old 2 s Lease (issue 11)
# failover   a lost host (power cut / network cut) → its pods Running
#            elsewhere, p50/p99 over 10 trials on 3 real hosts, per step of the
#            failover chain, vs the 10 s target (issue 11; root, Docker)
# --quick    smoke-sized run (seconds); --cpu-prof DIR profiles the measured
#            processes and prints where their CPU time went, and the stretches
#            of 0.5 s or more in which one never went idle (a blocked event
#            loop) with the functions on its stack; for scheduler and scale,
#            --cpu-prof-only apiserver,scheduler profiles only those.
#
# A private etcd is started on FLOTILLA_BENCH_ETCD_PORT (default 23890) with
# a fresh data directory, so the numbers are not polluted by other data, and
# deleted afterwards; a Docker engine is started only when none answers.
# Whatever this script started is stopped on exit. FLOTILLA_BENCH_KEEP=1
# keeps the logs of the processes a benchmark started;
# FLOTILLA_BENCH_APISERVER_NODE_FLAGS adds node flags to the scheduler and
# scale benchmarks' apiserver (e.g. "--trace-gc", written into its log).
set -euo pipefail

# The whole script is one function, read in full before it runs: editing this
# file during a long benchmark cannot make bash resume mid-line in the new text.
main() {
  . "$(dirname "$0")/lib.sh"
  cd "$FLOTILLA_ROOT"

  # The help is the comment block at the top, however long it grows.
  case "${1:-}" in -h|--help|help) awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0"; exit 0 ;; esac
  what="apiserver"
  if [[ $# -gt 0 && "$1" != -* ]]; then what="$1"; shift; fi
  case "$what" in
    apiserver|apiserver-op|agent|scheduler|scale|dns|ingress|network|e2e|liveness|failover|all) ;;
    *) die "unknown benchmark '$what' (apiserver|agent|scheduler|scale|dns|ingress|network|e2e|liveness|failover|all)" ;;
  esac

  etcd_port="${FLOTILLA_BENCH_ETCD_PORT:-23890}"
  etcd_started=0
  dockerd_started=0

  cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [[ -n "${DOCKER_HOST:-}" ]] && command -v docker >/dev/null; then
      local leftovers
      leftovers="$(docker ps -aq --filter label=flotilla.bench 2>/dev/null)"
      # shellcheck disable=SC2086
      [[ -n "$leftovers" ]] && docker rm -f $leftovers >/dev/null 2>&1
    fi
    ((etcd_started)) && "$FLOTILLA_ROOT/scripts/etcd.sh" stop --port "$etcd_port" --purge
    ((dockerd_started)) && "$FLOTILLA_ROOT/scripts/dockerd.sh" stop
    exit "$rc"
  }
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  log "building (npx tsc -b)"
  # A compile error elsewhere in the tree should not block measuring what is
  # built; tsc still emits every project it could build.
  npx tsc -b >&2 || warn "the build reported errors (above); running what is built"
  [[ -f packages/bench/dist/bin/bench.js && -f packages/cli/dist/bin/flotilla.js ]] || die "nothing to run: packages/bench or packages/cli is not built"

  # 1,000 watches need 1,000 sockets on each side.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

  # A fresh etcd: drop any data an earlier run left on this port.
  "$FLOTILLA_ROOT/scripts/etcd.sh" stop --port "$etcd_port" --purge
  etcd_started=1
  FLOTILLA_ETCD_ENDPOINTS="$("$FLOTILLA_ROOT/scripts/etcd.sh" start --port "$etcd_port")"
  FLOTILLA_BENCH_ETCD_PID="$(cat "$FLOTILLA_STATE/etcd/$etcd_port/etcd.pid")"
  # Its log names the requests behind etcd's slow applies (the scheduler and scale tables).
  FLOTILLA_BENCH_ETCD_LOG="$FLOTILLA_STATE/etcd/$etcd_port/etcd.log"
  export FLOTILLA_ETCD_ENDPOINTS FLOTILLA_BENCH_ETCD_PID FLOTILLA_BENCH_ETCD_LOG

  if [[ "$what" == agent || "$what" == network || "$what" == e2e || "$what" == failover || "$what" == all ]]; then
    [[ -s "$FLOTILLA_STATE/dockerd/dockerd.pid" ]] || dockerd_started=1
    DOCKER_HOST="$("$FLOTILLA_ROOT/scripts/dockerd.sh" start)"
    export DOCKER_HOST
    # dockerd.sh leaves an engine it did not start alone; only ours is stopped.
    [[ -s "$FLOTILLA_STATE/dockerd/dockerd.pid" ]] || dockerd_started=0
    "$FLOTILLA_ROOT/scripts/images.sh" >&2
  fi

  if [[ "$what" == dns ]] && ! command -v dnsmasq >/dev/null; then
    log "installing dnsmasq-base (the DNS baseline)"
    apt-get install -y dnsmasq-base >&2 || die "dnsmasq is needed for the dns benchmark: apt-get install -y dnsmasq-base"
  fi

  log "running '$what' $* (etcd $FLOTILLA_ETCD_ENDPOINTS)"
  # The scale run's own pod watch holds 150,000 pods: more than Node's default heap.
  node --max-old-space-size=12288 packages/bench/dist/bin/bench.js "$what" "$@"
}
main "$@"; exit
