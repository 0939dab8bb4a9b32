/**
 * A set of allocated values (cluster IPs or node ports) kept in ONE internal
 * object in the store, like Kubernetes' `/registry/ranges/serviceips`: a
 * bitmap over the range, changed only by compare-and-swap, so any number of
 * apiservers on one etcd never hand out the same value and a restart loses
 * nothing. Concurrent requests in one process are merged into one write, so
 * a burst of creates costs one etcd round trip per batch, not one per
 * Service fighting over the same key.
 *
 * Values handed out recently are remembered with their time: the repair loop
 * rebuilds the set from the Services that exist, and must not free a value
 * whose Service is still being created; once that grace has passed an
 * allocation without a Service is a leak (a crash between allocate and
 * create) and is freed.
 */
import { isReason } from '@flotilla/api';
import type { KubeObject } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import { parseStoredRange, type ValueRange } from './service-ranges.js';

/** The store resource holding range allocations; not served over the API. */
export const RANGES_RESOURCE = 'ranges';

/** The stored form: the range it covers, a base64 bitmap, and recent allocations (value → ms since epoch). */
export interface RangeAllocationObject extends KubeObject {
  range: string;
  data: string;
  recent?: Record<string, number>;
}

/** Why an allocation failed; the caller turns it into a field error. */
export type AllocationFailure = 'full' | 'allocated' | 'out-of-range';

/** An allocation that failed for a reason the client can act on. */
export class AllocationError extends Error {
  constructor(
    readonly failure: AllocationFailure,
    message: string,
  ) {
    super(message);
    this.name = 'AllocationError';
  }
}

/** What one repair did. */
export interface RepairResult {
  /** Values in use by a Service but missing from the set (now marked). */
  added: number[];
  /** Values in the set with no Service and past the grace period (now freed). */
  leaked: number[];
  /** Values in use that lie outside the range (left alone, reported). */
  outOfRange: number[];
}

/** Options of a RangeAllocator. */
export interface RangeAllocatorOptions {
  /** How long a fresh allocation without its object survives a repair. Default 60 s. */
  recentGraceMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

type Op =
  | { type: 'next'; resolve: (v: number) => void; reject: (e: unknown) => void }
  | { type: 'exact'; value: number; resolve: (v: number) => void; reject: (e: unknown) => void }
  | { type: 'release'; value: number; resolve: (v: number) => void; reject: (e: unknown) => void };

type Outcome = { ok: true; value: number } | { ok: false; error: AllocationError };

/** A decoded allocation object. */
interface State {
  bits: Buffer;
  recent: Map<number, number>;
}

/**
 * Kubernetes splits a range in a lower band kept for values users ask for
 * (the `kubernetes` Service's .1, well-known node ports) and an upper band
 * that dynamic allocation uses first.
 */
function staticBand(range: ValueRange): number {
  const size = range.max - range.min + 1;
  return range.kind === 'ip' ? Math.min(Math.max(16, Math.floor(size / 16)), 256) : Math.min(Math.max(16, Math.floor(size / 32)), 128);
}

/** One range (cluster IPs or node ports) allocated through the store. */
export class RangeAllocator {
  private readonly queue: Op[] = [];
  private draining = false;
  private readonly size: number;
  private readonly band: number;
  private readonly grace: number;
  private readonly now: () => number;

  constructor(
    private readonly storage: Storage,
    /** Name of the object in the store: `serviceips` or `servicenodeports`. */
    readonly name: string,
    /** The range values come from. */
    readonly range: ValueRange,
    options: RangeAllocatorOptions = {},
  ) {
    this.size = range.max - range.min + 1;
    this.band = Math.min(staticBand(range), this.size);
    this.grace = options.recentGraceMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** True when the value lies in the range. */
  contains(value: number): boolean {
    return Number.isInteger(value) && value >= this.range.min && value <= this.range.max;
  }

  /** Takes any free value (random, upper band first). Throws AllocationError('full') when none is left. `dryRun` only picks one. */
  allocateNext(dryRun = false): Promise<number> {
    return dryRun ? this.dry({ type: 'next' }) : this.enqueue({ type: 'next' });
  }

  /** Takes this value. Throws AllocationError('allocated' | 'out-of-range'). `dryRun` only checks. */
  allocate(value: number, dryRun = false): Promise<number> {
    return dryRun ? this.dry({ type: 'exact', value }) : this.enqueue({ type: 'exact', value });
  }

  /** The outcome an allocation would have now, without writing (dryRun=All). */
  private async dry(op: { type: 'next' } | { type: 'exact'; value: number }): Promise<number> {
    const obj = await this.read();
    const st: State = obj ? this.decode(obj) : { bits: Buffer.alloc(Math.ceil(this.size / 8)), recent: new Map() };
    const o = this.apply(st, { ...op, resolve: () => undefined, reject: () => undefined } as Op);
    if (!o.ok) throw o.error;
    return o.value;
  }

  /** Frees values; values outside the range or already free are ignored. */
  async release(values: readonly number[]): Promise<void> {
    await Promise.all(values.map((value) => this.enqueue({ type: 'release', value })));
  }

  /** The allocated values, read from the store (for tests and diagnostics). */
  async allocated(): Promise<number[]> {
    const obj = await this.read();
    if (!obj) return [];
    const st = this.decode(obj);
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) if (isSet(st.bits, i)) out.push(this.range.min + i);
    return out;
  }

  /**
   * Rebuilds the set from the values in use: marks the missing ones, frees
   * the ones nobody uses unless allocated within the grace period. Safe to
   * run on several apiservers at once (compare-and-swap like every write).
   */
  async repair(inUse: Iterable<number>): Promise<RepairResult> {
    const used = [...new Set(inUse)];
    let result: RepairResult = { added: [], leaked: [], outOfRange: [] };
    await this.update((st) => {
      result = { added: [], leaked: [], outOfRange: used.filter((v) => !this.contains(v)) };
      const next = Buffer.alloc(st.bits.length);
      for (const v of used) {
        if (!this.contains(v)) continue;
        set(next, v - this.range.min);
        if (!isSet(st.bits, v - this.range.min)) result.added.push(v);
      }
      for (const v of st.recent.keys()) if (this.contains(v)) set(next, v - this.range.min);
      for (let i = 0; i < this.size; i++) if (isSet(st.bits, i) && !isSet(next, i)) result.leaked.push(this.range.min + i);
      st.bits = next;
    });
    return result;
  }

  // ------------------------------------------------------------ internals

  private enqueue(op: { type: 'next' } | { type: 'exact' | 'release'; value: number }): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ ...op, resolve, reject } as Op);
      if (!this.draining) void this.drain();
    });
  }

  /** Applies everything queued so far in one write, then whatever queued meanwhile. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0);
        let outcomes: Outcome[] = [];
        try {
          await this.update((st) => {
            outcomes = batch.map((op) => this.apply(st, op));
          });
        } catch (err) {
          for (const op of batch) op.reject(err);
          continue;
        }
        batch.forEach((op, i) => {
          const o = outcomes[i]!;
          if (o.ok) op.resolve(o.value);
          else op.reject(o.error);
        });
      }
    } finally {
      this.draining = false;
    }
  }

  private apply(st: State, op: Op): Outcome {
    const what = this.range.kind === 'ip' ? 'IP' : 'port';
    if (op.type === 'release') {
      if (this.contains(op.value)) {
        clear(st.bits, op.value - this.range.min);
        st.recent.delete(op.value);
      }
      return { ok: true, value: op.value };
    }
    if (op.type === 'exact') {
      if (!this.contains(op.value)) {
        return {
          ok: false,
          error: new AllocationError('out-of-range', `provided ${what} is not in the valid range. The range of valid ${what}s is ${this.range.text}`),
        };
      }
      const i = op.value - this.range.min;
      if (isSet(st.bits, i)) return { ok: false, error: new AllocationError('allocated', `provided ${what} is already allocated`) };
      set(st.bits, i);
      st.recent.set(op.value, this.now());
      return { ok: true, value: op.value };
    }
    const i = this.pickFree(st.bits);
    if (i === undefined) {
      const kind = this.range.kind === 'ip' ? 'serviceIP' : 'nodePort';
      return { ok: false, error: new AllocationError('full', `failed to allocate a ${kind}: range is full`) };
    }
    set(st.bits, i);
    st.recent.set(this.range.min + i, this.now());
    return { ok: true, value: this.range.min + i };
  }

  /** A free offset: a random start in the upper band, scanning forward; then the lower band. */
  private pickFree(bits: Buffer): number | undefined {
    const scan = (from: number, to: number): number | undefined => {
      const n = to - from;
      if (n <= 0) return undefined;
      const start = Math.floor(Math.random() * n);
      for (let k = 0; k < n; k++) {
        const i = from + ((start + k) % n);
        if (!isSet(bits, i)) return i;
      }
      return undefined;
    };
    return scan(this.band, this.size) ?? scan(0, Math.min(this.band, this.size));
  }

  private async read(): Promise<RangeAllocationObject | undefined> {
    try {
      return (await this.storage.get(RANGES_RESOURCE, undefined, this.name)) as RangeAllocationObject;
    } catch (err) {
      if (isReason(err, 'NotFound')) return undefined;
      throw err;
    }
  }

  /** Read-modify-write of the object with compare-and-swap; creates it on first use. */
  private async update(mutate: (st: State) => void): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.storage.guaranteedUpdate(RANGES_RESOURCE, undefined, this.name, (cur) => {
          const st = this.decode(cur as RangeAllocationObject);
          mutate(st);
          return this.encode(cur, st);
        });
        return;
      } catch (err) {
        if (isReason(err, 'NotFound')) {
          await this.createEmpty();
          continue;
        }
        // guaranteedUpdate gives up after many lost races; the batch is still worth writing.
        if (isReason(err, 'Conflict') && attempt < 5) continue;
        throw err;
      }
    }
  }

  private async createEmpty(): Promise<void> {
    const empty: RangeAllocationObject = {
      apiVersion: 'v1',
      kind: 'RangeAllocation',
      metadata: { name: this.name },
      range: this.range.text,
      data: Buffer.alloc(Math.ceil(this.size / 8)).toString('base64'),
    };
    try {
      await this.storage.create(RANGES_RESOURCE, empty);
    } catch (err) {
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
  }

  /** The state of a stored object in this allocator's range; a stored range that differs (flag changed) is mapped value by value. */
  private decode(obj: RangeAllocationObject): State {
    const bits = Buffer.alloc(Math.ceil(this.size / 8));
    const recent = new Map<number, number>();
    const cutoff = this.now() - this.grace;
    for (const [k, t] of Object.entries(obj.recent ?? {})) {
      const v = this.range.parse(k);
      if (v !== undefined && typeof t === 'number' && t > cutoff && this.contains(v)) recent.set(v, t);
    }
    const data = typeof obj.data === 'string' ? Buffer.from(obj.data, 'base64') : Buffer.alloc(0);
    if (obj.range === this.range.text) {
      data.copy(bits, 0, 0, Math.min(data.length, bits.length));
      return { bits, recent };
    }
    const stored = parseStoredRange(this.range.kind, obj.range);
    if (stored) {
      const storedSize = stored.max - stored.min + 1;
      for (let i = 0; i < storedSize && i < data.length * 8; i++) {
        if (isSet(data, i) && this.contains(stored.min + i)) set(bits, stored.min + i - this.range.min);
      }
    }
    return { bits, recent };
  }

  private encode(cur: KubeObject, st: State): RangeAllocationObject {
    const recent: Record<string, number> = {};
    for (const [v, t] of st.recent) recent[this.range.format(v)] = t;
    const out: RangeAllocationObject = { ...(cur as RangeAllocationObject), range: this.range.text, data: st.bits.toString('base64') };
    if (Object.keys(recent).length > 0) out.recent = recent;
    else delete out.recent;
    return out;
  }
}

function isSet(bits: Buffer, i: number): boolean {
  return ((bits[i >> 3] ?? 0) & (1 << (i & 7))) !== 0;
}

function set(bits: Buffer, i: number): void {
  bits[i >> 3] = (bits[i >> 3] ?? 0) | (1 << (i & 7));
}

function clear(bits: Buffer, i: number): void {
  bits[i >> 3] = (bits[i >> 3] ?? 0) & ~(1 << (i & 7));
}

