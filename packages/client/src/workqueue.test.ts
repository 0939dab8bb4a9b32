import { describe, expect, it } from 'vitest';
import { BucketRateLimiter, ItemExponentialRateLimiter, MaxOfRateLimiter } from './rate-limiter.js';
import { FakeClock } from './testing/fake-clock.js';
import { WorkQueue } from './workqueue.js';

describe('WorkQueue', () => {
  it('dedupes keys that are queued and not yet taken', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands a key being processed to a second worker; a re-add is queued on done()', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    q.add('a');
    const first = await q.get();
    expect(first).toBe('a');
    q.add('a'); // dirty while processing
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done('a');
    await Promise.resolve();
    expect(second).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
  });

  it('wakes a waiting get() on add', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const p = q.get();
    q.add('x');
    expect(await p).toBe('x');
  });

  it('addAfter queues after the delay, and the earliest delay wins', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 200);
    q.addAfter('a', 5000);
    clock.advance(199);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    clock.advance(10_000);
    expect(q.len()).toBe(0);
  });

  it('addRateLimited backs off exponentially per item until forget()', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock, rateLimiter: new ItemExponentialRateLimiter(5, 1_000_000) });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = clock.nextTimerAt();
      q.addRateLimited('k');
      delays.push((clock.nextTimerAt() ?? 0) - clock.now());
      clock.advance(10_000);
      expect(before).toBeUndefined();
      void q.get().then((k) => q.done(k!));
    }
    expect(delays).toEqual([5, 10, 20, 40, 80]);
    expect(q.numRequeues('k')).toBe(5);
    q.forget('k');
    expect(q.numRequeues('k')).toBe(0);
  });

  it('shutDown resolves waiting get()s with undefined and refuses new work', async () => {
    const q = new WorkQueue({ clock: new FakeClock() });
    const waiting = [q.get(), q.get()];
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    q.add('a');
    expect(await q.get()).toBeUndefined();
  });
});

describe('rate limiters', () => {
  it('per-item back-off is capped at the maximum', () => {
    const l = new ItemExponentialRateLimiter(5, 1_000_000);
    let last = 0;
    for (let i = 0; i < 40; i++) last = l.when('x');
    expect(last).toBe(1_000_000);
  });

  it('the token bucket allows a burst, then spaces items at 1/qps', () => {
    const clock = new FakeClock();
    const b = new BucketRateLimiter(10, 100, clock);
    for (let i = 0; i < 100; i++) expect(b.when(`k${i}`)).toBe(0);
    expect(b.when('k100')).toBe(100);
    expect(b.when('k101')).toBe(200);
    clock.advance(1000); // refills 10 tokens, 2 of which were already reserved
    expect(b.when('k102')).toBe(0);
  });

  it('the combined limiter takes the longest delay', () => {
    const clock = new FakeClock();
    const l = new MaxOfRateLimiter(new ItemExponentialRateLimiter(5, 1_000_000), new BucketRateLimiter(10, 1, clock));
    expect(l.when('a')).toBe(5);
    expect(l.when('b')).toBe(100); // bucket empty
  });

  it('with a priority, hands out the highest first, in arrival order among equals, keeping the once-at-a-time rules', async () => {
    const prio: Record<string, number> = { low: 0, high: 100, mid: 10, high2: 100 };
    const q = new WorkQueue<string>({ priority: (k) => prio[k] ?? 0 });
    for (const k of ['low', 'high', 'mid', 'high2', 'low']) q.add(k);
    expect(q.len()).toBe(4);
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push((await q.get())!);
    expect(order).toEqual(['high', 'high2', 'mid', 'low']);
    q.add('mid'); // re-added while processing: queued again on done()
    expect(q.len()).toBe(0);
    q.done('mid');
    expect(await q.get()).toBe('mid');
  });
});
