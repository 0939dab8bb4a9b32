/**
 * Controller expectations (Kubernetes' UIDTrackingControllerExpectations):
 * after a controller creates or deletes pods it waits until its informer
 * has seen each of them before acting on that key again, so a lagging
 * cache never makes it create or delete twice. A record older than the
 * timeout is ignored as a safety net against a lost watch event.
 */
import { realClock, type Clock } from '@flotilla/client';

/** Kubernetes' ExpectationsTimeout: five minutes. */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60_000;

interface Record {
  add: number;
  del: number;
  /** Keys of the pods whose deletion we still wait to see. */
  deleting: Set<string>;
  since: number;
}

/** Outstanding creations and deletions per controller key. */
export class Expectations {
  private readonly records = new Map<string, Record>();

  constructor(
    private readonly clock: Clock = realClock,
    private readonly timeoutMs = EXPECTATIONS_TIMEOUT_MS,
  ) {}

  /** True when the controller may act on `key`: nothing outstanding, no record, or the record expired. */
  satisfied(key: string): boolean {
    const r = this.records.get(key);
    if (!r) return true;
    if (r.add <= 0 && r.del <= 0) return true;
    return this.clock.now() - r.since > this.timeoutMs;
  }

  /** Records that `count` creations are in flight (replaces any earlier record). */
  expectCreations(key: string, count: number): void {
    this.records.set(key, { add: count, del: 0, deleting: new Set(), since: this.clock.now() });
  }

  /** Records that the pods with these keys are being deleted (replaces any earlier record). */
  expectDeletions(key: string, podKeys: readonly string[]): void {
    this.records.set(key, { add: 0, del: podKeys.length, deleting: new Set(podKeys), since: this.clock.now() });
  }

  /** The informer saw one of our creations (or a creation will never happen). */
  creationObserved(key: string): void {
    const r = this.records.get(key);
    if (r && r.add > 0) r.add--;
  }

  /** The informer saw the deletion of `podKey`; counted once per pod. */
  deletionObserved(key: string, podKey: string): void {
    const r = this.records.get(key);
    if (r && r.deleting.delete(podKey)) r.del--;
  }

  /** Forgets the key (its controller object is gone). */
  delete(key: string): void {
    this.records.delete(key);
  }

  /** Outstanding counts, for logs and tests. */
  pending(key: string): { add: number; del: number } | undefined {
    const r = this.records.get(key);
    return r && { add: r.add, del: r.del };
  }
}
