/**
 * The files of `configMap` and `secret` volumes on the host, written the
 * way the kubelet's AtomicWriter does so a running container never sees a
 * half-updated volume: each version goes to a fresh `..<timestamp>`
 * directory, the `..data` symlink is swapped to it with one rename, and the
 * visible names are symlinks through `..data`. A changed ConfigMap or
 * Secret therefore appears inside the container at once and whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DEFAULT_PROJECTED_MODE, type KeyToPath, type Pod, type Volume } from '@flotilla/api';
import { sourceData, type PodConfigSources } from './config-sources.js';

/** One file of a projected volume. */
export interface ProjectedFile {
  /** Relative path inside the volume. */
  path: string;
  data: Buffer;
  mode: number;
}

/** The files a volume should hold now, or what is missing (a non-optional source or key). */
export type ProjectionResult = { files: ProjectedFile[] } | { missing: string };

const DATA_LINK = '..data';

/** Where a pod's volume of a given kind lives under the agent's state dir (the kubelet's layout). */
export function projectedVolumeDir(stateDir: string, podUid: string, kind: 'configmap' | 'secret', volume: string): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return join(stateDir, 'pods', safe(podUid), 'volumes', `kubernetes.io~${kind}`, safe(volume));
}

/** The files of one configMap or secret volume from the fetched sources. */
export function projectVolume(pod: Pod, v: Volume, sources: PodConfigSources): ProjectionResult {
  const ns = pod.metadata.namespace ?? 'default';
  const isCm = !!v.configMap;
  const src = (v.configMap ?? v.secret)!;
  const name = isCm ? (v.configMap!.name ?? '') : (v.secret!.secretName ?? '');
  const kind = isCm ? 'ConfigMap' : 'Secret';
  const obj = isCm ? sources.configMaps.get(name) : sources.secrets.get(name);
  const defaultMode = src.defaultMode ?? DEFAULT_PROJECTED_MODE;
  if (!obj) {
    // An optional missing source is an empty volume.
    return src.optional ? { files: [] } : { missing: `${kind.toLowerCase()} "${name}" not found` };
  }
  const data = sourceData(obj, kind);
  const items: KeyToPath[] = src.items?.length ? src.items : [...data.keys()].sort().map((k) => ({ key: k, path: k }));
  const files: ProjectedFile[] = [];
  for (const it of items) {
    const value = data.get(it.key);
    if (value === undefined) {
      if (src.optional) continue;
      return { missing: `${kind.toLowerCase()} references non-existent ${isCm ? 'config' : 'secret'} key: ${it.key} (${ns}/${name})` };
    }
    files.push({ path: it.path, data: value, mode: it.mode ?? defaultMode });
  }
  return { files };
}

/** A digest of a file set, to skip rewriting an unchanged volume. */
export function filesDigest(files: ProjectedFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) h.update(`${f.path}\0${f.mode}\0${f.data.length}\0`).update(f.data);
  return h.digest('hex');
}

/**
 * Makes `dir` hold exactly `files`, atomically for readers that go through
 * the top-level names (as a container does): write `..<ts>` in full, point
 * `..data` at it with a rename, refresh the top-level links, drop the old
 * version directory.
 */
export async function writeAtomically(dir: string, files: ProjectedFile[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${randomBytes(4).toString('hex')}`;
  const version = join(dir, stamp);
  await mkdir(version, { mode: 0o755 });
  for (const f of files) {
    const target = join(version, f.path);
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, f.data, { mode: f.mode });
    // writeFile's mode is masked by the umask: set it exactly.
    await chmod(target, f.mode);
  }
  let previous: string | undefined;
  try {
    previous = await readlink(join(dir, DATA_LINK));
  } catch {
    previous = undefined;
  }
  const tmpLink = join(dir, `${DATA_LINK}_tmp`);
  await rm(tmpLink, { force: true });
  await symlink(stamp, tmpLink);
  // The one step readers can observe: rename(2) replaces the link atomically.
  await rename(tmpLink, join(dir, DATA_LINK));
  const wanted = new Set(files.map((f) => f.path.split('/')[0]!));
  for (const top of wanted) {
    const link = join(dir, top);
    const exists = await lstat(link).then(() => true, () => false);
    if (!exists) await symlink(join(DATA_LINK, top), link);
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') || wanted.has(entry)) continue;
    await rm(join(dir, entry), { recursive: true, force: true });
  }
  if (previous && previous !== stamp && previous.startsWith('..')) await rm(join(dir, previous), { recursive: true, force: true });
}
