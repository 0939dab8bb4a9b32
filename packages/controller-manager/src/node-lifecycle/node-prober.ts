/**
 * The fast node liveness signal, observed from the node-lifecycle
 * controller: one kept-alive cleartext HTTP/2 connection per node to the
 * liveness server its agent advertises on the Node
 * (`node.flotilla.io/liveness-endpoint`), a `GET /livez?node=NAME` once per
 * connection (is this really that node's agent?), then an HTTP/2 PING every
 * interval. Nothing is written anywhere: at 5,000 nodes it costs 5,000 open
 * sockets and 10,000 PINGs a second (every 500 ms) in this process,
 * against 2,500 etcd writes a second for a 2 s Lease.
 *
 * It tells apart what the Lease cannot:
 * - `alive`: the last PING was answered;
 * - `refused`: the host answered but nobody listens (connection refused or
 *   closed by the peer): the agent process is dead, the host is up;
 * - `silent`: no answer at all (connect or PING timed out, host unreachable):
 *   the host is down or cut off;
 * - `wrong-node`: the address answers for another node (stale address).
 *
 * Why from the controller and not a stream from the agent into the
 * apiserver: see the agent's liveness-server.ts. The apiserver is not on
 * this path, so an apiserver restart never makes nodes look silent.
 *
 * If this process itself stalls (a long GC pause, a starved CPU), PING
 * answers wait in its socket buffers: a gap in its own tick is detected and
 * forgiven (every open session gets two PING periods after the gap to
 * answer before the grace can run out), so the controller never blames
 * nodes for its own silence.
 */
import { connect, type ClientHttp2Session } from 'node:http2';
import { realClock, sleep, type Clock, type Logger } from '@flotilla/client';
import type { Histogram, Registry } from '@flotilla/observability';

/** What the prober knows about one node. */
export type ProbeState = 'connecting' | 'alive' | 'refused' | 'silent' | 'wrong-node';

/** One node's probe record (read-only for callers). */
export interface ProbeView {
  endpoint: string;
  state: ProbeState;
  /** Local time (clock.now()) of the last answer, if any. */
  lastAnswer?: number;
  /** Whether this endpoint has answered at least once since the prober learnt it. */
  everAnswered: boolean;
  /** The agent's boot id from its last /livez answer. */
  bootId?: string;
  /** Local time the state last changed. */
  since: number;
}

/** Where the node-lifecycle controller gets fast liveness from (a fake in unit tests). */
export interface LivenessSource {
  /** Sets (or with undefined, clears) where a node's liveness server is. */
  setEndpoint(node: string, endpoint: string | undefined): void;
  /** Forgets a node (deleted). */
  forget(node: string): void;
  /** The node's probe record, if it advertises an endpoint. */
  view(node: string): ProbeView | undefined;
  /** Drops the connection and opens a new one: the agent re-checks its Node status when probed afresh. */
  reconnect(node: string): void;
  /** Probes until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
}

/** Options of the prober. */
export interface NodeProberOptions {
  /** PING period per node. Default 500 ms. */
  intervalMs?: number;
  /**
   * An unanswered PING (or connect) older than this drops the connection and
   * dials again. Default twice the grace, at least 4 s: the verdict comes from
   * the grace, not from this; dropping early only makes a starved node (or
   * this process) reconnect in a loop, and a partition that heals resumes
   * the same connection anyway.
   */
  timeoutMs?: number;
  /** The grace the controller judges silence by: after a stall of this process every open session gets two PING periods more to answer. Default 3 s. */
  graceMs?: number;
  clock?: Clock;
  log?: Logger;
  /** Told when a node's state changes. */
  onChange?: (node: string, view: ProbeView) => void;
  /** Where the answer-gap histogram goes (how close healthy nodes come to the grace). */
  metrics?: Registry;
}

/** Buckets of the answer gap, seconds: around the PING period and the grace. */
const GAP_BUCKETS = [0.5, 0.6, 0.75, 1, 1.25, 1.5, 2, 3, 5, 10];

interface Entry extends ProbeView {
  node: string;
  session?: ClientHttp2Session;
  /** Local time an unanswered PING (or the connect) was sent. */
  pending?: number;
  /** Not before this local time is a new connection tried. */
  retryAt: number;
  failures: number;
}

/** Probes every advertised node liveness server over HTTP/2. */
export class NodeProber implements LivenessSource {
  private readonly entries = new Map<string, Entry>();
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly graceMs: number;
  private readonly clock: Clock;
  private readonly log: Logger | undefined;
  /** Entries in a fixed order, so each tick handles one slice of them (PINGs spread over the interval). */
  private order: Entry[] = [];
  private cursor = 0;
  private stopped = false;
  /** Time between two answers of a node that stayed alive: its margin against the grace under load. */
  private readonly gaps: Histogram | undefined;

  constructor(private readonly o: NodeProberOptions = {}) {
    this.intervalMs = o.intervalMs ?? 500;
    this.graceMs = o.graceMs ?? 3_000;
    this.timeoutMs = o.timeoutMs ?? Math.max(4_000, 2 * this.graceMs);
    this.clock = o.clock ?? realClock;
    this.log = o.log;
    this.gaps = o.metrics?.histogram('node_liveness_answer_gap_seconds', 'Time between two liveness answers of a node that stayed alive (the grace is the verdict).', GAP_BUCKETS);
  }

  setEndpoint(node: string, endpoint: string | undefined): void {
    const e = this.entries.get(node);
    if (!endpoint) {
      if (e) this.forget(node);
      return;
    }
    if (e && e.endpoint === endpoint) return;
    if (e) this.forget(node);
    const now = this.clock.now();
    const entry: Entry = { node, endpoint, state: 'connecting', everAnswered: false, since: now, retryAt: now, failures: 0 };
    this.entries.set(node, entry);
    this.order.push(entry);
  }

  forget(node: string): void {
    const e = this.entries.get(node);
    if (!e) return;
    this.entries.delete(node);
    this.order = this.order.filter((x) => x !== e);
    e.session?.destroy();
    e.session = undefined;
  }

  view(node: string): ProbeView | undefined {
    return this.entries.get(node);
  }

  reconnect(node: string): void {
    const e = this.entries.get(node);
    if (!e?.session) return;
    this.drop(e);
    e.retryAt = this.clock.now();
  }

  /** How many nodes are in each state (for metrics and benchmarks). */
  counts(): Record<ProbeState, number> {
    const out: Record<ProbeState, number> = { connecting: 0, alive: 0, refused: 0, silent: 0, 'wrong-node': 0 };
    for (const e of this.entries.values()) out[e.state]++;
    return out;
  }

  async run(signal: AbortSignal): Promise<void> {
    // Ten ticks per interval, each handling a tenth of the nodes.
    const tickMs = Math.max(10, Math.floor(this.intervalMs / 10));
    let lastTick = this.clock.now();
    try {
      while (!signal.aborted) {
        const now = this.clock.now();
        if (now - lastTick > Math.max(1_000, 2 * this.intervalMs)) this.forgiveStall(now, now - lastTick);
        lastTick = now;
        const n = this.order.length;
        const slice = Math.ceil(n / 10);
        for (let i = 0; i < slice && n > 0; i++) {
          this.cursor = (this.cursor + 1) % this.order.length;
          this.step(this.order[this.cursor]!, now);
        }
        await sleep(this.clock, tickMs, signal);
      }
    } finally {
      this.stopped = true;
      for (const e of this.entries.values()) {
        e.session?.destroy();
        e.session = undefined;
      }
    }
  }

  private forgiveStall(now: number, gapMs: number): void {
    this.log?.warn({ gapMs }, 'node prober stalled; open sessions get two more PING periods to answer');
    // Not a clean slate (that would delay every verdict by a full grace at each stall): two PING periods to answer.
    const floor = now + 2 * this.intervalMs - this.graceMs;
    for (const e of this.entries.values()) {
      if (!e.session || e.session.destroyed) continue;
      if (e.lastAnswer !== undefined) e.lastAnswer = Math.max(e.lastAnswer, floor);
      if (e.pending !== undefined) e.pending = now;
    }
  }

  private setState(e: Entry, state: ProbeState): void {
    if (e.state === state) return;
    e.state = state;
    e.since = this.clock.now();
    this.o.onChange?.(e.node, e);
  }

  private answered(e: Entry): void {
    const now = this.clock.now();
    if (e.state === 'alive' && e.lastAnswer !== undefined) {
      const gap = now - e.lastAnswer;
      this.gaps?.observe(gap / 1000);
      // A near miss: half the grace without an answer, and still alive. Under load these say how much margin is left.
      if (gap >= this.graceMs / 2) this.log?.info({ node: e.node, gapMs: gap, graceMs: this.graceMs }, 'liveness answer late');
    }
    e.lastAnswer = now;
    e.pending = undefined;
    e.failures = 0;
    e.everAnswered = true;
    this.setState(e, 'alive');
  }

  private drop(e: Entry): void {
    const s = e.session;
    e.session = undefined;
    e.pending = undefined;
    s?.destroy();
  }

  /** A failed connection or probe: retry soon once (a restarting agent), then every interval or two. */
  private failed(e: Entry, state: ProbeState): void {
    this.drop(e);
    e.failures++;
    e.retryAt = this.clock.now() + (e.failures === 1 ? 0.25 : Math.min(2, e.failures - 1)) * this.intervalMs;
    this.setState(e, state);
  }

  private step(e: Entry, now: number): void {
    if (!e.session) {
      if (now >= e.retryAt) this.open(e, now);
      return;
    }
    if (e.pending !== undefined) {
      // No answer in time (PING, or the connect and /livez): the host is down or cut off.
      if (now - e.pending >= this.timeoutMs) this.failed(e, 'silent');
      return;
    }
    if (e.state !== 'alive') return;
    e.pending = now;
    const s = e.session;
    try {
      s.ping((err) => {
        if (err || e.session !== s) return;
        this.answered(e);
      });
    } catch {
      this.failed(e, 'refused');
    }
  }

  private open(e: Entry, now: number): void {
    e.pending = now;
    let session: ClientHttp2Session;
    try {
      session = connect(`http://${e.endpoint}`, { settings: { enablePush: false } });
    } catch (err) {
      this.log?.warn({ node: e.node, endpoint: e.endpoint, err: (err as Error)?.message ?? String(err) }, 'bad liveness endpoint');
      this.failed(e, 'refused');
      return;
    }
    e.session = session;
    session.on('error', (err: NodeJS.ErrnoException) => {
      if (e.session !== session || this.stopped) return;
      const code = err.code ?? '';
      // Refused or reset: the host's kernel answered for a process that is gone. Anything else is silence.
      this.failed(e, code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' ? 'refused' : 'silent');
    });
    session.on('close', () => {
      if (e.session !== session || this.stopped) return;
      // The peer closed a working connection: its process ended (a GOAWAY on shutdown, or the kernel's FIN after a SIGKILL).
      this.failed(e, 'refused');
    });
    session.on('goaway', () => undefined);
    // The identity check: one small request per connection.
    session.once('connect', () => {
      // Timed out and dropped just as it connected: nothing to ask.
      if (e.session !== session || session.destroyed || session.closed) return;
      let req: ReturnType<ClientHttp2Session['request']>;
      try {
        req = session.request({ ':path': `/livez?node=${encodeURIComponent(e.node)}` });
      } catch {
        this.failed(e, 'refused');
        return;
      }
      let body = '';
      let status = 0;
      req.setEncoding('utf8');
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (c: string) => (body += c));
      req.on('error', () => undefined);
      req.on('end', () => {
        if (e.session !== session) return;
        let node: string | undefined;
        let bootId: string | undefined;
        try {
          ({ node, bootId } = JSON.parse(body) as { node?: string; bootId?: string });
        } catch {
          // not a liveness server
        }
        if (status === 200 && node === e.node) {
          if (e.bootId && bootId !== e.bootId) this.log?.info({ node: e.node, bootId }, 'node agent restarted');
          e.bootId = bootId;
          this.answered(e);
        } else {
          this.log?.warn({ node: e.node, endpoint: e.endpoint, status }, 'liveness endpoint answers for another node');
          this.failed(e, 'wrong-node');
        }
      });
      req.end();
    });
    // The connection must not keep the process alive on its own.
    session.unref();
  }
}
