import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { Store } from './store.js';

function obj(name: string, zone?: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: zone ? { zone } : {} } };
}

describe('Store indexes', () => {
  const byZone = (o: KubeObject): string[] => (o.metadata.labels?.zone ? [o.metadata.labels.zone] : []);

  it('counts what an index holds under a value as it changes, agreeing with byIndex', () => {
    const store = new Store<KubeObject>();
    store.addIndexer('zone', byZone);
    expect(store.countIndexed('zone', 'a')).toBe(0);

    store.upsert(obj('n1', 'a'));
    store.upsert(obj('n2', 'a'));
    store.upsert(obj('n3', 'b'));
    expect(store.countIndexed('zone', 'a')).toBe(2);
    expect(store.countIndexed('zone', 'b')).toBe(1);

    store.upsert(obj('n2', 'b')); // moves between values
    expect([store.countIndexed('zone', 'a'), store.countIndexed('zone', 'b')]).toEqual([1, 2]);
    store.remove('n1');
    expect(store.countIndexed('zone', 'a')).toBe(0);

    store.replace([obj('m1', 'c'), obj('m2')]);
    expect([store.countIndexed('zone', 'b'), store.countIndexed('zone', 'c')]).toEqual([0, 1]);
    for (const v of ['a', 'b', 'c']) expect(store.countIndexed('zone', v)).toBe(store.byIndex('zone', v).length);
  });

  it('refuses an index it does not have, as byIndex does', () => {
    const store = new Store<KubeObject>();
    expect(() => store.countIndexed('zone', 'a')).toThrow('no indexer "zone"');
  });
});
