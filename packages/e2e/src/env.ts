import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The etcd client URLs tests use: FLOTILLA_ETCD_ENDPOINTS (comma separated), else the dev etcd on 2379. */
export function etcdEndpoints(): string[] {
  const raw = process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379';
  const endpoints = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (endpoints.length === 0) throw new Error('FLOTILLA_ETCD_ENDPOINTS is set but empty');
  return endpoints;
}

let root: string | undefined;

/**
 * The repository root: the nearest directory above this file whose
 * package.json declares workspaces. Found by walking up because this file
 * runs both from src/ (vitest) and from dist/src/ (built).
 */
export function repoRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { workspaces?: unknown }).workspaces) {
      root = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root (a package.json with workspaces)');
    dir = parent;
  }
}

/** The built `flotilla` entry point that integration tests start; it needs `npx tsc -b` first. */
export function flotillaBin(): string {
  const bin = join(repoRoot(), 'packages', 'cli', 'dist', 'bin', 'flotilla.js');
  if (!existsSync(bin)) throw new Error(`${bin} does not exist: build first (npx tsc -b)`);
  return bin;
}
