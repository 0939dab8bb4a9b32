/**
 * Stand-in for @flotilla/api's quantity helpers until that module is
 * exported from the api package; same names and semantics, so switching is
 * an import change.
 */
import type { QuantityValue } from '@flotilla/api';

const MULT: Record<string, number> = {
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
};
const RE = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/;

/** Thrown for a malformed quantity. */
export class QuantityError extends Error {}

function parse(q: QuantityValue): number {
  if (typeof q === 'number' && Number.isFinite(q)) return q;
  const m = typeof q === 'string' ? RE.exec(q) : null;
  if (!m) throw new QuantityError(`invalid quantity ${JSON.stringify(q)}`);
  const suffix = m[2] ?? '';
  if (suffix.length > 1 && /^[eE][+-]?\d+$/.test(suffix)) return Number(m[1]) * 10 ** Number(suffix.slice(1));
  return Number(m[1]) * MULT[suffix]!;
}

function roundFloat(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) < 1e-6 * Math.max(1, Math.abs(x)) ? r : x;
}

/** CPU in millicores, rounded up (`0.5` → 500). */
export function cpuMillis(q: QuantityValue): number {
  return Math.ceil(roundFloat(parse(q) * 1000));
}

/** Memory in bytes, rounded up (`128Mi` → 134217728). */
export function memoryBytes(q: QuantityValue): number {
  return Math.ceil(roundFloat(parse(q)));
}

/** `2` for whole cores, else `500m`. */
export function formatCpu(millis: number): string {
  const m = Math.ceil(millis);
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** Bytes with the largest binary suffix that divides exactly (`134217728` → `128Mi`). */
export function formatMemory(bytes: number): string {
  const b = Math.ceil(bytes);
  for (const s of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
    const mult = MULT[s]!;
    if (b >= mult && b % mult === 0) return `${b / mult}${s}`;
  }
  return String(b);
}
