/**
 * Periodic compaction of etcd's history, as kube-apiserver does it: without
 * it etcd keeps every revision of every key forever, its index and database
 * grow with each write, and every read pays for the history (a second
 * benchmark run on one etcd cost 20× the etcd CPU per pod of the first).
 *
 * Every interval each apiserver tries one compare-and-swap on a shared key;
 * the one that wins compacts to the revision it recorded at its previous
 * win, so history younger than one interval is always kept (watches resume
 * across short disconnects) and several apiservers on one etcd compact once
 * per interval between them, not once each.
 */
import type { Etcd3 } from 'etcd3';
import type { Logger } from '@flotilla/observability';

/** The key the apiservers of one etcd coordinate on (the same name kube-apiserver uses; outside every prefix, since compaction is etcd-wide). */
export const COMPACT_REV_KEY = 'compact_rev_key';

/** What one compaction tick did. */
export interface CompactionTick {
  /** This instance won the interval (its swap succeeded). */
  won: boolean;
  /** The revision compacted to, when a compaction ran. */
  compacted?: number;
}

/** The compaction loop of one apiserver. */
export class Compactor {
  private version = 0;
  private lastRevision = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  /** Compactions this instance performed, and the last revision it compacted to (for metrics and tests). */
  readonly stats = { compactions: 0, lastCompacted: 0, failures: 0 };

  constructor(
    private readonly client: Etcd3,
    private readonly log: Logger,
  ) {}

  /**
   * One tick: swap the shared key's version; on success compact to the
   * revision of this instance's previous successful swap (if any) and
   * remember the current one. On failure adopt the key's version, so the
   * next tick can win if the other apiserver is gone.
   */
  async tick(): Promise<CompactionTick> {
    const key = Buffer.from(COMPACT_REV_KEY);
    const res = await this.client.kv.txn({
      compare: [{ key, target: 'Version', result: 'Equal', version: this.version }],
      success: [{ request_put: { key, value: Buffer.from(String(this.lastRevision)) } }],
      failure: [{ request_range: { key } }],
    });
    const revision = Number(res.header.revision);
    if (!res.succeeded) {
      const kv = res.responses[0]?.response_range?.kvs[0];
      this.version = kv ? Number(kv.version) : 0;
      return { won: false };
    }
    this.version += 1;
    const target = this.lastRevision;
    this.lastRevision = revision;
    if (target <= 0) return { won: true };
    try {
      await this.client.kv.compact({ revision: target, physical: false });
    } catch (err) {
      // Another etcd client may have compacted past it already: nothing lost.
      if (!/required revision has been compacted/.test((err as Error).message)) throw err;
    }
    this.stats.compactions += 1;
    this.stats.lastCompacted = target;
    this.log.info({ key: COMPACT_REV_KEY, revision: target }, 'etcd history compacted');
    return { won: true, compacted: target };
  }

  /** Ticks every `intervalMs` until stop(); a failed tick is logged and retried next time. */
  start(intervalMs: number): void {
    if (this.timer || intervalMs <= 0) return;
    const loop = () => {
      this.running = this.tick().catch((err: unknown) => {
        this.stats.failures += 1;
        this.log.warn({ key: COMPACT_REV_KEY, err: (err as Error)?.message }, 'etcd compaction failed; retrying next interval');
      });
    };
    this.timer = setInterval(loop, intervalMs);
    this.timer.unref();
    loop();
  }

  /** Stops ticking and waits for a tick in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
