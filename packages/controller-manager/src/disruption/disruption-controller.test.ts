import type { Pod, PodDisruptionBudget } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { pod } from '../fixtures.js';
import { computeBudgetStatus, DISRUPTED_POD_TIMEOUT_MS } from './disruption-controller.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const owned = (p: Pod, rs = 'web-1'): Pod => ({ ...p, metadata: { ...p.metadata, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: rs, controller: true }] } });
const pdb = (spec: PodDisruptionBudget['spec'], status?: Partial<PodDisruptionBudget['status']>): PodDisruptionBudget =>
  ({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'b', namespace: 'default', generation: 2 }, spec, ...(status ? { status } : {}) }) as PodDisruptionBudget;
const replicas = (n: number) => (kind: string) => (kind === 'ReplicaSet' ? n : undefined);

describe('computeBudgetStatus', () => {
  const three = [pod('a', { ready: true }), pod('b', { ready: true }), pod('c', { ready: true })].map((p) => owned(p));

  it.each([
    ['minAvailable 2 of 3 ready', { minAvailable: 2 }, three, { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 }],
    ['minAvailable 3 of 3', { minAvailable: 3 }, three, { disruptionsAllowed: 0, currentHealthy: 3, desiredHealthy: 3 }],
    ['maxUnavailable 1 of scale 3', { maxUnavailable: 1 }, three, { disruptionsAllowed: 1, desiredHealthy: 2, expectedPods: 3 }],
    ['minAvailable 50% of scale 3 rounds up to 2', { minAvailable: '50%' }, three, { disruptionsAllowed: 1, desiredHealthy: 2 }],
    ['one not ready', { minAvailable: 2 }, [three[0]!, three[1]!, owned(pod('c', { ready: false }))], { disruptionsAllowed: 0, currentHealthy: 2 }],
    ['a terminating pod is not healthy', { minAvailable: 2 }, [three[0]!, three[1]!, { ...three[2]!, metadata: { ...three[2]!.metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }], { disruptionsAllowed: 0, currentHealthy: 2 }],
  ] as const)('%s', (_name, spec, pods, want) => {
    const st = computeBudgetStatus(pdb(spec), pods, replicas(3), NOW);
    expect(st).toMatchObject({ observedGeneration: 2, ...want });
    expect(st.conditions?.[0]).toMatchObject({ type: 'DisruptionAllowed', status: want.disruptionsAllowed > 0 ? 'True' : 'False' });
  });

  it('a pod in disruptedPods counts as gone until it goes or the entry expires', () => {
    const recent = new Date(NOW - 1000).toISOString();
    const st = computeBudgetStatus(pdb({ minAvailable: 2 }, { disruptedPods: { a: recent } }), three, replicas(3), NOW);
    expect(st).toMatchObject({ currentHealthy: 2, disruptionsAllowed: 0, disruptedPods: { a: recent } });
    const old = new Date(NOW - DISRUPTED_POD_TIMEOUT_MS - 1).toISOString();
    const expired = computeBudgetStatus(pdb({ minAvailable: 2 }, { disruptedPods: { a: old } }), three, replicas(3), NOW);
    expect(expired).toMatchObject({ currentHealthy: 3, disruptionsAllowed: 1 });
    expect(expired.disruptedPods).toBeUndefined();
  });
});
