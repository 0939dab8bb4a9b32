/** A manually driven clock for tests of anything that takes a Clock. */
import type { Clock, TimerHandle } from '../clock.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** Lets microtasks and I/O callbacks queued by fired timers run before the clock moves on. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A Clock whose time only moves when a test says so. */
export class FakeClock implements Clock {
  private time: number;
  private nextId = 1;
  private timers: Timer[] = [];

  constructor(start = Date.UTC(2024, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), fn };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Number of timers not yet fired. */
  pending(): number {
    return this.timers.length;
  }

  /** When the earliest pending timer fires, or undefined. */
  nextTimerAt(): number | undefined {
    return this.timers.reduce<number | undefined>((min, t) => (min === undefined || t.at < min ? t.at : min), undefined);
  }

  /** Moves time forward synchronously, firing due timers in order (timers they add fire too if due). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const due = this.earliestDue(target);
      if (!due) break;
      this.time = due.at;
      this.timers = this.timers.filter((t) => t !== due);
      due.fn();
    }
    this.time = target;
  }

  /**
   * Moves time forward like advance(), but lets promise callbacks run after
   * each fired timer, so async code that awaits and then sets a new timer
   * is driven as it would be in real time.
   */
  async tick(ms: number): Promise<void> {
    const target = this.time + ms;
    await settle();
    for (;;) {
      const due = this.earliestDue(target);
      if (!due) break;
      this.time = due.at;
      this.timers = this.timers.filter((t) => t !== due);
      due.fn();
      await settle();
    }
    this.time = target;
    await settle();
  }

  private earliestDue(target: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers) if (t.at <= target && (!best || t.at < best.at || (t.at === best.at && t.id < best.id))) best = t;
    return best;
  }
}
