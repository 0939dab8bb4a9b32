import type { Pod } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { RelistSelection } from './relist.js';
import type { ContainerInfo, RuntimeEvent } from './runtime/types.js';

const pod = (name: string, rv = '1', extra: Partial<Pod['spec']> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: rv },
  spec: { containers: [{ name: 'app', image: 'busybox' }], ...extra },
});

const container = (podName: string, id: string, state: ContainerInfo['state'] = 'running', exitCode?: number): ContainerInfo => ({
  id,
  type: 'container',
  podUid: `uid-${podName}`,
  podNamespace: 'default',
  podName,
  containerName: 'app',
  attempt: 0,
  state,
  ...(exitCode !== undefined ? { exitCode } : {}),
  oomKilled: false,
  createdAt: '2026-12-04T00:00:00Z',
  image: 'busybox',
  imageId: 'sha256:0',
  labels: {},
});

const names = (pods: Pod[]) => pods.map((p) => p.metadata.name).sort();

describe('RelistSelection', () => {
  it('syncs a pod again only when its containers or its version changed, or a sync of it did not end cleanly', () => {
    const r = new RelistSelection(5_000, 3_600_000); // resync far away: only changes count
    const a = pod('a');
    const b = pod('b');
    const listed = [container('a', 'c1'), container('b', 'c2')];
    expect(names(r.select([a, b], listed))).toEqual(['a', 'b']); // first sight
    r.synced(a, true);
    r.synced(b, true);
    expect(names(r.select([a, b], listed))).toEqual([]); // nothing changed
    // b's container died without an event reaching the agent.
    expect(names(r.select([a, b], [container('a', 'c1'), container('b', 'c2', 'exited', 137)]))).toEqual(['b']);
    r.synced(b, true);
    expect(names(r.select([a, b], [container('a', 'c1'), container('b', 'c2', 'exited', 137)]))).toEqual([]);
    // A new version of a that no sync has seen yet (its spec or status changed).
    const a2 = pod('a', '2');
    expect(names(r.select([a2, b], [container('a', 'c1'), container('b', 'c2', 'exited', 137)]))).toEqual(['a']);
    // A sync that failed or asked to come back is not trusted until a clean one.
    r.synced(a2, false);
    expect(names(r.select([a2, b], [container('a', 'c1'), container('b', 'c2', 'exited', 137)]))).toEqual(['a']);
    r.synced(a2, true);
    expect(names(r.select([a2, b], [container('a', 'c1'), container('b', 'c2', 'exited', 137)]))).toEqual([]);
    // A container gone from the listing (removed behind the agent's back) is a change too.
    expect(names(r.select([a2, b], [container('b', 'c2', 'exited', 137)]))).toEqual(['a']);
  });

  it('compares with the containers a clean sync ended with: a pod synced after its start is not synced again at its first relist', () => {
    const r = new RelistSelection(5_000, 3_600_000);
    const a = pod('a');
    const b = pod('b');
    const c = pod('c');
    // Each pod arrived after the last relist and was synced (clean) by its worker, which listed its containers.
    r.synced(a, true, [container('a', 'c1')]);
    r.synced(b, true, [container('b', 'c2')]);
    // c's sync asked to come back: what it listed is not trusted.
    r.synced(c, false, [container('c', 'c3')]);
    // b's container died after its sync listed it.
    const listed = [container('a', 'c1'), container('b', 'c2', 'exited', 1), container('c', 'c3')];
    expect(names(r.select([a, b, c], listed))).toEqual(['b', 'c']);
    r.synced(b, true, [container('b', 'c2', 'exited', 1)]);
    r.synced(c, true, [container('c', 'c3')]);
    expect(names(r.select([a, b, c], listed))).toEqual([]);
  });

  it("takes the version a sync's own status write made as settled, and a later sync of the informer's older copy does not undo it", () => {
    const r = new RelistSelection(5_000, 3_600_000);
    const a1 = pod('a', '1');
    const listed = [container('a', 'c1')];
    r.synced(a1, true, listed, '3'); // started the container, wrote the status: the pod is at 3
    r.synced(a1, true, listed); // a runtime event's sync, before the informer showed 3: nothing to do
    expect(names(r.select([pod('a', '3')], listed))).toEqual([]);
    // Someone else changed the pod since: that version no sync has seen.
    expect(names(r.select([pod('a', '4')], listed))).toEqual(['a']);
  });

  it('tells whether a runtime event shows nothing the last recorded listing had not', () => {
    const r = new RelistSelection(5_000, 3_600_000);
    const a = pod('a');
    const ev = (type: RuntimeEvent['type'], id: string, exitCode?: number): RuntimeEvent => ({ type, id, podUid: 'uid-a', podNamespace: 'default', podName: 'a', containerName: 'app', containerType: 'container', attempt: 0, time: 0, ...(exitCode !== undefined ? { exitCode } : {}) });
    expect(r.reflects(ev('start', 'c1'))).toBe(false); // nothing recorded yet
    r.synced(a, true, [container('a', 'c1')]);
    expect(r.reflects(ev('start', 'c1'))).toBe(true);
    expect(r.reflects(ev('die', 'c1', 137))).toBe(false); // running when listed
    expect(r.reflects(ev('oom', 'c1'))).toBe(false);
    expect(r.reflects(ev('destroy', 'c1'))).toBe(false); // still listed
    expect(r.reflects(ev('destroy', 'c9'))).toBe(true);
    expect(r.reflects(ev('start', 'c9'))).toBe(false); // not listed
    // A relist's listing is recorded too (it queues the pods that changed).
    r.select([a], [container('a', 'c1', 'exited', 137)]);
    expect(r.reflects(ev('die', 'c1', 137))).toBe(true);
    expect(r.reflects(ev('die', 'c1', 1))).toBe(false); // another exit code
    // A sync that asked to come back records nothing: what it listed is not trusted.
    r.synced(a, false, [container('a', 'c2')]);
    expect(r.reflects(ev('start', 'c2'))).toBe(false);
  });

  it('resyncs every pod once per resync period, spread over the relists', () => {
    const r = new RelistSelection(5_000, 60_000); // 12 relists per period
    const pods = Array.from({ length: 240 }, (_, i) => pod(`p${i}`));
    const listed = pods.map((p) => container(p.metadata.name!, `c-${p.metadata.name}`));
    r.select(pods, listed);
    for (const p of pods) r.synced(p, true);
    const counts = new Map<string, number>();
    const perRelist: number[] = [];
    for (let i = 0; i < 12; i++) {
      const chosen = r.select(pods, listed);
      perRelist.push(chosen.length);
      for (const p of chosen) counts.set(p.metadata.name!, (counts.get(p.metadata.name!) ?? 0) + 1);
    }
    expect(counts.size).toBe(240);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(Math.max(...perRelist)).toBeLessThan(240 / 3); // not all in one relist
  });

  it('pods that read ConfigMaps or Secrets are synced at every relist, so their files follow the objects', () => {
    const r = new RelistSelection(5_000, 3_600_000);
    const plain = pod('plain');
    const cm = pod('cm', '1', { volumes: [{ name: 'cfg', configMap: { name: 'settings' } }] });
    const env = pod('env', '1', { containers: [{ name: 'app', image: 'busybox', env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }] });
    const listed = [container('plain', 'c1'), container('cm', 'c2'), container('env', 'c3')];
    r.select([plain, cm, env], listed);
    for (const p of [plain, cm, env]) r.synced(p, true);
    expect(names(r.select([plain, cm, env], listed))).toEqual(['cm', 'env']);
  });
});
