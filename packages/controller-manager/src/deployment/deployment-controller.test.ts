import { defaultDeployment, isPodReady, podTemplateHash, type Deployment, type Pod, type ReplicaSet } from '@flotilla/api';
import { InformerFactory } from '@flotilla/client';
import { FakeApiClient, FakeClock, waitFor } from '@flotilla/client/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicaSetController } from '../replicaset/replicaset-controller.js';
import { kubeletStep, MemoryEvents } from '../replicaset/test-fixtures.js';
import { DeploymentController } from './deployment-controller.js';
import { REVISION_ANNOTATION } from './deployment-util.js';

const T0 = Date.UTC(2024, 0, 1);
const stops: AbortController[] = [];
afterEach(() => stops.splice(0).forEach((s) => s.abort()));

function deployment(name: string, replicas: number, image: string, spec: Partial<NonNullable<Deployment['spec']>> = {}): Deployment {
  const d: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { namespace: 'ns', name, uid: `uid-${name}`, generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } },
      ...spec,
    },
  };
  defaultDeployment(d);
  // The fake API does not default patched templates: keep the template bare so patches compare equal.
  d.spec!.template = { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image }] } };
  return d;
}

const rsOf = (fake: FakeApiClient) => fake.peekAll<ReplicaSet>('replicasets');
const livePods = (fake: FakeApiClient) => fake.peekAll<Pod>('pods').filter((p) => !p.metadata.deletionTimestamp);

describe('DeploymentController.reconcile', () => {
  it('creates the first ReplicaSet with the hash label, revision and replicas annotations, and reports NewReplicaSetCreated', async () => {
    const clock = new FakeClock(T0);
    const d = deployment('web', 3, 'img:1');
    const fake = new FakeApiClient({ objects: [d], clock });
    const informers = new InformerFactory(fake, { clock });
    const events = new MemoryEvents();
    const dc = new DeploymentController({ client: fake, informers, recorder: events, clock });
    const stop = new AbortController();
    stops.push(stop);
    informers.start(stop.signal);
    await dc.waitForSync();
    await dc.reconcile('ns/web');
    const hash = podTemplateHash(d.spec!.template);
    const creates = fake.actionsOf('create', 'replicasets');
    expect(creates).toHaveLength(1);
    const rs = creates[0]!.object as ReplicaSet;
    expect(rs.metadata.name).toBe(`web-${hash}`);
    expect(rs.metadata.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs.spec?.selector).toEqual({ matchLabels: { app: 'web', 'pod-template-hash': hash } });
    expect(rs.spec?.template?.metadata?.labels).toEqual({ app: 'web', 'pod-template-hash': hash });
    expect(rs.spec?.replicas).toBe(3);
    expect(rs.metadata.annotations).toEqual({ [REVISION_ANNOTATION]: '1', 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' });
    expect(rs.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true });
    expect(events.events).toEqual([{ object: 'web', type: 'Normal', reason: 'ScalingReplicaSet', message: `Scaled up replica set web-${hash} from 0 to 3` }]);
    const cur = fake.peek<Deployment>('deployments', 'ns', 'web')!;
    expect(cur.metadata.annotations?.[REVISION_ANNOTATION]).toBe('1');
    expect(cur.status?.conditions?.find((c) => c.type === 'Progressing')).toMatchObject({ status: 'True', reason: 'NewReplicaSetCreated' });
    expect(cur.status).toMatchObject({ observedGeneration: 1, replicas: 0, updatedReplicas: 0 });
  });
});

describe('DeploymentController.reconcile (one rolling step)', () => {
  it('on a template change creates the new ReplicaSet at maxSurge and scales the old one down by maxUnavailable', async () => {
    const clock = new FakeClock(T0);
    const d = deployment('web', 4, 'img:2', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } });
    d.metadata.generation = 2;
    d.metadata.annotations = { [REVISION_ANNOTATION]: '1' };
    const oldTemplate = { metadata: { labels: { app: 'web', 'pod-template-hash': 'old' } }, spec: { containers: [{ name: 'c', image: 'img:1' }] } };
    const old: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        namespace: 'ns',
        name: 'web-old',
        uid: 'uid-old',
        labels: oldTemplate.metadata.labels,
        annotations: { [REVISION_ANNOTATION]: '1', 'deployment.kubernetes.io/desired-replicas': '4', 'deployment.kubernetes.io/max-replicas': '5' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-web', controller: true }],
      },
      spec: { replicas: 4, selector: { matchLabels: oldTemplate.metadata.labels }, template: oldTemplate },
      status: { replicas: 4, readyReplicas: 4, availableReplicas: 4, observedGeneration: 1 },
    };
    const fake = new FakeApiClient({ objects: [d, old], clock });
    const informers = new InformerFactory(fake, { clock });
    const events = new MemoryEvents();
    const dc = new DeploymentController({ client: fake, informers, recorder: events, clock });
    const stop = new AbortController();
    stops.push(stop);
    informers.start(stop.signal);
    await dc.waitForSync();
    await dc.reconcile('ns/web');
    const rsWrites = fake.actions.filter((a) => a.resource === 'replicasets').map((a) => [a.verb, (a.object as ReplicaSet).metadata.name, (a.object as ReplicaSet).spec?.replicas]);
    const hash = podTemplateHash(d.spec!.template);
    expect(rsWrites).toEqual([
      ['create', `web-${hash}`, 1],
      ['update', 'web-old', 3],
    ]);
    expect(events.events.map((e) => e.message)).toEqual([`Scaled up replica set web-${hash} from 0 to 1`, 'Scaled down replica set web-old from 4 to 3']);
    const cur = fake.peek<Deployment>('deployments', 'ns', 'web')!;
    expect(cur.metadata.annotations?.[REVISION_ANNOTATION]).toBe('2');
    expect(cur.status).toMatchObject({ observedGeneration: 2, replicas: 4, updatedReplicas: 0, availableReplicas: 4 });
  });
});

/** Both controllers and a kubelet over one fake API, driven by a fake clock. */
async function cluster(objects: Deployment[], opts: { healthy?: (p: Pod) => boolean } = {}) {
  const clock = new FakeClock(T0);
  const fake = new FakeApiClient({ objects, clock });
  const informers = new InformerFactory(fake, { clock });
  const events = new MemoryEvents();
  const dc = new DeploymentController({ client: fake, informers, recorder: events, clock });
  const rsc = new ReplicaSetController({ client: fake, informers, recorder: events, clock });
  const stop = new AbortController();
  stops.push(stop);
  informers.start(stop.signal);
  const running = Promise.all([dc.run(stop.signal), rsc.run(stop.signal)]);
  await Promise.all([dc.waitForSync(), rsc.waitForSync()]);
  let healthy = opts.healthy ?? (() => true);
  const violations: string[] = [];
  const deployments = fake.resource<Deployment>('deployments');
  /** Checks the rolling-update bounds at every pod write, before it happens. */
  const watchInvariants = (name: string) => {
    fake.prependReactor((a) => {
      if (a.resource !== 'pods' || a.subresource) return;
      const d = fake.peek<Deployment>('deployments', 'ns', name);
      if (!d || d.spec?.strategy?.type !== 'RollingUpdate') return;
      const replicas = d.spec.replicas ?? 1;
      const surge = 1;
      const unavailable = 1;
      const mine = livePods(fake).filter((p) => p.metadata.labels?.app === name);
      if (a.verb === 'create' && mine.length + 1 > replicas + surge) violations.push(`create: ${mine.length + 1} pods > ${replicas}+${surge}`);
      if (a.verb === 'delete') {
        const left = mine.filter((p) => p.metadata.name !== a.name && isPodReady(p)).length;
        if (left < replicas - unavailable) violations.push(`delete ${a.name}: ${left} ready left < ${replicas}-${unavailable}`);
      }
    });
  };
  const converge = async (what: string, pred: () => boolean, timeoutMs = 10_000) => {
    await waitFor(
      async () => {
        await kubeletStep(fake, clock.now(), healthy);
        await clock.tick(20); // lets back-off retries and requeues on the fake clock fire
        return pred();
      },
      { what, timeoutMs, intervalMs: 1 },
    );
  };
  const get = (name: string) => fake.peek<Deployment>('deployments', 'ns', name)!;
  /** What `kubectl rollout status` checks. */
  const rolledOut = (name: string) => {
    const d = get(name);
    const s = d.status ?? {};
    const prog = s.conditions?.find((c) => c.type === 'Progressing');
    const replicas = d.spec?.replicas ?? 1;
    return (
      (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 1) &&
      s.updatedReplicas === replicas &&
      s.replicas === replicas &&
      s.availableReplicas === replicas &&
      prog?.reason === 'NewReplicaSetAvailable' &&
      livePods(fake).filter((p) => p.metadata.labels?.app === name).length === replicas
    );
  };
  const setImage = (name: string, image: string) => deployments.patch('ns', name, { spec: { template: { spec: { containers: [{ name: 'c', image }] } } } });
  const setHealthy = (fn: (p: Pod) => boolean) => (healthy = fn);
  return { clock, fake, events, dc, rsc, stop, running, violations, watchInvariants, converge, get, rolledOut, setImage, setHealthy, deployments };
}

const imageOf = (p: Pod) => p.spec?.containers[0]?.image;

describe('Deployment rollouts (simulated cluster)', () => {
  it('rolls out a new image within maxSurge/maxUnavailable and completes', async () => {
    const c = await cluster([deployment('web', 4, 'img:1', { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } })]);
    c.watchInvariants('web');
    await c.converge('initial rollout', () => c.rolledOut('web'));
    await c.setImage('web', 'img:2');
    await c.converge('rollout to img:2', () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === 'img:2'));
    expect(c.violations).toEqual([]);
    const rss = rsOf(c.fake);
    expect(rss).toHaveLength(2);
    const byRev = Object.fromEntries(rss.map((r) => [r.metadata.annotations?.[REVISION_ANNOTATION], r.spec?.replicas]));
    expect(byRev).toEqual({ '1': 0, '2': 4 });
    expect(c.get('web').metadata.annotations?.[REVISION_ANNOTATION]).toBe('2');
    expect(c.get('web').status?.conditions?.find((x) => x.type === 'Available')).toMatchObject({ status: 'True', reason: 'MinimumReplicasAvailable' });
    expect(c.events.reasons().filter((r) => r === 'ScalingReplicaSet').length).toBeGreaterThan(2);
  });

  it('a rollout whose pods never become ready stalls within bounds and reports ProgressDeadlineExceeded; rolling back restores the old pods', async () => {
    const c = await cluster([deployment('web', 4, 'img:1', { progressDeadlineSeconds: 60, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } })]);
    c.watchInvariants('web');
    await c.converge('initial rollout', () => c.rolledOut('web'));
    c.setHealthy((p) => imageOf(p) !== 'img:bad');
    await c.setImage('web', 'img:bad');
    await c.converge('stalled rollout', () => livePods(c.fake).filter((p) => imageOf(p) === 'img:bad').length === 2);
    expect(c.get('web').status?.conditions?.find((x) => x.type === 'Progressing')?.reason).toBe('ReplicaSetUpdated');
    await c.clock.tick(61_000);
    await c.converge('deadline exceeded', () => c.get('web').status?.conditions?.find((x) => x.type === 'Progressing')?.reason === 'ProgressDeadlineExceeded');
    const prog = c.get('web').status!.conditions!.find((x) => x.type === 'Progressing')!;
    expect(prog.status).toBe('False');
    // Never fewer than replicas - maxUnavailable ready pods of the old version.
    expect(livePods(c.fake).filter((p) => imageOf(p) === 'img:1' && isPodReady(p)).length).toBe(3);
    // Rollback the kubectl way: put the old template back.
    await c.setImage('web', 'img:1');
    await c.converge('rolled back', () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === 'img:1'));
    expect(c.violations).toEqual([]);
    const rss = rsOf(c.fake);
    const old = rss.find((r) => r.spec?.template?.spec.containers[0]?.image === 'img:1')!;
    expect(old.metadata.annotations?.[REVISION_ANNOTATION]).toBe('3');
    expect(old.metadata.annotations?.['deployment.kubernetes.io/revision-history']).toBe('1');
    expect(old.spec?.replicas).toBe(4);
    expect(c.get('web').metadata.annotations?.[REVISION_ANNOTATION]).toBe('3');
  });

  it('supports the legacy rollback annotation (to the previous revision)', async () => {
    const c = await cluster([deployment('web', 2, 'img:1')]);
    await c.converge('v1', () => c.rolledOut('web'));
    await c.setImage('web', 'img:2');
    await c.converge('v2', () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === 'img:2'));
    await c.deployments.patch('ns', 'web', { metadata: { annotations: { 'deprecated.deployment.rollback.to': '0' } } });
    await c.converge('rolled back to v1', () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === 'img:1'));
    expect(c.get('web').metadata.annotations?.['deprecated.deployment.rollback.to']).toBeUndefined();
    expect(c.events.reasons()).toContain('DeploymentRollback');
  });

  it('scales up and down to the exact count, also in the middle of a rollout (proportionally)', async () => {
    const c = await cluster([deployment('web', 3, 'img:1')]);
    await c.converge('3', () => c.rolledOut('web'));
    await c.deployments.patch('ns', 'web', { spec: { replicas: 8 } });
    await c.converge('8', () => c.rolledOut('web'));
    await c.deployments.patch('ns', 'web', { spec: { replicas: 2 } });
    await c.converge('2', () => c.rolledOut('web'));
    // Mid-rollout: new pods never get ready, then replicas change; both ReplicaSets scale.
    c.setHealthy((p) => imageOf(p) !== 'img:slow');
    await c.deployments.patch('ns', 'web', { spec: { replicas: 10 } });
    await c.converge('10', () => c.rolledOut('web'));
    await c.setImage('web', 'img:slow');
    await c.converge('rollout stuck', () => rsOf(c.fake).length === 2 && livePods(c.fake).filter((p) => imageOf(p) === 'img:slow').length === 5);
    await c.deployments.patch('ns', 'web', { spec: { replicas: 20 } });
    await c.converge('proportional', () => {
      const rss = rsOf(c.fake);
      return rss.reduce((n, r) => n + (r.spec?.replicas ?? 0), 0) === 20 + 5 && rss.every((r) => (r.spec?.replicas ?? 0) > 5);
    });
    c.setHealthy(() => true);
    await c.converge('20 on img:slow', () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === 'img:slow'));
  });

  it('Recreate scales the old ReplicaSet to zero, waits for its pods to be gone, then brings up the new one', async () => {
    const c = await cluster([deployment('web', 3, 'img:1', { strategy: { type: 'Recreate' } })]);
    await c.converge('v1', () => c.rolledOut('web'));
    let mixed = false;
    c.fake.prependReactor((a) => {
      if (a.verb === 'create' && a.resource === 'pods' && !a.subresource && (a.object as Pod).spec?.containers[0]?.image === 'img:2') {
        if (livePods(c.fake).some((p) => imageOf(p) === 'img:1')) mixed = true;
      }
    });
    await c.setImage('web', 'img:2');
    await c.converge('v2', () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === 'img:2'));
    expect(mixed).toBe(false);
  });

  it('paused: a template change makes no new ReplicaSet, scaling still applies, resume rolls out', async () => {
    const c = await cluster([deployment('web', 2, 'img:1')]);
    await c.converge('v1', () => c.rolledOut('web'));
    await c.deployments.patch('ns', 'web', { spec: { paused: true } });
    await c.converge('paused condition', () => c.get('web').status?.conditions?.find((x) => x.type === 'Progressing')?.reason === 'DeploymentPaused');
    await c.setImage('web', 'img:2');
    await c.deployments.patch('ns', 'web', { spec: { replicas: 4 } });
    await c.converge('scaled while paused', () => livePods(c.fake).length === 4 && c.get('web').status?.availableReplicas === 4);
    expect(rsOf(c.fake)).toHaveLength(1);
    expect(livePods(c.fake).every((p) => imageOf(p) === 'img:1')).toBe(true);
    await c.deployments.patch('ns', 'web', { spec: { paused: false } });
    await c.converge('resumed', () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === 'img:2'));
  });

  it('keeps at most revisionHistoryLimit old ReplicaSets', async () => {
    const c = await cluster([deployment('web', 1, 'img:1', { revisionHistoryLimit: 2 })]);
    for (let i = 1; i <= 5; i++) {
      await c.setImage('web', `img:${i}`);
      await c.converge(`v${i}`, () => c.rolledOut('web') && livePods(c.fake).every((p) => imageOf(p) === `img:${i}`));
    }
    await c.converge('history trimmed', () => rsOf(c.fake).length === 3);
    const revs = rsOf(c.fake).map((r) => Number(r.metadata.annotations?.[REVISION_ANNOTATION])).sort();
    expect(revs).toEqual([3, 4, 5]);
  });
});
