#!/usr/bin/env bash
# Everything CI runs: set-up, a private etcd, a Docker engine, the images,
# the build, then the unit and the integration tests.
#
#   scripts/test.sh                      # every test
#   scripts/test.sh packages/store       # only the tests under a path (both projects)
#   scripts/test.sh packages/e2e -t watch  # any further vitest arguments pass through
#
# The test etcd listens on FLOTILLA_TEST_ETCD_PORT (default: the first free
# of 23790, 23800, … so a developer's etcd on 2379 is never touched) and is
# deleted afterwards. The Docker engine already answering on
# /var/run/docker.sock is used as is; otherwise one is started and stopped.
# Whatever this script started is stopped on exit, tests failing or not;
# containers labelled flotilla.test left behind are removed when the engine
# is one this script started (on a shared engine they are only listed).
# The last line is "N passed, N failed" (both projects summed); the exit
# status is non-zero when any test failed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$FLOTILLA_ROOT"

run_started=$SECONDS
etcd_port=""
stop_dockerd=0
vitest_pgid=""
watchdog_pid=""
summary=""
# Per run: several runs may share a checkout (and its .flotilla/).
report_dir="$FLOTILLA_STATE/test-reports/run-$(date +%Y%m%d-%H%M%S)-$$"

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [[ -n "$watchdog_pid" ]] && kill "$watchdog_pid" 2>/dev/null
  # timeout(1) leads its own process group: this reaches vitest's workers and
  # any server a test spawned and left behind, and nothing else.
  [[ -n "$vitest_pgid" ]] && kill -TERM -- "-$vitest_pgid" 2>/dev/null
  if [[ -n "${DOCKER_HOST:-}" ]] && command -v docker >/dev/null; then
    local leftovers
    leftovers="$(docker ps -aq --filter label=flotilla.test 2>/dev/null)"
    if [[ -n "$leftovers" ]] && ((stop_dockerd)); then
      log "removing $(wc -w <<<"$leftovers") leftover test container(s) (label flotilla.test)"
      # shellcheck disable=SC2086
      docker rm -f $leftovers >/dev/null 2>&1
    elif [[ -n "$leftovers" ]]; then
      # A shared engine may be running another checkout's tests right now:
      # their containers are not ours to remove.
      warn "containers labelled flotilla.test remain on the shared engine $DOCKER_HOST: $(tr '\n' ' ' <<<"$leftovers")"
    fi
  fi
  [[ -n "$etcd_port" ]] && "$FLOTILLA_ROOT/scripts/etcd.sh" stop --port "$etcd_port" --purge
  ((stop_dockerd)) && "$FLOTILLA_ROOT/scripts/dockerd.sh" stop
  # Reports of a passing run are of no further use; a failing one keeps them.
  if ((rc == 0)); then rm -rf "$report_dir"; fi
  log "wall time $((SECONDS - run_started))s"
  # Last, so that it is the final line of the run: CI reads it.
  # A run that died before counting (set-up, build) is one failure.
  if [[ -z "$summary" && $rc -ne 0 ]]; then summary="0 passed, 1 failed"; fi
  [[ -n "$summary" ]] && printf '%s\n' "$summary"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$FLOTILLA_ROOT/scripts/setup.sh"

# A private etcd: on a port free together with its peer port (port + 1).
if [[ -n "${FLOTILLA_TEST_ETCD_PORT:-}" ]]; then
  etcd_port="$FLOTILLA_TEST_ETCD_PORT"
else
  for ((p = 23790; p < 24790; p += 10)); do
    if ! port_in_use "$p" && ! port_in_use $((p + 1)); then etcd_port=$p; break; fi
  done
  [[ -n "$etcd_port" ]] || die "no free port pair for the test etcd in 23790-24790"
fi
FLOTILLA_ETCD_ENDPOINTS="$("$FLOTILLA_ROOT/scripts/etcd.sh" start --port "$etcd_port")"
export FLOTILLA_ETCD_ENDPOINTS

dockerd_pidfile="$FLOTILLA_STATE/dockerd/dockerd.pid"
pidfile_alive "$dockerd_pidfile" >/dev/null && dockerd_was_ours=1 || dockerd_was_ours=0
DOCKER_HOST="$("$FLOTILLA_ROOT/scripts/dockerd.sh" start)"
export DOCKER_HOST
if ((!dockerd_was_ours)) && pidfile_alive "$dockerd_pidfile" >/dev/null; then stop_dockerd=1; fi
# An engine that hangs (Docker 20.10's libnetwork deadlock) ends the run at once, with its goroutine dump
# when it is ours, instead of every later test that needs it timing out (see engine-watchdog.sh).
if [[ "$DOCKER_HOST" == unix://* ]]; then
  engine_pid="$(pidfile_alive "$dockerd_pidfile" || true)"
  "$FLOTILLA_ROOT/scripts/engine-watchdog.sh" --socket "${DOCKER_HOST#unix://}" --signal-pid $$ ${engine_pid:+--engine-pid "$engine_pid"} &
  watchdog_pid=$!
fi

if [[ -f "$FLOTILLA_ROOT/scripts/images.sh" ]]; then
  log "building images (scripts/images.sh)"
  bash "$FLOTILLA_ROOT/scripts/images.sh"
fi

npx tsc -b

mkdir -p "$report_dir"

# run_project NAME BUDGET_SECONDS ARGS...: one vitest project, with a JSON
# report to count from. Sets project_rc.
run_project() {
  local name="$1" budget="$2"
  shift 2
  log "vitest --project $name $*"
  timeout -k 30 "$budget" npx vitest run --project "$name" --passWithNoTests \
    --reporter=default --reporter=json --outputFile.json="$report_dir/$name.json" "$@" </dev/null &
  vitest_pgid=$!
  set +e
  wait "$vitest_pgid"
  project_rc=$?
  set -e
  kill -TERM -- "-$vitest_pgid" 2>/dev/null || true
  vitest_pgid=""
  ((project_rc != 124)) || warn "the $name tests exceeded their ${budget}s budget and were stopped"
}

run_project unit "${FLOTILLA_UNIT_BUDGET:-600}" "$@"
unit_rc=$project_rc
run_project integration "${FLOTILLA_INTEGRATION_BUDGET:-2700}" "$@"
integration_rc=$project_rc

# Count from the JSON reports. A test file that failed to load (or a project
# that died without a report) counts as one failure, so it cannot pass unseen.
summary="$(node - "$report_dir" "$unit_rc" "$integration_rc" <<'EOF'
const fs = require('node:fs');
const [dir, unitRc, integrationRc] = process.argv.slice(2);
let passed = 0, failed = 0;
for (const [name, rc] of [['unit', unitRc], ['integration', integrationRc]]) {
  let report;
  try { report = JSON.parse(fs.readFileSync(`${dir}/${name}.json`, 'utf8')); } catch { report = undefined; }
  if (!report) { if (rc !== '0') failed += 1; continue; }
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  for (const file of report.testResults ?? []) {
    const assertionsFailed = (file.assertionResults ?? []).some((a) => a.status === 'failed');
    if (file.status === 'failed' && !assertionsFailed) failed += 1;
  }
  if (rc !== '0' && failed === 0) failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
EOF
)"

status=0
((unit_rc == 0 && integration_rc == 0)) || status=1
log "unit exit $unit_rc, integration exit $integration_rc; reports in $report_dir"
exit "$status"
