/**
 * Resource quantities (`500m`, `128Mi`, `1.5Gi`, `1e3`) as Kubernetes
 * writes them, and int-or-percent values (`25%`) as rolling updates use them.
 */
import { badRequest } from './errors.js';
import type { IntOrString, QuantityValue } from './core-types.js';

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

// The exponent alternative comes before the bare `E` (exa) suffix: `1E3` is 1000, `1E` is 10^18.
const QUANTITY_RE = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/;

/** The message Kubernetes gives for a malformed quantity. */
export const QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/** Parses a quantity into its plain value (`500m` → 0.5, `1Ki` → 1024); throws BadRequest when malformed. */
export function parseQuantity(q: QuantityValue): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw badRequest(`invalid quantity ${String(q)}: ${QUANTITY_ERROR}`);
    return q;
  }
  if (typeof q !== 'string') throw badRequest(`invalid quantity ${JSON.stringify(q)}: ${QUANTITY_ERROR}`);
  const m = QUANTITY_RE.exec(q);
  if (!m) throw badRequest(`invalid quantity "${q}": ${QUANTITY_ERROR}`);
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /\d/.test(suffix)) {
    return n * 10 ** Number(suffix.slice(1));
  }
  const mult = BINARY[suffix] ?? DECIMAL[suffix];
  return n * mult!;
}

/** True when `q` is a well-formed quantity. */
export function isValidQuantity(q: unknown): boolean {
  try {
    parseQuantity(q as QuantityValue);
    return true;
  } catch {
    return false;
  }
}

/** A CPU quantity in millicores, rounded up like Kubernetes' MilliValue (`0.5` → 500, `100m` → 100). */
export function cpuMillis(q: QuantityValue): number {
  return Math.ceil(roundFloat(parseQuantity(q) * 1000));
}

/** A memory (or storage) quantity in bytes, rounded up (`128Mi` → 134217728). */
export function memoryBytes(q: QuantityValue): number {
  return Math.ceil(roundFloat(parseQuantity(q)));
}

// Decimal suffixes multiply through floating point (0.1 * 1e9 ≠ 1e8 exactly); trim the noise before rounding up.
function roundFloat(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) < 1e-6 * Math.max(1, Math.abs(x)) ? r : x;
}

/** Formats millicores the way Kubernetes prints CPU: `2` when whole cores, else `500m`. */
export function formatCpu(millis: number): string {
  const m = Math.ceil(millis);
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** Formats bytes with the largest binary suffix that divides exactly (`134217728` → `128Mi`). */
export function formatMemory(bytes: number): string {
  return formatQuantity(Math.ceil(bytes), 'BinarySI');
}

/**
 * Formats a value in canonical form: BinarySI uses Ki…Ei when it divides
 * exactly, DecimalSI uses n…E; anything else is written plainly.
 */
export function formatQuantity(value: number, format: 'BinarySI' | 'DecimalSI' = 'DecimalSI'): string {
  if (!Number.isFinite(value)) throw badRequest(`cannot format quantity ${value}`);
  if (value === 0) return '0';
  if (format === 'BinarySI' && Number.isInteger(value)) {
    for (const [s, mult] of Object.entries(BINARY).reverse()) {
      if (Math.abs(value) >= mult && value % mult === 0) return `${value / mult}${s}`;
    }
    if (Math.abs(value) < 1024) return String(value);
  }
  for (const s of ['E', 'P', 'T', 'G', 'M', 'k', '', 'm', 'u', 'n']) {
    const raw = value / DECIMAL[s]!;
    if (Math.abs(raw) < 1) continue;
    const scaled = roundFloat(raw);
    if (Number.isInteger(scaled)) return `${scaled}${s}`;
  }
  // Finer than a nano: Kubernetes rounds up to the nearest nano.
  return `${Math.ceil(value / 1e-9)}n`;
}

/** Parses `25%` to 25, or undefined when `v` is not a percentage. */
function percent(v: string): number | undefined {
  const m = /^(\d+)%$/.exec(v);
  return m ? Number(m[1]) : undefined;
}

/**
 * Resolves an int-or-percent against a total: `25%` of 10 is 3 when
 * rounding up (maxSurge) and 2 when rounding down (maxUnavailable), as
 * Kubernetes' GetScaledValueFromIntOrPercent does. Throws BadRequest on
 * anything else.
 */
export function resolveIntOrPercent(value: IntOrString | undefined, total: number, roundUp: boolean, fallback = 0): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw badRequest(`invalid value for IntOrString: ${value} is not an integer`);
    return value;
  }
  if (typeof value === 'string') {
    const p = percent(value);
    if (p === undefined) throw badRequest(`invalid value for IntOrString: invalid type: string is not a percentage: "${value}"`);
    const scaled = (p * total) / 100;
    return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
  }
  throw badRequest(`invalid value for IntOrString: ${JSON.stringify(value)}`);
}

/** True when `v` is a non-negative integer or an integer percentage. */
export function isIntOrPercent(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v);
  return typeof v === 'string' && percent(v) !== undefined;
}

/**
 * The surge and unavailability a rolling update may use for `desired`
 * replicas. Both resolving to 0 would block progress, so unavailability
 * becomes 1, exactly as the Kubernetes Deployment controller does.
 */
export function resolveFenceposts(maxSurge: IntOrString | undefined, maxUnavailable: IntOrString | undefined, desired: number): { maxSurge: number; maxUnavailable: number } {
  const surge = resolveIntOrPercent(maxSurge ?? '25%', desired, true);
  let unavailable = resolveIntOrPercent(maxUnavailable ?? '25%', desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { maxSurge: surge, maxUnavailable: unavailable };
}
