/**
 * One watch over a namespace's pods that resolves waiters when a pod reaches
 * a state: the benchmarks' "seen through a watch" clock. It asks for the
 * pods without managedFields (none are read here), as the informers of the
 * cluster's own components do.
 */
import { performance } from 'node:perf_hooks';
import type { Pod } from '@flotilla/api';
import { runListWatch, type ApiClient } from '@flotilla/client';

interface Waiter {
  name: string;
  pred: (pod: Pod) => boolean;
  resolve: (at: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** Watches the pods of a namespace (or all) and answers "when did pod X first satisfy P". */
export class PodWatch {
  /** The latest state of each pod seen (of those `retain` keeps). */
  readonly pods = new Map<string, Pod>();
  private readonly waiters = new Set<Waiter>();
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  /** Times the watch's resourceVersion was gone (410) and a relist replaced it: states seen late, at the relist. */
  relists = 0;
  /** Times the stream dropped and the watch resumed from its last resourceVersion, missing nothing. */
  resumes = 0;
  /** Called with every event (after the cache is updated); after a relist, with ADDED for every listed pod. */
  onEvent?: (type: string, pod: Pod, at: number) => void;

  /**
   * `retain`: which pods `pods` keeps (default every one). Every event still
   * reaches onEvent and the waiters; a pod not kept is matched by waitFor
   * only on events after the call. At 150,000 pods, keeping each parsed Pod
   * cost the benchmark's process memory and garbage collection that its
   * measurements (a lost node's few pods) never read.
   */
  constructor(
    private readonly client: ApiClient,
    private readonly namespace?: string,
    private readonly retain: (pod: Pod) => boolean = () => true,
  ) {}

  private keep(k: string, pod: Pod): void {
    if (this.retain(pod)) this.pods.set(k, pod);
    else this.pods.delete(k);
  }

  /** Lists (to learn the resourceVersion) and starts watching from there; resolves once the list is in. */
  async start(): Promise<void> {
    const list = await this.client.resource<Pod>('pods').list(this.namespace, { omitManagedFields: true });
    for (const p of list.items) this.keep(key(p), p);
    this.running = this.watchFrom(list.metadata?.resourceVersion);
  }

  /**
   * Watches from `rv` as an informer does (runListWatch: a dropped stream
   * resumes, only 410 Gone relists). At 150,000 pods a relist is 470 MB and
   * about 20 s of this process's event loop, which the benchmark's own
   * clocks then measure.
   */
  private watchFrom(rv: string | undefined): Promise<void> {
    const pods = this.client.resource<Pod>('pods');
    return runListWatch(
      {
        list: async (signal) => {
          const relist = await pods.list(this.namespace, { signal, omitManagedFields: true });
          rv = relist.metadata?.resourceVersion;
          this.replace(relist.items);
        },
        watch: async (signal) => {
          let events = 0;
          for await (const ev of pods.watch(this.namespace, { resourceVersion: rv, signal, allowWatchBookmarks: true, omitManagedFields: true })) {
            events++;
            const at = performance.now();
            rv = ev.object.metadata?.resourceVersion ?? rv;
            if (ev.type === 'BOOKMARK') continue;
            const k = key(ev.object);
            if (ev.type === 'DELETED') this.pods.delete(k);
            else this.keep(k, ev.object);
            this.onEvent?.(ev.type, ev.object, at);
            if (ev.type !== 'DELETED') for (const w of this.waiters) if (w.name === k && w.pred(ev.object)) this.settle(w, at);
          }
          return events;
        },
        onResume: () => this.resumes++,
      },
      this.abort.signal,
      // start() listed already.
      { listFirst: false },
    );
  }

  /** Resolves with the performance.now() time at which `namespace/name` (or `name` for all-namespace watches) first satisfied `pred`. */
  waitFor(name: string, pred: (pod: Pod) => boolean, timeoutMs = 120_000): Promise<number> {
    const cur = this.pods.get(name);
    if (cur && pred(cur)) return Promise.resolve(performance.now());
    const p = new Promise<number>((resolve, reject) => {
      const w: Waiter = {
        name,
        pred,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`pod ${name} did not reach the expected state within ${timeoutMs} ms; last seen: ${JSON.stringify(this.pods.get(name)?.status ?? null).slice(0, 400)}`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
    // A caller that failed before awaiting must not turn stop() into an unhandled rejection.
    p.catch(() => undefined);
    return p;
  }

  /**
   * Applies a relist: every listed pod goes through onEvent and the waiters
   * as if just seen (so a state reached while the watch was down is recorded,
   * late rather than never), and pods missing from it are dropped.
   */
  private replace(items: Pod[]): void {
    this.relists++;
    const at = performance.now();
    const listed = new Set<string>();
    for (const p of items) {
      const k = key(p);
      listed.add(k);
      this.keep(k, p);
      this.onEvent?.('ADDED', p, at);
      for (const w of this.waiters) if (w.name === k && w.pred(p)) this.settle(w, at);
    }
    for (const [k, p] of this.pods) {
      if (listed.has(k)) continue;
      this.pods.delete(k);
      this.onEvent?.('DELETED', p, at);
    }
  }

  private settle(w: Waiter, at: number): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
    w.resolve(at);
  }

  /** Stops watching. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new Error('watch stopped'));
    }
    this.waiters.clear();
    await this.running;
  }
}

/** `namespace/name`, the key waitFor uses. */
export function key(p: Pod): string {
  return `${p.metadata.namespace ?? ''}/${p.metadata.name}`;
}

/** True when the pod's phase is Running. */
export const isRunning = (p: Pod): boolean => p.status?.phase === 'Running';
