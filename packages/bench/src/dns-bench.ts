/**
 * `bench dns`: queries per second and latency of `flotilla dns`, against
 * the host's kind of resolver answering a local name in the same run.
 *
 * - baseline: dnsmasq (Debian's dnsmasq-base, C, with a cache) on
 *   127.0.0.77 answering `local.bench` from its `--address` table;
 * - zone: `flotilla dns` answering `svc-N.bench.svc.cluster.local` (N over
 *   200 Services made through a real apiserver) from its informer cache;
 * - forward: `flotilla dns` asked `local.bench`, which it forwards to the
 *   dnsmasq (the path every name outside the cluster takes);
 * - nxdomain: a missing name in the zone (what ndots:5 search paths cause).
 *
 * One load generator for all (UDP, a fixed number of queries in flight over
 * a few sockets, for a fixed time), on the same 2-core machine as the
 * servers, so the ratio is what matters; each scenario is measured in two
 * interleaved rounds and the better kept. Nothing leaves loopback.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { freePort } from '@flotilla/e2e';
import { flotillaBin, spawnNode, startApiServer, type Started } from './processes.js';
import { print, printJson, progress, section, table } from './report.js';
import { ratio, summarize, type LatencySummary } from './stats.js';

/** Knobs of the DNS benchmark. */
export interface DnsBenchOptions {
  /** Seconds each scenario is measured. */
  durationSec: number;
  /** Queries in flight at once. */
  inflight: number;
  /** Services in the zone. */
  services: number;
}

export const DNS_DEFAULTS: DnsBenchOptions = { durationSec: 10, inflight: 64, services: 200 };
export const DNS_QUICK: DnsBenchOptions = { durationSec: 2, inflight: 32, services: 20 };

const BASELINE_ADDR = '127.0.0.77';

/** A DNS query message for `name` type A with the given id (RD set, no EDNS). */
function encodeQuery(id: number, name: string): Buffer {
  const labels = name.split('.').filter(Boolean);
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 0) + 1 + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(0x0100, 2);
  q.writeUInt16BE(1, 4);
  let o = 12;
  for (const l of labels) {
    q[o++] = l.length;
    o += q.write(l, o, 'ascii');
  }
  q[o++] = 0;
  q.writeUInt16BE(1, o);
  q.writeUInt16BE(1, o + 2);
  return q;
}

/** What one scenario measured. */
interface LoadResult {
  qps: number;
  latencyMs: LatencySummary;
  /** Answers by rcode number. */
  rcodes: Record<string, number>;
  lost: number;
}

/** Keeps `inflight` queries outstanding against host:port for `durationMs`; names from `nameOf(i)`. */
async function load(host: string, port: number, nameOf: (i: number) => string, durationMs: number, inflight: number): Promise<LoadResult> {
  const socketsN = Math.min(4, inflight);
  const perSocket = Math.ceil(inflight / socketsN);
  const latencies: number[] = [];
  const rcodes: Record<string, number> = {};
  let lost = 0;
  let seq = 0;
  const started = performance.now();
  const end = started + durationMs;
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from({ length: socketsN }, async () => {
      const sock = createSocket('udp4');
      sockets.push(sock);
      const sent = new Map<number, number>();
      let nextId = 0;
      await new Promise<void>((resolve) => {
        const fire = () => {
          if (performance.now() >= end) {
            if (sent.size === 0) resolve();
            return;
          }
          const id = nextId++ & 0xffff;
          sent.set(id, performance.now());
          sock.send(encodeQuery(id, nameOf(seq++)), port, host);
        };
        sock.on('message', (msg) => {
          const id = msg.readUInt16BE(0);
          const t = sent.get(id);
          if (t === undefined) return;
          sent.delete(id);
          latencies.push(performance.now() - t);
          const rc = String(msg[3]! & 0x0f);
          rcodes[rc] = (rcodes[rc] ?? 0) + 1;
          fire();
        });
        // A query with no answer for 1 s counts as lost and is replaced.
        const sweeper = setInterval(() => {
          const now = performance.now();
          for (const [id, t] of sent) {
            if (now - t < 1000) continue;
            sent.delete(id);
            lost++;
            fire();
          }
          if (now >= end + 1000) {
            clearInterval(sweeper);
            resolve();
          }
        }, 100);
        sock.on('close', () => clearInterval(sweeper));
        for (let i = 0; i < perSocket; i++) fire();
      });
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  for (const s of sockets) s.close();
  return { qps: latencies.length / elapsed, latencyMs: summarize(latencies), rcodes, lost };
}

function startDnsmasq(port: number, logFile: string): Promise<ChildProcess> {
  const child = spawn(
    'dnsmasq',
    ['-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll', `--listen-address=${BASELINE_ADDR}`, '--bind-interfaces', `--port=${port}`, '--address=/local.bench/192.0.2.10', '--cache-size=10000', '--user=root', '--group=root', '--pid-file=', `--log-facility=${logFile}`],
    { stdio: 'ignore' },
  );
  process.once('exit', () => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`dnsmasq did not start (apt-get install -y dnsmasq-base): ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`dnsmasq exited with ${code}; see ${logFile}`)));
    // Ready once it answers a query (a short probe run), within 10 s.
    const deadline = Date.now() + 10_000;
    const probe = async (): Promise<void> => {
      const r = await load(BASELINE_ADDR, port, () => 'local.bench', 50, 1);
      if (r.latencyMs.count > 0) return resolve(child);
      if (Date.now() > deadline) return reject(new Error(`dnsmasq on ${BASELINE_ADDR}:${port} did not answer within 10 s; see ${logFile}`));
      await probe();
    };
    void probe();
  });
}

async function waitHealthy(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not healthy after 30 s`);
}

/** Runs the DNS benchmark and prints its table and BENCH_JSON line. */
export async function runDnsBench(o: DnsBenchOptions): Promise<void> {
  const api = await startApiServer({ port: await freePort() });
  let dnsmasq: ChildProcess | undefined;
  let dns: Started | undefined;
  try {
    const dispatcher = new Agent({ connect: { ca: api.caPem }, connections: 16 });
    const post = async (path: string, body: unknown) => {
      const res = await request(`${api.url}${path}`, { method: 'POST', dispatcher, headers: { authorization: `Bearer ${api.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      await res.body.text();
      if (res.statusCode >= 300) throw new Error(`POST ${path}: ${res.statusCode}`);
    };
    await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench' } });
    progress(`creating ${o.services} Services`);
    for (let i = 0; i < o.services; i += 16) {
      await Promise.all(
        Array.from({ length: Math.min(16, o.services - i) }, (_, k) =>
          post('/api/v1/namespaces/bench/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i + k}` }, spec: { selector: { app: `a${i + k}` }, ports: [{ name: 'http', port: 80 }] } }),
        ),
      );
    }
    await dispatcher.close();
    const kubeconfig = join(api.dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: "${api.url}", certificate-authority-data: ${Buffer.from(api.caPem).toString('base64')}}}]\nusers: [{name: b, user: {token: "${api.adminToken}"}}]\ncontexts: [{name: b, context: {cluster: b, user: b}}]\ncurrent-context: b\n`,
    );

    const basePort = await freePort();
    dnsmasq = await startDnsmasq(basePort, join(api.dir, 'dnsmasq.log'));
    const dnsPort = await freePort();
    const metricsPort = await freePort();
    dns = spawnNode(
      [flotillaBin(), 'dns', '--kubeconfig', kubeconfig, '--bind-address', '127.0.0.1', '--port', String(dnsPort), '--upstream', `${BASELINE_ADDR}:${basePort}`, '--no-register-service', '--metrics-port', String(metricsPort), '--log-level', 'warn'],
      join(api.dir, 'dns.log'),
    );
    await waitHealthy(metricsPort, 'flotilla dns');

    const runs: Array<[string, string, (ms: number) => Promise<LoadResult>]> = [
      ['dnsmasq (baseline)', 'local.bench', (ms) => load(BASELINE_ADDR, basePort, () => 'local.bench', ms, o.inflight)],
      ['flotilla dns: zone A', 'svc-N.bench.svc.cluster.local', (ms) => load('127.0.0.1', dnsPort, (i) => `svc-${i % o.services}.bench.svc.cluster.local`, ms, o.inflight)],
      ['flotilla dns: NXDOMAIN', 'nope-N.bench.svc.cluster.local', (ms) => load('127.0.0.1', dnsPort, (i) => `nope-${i % 1000}.bench.svc.cluster.local`, ms, o.inflight)],
      ['flotilla dns: forwarded', 'local.bench → dnsmasq', (ms) => load('127.0.0.1', dnsPort, () => 'local.bench', ms, o.inflight)],
    ];
    // Untimed first pass: the JIT and the servers' caches warm up on the same paths.
    for (const [, , fn] of runs) await fn(Math.min(2000, o.durationSec * 500));
    // Two rounds through every scenario, best of the two kept: on a shared 2-core machine
    // another process's burst lands on one scenario only, and the rounds interleave them.
    const results: Record<string, LoadResult> = {};
    for (let round = 1; round <= 2; round++) {
      for (const [label, , fn] of runs) {
        progress(`round ${round}: ${label}: ${o.durationSec}s at ${o.inflight} in flight`);
        const r = await fn(o.durationSec * 1000);
        if (!results[label] || r.qps > results[label]!.qps) results[label] = r;
      }
    }
    const base = results['dnsmasq (baseline)']!;
    section(`DNS: ${o.inflight} UDP queries in flight, ${o.durationSec}s each (best of 2 rounds), ${o.services} Services`);
    print(
      table(
        ['server: what', 'name', 'queries/s', 'p50 ms', 'p99 ms', 'vs dnsmasq q/s', 'rcodes', 'lost'],
        runs.map(([label, name]) => {
          const r = results[label]!;
          return [label, name, Math.round(r.qps), r.latencyMs.p50.toFixed(3), r.latencyMs.p99.toFixed(3), ratio(r.qps, base.qps), JSON.stringify(r.rcodes), r.lost];
        }),
      ),
    );
    printJson('dns', { options: o, results: Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { qps: r.qps, p50: r.latencyMs.p50, p99: r.latencyMs.p99, rcodes: r.rcodes, lost: r.lost }])) });
  } finally {
    await dns?.stop(5000);
    dnsmasq?.kill('SIGTERM');
    await api.stop();
  }
}
