import { ApiError, type Event, type KubeObject, type Pod } from '@flotilla/api';
import type { ApiClient, ResourceClient } from './api-client.js';
import { describe, expect, it } from 'vitest';
import { EventRecorder } from './events.js';
import { FakeApiClient } from './testing/fake-api-client.js';
import { FakeClock } from './testing/fake-clock.js';

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name: 'web', uid: 'u1' }, spec: { containers: [] } };

describe('EventRecorder', () => {
  it('creates one Event and then bumps its count for repeats within the window', async () => {
    const clock = new FakeClock();
    const fake = new FakeApiClient({ clock });
    const rec = new EventRecorder(fake, { component: 'kubelet', host: 'n1', clock });
    rec.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
    await rec.flush();
    clock.advance(1000);
    rec.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
    await rec.flush();
    clock.advance(1000);
    rec.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
    await rec.flush();
    expect(fake.actions.map((a) => `${a.verb} ${a.resource}`)).toEqual(['create events', 'patch events', 'patch events']);
    const events = fake.peekAll<Event>('events');
    expect(events).toHaveLength(1);
    const ev = events[0]!;
    expect(ev.metadata.name).toMatch(/^web\.[0-9a-f]+$/);
    expect(ev.metadata.namespace).toBe('ns');
    expect(ev.count).toBe(3);
    expect(ev.involvedObject).toMatchObject({ kind: 'Pod', name: 'web', namespace: 'ns', uid: 'u1' });
    expect(ev.source).toEqual({ component: 'kubelet', host: 'n1' });
    expect(Date.parse(ev.lastTimestamp!) - Date.parse(ev.firstTimestamp!)).toBe(2000);
  });

  it('creates separate Events for a different reason or message, and after the window', async () => {
    const clock = new FakeClock();
    const fake = new FakeApiClient({ clock });
    const rec = new EventRecorder(fake, { component: 'c', clock, dedupeWindowMs: 60_000 });
    rec.event(pod, 'Normal', 'Pulled', 'a');
    rec.event(pod, 'Normal', 'Pulled', 'b');
    rec.event(pod, 'Normal', 'Started', 'a');
    await rec.flush();
    clock.advance(61_000);
    rec.event(pod, 'Normal', 'Pulled', 'a');
    await rec.flush();
    expect(fake.actionsOf('create', 'events')).toHaveLength(4);
    expect(new Set(fake.peekAll('events').map((e) => e.metadata.name)).size).toBe(4);
  });

  it('puts events of cluster-scoped objects in default and never throws at the caller', async () => {
    const fake = new FakeApiClient();
    const warnings: string[] = [];
    const rec = new EventRecorder(fake, {
      component: 'c',
      logger: { debug() {}, info() {}, error() {}, warn: (_f, m) => warnings.push(m ?? '') },
    });
    rec.event({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } }, 'Normal', 'NodeReady', 'ready');
    await rec.flush();
    expect(fake.peekAll('events')[0]?.metadata.namespace).toBe('default');
    fake.prependReactor((a) => {
      if (a.resource === 'events') throw new ApiError('ServiceUnavailable', 'etcd down');
    });
    expect(() => rec.event(pod, 'Normal', 'X', 'y')).not.toThrow();
    await rec.flush();
    expect(warnings).toEqual(['could not record event']);
  });

  it('folds repeats of an event still waiting or in flight into one write with the summed count', async () => {
    const clock = new FakeClock();
    const fake = new FakeApiClient({ clock });
    const gated = gate(fake);
    const rec = new EventRecorder(gated.client, { component: 'scheduler', clock });
    // Repeats in the same tick fold into the first write; the ones arriving while it is in flight follow it as one patch.
    for (let i = 0; i < 3; i++) {
      rec.event(pod, 'Normal', 'Scheduled', 'assigned ns/web to n1');
      clock.advance(1000);
    }
    await settle();
    expect(gated.waiting()).toBe(1);
    for (let i = 0; i < 5; i++) {
      rec.event(pod, 'Normal', 'Scheduled', 'assigned ns/web to n1');
      clock.advance(1000);
    }
    gated.open();
    await rec.flush();
    expect(fake.actions.map((a) => `${a.verb} ${a.resource}`)).toEqual(['create events', 'patch events']);
    expect((fake.actions[0]!.object as Event).count).toBe(3);
    const ev = fake.peekAll<Event>('events')[0]!;
    expect(ev.count).toBe(8);
    expect(Date.parse(ev.lastTimestamp!) - Date.parse(ev.firstTimestamp!)).toBe(7000);
    expect(rec.aggregated).toBe(7);
    expect(rec.dropped).toBe(0);
  });

  it('counts drops beyond maxPending in `dropped` and logs them once per interval', async () => {
    const clock = new FakeClock();
    const fake = new FakeApiClient({ clock });
    const gated = gate(fake);
    const warnings: Array<Record<string, unknown>> = [];
    const rec = new EventRecorder(gated.client, {
      component: 'c',
      clock,
      maxPending: 3,
      dropLogIntervalMs: 10_000,
      logger: { debug() {}, info() {}, error() {}, warn: (f) => warnings.push(f as Record<string, unknown>) },
    });
    for (let i = 0; i < 10; i++) rec.event(podNamed(`p${i}`), 'Normal', 'Scheduled', 'x');
    // A repeat of a waiting event is aggregated, not dropped, even at the cap.
    rec.event(podNamed('p0'), 'Normal', 'Scheduled', 'x');
    expect(rec.dropped).toBe(7);
    expect(warnings).toHaveLength(1);
    clock.advance(5_000);
    rec.event(podNamed('late1'), 'Normal', 'Scheduled', 'x');
    expect(warnings).toHaveLength(1);
    clock.advance(5_000);
    rec.event(podNamed('late2'), 'Normal', 'Scheduled', 'x');
    expect(rec.dropped).toBe(9);
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatchObject({ droppedSinceLastLog: 8, droppedTotal: 9 });
    gated.open();
    await rec.flush();
    expect(fake.peekAll<Event>('events').map((e) => [e.involvedObject.name, e.count]).sort()).toEqual([
      ['p0', 2],
      ['p1', 1],
      ['p2', 1],
    ]);
    // Room again once the writes are done.
    rec.event(podNamed('after'), 'Normal', 'Scheduled', 'x');
    await rec.flush();
    expect(fake.peekAll('events')).toHaveLength(4);
    expect(rec.dropped).toBe(9);
  });

  it('writes events of different objects concurrently, at most maxInFlight at once', async () => {
    const clock = new FakeClock();
    const fake = new FakeApiClient({ clock });
    const gated = gate(fake);
    const rec = new EventRecorder(gated.client, { component: 'c', clock, maxInFlight: 16 });
    for (let i = 0; i < 40; i++) rec.event(podNamed(`p${i}`), 'Normal', 'Scheduled', 'x');
    await settle();
    expect(gated.waiting()).toBe(16);
    gated.open();
    await rec.flush();
    expect(gated.maxConcurrent).toBe(16);
    expect(fake.peekAll('events')).toHaveLength(40);
  });
});

describe('EventRecorder when the apiserver cannot take a write', () => {
  /** A fake whose event creates fail with `err` (made per try) while `failing()` says so; the creates that reached it are counted. */
  function flaky(failing: () => boolean, err: () => Error) {
    const clock = new FakeClock();
    const fake = new FakeApiClient({ clock });
    const tried = { creates: 0 };
    fake.prependReactor((a) => {
      if (a.resource !== 'events' || a.verb !== 'create') return;
      tried.creates++;
      if (failing()) throw err();
    });
    const logged: string[] = [];
    const logger = { debug: (_f: unknown, m?: string) => logged.push(`debug ${m}`), info() {}, error() {}, warn: (_f: unknown, m?: string) => logged.push(`warn ${m}`) };
    return { clock, fake, tried, logged, logger };
  }

  it('tries again 10 s apart, with the repeats that arrived meanwhile, and creates one Event once it can', async () => {
    let down = 3;
    const { clock, fake, tried, logged, logger } = flaky(() => down-- > 0, () => new ApiError('ServiceUnavailable', 'etcd down'));
    const rec = new EventRecorder(fake, { component: 'c', clock, logger });
    rec.event(pod, 'Normal', 'Scheduled', 'assigned');
    await settle();
    expect(tried.creates).toBe(1);
    rec.event(pod, 'Normal', 'Scheduled', 'assigned');
    // The first wait is a random share of the delay; the next ones the whole delay.
    const first = clock.nextTimerAt()! - clock.now();
    expect(first).toBeLessThanOrEqual(10_000);
    await clock.tick(first);
    expect(tried.creates).toBe(2);
    expect(clock.nextTimerAt()! - clock.now()).toBe(10_000);
    await clock.tick(9_999);
    expect(tried.creates).toBe(2);
    await clock.tick(1);
    expect(tried.creates).toBe(3);
    await clock.tick(10_000);
    await rec.flush();
    expect(tried.creates).toBe(4);
    const events = fake.peekAll<Event>('events');
    expect(events.map((e) => [e.reason, e.count])).toEqual([['Scheduled', 2]]);
    expect(logged).toEqual(['debug could not record event; trying again', 'debug could not record event; trying again', 'debug could not record event; trying again']);
  });

  it('gives up after maxTries, and logs it', async () => {
    const { clock, fake, tried, logged, logger } = flaky(() => true, () => new ApiError('InternalError', 'boom'));
    const rec = new EventRecorder(fake, { component: 'c', clock, logger, maxTries: 3 });
    rec.event(pod, 'Normal', 'Scheduled', 'assigned');
    await clock.tick(60_000);
    expect(tried.creates).toBe(3);
    expect(logged.filter((l) => l.startsWith('warn'))).toEqual(['warn could not record event']);
    await rec.flush();
    expect(fake.peekAll('events')).toHaveLength(0);
  });

  it('does not try again an Event the apiserver refused (4xx), nor after a stop aborted the write', async () => {
    for (const err of [() => new ApiError('Invalid', 'bad event'), () => Object.assign(new Error('stopped'), { name: 'AbortError' })]) {
      const { clock, fake, tried, logged, logger } = flaky(() => true, err);
      const rec = new EventRecorder(fake, { component: 'c', clock, logger });
      rec.event(pod, 'Normal', 'Scheduled', 'assigned');
      await clock.tick(120_000);
      expect(tried.creates).toBe(1);
      expect(logged).toEqual(['warn could not record event']);
    }
  });

  it('on flush, tries a waiting event once more at once and resolves, not waiting out the retries', async () => {
    let down = true;
    const { clock, fake, tried, logger } = flaky(() => down, () => new ApiError('ServiceUnavailable', 'etcd down'));
    const rec = new EventRecorder(fake, { component: 'c', clock, logger });
    rec.event(pod, 'Normal', 'Scheduled', 'assigned');
    await settle();
    expect(tried.creates).toBe(1);
    down = false;
    await rec.flush();
    expect(tried.creates).toBe(2);
    expect(fake.peekAll('events')).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });

  it('a create whose answer was lost is tried again under the same name: one Event, not two', async () => {
    const { clock, fake, tried, logger } = flaky(() => false, () => new Error('unused'));
    let lose = true;
    const client = Object.create(fake) as ApiClient;
    client.resource = <T extends KubeObject>(ref: Parameters<ApiClient['resource']>[0]) => {
      const inner = fake.resource<T>(ref);
      const wrapped: ResourceClient<T> = Object.create(inner);
      wrapped.create = async (obj) => {
        const out = await inner.create(obj);
        if (lose) {
          lose = false;
          throw Object.assign(new Error('socket hang up'), { name: 'NetworkError' });
        }
        return out;
      };
      return wrapped;
    };
    const rec = new EventRecorder(client, { component: 'c', clock, logger });
    rec.event(pod, 'Normal', 'Scheduled', 'assigned');
    await clock.tick(10_000);
    await rec.flush();
    expect(tried.creates).toBe(2);
    expect(fake.peekAll<Event>('events').map((e) => e.count)).toEqual([1]);
  });
});

function podNamed(name: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name, uid: `uid-${name}` }, spec: { containers: [] } };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Wraps a client so event writes wait until `open()`; counts writes in flight. */
function gate(fake: FakeApiClient) {
  let opened = false;
  let release: Array<() => void> = [];
  let inFlight = 0;
  const state = {
    maxConcurrent: 0,
    waiting: () => release.length,
    open: () => {
      opened = true;
      for (const r of release) r();
      release = [];
    },
    client: Object.create(fake) as ApiClient,
  };
  const held = async <R>(fn: () => Promise<R>): Promise<R> => {
    inFlight++;
    state.maxConcurrent = Math.max(state.maxConcurrent, inFlight);
    try {
      if (!opened) await new Promise<void>((resolve) => release.push(resolve));
      await settle();
      return await fn();
    } finally {
      inFlight--;
    }
  };
  state.client.resource = <T extends KubeObject>(ref: Parameters<ApiClient['resource']>[0]) => {
    const inner = fake.resource<T>(ref);
    const wrapped: ResourceClient<T> = Object.create(inner);
    wrapped.create = (obj) => held(() => inner.create(obj));
    wrapped.patch = (ns, name, patch, type) => held(() => inner.patch(ns, name, patch, type));
    return wrapped;
  };
  return state;
}
