/**
 * Just enough of etcd's v3 JSON gateway for test clean-up, so the harness
 * needs neither etcd3 (which only the store may import) nor etcdctl.
 */

const b64 = (buf: Buffer) => buf.toString('base64');

/** The end of the key range that holds every key starting with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key: etcd's "range to the end"
}

async function gateway(endpoints: string[], path: string, body: unknown): Promise<Record<string, unknown>> {
  let lastError: unknown;
  for (const endpoint of endpoints) {
    try {
      const res = await fetch(`${endpoint.replace(/\/$/, '')}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5_000),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`etcd ${endpoint}${path}: HTTP ${res.status}: ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/** Keys per deletion of deleteEtcdPrefix, and the pause after a full one (see there). */
const DELETE_CHUNK = 400;
const DELETE_PAUSE_MS = 110;

/**
 * Deletes every key that starts with `prefix`; returns how many there were.
 *
 * A few hundred keys at a time, pausing between full chunks, not in one
 * delete-range. etcd 3.4 (Debian's) copies its buffer of uncommitted writes
 * for every read and every transaction, and copies the whole allocation,
 * which grows to the most writes ever buffered between two backend commits
 * and shrinks only at a commit that holds no key write: under a steady write
 * load (the suite's shared etcd, a benchmark's), never. One delete-range of
 * the scheduler benchmark's 20,000 baseline keys made every later request of
 * that run copy about 1 MB; one of the apiserver benchmark's 210,000 made
 * each cost 9-14 ms of etcd CPU (pprof: bucketBuffer.Copy and the garbage
 * collection after it, 90 % of etcd's time). etcd 3.5 no longer copies per request.
 */
export async function deleteEtcdPrefix(endpoints: string[], prefix: string): Promise<number> {
  if (prefix === '' || prefix === '/') throw new Error(`refusing to delete the whole keyspace (prefix ${JSON.stringify(prefix)})`);
  const key = Buffer.from(prefix);
  const end = prefixEnd(key);
  let deleted = 0;
  for (;;) {
    const page = await gateway(endpoints, '/v3/kv/range', { key: b64(key), range_end: b64(end), keys_only: true, limit: DELETE_CHUNK });
    const kvs = (page.kvs as Array<{ key: string }> | undefined) ?? [];
    const full = kvs.length === DELETE_CHUNK;
    // Keys come sorted: up to the last one listed (and past it, NUL) when the page was full, else the whole rest.
    const upTo = full ? Buffer.concat([Buffer.from(kvs[kvs.length - 1]!.key, 'base64'), Buffer.from([0])]) : end;
    const res = await gateway(endpoints, '/v3/kv/deleterange', { key: b64(key), range_end: b64(upTo) });
    deleted += Number(res.deleted ?? 0);
    if (!full) return deleted;
    await new Promise((resolve) => setTimeout(resolve, DELETE_PAUSE_MS));
  }
}

/** How many keys start with `prefix` (to assert that clean-up happened). */
export async function countEtcdPrefix(endpoints: string[], prefix: string): Promise<number> {
  const key = Buffer.from(prefix);
  const res = await gateway(endpoints, '/v3/kv/range', { key: b64(key), range_end: b64(prefixEnd(key)), count_only: true });
  return Number(res.count ?? 0);
}
