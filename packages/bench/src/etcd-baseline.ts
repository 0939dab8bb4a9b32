/**
 * The bare-etcd baseline measured in the same run: single-key put and get
 * through etcd3 (the client the store uses), a prefix range of a list, and
 * watch delivery, so every apiserver figure can be read as a multiple of
 * what etcd alone costs on this machine.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, Range } from 'etcd3';
import { runClosedLoop, type ClosedLoopResult } from './load.js';
import { podSizedValue } from './fixtures.js';

/** Baseline figures per concurrency. */
export interface EtcdBaseline {
  put: ClosedLoopResult[];
  get: ClosedLoopResult[];
  valueBytes: number;
}

/** A connected etcd3 client with the big-message limits the store also sets. */
export function etcdClient(endpoints: string[]): Etcd3 {
  return new Etcd3({
    hosts: endpoints,
    grpcOptions: { 'grpc.max_receive_message_length': 1024 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 },
  });
}

/**
 * Keys the baseline's puts cycle over: a fresh key for each of the first
 * ones, a new revision of one after that. Bounded so that deleting them
 * afterwards stays small (see deletePrefixPaced).
 */
export const BASELINE_KEYS = 4096;

/** Measures put (pod-sized values over BASELINE_KEYS keys) and get (one key) at each concurrency. */
export async function measureEtcdBaseline(
  client: Etcd3,
  concurrencies: readonly number[],
  durationMs: number,
  warmupMs: number,
  cpuOf: Record<string, number | number[] | undefined> = {},
): Promise<EtcdBaseline> {
  const prefix = `/bench-baseline-${randomBytes(4).toString('hex')}/`;
  const value = podSizedValue();
  const put: ClosedLoopResult[] = [];
  const get: ClosedLoopResult[] = [];
  try {
    await client.put(`${prefix}target`).value(value);
    for (const c of concurrencies) {
      put.push(await runClosedLoop({ concurrency: c, durationMs, warmupMs, cpuOf, op: (seq) => client.put(`${prefix}k${seq % BASELINE_KEYS}`).value(value).exec() }));
      get.push(
        await runClosedLoop({
          concurrency: c,
          durationMs,
          warmupMs,
          cpuOf,
          op: async () => {
            const v = await client.get(`${prefix}target`).buffer();
            if (!v) throw new Error('baseline key missing');
          },
        }),
      );
    }
  } finally {
    await deletePrefixPaced(client, prefix);
  }
  return { put, get, valueBytes: value.length };
}

/** Keys per deletion of deletePrefixPaced: under etcd's initial write buffer of 512 entries per bucket. */
const DELETE_CHUNK = 400;
/** Pause between two of them: longer than etcd's backend batch interval (100 ms), so each is committed alone. */
const DELETE_PAUSE_MS = 110;

/**
 * Deletes every key under `prefix` a few hundred at a time, pausing between
 * deletions, instead of in one delete-range.
 *
 * etcd 3.4 (Debian's) copies its buffer of uncommitted writes for every read
 * and every transaction, and copies the whole allocation, which grows to the
 * most writes ever buffered between two backend commits and shrinks only in
 * an interval whose commit holds no key write: under a steady write load,
 * never. One delete-range of 20,000 keys (the scheduler benchmark's baseline
 * cleanup) made every later etcd request of the run copy about 1 MB; one of
 * 210,000 keys made each cost 9-12 ms of etcd CPU, most of it allocation and
 * garbage collection (pprof: bucketBuffer.Copy and runtime.scanobject).
 * etcd 3.5 no longer copies per request.
 */
export async function deletePrefixPaced(client: Etcd3, prefix: string, chunk = DELETE_CHUNK, pauseMs = DELETE_PAUSE_MS): Promise<number> {
  const end = Range.prefix(prefix).end;
  let deleted = 0;
  for (;;) {
    const keys = await client.getAll().prefix(prefix).limit(chunk).keys();
    if (keys.length === 0) return deleted;
    // Keys come sorted: [first, last + NUL) is exactly these, or fewer if some went meanwhile.
    const last = keys[keys.length - 1]!;
    const upTo = keys.length < chunk ? end : Buffer.concat([Buffer.from(last), Buffer.from([0])]);
    const res = await client.delete().range(new Range(keys[0]!, upTo)).exec();
    deleted += Number(res.deleted);
    await sleep(pauseMs);
  }
}
