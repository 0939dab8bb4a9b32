/** Patch application for the fake client: JSON merge patch (RFC 7386) and JSON patch (RFC 6902). */
import { ApiError } from '@flotilla/api';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Applies an RFC 7386 merge patch: objects merge, null deletes, everything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new ApiError('BadRequest', `invalid JSON pointer "${path}"`);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: unknown, parts: string[], path: string): { parent: Record<string, unknown> | unknown[]; last: string } {
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw new ApiError('Invalid', `path "${path}" does not exist`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw new ApiError('Invalid', `path "${path}" does not exist`);
  return { parent: cur, last: parts[parts.length - 1]! };
}

function getAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

/** Applies an RFC 6902 JSON patch to a copy of `doc`. A failed `test` or a missing path is a 422. */
export function applyJsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new ApiError('BadRequest', 'a JSON patch must be an array of operations');
  let out = structuredClone(doc);
  for (const op of ops as JsonPatchOp[]) {
    const parts = pointer(op.path);
    if (parts.length === 0) {
      if (op.op === 'add' || op.op === 'replace') out = structuredClone(op.value);
      continue;
    }
    const remove = (path: string) => {
      const { parent, last } = parentOf(out, pointer(path), path);
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else {
        if (!(last in parent)) throw new ApiError('Invalid', `path "${path}" does not exist`);
        delete parent[last];
      }
    };
    const add = (path: string, value: unknown, replace: boolean) => {
      const { parent, last } = parentOf(out, pointer(path), path);
      if (Array.isArray(parent)) {
        const i = last === '-' ? parent.length : Number(last);
        if (replace) parent[i] = value;
        else parent.splice(i, 0, value);
      } else {
        if (replace && !(last in parent)) throw new ApiError('Invalid', `path "${path}" does not exist`);
        parent[last] = value;
      }
    };
    switch (op.op) {
      case 'add':
        add(op.path, structuredClone(op.value), false);
        break;
      case 'replace':
        add(op.path, structuredClone(op.value), true);
        break;
      case 'remove':
        remove(op.path);
        break;
      case 'move': {
        const v = getAt(out, op.from ?? '');
        remove(op.from ?? '');
        add(op.path, v, false);
        break;
      }
      case 'copy':
        add(op.path, structuredClone(getAt(out, op.from ?? '')), false);
        break;
      case 'test':
        if (JSON.stringify(getAt(out, op.path)) !== JSON.stringify(op.value)) throw new ApiError('Invalid', `test failed at "${op.path}"`);
        break;
      default:
        throw new ApiError('BadRequest', `unknown JSON patch op "${(op as { op: string }).op}"`);
    }
  }
  return out;
}
