/**
 * The bare-etcd baseline measured in the same run: single-key put and get
 * through etcd3 (the client the store uses), a prefix range of a list, and
 * watch delivery, so every apiserver figure can be read as a multiple of
 * what etcd alone costs on this machine.
 */
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
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

/** Measures put (a fresh key each time, pod-sized value) and get (one key) at each concurrency. */
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
      put.push(await runClosedLoop({ concurrency: c, durationMs, warmupMs, cpuOf, op: (seq) => client.put(`${prefix}c${c}-${seq}`).value(value).exec() }));
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
    await client.delete().prefix(prefix);
  }
  return { put, get, valueBytes: value.length };
}
