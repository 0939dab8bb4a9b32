/** How objects are laid out in etcd: `<prefix>/<resource>/<namespace>/<name>`, or without the namespace for cluster-scoped resources. */

/** The etcd key of one object. */
export function objectKey(prefix: string, resource: string, namespace: string | undefined, name: string): string {
  return namespace ? `${prefix}/${resource}/${namespace}/${name}` : `${prefix}/${resource}/${name}`;
}

/**
 * The key prefix holding every object of a list: one namespace, or the whole
 * resource. The trailing slash keeps `pods` from also matching `podtemplates`.
 */
export function listPrefix(prefix: string, resource: string, namespace?: string): string {
  return namespace ? `${prefix}/${resource}/${namespace}/` : `${prefix}/${resource}/`;
}

/**
 * Keys per etcd range when reading a whole prefix (a LIST, the read cache's
 * load), every range at the first one's revision, as Kubernetes pages its
 * lists by 10,000: one range of 150,000 pods (half a gigabyte) outlasted the
 * etcd request deadline, and a LIST failed with 503 or a restarted
 * apiserver's read cache could not load.
 */
export const RANGE_CHUNK = 10_000;

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix range). */
export function prefixRangeEnd(prefix: string | Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff: etcd reads "\0" as "to the end of the keyspace".
  return Buffer.from([0]);
}

/** A store prefix as given by the user, normalised to `/x/y` (leading slash, no trailing one). */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}
