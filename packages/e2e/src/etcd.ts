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

/** Deletes every key that starts with `prefix`; returns how many there were. */
export async function deleteEtcdPrefix(endpoints: string[], prefix: string): Promise<number> {
  if (prefix === '' || prefix === '/') throw new Error(`refusing to delete the whole keyspace (prefix ${JSON.stringify(prefix)})`);
  const key = Buffer.from(prefix);
  const res = await gateway(endpoints, '/v3/kv/deleterange', { key: b64(key), range_end: b64(prefixEnd(key)) });
  return Number(res.deleted ?? 0);
}

/** How many keys start with `prefix` (to assert that clean-up happened). */
export async function countEtcdPrefix(endpoints: string[], prefix: string): Promise<number> {
  const key = Buffer.from(prefix);
  const res = await gateway(endpoints, '/v3/kv/range', { key: b64(key), range_end: b64(prefixEnd(key)), count_only: true });
  return Number(res.count ?? 0);
}
