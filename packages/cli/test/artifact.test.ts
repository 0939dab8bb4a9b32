/**
 * The installable artifact (scripts/package.sh): unpacked under a fresh
 * prefix, `flotilla` and `flotctl` run from an empty working directory on a
 * "machine" whose /var/lib is its own (a private mount namespace with a
 * tmpfs there), with every default — state under /var/lib/flotilla, created
 * as needed. An apiserver and a (hollow) agent come up from the artifact
 * alone and flotctl sees the node Ready.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { etcdEndpoints, freePort, repoRoot } from '@flotilla/e2e';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let prefix: string;

/** Runs a bash script; its mktemp directories go under this test's dir (removed afterwards). */
function sh(script: string, env: NodeJS.ProcessEnv = {}, timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env: { ...process.env, TMPDIR: dir, ...env }, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-artifact-'));
  prefix = join(dir, 'usr-local');
  const built = await sh(`"${repoRoot()}/scripts/package.sh" --out "${dir}"`, {}, 300_000);
  if (built.code !== 0) throw new Error(`package.sh failed: ${built.stderr}`);
  const tarball = built.stdout.trim().split('\n').at(-1)!;
  const unpacked = await sh(`mkdir -p "${prefix}" && tar -C "${prefix}" -xzf "${tarball}"`);
  if (unpacked.code !== 0) throw new Error(`unpacking failed: ${unpacked.stderr}`);
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The PATH of a machine with only the artifact installed: scripts/setup.sh's checkout wrappers in /usr/local/bin must not answer for it. */
const artifactPath = (prefix: string) => [`${prefix}/bin`, dirname(process.execPath), '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');

describe('the flotilla artifact', () => {
  it('gives flotilla and flotctl commands that work from any directory', async () => {
    const r = await sh(`cd "$(mktemp -d)" && flotilla --help && flotctl --help && flotilla token generate | wc -c`, { PATH: artifactPath(prefix) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('apiserver');
    expect(r.stdout).toContain('flotctl');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('44');
  });

  it('runs an apiserver and an agent with default state dirs on a machine of its own', async () => {
    const apiPort = await freePort();
    const agentPort = await freePort();
    const etcdPrefix = `/artifact-${Date.now().toString(36)}`;
    // Everything below happens in a private mount namespace whose /var/lib
    // is an empty tmpfs: the "machine" has only the artifact and an etcd.
    const script = `
set -eu
mount -t tmpfs tmpfs /var/lib
cd "$(mktemp -d)"
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
flotilla token generate --user admin --groups system:masters > tokens.csv
flotilla token generate --user system:node:w1 --groups system:nodes >> tokens.csv
admin=$(sed -n 1p tokens.csv | cut -d, -f1)
w1=$(sed -n 2p tokens.csv | cut -d, -f1)
flotilla apiserver --etcd-servers "$ETCD" --etcd-prefix "$PREFIX" --token-auth-file tokens.csv \\
  --bind-address 127.0.0.1 --secure-port "$API_PORT" > apiserver.log 2>&1 &
pids="$pids $!"
for i in $(seq 1 150); do [ -s /var/lib/flotilla/pki/ca.crt ] && curl -fsS --cacert /var/lib/flotilla/pki/ca.crt "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
flotilla kubeconfig --server "https://127.0.0.1:$API_PORT" --ca-file /var/lib/flotilla/pki/ca.crt --token "$admin" --user admin -o admin.kubeconfig
flotilla kubeconfig --server "https://127.0.0.1:$API_PORT" --ca-file /var/lib/flotilla/pki/ca.crt --token "$w1" --user system:node:w1 -o w1.kubeconfig
flotilla agent --node-name w1 --kubeconfig w1.kubeconfig --fake-runtime --node-ip 127.0.0.1 --log-port "$AGENT_PORT" --log-bind-address 127.0.0.1 > agent.log 2>&1 &
pids="$pids $!"
ok=""
for i in $(seq 1 150); do
  if flotctl --kubeconfig admin.kubeconfig get nodes 2>/dev/null | grep -Eq '^w1 +Ready'; then ok=1; break; fi
  sleep 0.2
done
flotctl --kubeconfig admin.kubeconfig get nodes
for d in pki agent; do [ -d "/var/lib/flotilla/$d" ] && echo "state dir /var/lib/flotilla/$d"; done
[ -n "$ok" ] || { tail -n 20 apiserver.log agent.log >&2; exit 1; }
`;
    const file = join(dir, 'machine.sh');
    await writeFile(file, script);
    const r = await sh(`unshare --mount --propagation private -- bash "${file}"`, {
      PATH: artifactPath(prefix),
      ETCD: etcdEndpoints().join(','),
      PREFIX: etcdPrefix,
      API_PORT: String(apiPort),
      AGENT_PORT: String(agentPort),
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^w1\s+Ready\s+<none>/m);
    expect(r.stdout).toContain('state dir /var/lib/flotilla/pki\nstate dir /var/lib/flotilla/agent');
  });
});
