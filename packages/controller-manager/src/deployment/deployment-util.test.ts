import type { Deployment, ReplicaSet } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import {
  equalIgnoreHash,
  lastRevision,
  maxUnavailable,
  newRSNewReplicas,
  replicaSetProportion,
  REVISION_ANNOTATION,
  REVISION_HISTORY_ANNOTATION,
  setNewReplicaSetAnnotations,
} from './deployment-util.js';

const dep = (replicas: number, surge: number | string = 1, unavailable: number | string = 1, statusReplicas = 0): Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', namespace: 'ns', annotations: { team: 'a', [REVISION_ANNOTATION]: '9' } },
  spec: { replicas, selector: { matchLabels: { app: 'd' } }, template: { metadata: { labels: { app: 'd' } }, spec: { containers: [] } }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: surge, maxUnavailable: unavailable } } },
  status: { replicas: statusReplicas },
});
const rs = (name: string, replicas: number, opts: { rev?: number; max?: number; statusReplicas?: number } = {}): ReplicaSet => ({
  apiVersion: 'apps/v1',
  kind: 'ReplicaSet',
  metadata: { name, namespace: 'ns', uid: name, annotations: { ...(opts.rev ? { [REVISION_ANNOTATION]: String(opts.rev) } : {}), ...(opts.max ? { 'deployment.kubernetes.io/max-replicas': String(opts.max) } : {}) } },
  spec: { replicas, selector: {}, template: { metadata: { labels: { app: 'd', 'pod-template-hash': name } }, spec: { containers: [] } } },
  status: { replicas: opts.statusReplicas ?? replicas },
});

describe('deployment util', () => {
  it.each([
    // replicas, surge, current RSs (old, new), want new
    [10, 3, [10, 0], 3],
    [10, 3, [8, 3], 5],
    [10, 3, [10, 3], 3],
    [10, 0, [10, 0], 0],
  ] as const)('newRSNewReplicas(%d replicas, surge %d, %j) = %d', (replicas, surge, [o, n], want) => {
    const d = dep(replicas, surge, 1);
    const newRS = rs('new', n);
    expect(newRSNewReplicas(d, [rs('old', o), newRS], newRS)).toBe(want);
  });

  it('counts pods an old ReplicaSet still has above its spec against the surge', () => {
    const d = dep(4, 1, 1);
    const newRS = rs('new', 1);
    // Old was scaled 4 -> 3 but its 4th pod still exists: no room to grow yet.
    expect(newRSNewReplicas(d, [rs('old', 3, { statusReplicas: 4 }), newRS], newRS)).toBe(1);
  });

  it('maxUnavailable is capped by replicas and both-zero fenceposts become 1', () => {
    expect(maxUnavailable(dep(2, 0, 5))).toBe(2);
    expect(maxUnavailable(dep(5, 0, 0))).toBe(1);
    expect(maxUnavailable(dep(10, '25%', '25%'))).toBe(2);
  });

  it('proportional scaling splits additional replicas by the ReplicaSets’ share of max-replicas', () => {
    // Was 10 (+3 surge = 13), now 20 (+5 = 25): 12 more to place over 8 + 5.
    const d = dep(20, '25%', '25%');
    const a = rs('a', 8, { max: 13 });
    const b = rs('b', 5, { max: 13 });
    const pa = replicaSetProportion(a, d, 12, 0);
    const pb = replicaSetProportion(b, d, 12, pa);
    expect([pa, pb]).toEqual([7, 5]);
  });

  it('moves a reused ReplicaSet to the new revision and keeps the old one in revision-history', () => {
    const d = dep(1);
    const r = rs('x', 1, { rev: 2 });
    r.metadata.annotations![REVISION_HISTORY_ANNOTATION] = '1';
    expect(setNewReplicaSetAnnotations(d, r, 5, true)).toBe(true);
    expect(r.metadata.annotations).toMatchObject({ [REVISION_ANNOTATION]: '5', [REVISION_HISTORY_ANNOTATION]: '1,2', team: 'a' });
    expect(setNewReplicaSetAnnotations(d, r, 5, true)).toBe(false);
    expect(lastRevision([rs('a', 0, { rev: 3 }), rs('b', 0, { rev: 7 }), rs('c', 0, { rev: 5 })])).toBe(5);
  });

  it('template equality ignores pod-template-hash and empty maps', () => {
    expect(equalIgnoreHash({ metadata: { labels: { app: 'd', 'pod-template-hash': 'x' }, annotations: {} }, spec: { containers: [] } }, { metadata: { labels: { app: 'd' } }, spec: { containers: [] } })).toBe(true);
    expect(equalIgnoreHash({ metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'a' }] } }, { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'b' }] } })).toBe(false);
  });
});
