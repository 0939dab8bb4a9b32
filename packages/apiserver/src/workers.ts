/**
 * `flotilla apiserver --workers N` (N > 1): one address, N apiserver
 * processes. The first process prepares the files every worker reads (the
 * serving and agent-client certificates, the generated encryption key) so
 * that no two workers race to create them, then forks N workers with
 * node:cluster; each worker is a whole apiserver (run.ts) listening on the
 * same port, and the cluster module hands each accepted connection to the
 * next worker in turn.
 *
 * That is the same as N apiservers on one etcd, which Flotilla supports
 * (control-plane HA): reads are consistent across them (a GET first learns
 * etcd's current revision), Service IPs are allocated through etcd, and
 * compaction is taken by one of them at a time. What each worker holds on
 * its own: its read cache and watch cache (memory and etcd watch traffic
 * grow with N), and its metrics — /metrics on any worker asks the first
 * process, which gathers every worker's exposition and sums it
 * (mergeExpositions), so a scrape sees the whole apiserver.
 *
 * A worker that exits unasked is forked again after a second. On SIGTERM the
 * first process stops every worker (each drains as a lone apiserver does)
 * and waits for them; a worker whose first process died stops too.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer, type AddressInfo } from 'node:net';
import { mergeExpositions, type Logger } from '@flotilla/observability';

/** The environment variable that tells a forked process it is worker number N (1-based). */
export const APISERVER_WORKER_ENV = 'FLOTILLA_APISERVER_WORKER';
/**
 * The port every worker listens on. `--secure-port 0` is resolved to a free
 * port once, in the first process: the cluster module shares one port-0
 * listener among the first workers, but a worker forked again later got a
 * port of its own.
 */
export const APISERVER_WORKER_PORT_ENV = 'FLOTILLA_APISERVER_WORKER_PORT';

/** IPC between the first process and its workers: a metrics request and its answer, and stop. */
type Message = { t: 'metrics?'; id: number } | { t: 'metrics'; id: number; text: string } | { t: 'stop' };

const isMessage = (m: unknown): m is Message => typeof m === 'object' && m !== null && ['metrics?', 'metrics', 'stop'].includes((m as Message).t);

/** How long the first process waits for a worker's metrics before serving without them. */
const METRICS_TIMEOUT_MS = 2000;
/** Delay before a worker that exited unasked is forked again. */
const RESTART_DELAY_MS = 1000;
/** How long stopping workers get before they are killed (their own drain grace is 5 s). */
const STOP_TIMEOUT_MS = 20_000;

/** This process's worker number when it is an apiserver worker, else undefined. */
export function apiServerWorkerNumber(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const n = Number(process.env[APISERVER_WORKER_ENV]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** In a worker, the port the first process chose for every worker. */
export function apiServerWorkerPort(): number | undefined {
  const n = Number(process.env[APISERVER_WORKER_PORT_ENV]);
  return apiServerWorkerNumber() && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** A free TCP port on `host` (the kernel's choice). */
async function freePort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0 }, resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let stopping = false;
/**
 * In a worker, from its start: stop (SIGTERM to itself, unless a signal
 * already started its shutdown) when the first process asks or goes away.
 */
export function stopWithFirstProcess(): void {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => (stopping = true));
  const stop = () => {
    if (!stopping) process.kill(process.pid, 'SIGTERM');
  };
  process.on('message', (m: unknown) => {
    if (isMessage(m) && m.t === 'stop') stop();
  });
  process.once('disconnect', stop);
}

/**
 * Runs `workers` apiserver processes until `signal` aborts. `prepare` runs
 * first, in this process (the files every worker reads); the workers run
 * this same program (the cluster module re-runs process.argv) and find
 * themselves with {@link apiServerWorkerNumber}.
 */
export async function runApiServerWorkers(workers: number, listen: { host: string; port: number }, prepare: () => Promise<void>, log: Logger, signal: AbortSignal): Promise<void> {
  if (!cluster.isPrimary) throw new Error('runApiServerWorkers runs in the first process only');
  await prepare();
  if (signal.aborted) return;
  const port = listen.port || (await freePort(listen.host));
  const live = new Map<number, Worker>();
  let nextRequest = 0;
  const pending = new Map<number, { texts: string[]; left: number; done: () => void }>();

  // A worker asks for the whole apiserver's metrics: ask every worker for its own, sum, answer.
  const gather = (asker: Worker, askId: number) => {
    const id = ++nextRequest;
    const texts: string[] = [];
    const targets = [...live.values()].filter((w) => w.isConnected());
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      pending.delete(id);
      if (asker.isConnected()) asker.send({ t: 'metrics', id: askId, text: mergeExpositions(texts) } satisfies Message);
    };
    const timer = setTimeout(() => {
      log.warn({ answered: texts.length, workers: targets.length }, 'metrics: a worker did not answer in time; serving the others');
      answer();
    }, METRICS_TIMEOUT_MS);
    pending.set(id, { texts, left: targets.length, done: answer });
    for (const w of targets) w.send({ t: 'metrics?', id } satisfies Message);
    if (!targets.length) answer();
  };

  const fork = (n: number) => {
    const w = cluster.fork({ [APISERVER_WORKER_ENV]: String(n), [APISERVER_WORKER_PORT_ENV]: String(port) });
    live.set(n, w);
    // A message to a worker whose channel has just closed (the cluster module's own, as a worker
    // disconnects on stop) fails with EPIPE on this Worker: without a listener, that ended the process.
    w.on('error', (err) => log[signal.aborted ? 'debug' : 'warn']({ worker: n, pid: w.process.pid, err: err.message }, 'apiserver worker channel error'));
    w.on('message', (m: unknown) => {
      if (!isMessage(m)) return;
      if (m.t === 'metrics?') gather(w, m.id);
      else if (m.t === 'metrics') {
        const p = pending.get(m.id);
        if (!p) return;
        p.texts.push(m.text);
        if (--p.left <= 0) p.done();
      }
    });
    w.once('exit', (code, sig) => {
      if (live.get(n) === w) live.delete(n);
      if (signal.aborted) return;
      log.error({ worker: n, pid: w.process.pid, code, signal: sig }, `apiserver worker exited; forking it again in ${RESTART_DELAY_MS} ms`);
      setTimeout(() => {
        if (!signal.aborted) fork(n);
      }, RESTART_DELAY_MS).unref();
    });
  };
  log.info({ workers }, 'starting apiserver workers');
  for (let n = 1; n <= workers; n++) fork(n);

  await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  log.info({ workers: live.size }, 'stopping apiserver workers');
  await Promise.all(
    [...live.values()].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
          w.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          // A message rather than a signal: a worker that got the same SIGTERM or SIGINT (systemd
          // signals the whole control group, a terminal the whole process group) is already
          // draining, and a second signal would make it exit at once.
          if (w.isConnected()) w.send({ t: 'stop' } satisfies Message);
          else w.process.kill('SIGTERM');
        }),
    ),
  );
}

/**
 * In a worker: answers the first process's requests for this worker's own
 * metrics with `render()`, and returns what /metrics should serve (every
 * worker's, summed).
 */
export function joinApiServerWorkers(render: () => string): () => Promise<string> {
  let nextId = 0;
  const waiting = new Map<number, (text: string) => void>();
  process.on('message', (m: unknown) => {
    if (!isMessage(m)) return;
    if (m.t === 'metrics?') process.send?.({ t: 'metrics', id: m.id, text: render() } satisfies Message);
    else if (m.t === 'metrics') waiting.get(m.id)?.(m.text);
  });
  return () =>
    new Promise<string>((resolve) => {
      const id = ++nextId;
      // Without an answer (the first process is stopping), this worker's own figures.
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(render());
      }, METRICS_TIMEOUT_MS * 2);
      waiting.set(id, (text) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(text);
      });
      if (process.connected) process.send?.({ t: 'metrics?', id } satisfies Message);
      else waiting.get(id)?.(render());
    });
}
