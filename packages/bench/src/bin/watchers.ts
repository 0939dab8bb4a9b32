/**
 * A child process of the apiserver benchmark that holds the many open
 * watches, so decoding their streams does not delay the writer's clock or
 * the direct-etcd floor in the parent. Driven over the fork IPC channel:
 * it reports how many watches have seen a `sync-*` pod, and on `finish`
 * sends every (write → received) latency it measured.
 */
import { readFileSync } from 'node:fs';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Pod } from '@flotilla/api';
import { RestClient } from '@flotilla/client';
import { WRITTEN_AT_ANNOTATION } from '../fixtures.js';

/** What the parent sends. */
export type WatchersCommand = { type: 'finish' };
/** What this process sends. */
export type WatchersMessage =
  | { type: 'synced'; count: number }
  | { type: 'result'; delivery: number[]; lastByName: Record<string, number>; errors: number; firstError?: string };

const [url, caFile, token, namespace, countArg] = process.argv.slice(2);
const count = Number(countArg);
const send = (m: WatchersMessage) => process.send!(m);
const client = new RestClient({ server: url!, ca: readFileSync(caFile!, 'utf8'), token: token! }, { streamConnections: count + 8, userAgent: 'flotilla-bench-watch' });
const pods = client.resource<Pod>('pods');
const abort = new AbortController();
// One signal is shared by every watch on purpose; it is not a leak.
setMaxListeners(0, abort.signal);
const delivery: number[] = [];
const lastByName: Record<string, number> = {};
const synced = new Set<number>();
let errors = 0;
let firstError: string | undefined;
let reportTimer: NodeJS.Timeout | undefined;

const watcher = async (id: number) => {
  try {
    for await (const ev of pods.watch(namespace, { signal: abort.signal })) {
      if (ev.type !== 'ADDED') continue;
      const received = performance.timeOrigin + performance.now();
      const name = ev.object.metadata.name!;
      if (name.startsWith('sync-')) {
        synced.add(id);
        reportTimer ??= setTimeout(() => {
          reportTimer = undefined;
          send({ type: 'synced', count: synced.size });
        }, 50);
        continue;
      }
      const latency = received - Number(ev.object.metadata.annotations?.[WRITTEN_AT_ANNOTATION]);
      delivery.push(latency);
      lastByName[name] = Math.max(lastByName[name] ?? 0, latency);
    }
  } catch (err) {
    if (!abort.signal.aborted) {
      errors++;
      firstError ??= (err as Error).message;
    }
  }
};

const running = Array.from({ length: count }, (_, i) => watcher(i));
process.on('message', (m: WatchersCommand) => {
  if (m.type !== 'finish') return;
  abort.abort();
  void Promise.all(running)
    .then(() => client.close())
    .finally(() => {
      // Disconnect only once the (large) result is flushed to the parent.
      process.send!({ type: 'result', delivery, lastByName, errors, ...(firstError ? { firstError } : {}) } satisfies WatchersMessage, undefined, {}, () => process.disconnect());
    });
});
