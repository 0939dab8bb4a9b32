/**
 * The bare-etcd baseline measured in the same run: single-key put and get
 * through etcd3 (the client the store uses), a prefix range of a list, and
 * watch delivery, so every apiserver figure can be read as a multiple of
 * what etcd alone costs on this machine.
 */
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { deleteEtcdPrefix } from '@flotilla/e2e';
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
 * afterwards stays small (see deleteEtcdPrefix).
 */
export const BASELINE_KEYS = 4096;

/**
 * Measures put (pod-sized values over BASELINE_KEYS keys) and get (one key)
 * at each concurrency, through a client of its own to `endpoints`, and
 * deletes its keys from the same etcd afterwards. `ops` picks which of the
 * two (the other comes back empty).
 */
export async function measureEtcdBaseline(
  endpoints: string[],
  concurrencies: readonly number[],
  durationMs: number,
  warmupMs: number,
  cpuOf: Record<string, number | number[] | undefined> = {},
  ops: readonly ('put' | 'get')[] = ['put', 'get'],
): Promise<EtcdBaseline> {
  const prefix = `/bench-baseline-${randomBytes(4).toString('hex')}/`;
  const value = podSizedValue();
  const put: ClosedLoopResult[] = [];
  const get: ClosedLoopResult[] = [];
  const client = etcdClient(endpoints);
  try {
    await client.put(`${prefix}target`).value(value);
    for (const c of concurrencies) {
      if (ops.includes('put')) put.push(await runClosedLoop({ concurrency: c, durationMs, warmupMs, cpuOf, op: (seq) => client.put(`${prefix}k${seq % BASELINE_KEYS}`).value(value).exec() }));
      if (ops.includes('get')) get.push(
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
    // A few hundred keys at a time: see deleteEtcdPrefix (one deletion of them all taxed every later etcd request).
    client.close();
    await deleteEtcdPrefix(endpoints, prefix);
  }
  return { put, get, valueBytes: value.length };
}
