/** A conntrack table for tests: records every deletion asked for. */
import type { Conntrack, ConntrackFilter } from '../conntrack.js';

/** Records delete calls; answers 1 entry per call. */
export class FakeConntrack implements Conntrack {
  /** Every filter asked for, in order. */
  readonly deletions: ConntrackFilter[] = [];
  /** Make every call fail. */
  fail = false;

  async delete(filter: ConntrackFilter): Promise<number> {
    this.deletions.push(filter);
    if (this.fail) throw new Error('conntrack: injected failure');
    return 1;
  }
}
