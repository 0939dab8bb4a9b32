/**
 * The crash-loop back-off of the kubelet: per key (pod uid + container), the
 * first restart is immediate, later ones wait initial·2ⁿ up to a cap, and a
 * container that ran cleanly long enough starts over.
 */

interface Entry {
  delayMs: number;
  /** When the delay was last raised (a restart happened). */
  lastUpdate: number;
}

/** Back-off state of many keys. */
export class RestartBackoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current delay of `key` (0 when it never restarted or was reset). */
  delay(key: string): number {
    return this.entries.get(key)?.delayMs ?? 0;
  }

  /**
   * How long to still wait before restarting a container of `key` that
   * finished at `finishedAt` (ms); 0 means restart now.
   */
  remaining(key: string, finishedAt: number): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    return Math.max(0, finishedAt + e.delayMs - this.now());
  }

  /** Records a restart: the next one waits twice as long (the first one waits `initialMs`). */
  next(key: string): void {
    const e = this.entries.get(key);
    const delayMs = e ? Math.min(this.maxMs, e.delayMs * 2) : this.initialMs;
    this.entries.set(key, { delayMs, lastUpdate: this.now() });
  }

  /** Forgets `key` (a clean run, or the pod is gone). */
  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forgets every key starting with `prefix` (e.g. a pod uid). */
  resetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  /** Drops entries not touched for twice the cap, so memory stays bounded. */
  gc(): void {
    const cutoff = this.now() - 2 * this.maxMs;
    for (const [k, e] of this.entries) if (e.lastUpdate < cutoff) this.entries.delete(k);
  }
}
