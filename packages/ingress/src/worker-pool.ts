/**
 * `--workers N` (N > 1): the controller process forks N worker processes
 * with node:cluster; each runs a data plane (worker-main.ts) on the same
 * ports. The controller keeps the informers, builds the snapshots and sends
 * each one to every worker over IPC; /metrics asks every worker for its
 * counters and sums them.
 *
 * Connections are handed out in strict turn: the controller process listens,
 * accepts (paused) and sends each connection to the next live worker over
 * IPC. The cluster's round-robin (SCHED_RR) hands a connection only to a
 * worker that has acknowledged the previous one, so a burst of keep-alive
 * connections went mostly to whichever worker answered faster (64 KiB
 * cells of the benchmark: 5,114 against 2,165 requests); SCHED_NONE
 * (workers accept from the shared socket) split them 70/30.
 * FLOTILLA_INGRESS_SCHED=rr or =none selects those for measurements.
 *
 * Endpoints a worker starts passing over (refused, reset, timed out) are
 * passed on to the other workers, so each does not fail a request on a
 * stopped pod first.
 *
 * A worker that dies is forked again after a second with the latest
 * snapshot; stop() asks every worker to drain and waits for them.
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@flotilla/observability';
import type { WireSnapshot } from './snapshot-wire.js';
import type { KeyPair } from './tls-store.js';

/** What the controller tells a worker at start. */
export interface WorkerConfig {
  /** Listen on nothing: the controller hands each accepted connection over (strict turn). */
  handed?: boolean;
  httpPort: number;
  httpsPort: number;
  bindAddress: string;
  defaultPair?: KeyPair;
  accessLog: boolean;
  logLevel: string;
  /** Drain grace on stop, ms. */
  graceMs: number;
}

/** Messages from the controller to a worker. */
export type ToWorker = { t: 'config'; config: WorkerConfig } | { t: 'conn'; proto: 'http' | 'https' } | { t: 'endpointFailed'; address: string; until: number } | { t: 'snapshot'; wire: WireSnapshot } | { t: 'metrics'; id: number } | { t: 'stop' };
/** Messages from a worker to the controller. */
export type FromWorker = { t: 'hello' } | { t: 'endpointFailed'; address: string; until: number } | { t: 'listening'; http: number; https?: number } | { t: 'applied'; version: number; sliceRevision?: string } | { t: 'metrics'; id: number; text: string } | { t: 'failed'; message: string };

/** Initial young-generation semi-space of a worker, MiB (it may grow to twice that). */
const SEMI_SPACE_MB = 16;

interface Slot {
  index: number;
  worker: Worker;
  listening: boolean;
  applied: number;
  /** The EndpointSlice revision of the snapshot it applied last. */
  appliedRevision: number;
}

/** The worker processes of one ingress. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private latest: WireSnapshot | undefined;
  private stopping = false;
  private nextId = 0;
  private readonly pendingMetrics = new Map<number, (text: string) => void>();
  private readonly config: WorkerConfig;
  /** With strict turn: the controller's own listeners, and whose turn is next. */
  private readonly turn: boolean;
  private readonly listeners: Server[] = [];
  private next = 0;

  constructor(
    private readonly count: number,
    config: WorkerConfig,
    private readonly log: Logger,
    /** Told the EndpointSlice revision every worker serves by, whenever it moves. */
    private readonly onApplied?: (sliceRevision: string) => void,
  ) {
    const sched = process.env.FLOTILLA_INGRESS_SCHED;
    this.turn = sched !== 'rr' && sched !== 'none';
    this.config = { ...config, handed: this.turn };
    cluster.schedulingPolicy = sched === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
    // Not process.argv[1]: the CLI (or a test runner) would start over in every worker.
    // A larger young generation from the start: a proxy makes a few KiB of short-lived objects
    // and strings per request, and V8's default (1 MiB, grown only as survivors ask) scavenged
    // every ~350 small requests under wrk; 16 MiB scavenges every ~2,000, the live set the same.
    const execArgv = process.execArgv.some((a) => a.includes('semi-space-size')) ? process.execArgv : [...process.execArgv, `--min-semi-space-size=${SEMI_SPACE_MB}`, `--max-semi-space-size=${2 * SEMI_SPACE_MB}`];
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)), args: [], execArgv });
  }

  /**
   * Forks the workers and resolves with the bound ports once all listen.
   * Every worker gets the same config, port 0 included: the cluster shares
   * one listening socket per (address, port as asked, order of the listen
   * call), so a worker asking for the port another one got would bind anew
   * and fail.
   */
  async start(): Promise<{ http: number; https?: number }> {
    if (this.turn) {
      const http = await this.listen(this.config.httpPort, 'http');
      const https = this.config.httpsPort >= 0 ? await this.listen(this.config.httpsPort, 'https') : undefined;
      await Promise.all(Array.from({ length: this.count }, (_, i) => this.fork(i).then((s) => this.listening(s))));
      this.log.info({ workers: this.count, pids: this.slots.map((s) => s.worker.process.pid), scheduling: 'strict turn' }, 'ingress workers listening');
      return { http, ...(https !== undefined ? { https } : {}) };
    }
    const all = await Promise.all(Array.from({ length: this.count }, (_, i) => this.fork(i).then((s) => this.listening(s))));
    const ports = all[0]!;
    if (all.some((p) => p.http !== ports.http || p.https !== ports.https)) throw new Error(`ingress workers bound different ports: ${JSON.stringify(all)}`);
    this.log.info({ workers: this.count, pids: this.slots.map((s) => s.worker.process.pid), scheduling: cluster.schedulingPolicy === cluster.SCHED_RR ? 'round-robin' : 'none' }, 'ingress workers listening');
    return ports;
  }

  /** Listens in this process; each connection goes, paused, to the next worker (strict turn). */
  private async listen(port: number, proto: 'http' | 'https'): Promise<number> {
    const server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.handOff(socket, proto));
    this.listeners.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.config.bindAddress, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  /** Sends an accepted connection to the next live worker in turn (IPC closes this process's copy). */
  private handOff(socket: Socket, proto: 'http' | 'https'): void {
    for (let i = 0; i < this.count; i++) {
      const slot = this.slots[this.next];
      this.next = (this.next + 1) % this.count;
      if (!slot || !slot.listening || !slot.worker.isConnected()) continue;
      const msg: ToWorker = { t: 'conn', proto };
      try {
        slot.worker.send(msg, socket, (err: Error | null) => {
          if (err) socket.destroy();
        });
        return;
      } catch {
        // the channel closed meanwhile: the next worker
      }
    }
    socket.destroy(); // no worker to take it (all restarting)
  }

  /** Sends a new snapshot to every worker (and to workers forked later). */
  broadcast(wire: WireSnapshot): void {
    this.latest = wire;
    for (const s of this.slots) this.send(s, { t: 'snapshot', wire });
  }

  /** Whether every worker listens and has applied a snapshot at least as new as the first one. */
  ready(): boolean {
    return this.slots.length === this.count && this.slots.every((s) => s.listening && s.applied >= 1);
  }

  /** The oldest snapshot version every worker has applied (0 before any). */
  appliedVersion(): number {
    return this.slots.length === 0 ? 0 : Math.min(...this.slots.map((s) => s.applied));
  }

  /** Every worker's exposition text (a worker that does not answer within 2 s is left out). */
  async metrics(): Promise<string[]> {
    const asks = this.slots.map(
      (s) =>
        new Promise<string>((resolve) => {
          const id = ++this.nextId;
          const timer = setTimeout(() => {
            this.pendingMetrics.delete(id);
            resolve('');
          }, 2_000);
          this.pendingMetrics.set(id, (text) => {
            clearTimeout(timer);
            resolve(text);
          });
          if (!this.send(s, { t: 'metrics', id })) this.pendingMetrics.get(id)?.('');
        }),
    );
    return Promise.all(asks);
  }

  /** Asks every worker to drain and waits for them to exit (killing those that outlive `graceMs` + 5 s). */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    // No new connections; the workers finish the ones they have.
    for (const l of this.listeners) l.close();
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.worker.isDead()) return resolve();
            const timer = setTimeout(() => s.worker.process.kill('SIGKILL'), graceMs + 5_000);
            s.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (!this.send(s, { t: 'stop' })) s.worker.process.kill('SIGTERM');
          }),
      ),
    );
  }

  /** The lowest revision across workers is the one in force everywhere. */
  private reportApplied(): void {
    if (!this.onApplied || this.slots.length < this.count) return;
    const min = Math.min(...this.slots.map((s) => (s && s.listening ? s.appliedRevision : 0)));
    if (min > 0) this.onApplied(String(min));
  }

  private send(s: Slot, msg: ToWorker): boolean {
    if (!s.worker.isConnected()) return false;
    try {
      s.worker.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  private fork(index: number): Promise<Slot> {
    const worker = cluster.fork({ FLOTILLA_INGRESS_WORKER: String(index) });
    const slot: Slot = { index, worker, listening: false, applied: 0, appliedRevision: 0 };
    this.slots[index] = slot;
    // A message to a worker whose channel has just closed (the cluster module's own, as a worker
    // disconnects on stop) fails with EPIPE on this Worker: without a listener, that ended the process.
    worker.on('error', (err) => this.log[this.stopping ? 'debug' : 'warn']({ worker: index, pid: worker.process.pid, err: err.message }, 'ingress worker channel error'));
    worker.on('message', (msg: FromWorker) => {
      if (msg.t === 'applied') {
        slot.applied = msg.version;
        if (msg.sliceRevision !== undefined) {
          slot.appliedRevision = Number(msg.sliceRevision);
          this.reportApplied();
        }
      }
      // One worker found an endpoint dead: the others pass it over too, rather than each failing on it first.
      else if (msg.t === 'endpointFailed') {
        for (const other of this.slots) if (other && other !== slot) this.send(other, msg);
      }
      else if (msg.t === 'metrics') {
        const done = this.pendingMetrics.get(msg.id);
        this.pendingMetrics.delete(msg.id);
        done?.(msg.text);
      }
    });
    worker.on('exit', (code, sig) => {
      if (this.stopping || this.slots[index] !== slot) return;
      this.log.error({ worker: index, pid: worker.process.pid, code, signal: sig }, 'ingress worker exited; starting another in 1 s');
      setTimeout(() => {
        if (this.stopping) return;
        void this.fork(index)
          .then((s) => this.listening(s))
          .catch((err: unknown) => this.log.error({ err, worker: index }, 'restarting an ingress worker failed'));
      }, 1_000).unref();
    });
    return new Promise((resolve, reject) => {
      // Not 'online': that comes before the worker's module has run, and a message without a listener is lost.
      const onHello = (msg: FromWorker) => {
        if (msg.t !== 'hello') return;
        worker.off('message', onHello);
        this.send(slot, { t: 'config', config: this.config });
        if (this.latest) this.send(slot, { t: 'snapshot', wire: this.latest });
        resolve(slot);
      };
      worker.on('message', onHello);
      worker.once('exit', (code) => reject(new Error(`ingress worker ${index} exited with code ${code} before it was online`)));
    });
  }

  private listening(slot: Slot): Promise<{ http: number; https?: number }> {
    return new Promise((resolve, reject) => {
      const onMessage = (msg: FromWorker) => {
        if (msg.t === 'listening') {
          slot.listening = true;
          cleanup();
          resolve({ http: msg.http, ...(msg.https !== undefined ? { https: msg.https } : {}) });
        } else if (msg.t === 'failed') {
          cleanup();
          reject(new Error(`ingress worker ${slot.index}: ${msg.message}`));
        }
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`ingress worker ${slot.index} exited with code ${code} before listening`));
      };
      const cleanup = () => {
        slot.worker.off('message', onMessage);
        slot.worker.off('exit', onExit);
      };
      slot.worker.on('message', onMessage);
      slot.worker.on('exit', onExit);
    });
  }
}
