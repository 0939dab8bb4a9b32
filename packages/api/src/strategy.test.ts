import { describe, expect, it } from 'vitest';
import { bindPod } from './core-strategies.js';
import type { KubeObject } from './meta.js';
import { findResource, RESOURCES } from './registry.js';
import { defaultAndValidate, prepareCreate, prepareUpdate } from './strategy.js';

const admin = { name: 'alice', uid: 'u-alice', groups: ['system:masters'] };
const info = (group: string, plural: string) => findResource(group, 'v1', plural)!;
const fields = (errs: Array<{ field: string }>) => errs.map((e) => e.field);

describe('every registry entry is a full strategy', () => {
  it.each(RESOURCES.map((r) => [`${r.group || 'core'}/${r.plural}`, r] as const))('%s has every hook', (_, r) => {
    for (const hook of ['applyDefaults', 'prepareForCreate', 'validate', 'prepareForUpdate', 'validateUpdate', 'fieldLabels'] as const) {
      expect(typeof r[hook], hook).toBe('function');
    }
    expect(typeof r.deletion.gracePeriodSeconds).toBe('function');
    expect(Array.isArray(r.deletion.finalizers)).toBe(true);
    expect(typeof r.deletion.returnsObject).toBe('boolean');
    expect(r.table.columns.map((c) => c.name)).toContain('Name');
    expect(r.listKind).toBe(`${r.kind}List`);
  });

  it('plurals are unique (the storages key by plural alone)', () => {
    expect(new Set(RESOURCES.map((r) => r.plural)).size).toBe(RESOURCES.length);
  });
});

describe('prepareCreate', () => {
  const withJunk = (o: KubeObject): KubeObject => ({
    ...o,
    metadata: { ...o.metadata, uid: 'client-uid', resourceVersion: '7', generation: 9, creationTimestamp: '2000-01-01T00:00:00Z', deletionTimestamp: '2000-01-01T00:00:00Z' },
    status: { phase: 'Running', replicas: 5 },
  });

  it('drops server-owned metadata and assigns a fresh uid', () => {
    const obj = withJunk({ metadata: { name: 'cm' }, data: {} });
    prepareCreate(info('', 'configmaps'), obj, admin);
    expect(obj.metadata).toEqual({ name: 'cm', uid: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  });

  it('resets status for kinds with a status subresource; a pod starts Pending, a namespace Active and labelled', () => {
    const dep = withJunk({ metadata: { name: 'd' }, spec: {} });
    prepareCreate(info('apps', 'deployments'), dep, admin);
    expect(dep.status).toBeUndefined();
    const pod = withJunk({ metadata: { name: 'p' }, spec: {} });
    prepareCreate(info('', 'pods'), pod, admin);
    expect(pod.status).toEqual({ phase: 'Pending' });
    const ns = withJunk({ metadata: { name: 'team' } });
    prepareCreate(info('', 'namespaces'), ns, admin);
    expect(ns.status).toEqual({ phase: 'Active' });
    expect(ns.metadata.labels).toEqual({ 'kubernetes.io/metadata.name': 'team' });
  });

  it('keeps the status a Node registers with', () => {
    const node = withJunk({ metadata: { name: 'n' }, spec: {} });
    prepareCreate(info('', 'nodes'), node, admin);
    expect(node.status).toEqual({ phase: 'Running', replicas: 5 });
  });

  it("stamps a CSR's requester and a Job's selector from the assigned uid", () => {
    const csr: KubeObject = { metadata: { name: 'c' }, spec: { username: 'mallory', groups: ['system:masters'] } };
    prepareCreate(findResource('certificates.k8s.io', 'v1', 'certificatesigningrequests')!, csr, admin);
    expect(csr.spec).toMatchObject({ username: 'alice', uid: 'u-alice', groups: ['system:masters'] });
    const job: KubeObject = { metadata: { name: 'j' }, spec: { template: { spec: {} } } };
    prepareCreate(findResource('batch', 'v1', 'jobs')!, job, admin);
    expect((job.spec as { selector: unknown }).selector).toEqual({ matchLabels: { 'batch.kubernetes.io/controller-uid': job.metadata.uid } });
  });
});

describe('prepareUpdate', () => {
  const cur: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', namespace: 'ns', uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z', generation: 2, resourceVersion: '10', labels: { a: '1' } },
    spec: { replicas: 1 },
    status: { replicas: 1 },
  };
  const deployments = info('apps', 'deployments');

  it('a write of the object keeps the stored status and identity, and bumps generation on a spec change only', () => {
    const desired: KubeObject = { ...structuredClone(cur), metadata: { name: 'd', namespace: 'ns', uid: 'forged', labels: { a: '2' } }, status: { replicas: 99 } };
    const next = prepareUpdate(deployments, undefined, cur, desired);
    expect(next.status).toEqual({ replicas: 1 });
    expect(next.metadata).toMatchObject({ uid: 'u1', creationTimestamp: '2024-01-01T00:00:00Z', generation: 2, labels: { a: '2' } });
    const scaled = prepareUpdate(deployments, undefined, cur, { ...structuredClone(cur), spec: { replicas: 3 } });
    expect(scaled.metadata.generation).toBe(3);
  });

  it('/status changes status and nothing else (spec, labels), and leaves generation', () => {
    const desired: KubeObject = { ...structuredClone(cur), metadata: { ...cur.metadata, labels: { a: 'x' } }, spec: { replicas: 7 }, status: { replicas: 3 } };
    const next = prepareUpdate(deployments, 'status', cur, desired);
    expect(next.spec).toEqual({ replicas: 1 });
    expect(next.status).toEqual({ replicas: 3 });
    expect(next.metadata.labels).toEqual({ a: '1' });
    expect(next.metadata.generation).toBe(2);
  });

  it("a CSR's /approval writes only its conditions", () => {
    const csrInfo = findResource('certificates.k8s.io', 'v1', 'certificatesigningrequests')!;
    const csr: KubeObject = { metadata: { name: 'c', uid: 'u' }, spec: { request: 'r' }, status: { certificate: 'cert' } };
    const desired: KubeObject = { metadata: { name: 'c' }, spec: { request: 'other' }, status: { certificate: 'forged', conditions: [{ type: 'Approved', status: 'True' }] } };
    const next = prepareUpdate(csrInfo, 'approval', csr, desired);
    expect(next.spec).toEqual({ request: 'r' });
    expect(next.status).toEqual({ certificate: 'cert', conditions: [{ type: 'Approved', status: 'True' }] });
  });

  it('does not change the stored object', () => {
    const before = structuredClone(cur);
    prepareUpdate(deployments, undefined, cur, { ...structuredClone(cur), spec: { replicas: 4 } });
    prepareUpdate(deployments, 'status', cur, { ...structuredClone(cur), status: { replicas: 4 } });
    expect(cur).toEqual(before);
  });
});

describe('validateUpdate: immutable fields', () => {
  it("a Job's selector and template", () => {
    const jobs = info('batch', 'jobs');
    const job: KubeObject = { metadata: { name: 'j', namespace: 'ns', uid: 'u' }, spec: { template: { metadata: {}, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } } };
    prepareCreate(jobs, job, admin);
    expect(defaultAndValidate(jobs, job)).toEqual([]);
    const changed = structuredClone(job);
    (changed.spec as any).template.spec.containers[0].image = 'other'; // eslint-disable-line @typescript-eslint/no-explicit-any
    (changed.spec as any).selector = { matchLabels: { x: 'y' } }; // eslint-disable-line @typescript-eslint/no-explicit-any
    const errs = fields(defaultAndValidate(jobs, changed, job));
    expect(errs).toContain('spec.selector');
    expect(errs).toContain('spec.template');
  });

  it("a Service's clusterIP", () => {
    const services = info('', 'services');
    const svc: KubeObject = { metadata: { name: 's', namespace: 'ns' }, spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] } };
    expect(defaultAndValidate(services, structuredClone(svc))).toEqual([]);
    const moved = { ...structuredClone(svc), spec: { clusterIP: '10.96.0.11', ports: [{ port: 80 }] } };
    expect(fields(defaultAndValidate(services, moved, svc))).toContain('spec.clusterIP');
  });

  it('an immutable ConfigMap and Secret', () => {
    const cm: KubeObject = { metadata: { name: 'c' }, data: { a: '1' }, immutable: true } as KubeObject;
    expect(fields(defaultAndValidate(info('', 'configmaps'), { ...structuredClone(cm), data: { a: '2' } } as KubeObject, cm))).toContain('data');
    const secret = { metadata: { name: 's' }, type: 'Opaque', data: { a: 'MQ==' }, immutable: true } as KubeObject;
    expect(fields(defaultAndValidate(info('', 'secrets'), { ...structuredClone(secret), data: { a: 'Mg==' } } as KubeObject, secret))).toContain('data');
  });
});

describe('deletion policy', () => {
  const pods = info('', 'pods');
  const pod = (spec: object, phase?: string): KubeObject => ({ metadata: { name: 'p' }, spec, ...(phase ? { status: { phase } } : {}) });

  it("a bound pod gets the client's grace, else its own, else 30 s; an unbound or finished pod none", () => {
    expect(pods.deletion.gracePeriodSeconds(pod({ nodeName: 'n' }), undefined)).toBe(30);
    expect(pods.deletion.gracePeriodSeconds(pod({ nodeName: 'n', terminationGracePeriodSeconds: 5 }), undefined)).toBe(5);
    expect(pods.deletion.gracePeriodSeconds(pod({ nodeName: 'n', terminationGracePeriodSeconds: 5 }), 0)).toBe(0);
    expect(pods.deletion.gracePeriodSeconds(pod({}), 10)).toBe(0);
    expect(pods.deletion.gracePeriodSeconds(pod({ nodeName: 'n' }, 'Succeeded'), undefined)).toBe(0);
    expect(pods.deletion.returnsObject).toBe(true);
  });

  it('a namespace gets the kubernetes finalizer and turns Terminating; other kinds go at once', () => {
    const ns = info('', 'namespaces');
    expect(ns.deletion.finalizers).toEqual(['kubernetes']);
    const obj: KubeObject = { metadata: { name: 'x' }, status: { phase: 'Active' } };
    ns.deletion.prepareForDelete!(obj);
    expect(obj.status).toEqual({ phase: 'Terminating' });
    const cms = info('', 'configmaps');
    expect(cms.deletion.gracePeriodSeconds({ metadata: {} }, 30)).toBe(0);
    expect(cms.deletion.finalizers).toEqual([]);
  });
});

describe('bindPod', () => {
  it('sets nodeName once with a PodScheduled condition, without changing the pod given', () => {
    const pod: KubeObject = { metadata: { name: 'p' }, spec: { containers: [] }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False' }] } };
    const bound = bindPod(pod, 'n1', { a: 'b' }, '2024-01-01T00:00:00Z');
    expect(bound.spec).toEqual({ containers: [], nodeName: 'n1' });
    expect(bound.metadata.annotations).toEqual({ a: 'b' });
    expect(bound.status).toEqual({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2024-01-01T00:00:00Z' }] });
    expect(pod.spec).toEqual({ containers: [] });
    expect(() => bindPod(bound, 'n2')).toThrow(/already assigned to node "n1"/);
    expect(() => bindPod({ ...pod, metadata: { name: 'p', deletionTimestamp: 'x' } }, 'n2')).toThrow(/being deleted/);
  });
});
