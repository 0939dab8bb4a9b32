/**
 * `bench ingress`: requests/s and p50/p99 latency through `flotilla ingress`
 * against nginx (Debian's package, configured as a reverse proxy with
 * keep-alive upstreams) and against the backends directly, with the same
 * wrk concurrency and duration, over HTTP and HTTPS, for a small and a
 * 64 KiB response.
 *
 * The backends are three nginx static-file servers on 127.0.0.2-4 standing
 * in for pods: the flotilla/echo image forks a shell per request (a few
 * hundred requests/s), so pods of it would measure the echo server, not the
 * proxies. The ingress runs its real control path: a real apiserver (on the
 * bench etcd), a selector-less Service, an EndpointSlice naming the three
 * backends, an IngressClass and an Ingress; nginx proxies to the same three.
 * Both proxies write an access log line per request to a file and run the
 * same number of worker processes (`--workers`, default one per core:
 * nginx's `worker_processes auto` and flotilla's default); the backends run
 * one nginx worker. Both HTTPS listeners use an ECDSA P-256 self-signed
 * certificate.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { defaultWorkers, selfSignedPair } from '@flotilla/ingress';
import { RestClient } from '@flotilla/client';
import { freePort, readProcStat } from '@flotilla/e2e';
import { flotillaBin, spawnNode, startApiServer, type Started } from './processes.js';
import { writeKubeconfig } from './kubeconfig.js';
import { print, printJson, progress, section, table } from './report.js';

/** Options of the ingress benchmark. */
export interface IngressBenchOptions {
  /** Seconds per wrk run. */
  durationS: number;
  /** wrk connections (one wrk thread). */
  connections: number;
  /** Also measure flotilla without its access log. */
  withoutAccessLog: boolean;
  /** Alternating rounds per cell; the median is reported. */
  rounds: number;
  /** Worker processes of both proxies (nginx worker_processes, flotilla --workers). */
  workers: number;
  cpuProfDir?: string;
}

export const INGRESS_DEFAULTS: IngressBenchOptions = { durationS: 5, connections: 32, withoutAccessLog: true, rounds: 3, workers: defaultWorkers() };
export const INGRESS_QUICK: IngressBenchOptions = { durationS: 2, connections: 8, withoutAccessLog: false, rounds: 1, workers: defaultWorkers() };

/** One wrk result. */
export interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** CPU time (user + system) the target's processes spent per request, µs; NaN when not measured. */
  cpuUsPerReq: number;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU milliseconds (user + system) used so far by `pid` and its direct
 * children (nginx's workers, the ingress's worker processes). On a shared
 * machine this is steadier than requests/s: other load slows a proxy down
 * but hardly changes what a request costs it.
 */
export function treeCpuMs(pid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(`/proc/${entry}/stat`); // undefined: gone meanwhile
    if (stat && (Number(entry) === pid || stat.ppid === pid)) ticks += stat.cpuTicks;
  }
  return (ticks * 1000) / USER_HZ;
}

const BACKEND_IPS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
const HOST = 'bench.test';

const toMs = (v: string, unit: string) => Number(v) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 1);

/** Parses `wrk --latency` output. */
export function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return m ? toMs(m[1]!, m[2]!) : NaN;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = non2xx + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  const total = Number(/(\d+) requests in /.exec(out)?.[1] ?? 0);
  return { rps, p50ms: pct('50'), p99ms: pct('99'), errors, cpuUsPerReq: NaN, ...({ total } as object) } as WrkResult & { total: number };
}

/** Runs wrk against `url`; with `pid`, also the CPU its process tree spent per request. */
async function wrk(url: string, o: IngressBenchOptions, pid?: number): Promise<WrkResult> {
  const cpu0 = pid ? treeCpuMs(pid) : 0;
  const r = await new Promise<WrkResult & { total?: number }>((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${o.connections}`, `-d${o.durationS}s`, '--latency', '-H', `Host: ${HOST}`, url], { timeout: (o.durationS + 30) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${url}: ${stderr || err.message}`));
      resolve(parseWrk(stdout));
    });
  });
  const total = r.total ?? 0;
  delete r.total;
  if (pid && total > 0) r.cpuUsPerReq = ((treeCpuMs(pid) - cpu0) * 1000) / total;
  return r;
}

interface Nginx {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `nginx -c conf` in the foreground (its own master) and waits for `port` to answer. */
async function startNginx(dir: string, name: string, conf: string, port: number): Promise<Nginx> {
  const file = join(dir, `${name}.conf`);
  await writeFile(file, conf);
  const proc = spawn('nginx', ['-c', file, '-p', dir, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const kill = () => proc.kill('SIGKILL');
  process.once('exit', kill);
  await waitHttp(`http://127.0.0.1:${port}/small`, () => (proc.exitCode !== null ? `nginx ${name} exited: ${err}` : undefined));
  return {
    proc,
    async stop() {
      process.off('exit', kill);
      if (proc.exitCode === null) proc.kill('SIGQUIT');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls a URL (Host: bench.test) until it answers 200. */
async function waitHttp(url: string, dead: () => string | undefined, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = dead();
    if (why) throw new Error(why);
    const status = await new Promise<number>((resolve) => {
      const r = request(url, { headers: { host: HOST }, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      r.on('error', () => resolve(0));
      r.on('timeout', () => r.destroy());
      r.end();
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} not answering 200 after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const common = (dir: string, workers = 1) => `
worker_processes ${workers};
pid ${dir}/PIDNAME.pid;
error_log ${dir}/PIDNAME-error.log warn;
events { worker_connections 4096; }
`;

/** Runs the benchmark and prints the table and a BENCH_JSON line. */
export async function runIngressBench(o: IngressBenchOptions): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-ingress-'));
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    // nginx's workers run as an unprivileged user: they must be able to read the files.
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'small'), 'hello from the backend\n');
    await writeFile(join(dir, 'big'), Buffer.alloc(64 * 1024, 'x'));
    const pair = await selfSignedPair('bench.test', [HOST]);
    await writeFile(join(dir, 'tls.crt'), pair.cert);
    await writeFile(join(dir, 'tls.key'), pair.key);

    // Backends ("pods"): one nginx serving the two files on 127.0.0.2-4.
    const backendPort = await freePort();
    const backendConf = `${common(dir).replaceAll('PIDNAME', 'backend')}
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    ${BACKEND_IPS.map((ip) => `listen ${ip}:${backendPort};`).join(' ')}
    listen 127.0.0.1:${backendPort};
    root ${dir};
    location / { default_type text/plain; }
  }
}
`;
    const backend = await startNginx(dir, 'backend', backendConf, backendPort);
    started.push(backend);

    // nginx as the reverse proxy, keep-alive upstreams to the same three backends.
    const nginxPort = await freePort();
    const nginxTls = await freePort();
    const proxyConf = `${common(dir, o.workers).replaceAll('PIDNAME', 'proxy')}
http {
  access_log ${dir}/nginx-access.log;
  keepalive_requests 1000000;
  upstream pods { ${BACKEND_IPS.map((ip) => `server ${ip}:${backendPort};`).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort};
    listen 127.0.0.1:${nginxTls} ssl;
    ssl_certificate ${dir}/tls.crt;
    ssl_certificate_key ${dir}/tls.key;
    location / {
      proxy_pass http://pods;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Request-Id $request_id;
      proxy_buffering on;
    }
  }
}
`;
    const nginx = await startNginx(dir, 'proxy', proxyConf, nginxPort);
    started.push(nginx);

    // The control plane the ingress reads, and the objects it routes by.
    progress('starting the apiserver and flotilla ingress');
    const api = await startApiServer({ port: await freePort() });
    started.push(api);
    const client = new RestClient({ server: api.url, ca: api.caPem, token: api.adminToken });
    await client.resource({ apiVersion: 'v1', kind: 'Service' }).create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'pods', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, targetPort: backendPort }] } } as never);
    await client.resource({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }).create({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'pods-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'pods' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: backendPort, protocol: 'TCP' }],
      endpoints: BACKEND_IPS.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    } as never);
    await client.resource({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass' }).create({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'flotilla' }, spec: { controller: 'flotilla.dev/ingress' } } as never);
    await client.resource({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' }).create({
      apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'bench', namespace: 'default' },
      spec: { ingressClassName: 'flotilla', rules: [{ host: HOST, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'pods', port: { number: 80 } } } }] } }] },
    } as never);
    const kubeconfig = join(dir, 'ingress.kubeconfig');
    await writeKubeconfig(kubeconfig, api.url, api.caPem, api.adminToken, 'ingress');

    const startIngress = async (name: string, extra: string[], profile: boolean): Promise<{ proc: Started; http: number; https: number }> => {
      const http = await freePort();
      const https = await freePort();
      const proc = spawnNode(
        [flotillaBin(), 'ingress', '--kubeconfig', kubeconfig, '--http-port', String(http), '--https-port', String(https), '--bind-address', '127.0.0.1', '--metrics-bind-address', `127.0.0.1:${await freePort()}`, '--workers', String(o.workers), ...extra],
        join(dir, `${name}.log`),
        profile && o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : [],
      );
      await waitHttp(`http://127.0.0.1:${http}/small`, () => undefined, 60_000).catch(async (err) => {
        await proc.stop(1000);
        throw new Error(`${(err as Error).message}; log: ${(await readFile(proc.logFile, 'utf8').catch(() => '')).slice(-2000)}`);
      });
      return { proc, http, https };
    };

    const ing = await startIngress('ingress', [], true);
    started.push(ing.proc);
    const quiet = o.withoutAccessLog ? await startIngress('ingress-quiet', ['--no-access-log'], false) : undefined;
    if (quiet) started.push(quiet.proc);

    // Other work on a shared machine comes and goes: every cell is measured
    // in rounds that alternate the targets, and the median round is reported.
    const targets: Array<{ target: string; proto: string; base: string; pid: number }> = [
      { target: 'pods directly', proto: 'http', base: `http://${BACKEND_IPS[0]}:${backendPort}`, pid: backend.proc.pid! },
      { target: 'nginx', proto: 'http', base: `http://127.0.0.1:${nginxPort}`, pid: nginx.proc.pid! },
      { target: 'flotilla ingress', proto: 'http', base: `http://127.0.0.1:${ing.http}`, pid: ing.proc.pid },
      ...(quiet ? [{ target: 'flotilla ingress, no access log', proto: 'http', base: `http://127.0.0.1:${quiet.http}`, pid: quiet.proc.pid }] : []),
      { target: 'nginx', proto: 'https', base: `https://127.0.0.1:${nginxTls}`, pid: nginx.proc.pid! },
      { target: 'flotilla ingress', proto: 'https', base: `https://127.0.0.1:${ing.https}`, pid: ing.proc.pid },
    ];
    progress('warming up every target (JIT, pools, TLS sessions)');
    for (const t of targets) await wrk(`${t.base}/small`, { ...o, durationS: Math.max(1, Math.round(o.durationS / 3)) });
    const samples = new Map<string, WrkResult[]>();
    // Other work on the machine moves every figure: the 1-minute load average before and after the rounds goes with them.
    const loadBefore = loadavg()[0]!;
    for (let round = 1; round <= o.rounds; round++) {
      for (const size of ['small', 'big']) {
        for (const t of targets) {
          progress(`round ${round}/${o.rounds}: ${t.target} ${t.proto} ${size}`);
          const key = `${t.target}\u0000${t.proto}\u0000${size}`;
          samples.set(key, [...(samples.get(key) ?? []), await wrk(`${t.base}/${size}`, o, t.pid)]);
        }
      }
    }
    const loadAfter = loadavg()[0]!;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const rows: Array<{ target: string; proto: string; size: string; rounds: number[] } & WrkResult> = [];
    for (const [key, runs] of samples) {
      const [target, proto, size] = key.split('\u0000') as [string, string, string];
      rows.push({
        target, proto, size: size === 'big' ? '64 KiB' : '23 B', rounds: runs.map((r) => Math.round(r.rps)),
        rps: median(runs.map((r) => r.rps)), p50ms: median(runs.map((r) => r.p50ms)), p99ms: median(runs.map((r) => r.p99ms)), errors: runs.reduce((n, r) => n + r.errors, 0),
        cpuUsPerReq: median(runs.map((r) => r.cpuUsPerReq)),
      });
    }
    rows.sort((a, b) => (a.proto === b.proto ? (a.size === b.size ? 0 : a.size < b.size ? 1 : -1) : a.proto < b.proto ? -1 : 1));

    section(`ingress: wrk -t1 -c${o.connections} -d${o.durationS}s, Host: ${HOST}, 3 backends; median of ${o.rounds} alternating rounds; nginx worker_processes ${o.workers}, flotilla ingress --workers ${o.workers}; load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`);
    const nginxOf = (r: (typeof rows)[number]) => rows.find((n) => n.target === 'nginx' && n.proto === r.proto && n.size === r.size);
    print(
      table(
        ['target', 'proto', 'response', 'req/s', 'rounds req/s', 'p50 ms', 'p99 ms', 'errors', 'req/s vs nginx', 'p99 vs nginx', 'CPU µs/req', 'CPU vs nginx'],
        rows.map((r) => {
          const n = nginxOf(r);
          return [
            r.target, r.proto, r.size, Math.round(r.rps), r.rounds.join(' '), r.p50ms.toFixed(2), r.p99ms.toFixed(2), r.errors, n ? `${(r.rps / n.rps).toFixed(2)}x` : '', n ? `${(r.p99ms / n.p99ms).toFixed(2)}x` : '',
            Number.isFinite(r.cpuUsPerReq) ? r.cpuUsPerReq.toFixed(0) : '', n && Number.isFinite(r.cpuUsPerReq) ? `${(r.cpuUsPerReq / n.cpuUsPerReq).toFixed(2)}x` : '',
          ];
        }),
      ),
    );
    print('CPU µs/req: user + system time of the target\'s processes (the proxy\'s master/primary and workers; for "pods directly" the backend nginx) per request, median round.');
    printJson('ingress', { options: o, loadAverage: { before: loadBefore, after: loadAfter }, rows });
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    if (!process.env.FLOTILLA_BENCH_KEEP) await rm(dir, { recursive: true, force: true });
    else process.stderr.write(`[bench] ingress files kept in ${dir}\n`);
  }
}
