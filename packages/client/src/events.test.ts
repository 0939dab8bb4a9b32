import { ApiError, type Event, type Pod } from '@flotilla/api';
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
    clock.advance(1000);
    rec.event(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
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
});
