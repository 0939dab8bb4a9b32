import { describe, expect, it } from 'vitest';
import { findResource, GROUP_VERSIONS, RESOURCES, resourceByName, resourceForKind, resourcesIn, subresourceKind } from './registry.js';
import { groupVersion } from './resource.js';

describe('resource registry', () => {
  it('serves the built-in resources with unique plurals and short names', () => {
    // Containment, not equality: each kind's own change adds its plural here.
    const plurals = RESOURCES.map((r) => r.plural);
    expect(plurals).toEqual(expect.arrayContaining(['deployments', 'endpoints', 'endpointslices', 'events', 'ingresses', 'leases', 'namespaces', 'nodes', 'pods', 'replicasets', 'services']));
    expect(plurals).toEqual(expect.arrayContaining(['configmaps', 'secrets', 'poddisruptionbudgets']));
    expect(new Set(plurals).size).toBe(plurals.length);
    expect(plurals).toEqual(expect.arrayContaining(['ingressclasses']));
    const shorts = RESOURCES.flatMap((r) => r.shortNames);
    expect(new Set(shorts).size).toBe(shorts.length);
    for (const r of RESOURCES) {
      expect(r.listKind).toBe(`${r.kind}List`);
      expect(GROUP_VERSIONS.some((g) => g.group === r.group && g.versions.includes(r.version))).toBe(true);
    }
  });

  it.each([
    ['', 'v1', 'pods', 'Pod', true],
    ['', 'v1', 'namespaces', 'Namespace', false],
    ['', 'v1', 'nodes', 'Node', false],
    ['apps', 'v1', 'deployments', 'Deployment', true],
    ['networking.k8s.io', 'v1', 'ingresses', 'Ingress', true],
    ['networking.k8s.io', 'v1', 'ingressclasses', 'IngressClass', false],
    ['coordination.k8s.io', 'v1', 'leases', 'Lease', true],
  ])('findResource(%j, %s, %s) is %s (namespaced %s)', (g, v, p, kind, namespaced) => {
    const r = findResource(g, v, p)!;
    expect(r.kind).toBe(kind);
    expect(r.namespaced).toBe(namespaced);
  });

  it('does not find resources in the wrong group', () => {
    expect(findResource('', 'v1', 'deployments')).toBeUndefined();
    expect(findResource('apps', 'v1beta1', 'deployments')).toBeUndefined();
  });

  it.each([
    ['v1', 'Pod', 'pods'],
    ['apps/v1', 'ReplicaSet', 'replicasets'],
    ['networking.k8s.io/v1', 'Ingress', 'ingresses'],
    ['v1', 'Endpoints', 'endpoints'],
  ])('resourceForKind(%s, %s) → %s', (av, kind, plural) => expect(resourceForKind(av, kind)?.plural).toBe(plural));

  it('resourceForKind needs the right apiVersion', () => {
    expect(resourceForKind('v1', 'Deployment')).toBeUndefined();
  });

  it.each([
    ['po', 'pods'],
    ['pods', 'pods'],
    ['pod', 'pods'],
    ['Pod', 'pods'],
    ['deploy', 'deployments'],
    ['deployments.apps', 'deployments'],
    ['deployments.v1.apps', 'deployments'],
    ['rs', 'replicasets'],
    ['svc', 'services'],
    ['ns', 'namespaces'],
    ['no', 'nodes'],
    ['ep', 'endpoints'],
    ['ing', 'ingresses'],
    ['ingresses.networking.k8s.io', 'ingresses'],
    ['ev', 'events'],
    ['lease', 'leases'],
    ['pods.v1.', 'pods'],
    ['deployments.extensions', undefined],
    ['widgets', undefined],
  ])('resourceByName(%j) → %s', (name, plural) => expect(resourceByName(name)?.plural).toBe(plural));

  it('field labels always include name and namespace and the kind-specific ones', () => {
    const pods = findResource('', 'v1', 'pods')!;
    expect(pods.fieldLabels({ metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1', restartPolicy: 'Always', schedulerName: 'default-scheduler' }, status: { phase: 'Running', podIP: '10.244.1.5' } })).toMatchObject({
      'metadata.name': 'p',
      'metadata.namespace': 'ns',
      'spec.nodeName': 'n1',
      'spec.restartPolicy': 'Always',
      'spec.schedulerName': 'default-scheduler',
      'status.phase': 'Running',
      'status.podIP': '10.244.1.5',
    });
    const events = findResource('', 'v1', 'events')!;
    const f = events.fieldLabels({ metadata: { name: 'e', namespace: 'ns' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'ns', uid: 'u1' }, reason: 'Started', type: 'Normal', source: { component: 'agent' } });
    expect(f).toMatchObject({ 'involvedObject.kind': 'Pod', 'involvedObject.name': 'p', 'involvedObject.uid': 'u1', reason: 'Started', type: 'Normal', source: 'agent', 'involvedObject.fieldPath': '' });
    expect(findResource('', 'v1', 'nodes')!.fieldLabels({ metadata: { name: 'n' }, spec: { unschedulable: true } })['spec.unschedulable']).toBe('true');
    expect(findResource('', 'v1', 'namespaces')!.fieldLabels({ metadata: { name: 'n' }, status: { phase: 'Active' } })['status.phase']).toBe('Active');
  });

  it("names every kind's field labels, and each reader gives what fieldLabels gives; a cluster-scoped kind's namespace is ''", () => {
    const obj = { metadata: { name: 'x', namespace: 'ns' }, spec: { nodeName: 'n1', type: 'ClusterIP' }, status: { phase: 'Running' } };
    for (const r of RESOURCES) {
      const all = r.fieldLabels(obj);
      expect(Object.keys(r.fields).sort(), r.plural).toEqual(Object.keys(all).sort());
      expect(Object.keys(r.fields), r.plural).toEqual(expect.arrayContaining(['metadata.name', 'metadata.namespace']));
      for (const [field, read] of Object.entries(r.fields)) expect(read(obj), `${r.plural} ${field}`).toBe(all[field]);
      expect(all['metadata.namespace'], r.plural).toBe(r.namespaced ? 'ns' : '');
    }
  });

  it('knows subresource kinds for discovery', () => {
    const deploy = resourceByName('deploy')!;
    expect(subresourceKind(deploy, 'scale')).toEqual({ group: 'autoscaling', version: 'v1', kind: 'Scale' });
    expect(subresourceKind(deploy, 'status')?.kind).toBe('Deployment');
    expect(subresourceKind(resourceByName('po')!, 'binding')?.kind).toBe('Binding');
    expect(subresourceKind(resourceByName('svc')!, 'scale')).toBeUndefined();
    expect(resourcesIn('apps', 'v1').map((r) => r.plural).sort()).toEqual(['controllerrevisions', 'daemonsets', 'deployments', 'replicasets']);
    expect(groupVersion(resourceByName('ing')!)).toBe('networking.k8s.io/v1');
  });
});
