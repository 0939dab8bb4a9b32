import { describe, expect, it } from 'vitest';
import type { Deployment } from './apps-types.js';
import type { Pod, Service } from './core-types.js';
import { defaultDeployment, defaultIngress, defaultPod, defaultService } from './defaults.js';
import { deepCopy } from './helpers.js';
import type { KubeObject } from './meta.js';
import type { Ingress } from './networking-types.js';
import { resourceForKind } from './registry.js';
import {
  carryOverServiceAllocations,
  validateDeployment,
  validateEvent,
  validateIngress,
  validateLease,
  validateNamespace,
  validateNode,
  validatePod,
  validateReplicaSet,
  validateService,
} from './validation.js';

// Manifests as printed in the Kubernetes documentation.
const nginxDeployment = (): Deployment => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'nginx-deployment', namespace: 'default', labels: { app: 'nginx' } },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'nginx' } },
    template: {
      metadata: { labels: { app: 'nginx' } },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.14.2', ports: [{ containerPort: 80 }] }] },
    },
  },
});

const nginxPod = (): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'nginx', namespace: 'default' },
  spec: {
    containers: [
      {
        name: 'nginx',
        image: 'nginx:1.14.2',
        ports: [{ containerPort: 80 }],
        resources: { requests: { memory: '64Mi', cpu: '250m' }, limits: { memory: '128Mi', cpu: '500m' } },
        livenessProbe: { httpGet: { path: '/healthz', port: 8080, httpHeaders: [{ name: 'Custom-Header', value: 'Awesome' }] }, initialDelaySeconds: 3, periodSeconds: 3 },
        env: [{ name: 'MY_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
        volumeMounts: [{ name: 'cache-volume', mountPath: '/cache' }],
      },
    ],
    volumes: [{ name: 'cache-volume', emptyDir: { sizeLimit: '500Mi' } }],
  },
});

const myService = (): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'my-service', namespace: 'default' },
  spec: { selector: { 'app.kubernetes.io/name': 'MyApp' }, ports: [{ protocol: 'TCP', port: 80, targetPort: 9376 }] },
});

const minimalIngress = (): Ingress => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'minimal-ingress', namespace: 'default', annotations: { 'nginx.ingress.kubernetes.io/rewrite-target': '/' } },
  spec: {
    ingressClassName: 'nginx-example',
    rules: [{ http: { paths: [{ path: '/testpath', pathType: 'Prefix', backend: { service: { name: 'test', port: { number: 80 } } } }] } }],
  },
});

const fields = (errs: { field: string }[]) => errs.map((e) => e.field);

describe('documentation manifests', () => {
  it.each([
    ['Deployment', nginxDeployment as () => KubeObject],
    ['Pod', nginxPod as () => KubeObject],
    ['Service', myService as () => KubeObject],
    ['Ingress', minimalIngress as () => KubeObject],
  ])('%s passes after defaulting', (_kind, make) => {
    const obj = make();
    const info = resourceForKind(obj.apiVersion!, obj.kind!)!;
    info.applyDefaults(obj);
    expect(info.validate(obj)).toEqual([]);
    // Defaulting is idempotent and validation does not change the object.
    const again = deepCopy(obj);
    info.applyDefaults(again);
    expect(again).toEqual(obj);
  });
});

/** Applies a mutation to a defaulted object and returns the field paths of the errors. */
function podErrors(mutate: (p: Pod) => void): string[] {
  const p = nginxPod();
  defaultPod(p);
  mutate(p);
  return fields(validatePod(p));
}

describe('pod validation', () => {
  it.each<[string, (p: Pod) => void, string]>([
    ['missing image', (p) => delete p.spec!.containers[0]!.image, 'spec.containers[0].image'],
    ['bad container name', (p) => (p.spec!.containers[0]!.name = 'Nginx_1'), 'spec.containers[0].name'],
    ['duplicate container', (p) => p.spec!.containers.push({ ...p.spec!.containers[0]! }), 'spec.containers[1].name'],
    ['no containers', (p) => (p.spec!.containers = []), 'spec.containers'],
    ['port 0', (p) => (p.spec!.containers[0]!.ports![0]!.containerPort = 0), 'spec.containers[0].ports[0].containerPort'],
    ['port 70000', (p) => (p.spec!.containers[0]!.ports![0]!.containerPort = 70000), 'spec.containers[0].ports[0].containerPort'],
    ['hostPort 70000', (p) => (p.spec!.containers[0]!.ports![0]!.hostPort = 70000), 'spec.containers[0].ports[0].hostPort'],
    ['protocol HTTP', (p) => (p.spec!.containers[0]!.ports![0]!.protocol = 'HTTP' as never), 'spec.containers[0].ports[0].protocol'],
    ['bad quantity', (p) => (p.spec!.containers[0]!.resources!.limits!.cpu = 'lots'), 'spec.containers[0].resources.limits[cpu]'],
    ['request over limit', (p) => (p.spec!.containers[0]!.resources!.requests!.memory = '1Gi'), 'spec.containers[0].resources.requests[memory]'],
    ['unknown resource', (p) => (p.spec!.containers[0]!.resources!.requests!.gpu = '1'), 'spec.containers[0].resources.requests[gpu]'],
    ['restartPolicy', (p) => (p.spec!.restartPolicy = 'Sometimes' as never), 'spec.restartPolicy'],
    ['probe without handler', (p) => (p.spec!.containers[0]!.readinessProbe = { periodSeconds: 5 }), 'spec.containers[0].readinessProbe'],
    ['probe with two handlers', (p) => (p.spec!.containers[0]!.livenessProbe!.tcpSocket = { port: 80 }), 'spec.containers[0].livenessProbe.tcpSocket'],
    ['liveness successThreshold', (p) => (p.spec!.containers[0]!.livenessProbe!.successThreshold = 2), 'spec.containers[0].livenessProbe.successThreshold'],
    ['probe negative delay', (p) => (p.spec!.containers[0]!.livenessProbe!.initialDelaySeconds = -1), 'spec.containers[0].livenessProbe.initialDelaySeconds'],
    ['probe bad port name', (p) => (p.spec!.containers[0]!.livenessProbe!.httpGet!.port = 'Not_A_Name'), 'spec.containers[0].livenessProbe.httpGet.port'],
    ['duplicate volume', (p) => p.spec!.volumes!.push({ name: 'cache-volume', emptyDir: {} }), 'spec.volumes[1].name'],
    ['unknown volume type', (p) => (p.spec!.volumes![0] = { name: 'cache-volume', persistentVolumeClaim: { claimName: 'x' } }), 'spec.volumes[0].persistentVolumeClaim'],
    ['two volume types', (p) => (p.spec!.volumes![0]!.hostPath = { path: '/tmp' }), 'spec.volumes[0].hostPath'],
    ['no volume type', (p) => (p.spec!.volumes![0] = { name: 'cache-volume', emptyDir: null } as never), 'spec.volumes[0]'],
    ['relative hostPath', (p) => (p.spec!.volumes![0] = { name: 'cache-volume', hostPath: { path: 'tmp' } }), 'spec.volumes[0].hostPath.path'],
    ['mount of undeclared volume', (p) => (p.spec!.containers[0]!.volumeMounts![0]!.name = 'nope'), 'spec.containers[0].volumeMounts[0].name'],
    ['bad env name', (p) => (p.spec!.containers[0]!.env![0]!.name = '1BAD'), 'spec.containers[0].env[0].name'],
    ['bad fieldRef', (p) => (p.spec!.containers[0]!.env![0]!.valueFrom!.fieldRef!.fieldPath = 'spec.bogus'), 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath'],
    ['negative grace', (p) => (p.spec!.terminationGracePeriodSeconds = -5), 'spec.terminationGracePeriodSeconds'],
    ['bad nodeSelector', (p) => (p.spec!.nodeSelector = { 'disk type': 'ssd' }), 'spec.nodeSelector'],
    ['toleration effect', (p) => (p.spec!.tolerations = [{ key: 'k', operator: 'Exists', effect: 'Sometimes' as never }]), 'spec.tolerations[0].effect'],
    ['affinity operator', (p) => (p.spec!.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Near' as never }] }] } } }), 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator'],
    ['affinity In without values', (p) => (p.spec!.affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In' }] }] } } }), 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values'],
    ['bad name', (p) => (p.metadata.name = 'Nginx!'), 'metadata.name'],
    ['no name', (p) => delete p.metadata.name, 'metadata.name'],
    ['bad generateName', (p) => { delete p.metadata.name; p.metadata.generateName = 'Web-'; }, 'metadata.generateName'],
    ['no namespace', (p) => delete p.metadata.namespace, 'metadata.namespace'],
    ['bad label key', (p) => (p.metadata.labels = { '-x': 'y' }), 'metadata.labels'],
    ['bad label value', (p) => (p.metadata.labels = { x: 'a'.repeat(64) }), 'metadata.labels'],
    ['huge annotations', (p) => (p.metadata.annotations = { big: 'x'.repeat(256 * 1024) }), 'metadata.annotations'],
    ['hostNetwork port mismatch', (p) => { p.spec!.hostNetwork = true; p.spec!.containers[0]!.ports![0]!.hostPort = 81; }, 'spec.containers[0].ports[0].hostPort'],
  ])('%s', (_what, mutate, path) => {
    expect(podErrors(mutate)).toContain(path);
  });

  it('accepts generateName ending in a dash', () => {
    expect(podErrors((p) => { delete p.metadata.name; p.metadata.generateName = 'web-'; })).toEqual([]);
  });

  it('reports every error at once, with Kubernetes wording', () => {
    const p = nginxPod();
    defaultPod(p);
    p.spec!.containers[0]!.image = '';
    p.spec!.restartPolicy = 'Sometimes' as never;
    const errs = validatePod(p);
    expect(errs).toContainEqual({ type: 'FieldValueRequired', field: 'spec.containers[0].image', message: 'Required value' });
    expect(errs).toContainEqual({
      type: 'FieldValueNotSupported',
      field: 'spec.restartPolicy',
      message: 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    });
  });

  it('allows image changes on update but not other spec changes', () => {
    const old = nginxPod();
    defaultPod(old);
    const img = deepCopy(old);
    img.spec!.containers[0]!.image = 'nginx:1.16';
    expect(validatePod(img, old)).toEqual([]);
    const tol = deepCopy(old);
    tol.spec!.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 5 }];
    expect(validatePod(tol, old)).toEqual([]);
    const bound = deepCopy(old);
    bound.spec!.nodeName = 'node-a';
    expect(validatePod(bound, old)).toEqual([]);
    const moved = deepCopy(bound);
    moved.spec!.nodeName = 'node-b';
    expect(fields(validatePod(moved, bound))).toEqual(['spec']);
    const cmd = deepCopy(old);
    cmd.spec!.containers[0]!.command = ['sh'];
    expect(fields(validatePod(cmd, old))).toEqual(['spec']);
    const renamed = deepCopy(old);
    renamed.metadata.name = 'other';
    expect(fields(validatePod(renamed, old))).toContain('metadata.name');
  });
});

function deployErrors(mutate: (d: Deployment) => void, old?: Deployment): string[] {
  const d = nginxDeployment();
  defaultDeployment(d);
  mutate(d);
  return fields(validateDeployment(d, old));
}

describe('deployment and replicaset validation', () => {
  it.each<[string, (d: Deployment) => void, string]>([
    ['negative replicas', (d) => (d.spec!.replicas = -1), 'spec.replicas'],
    ['missing selector', (d) => delete (d.spec as Partial<Deployment['spec']>)!.selector, 'spec.selector'],
    ['empty selector', (d) => (d.spec!.selector = {}), 'spec.selector'],
    ['selector mismatch', (d) => (d.spec!.selector = { matchLabels: { app: 'other' } }), 'spec.template.metadata.labels'],
    ['bad strategy', (d) => (d.spec!.strategy!.type = 'BlueGreen' as never), 'spec.strategy.type'],
    ['both zero', (d) => (d.spec!.strategy!.rollingUpdate = { maxSurge: 0, maxUnavailable: '0%' }), 'spec.strategy.rollingUpdate.maxUnavailable'],
    ['bad percent', (d) => (d.spec!.strategy!.rollingUpdate!.maxSurge = 'half'), 'spec.strategy.rollingUpdate.maxSurge'],
    ['over 100%', (d) => (d.spec!.strategy!.rollingUpdate!.maxUnavailable = '150%'), 'spec.strategy.rollingUpdate.maxUnavailable'],
    ['recreate with rollingUpdate', (d) => (d.spec!.strategy!.type = 'Recreate'), 'spec.strategy.rollingUpdate'],
    ['restartPolicy Never', (d) => (d.spec!.template.spec.restartPolicy = 'Never'), 'spec.template.spec.restartPolicy'],
    ['template image missing', (d) => delete d.spec!.template.spec.containers[0]!.image, 'spec.template.spec.containers[0].image'],
    ['progress deadline', (d) => (d.spec!.minReadySeconds = 700), 'spec.progressDeadlineSeconds'],
  ])('%s', (_what, mutate, path) => {
    expect(deployErrors(mutate)).toContain(path);
  });

  it('says the selector does not match as Kubernetes does', () => {
    const d = nginxDeployment();
    defaultDeployment(d);
    d.spec!.selector = { matchLabels: { app: 'other' } };
    const err = validateDeployment(d).find((e) => e.field === 'spec.template.metadata.labels')!;
    expect(err.message).toContain('`selector` does not match template `labels`');
  });

  it('keeps the selector immutable', () => {
    const old = nginxDeployment();
    defaultDeployment(old);
    expect(deployErrors((d) => (d.spec!.replicas = 5), old)).toEqual([]);
    expect(
      deployErrors((d) => {
        d.spec!.selector = { matchLabels: { app: 'nginx', v: '2' } };
        d.spec!.template.metadata!.labels!.v = '2';
      }, old),
    ).toEqual(['spec.selector']);
  });

  it('validates ReplicaSets with the same rules', () => {
    const rs: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: { name: 'frontend', namespace: 'default' },
      spec: { replicas: 3, selector: { matchLabels: { tier: 'frontend' } }, template: { metadata: { labels: { tier: 'frontend' } }, spec: { containers: [{ name: 'php-redis', image: 'gcr.io/google_samples/gb-frontend:v3' }] } } },
    };
    resourceForKind('apps/v1', 'ReplicaSet')!.applyDefaults(rs);
    expect(validateReplicaSet(rs)).toEqual([]);
    (rs.spec as { replicas: number }).replicas = -2;
    expect(fields(validateReplicaSet(rs))).toEqual(['spec.replicas']);
  });
});

describe('service validation', () => {
  const svcErrors = (mutate: (s: Service) => void, old?: Service) => {
    const s = myService();
    defaultService(s);
    mutate(s);
    return fields(validateService(s, old));
  };
  it.each<[string, (s: Service) => void, string]>([
    ['bad type', (s) => (s.spec!.type = 'Magic' as never), 'spec.type'],
    ['no ports', (s) => (s.spec!.ports = []), 'spec.ports'],
    ['port 0', (s) => (s.spec!.ports![0]!.port = 0), 'spec.ports[0].port'],
    ['bad protocol', (s) => (s.spec!.ports![0]!.protocol = 'ICMP' as never), 'spec.ports[0].protocol'],
    ['bad targetPort', (s) => (s.spec!.ports![0]!.targetPort = 99999), 'spec.ports[0].targetPort'],
    ['two unnamed ports', (s) => s.spec!.ports!.push({ port: 81, protocol: 'TCP', targetPort: 81 }), 'spec.ports[0].name'],
    ['nodePort on ClusterIP', (s) => (s.spec!.ports![0]!.nodePort = 30080), 'spec.ports[0].nodePort'],
    ['nodePort out of range', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 80; }, 'spec.ports[0].nodePort'],
    ['bad clusterIP', (s) => (s.spec!.clusterIP = '10.0.0.300'), 'spec.clusterIP'],
    ['sessionAffinity', (s) => (s.spec!.sessionAffinity = 'Sticky' as never), 'spec.sessionAffinity'],
    ['DNS-1035 name', (s) => (s.metadata.name = '1-service'), 'metadata.name'],
  ])('%s', (_what, mutate, path) => {
    expect(svcErrors(mutate)).toContain(path);
  });

  it('accepts a named targetPort and a NodePort in range', () => {
    expect(svcErrors((s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.targetPort = 'http'; s.spec!.ports![0]!.nodePort = 30007; })).toEqual([]);
  });

  it('keeps clusterIP immutable once set, and carries it over when left out', () => {
    const old = myService();
    defaultService(old);
    old.spec!.clusterIP = '10.96.0.10';
    expect(svcErrors((s) => (s.spec!.clusterIP = '10.96.0.11'), old)).toEqual(['spec.clusterIP']);
    const put = myService();
    defaultService(put);
    carryOverServiceAllocations(put, old);
    expect(put.spec!.clusterIP).toBe('10.96.0.10');
    expect(validateService(put, old)).toEqual([]);
  });
});

describe('ingress validation', () => {
  const ingErrors = (mutate: (i: Ingress) => void) => {
    const i = minimalIngress();
    defaultIngress(i);
    mutate(i);
    return fields(validateIngress(i));
  };
  const path0 = 'spec.rules[0].http.paths[0]';
  it.each<[string, (i: Ingress) => void, string]>([
    ['no pathType', (i) => delete i.spec!.rules![0]!.http!.paths[0]!.pathType, `${path0}.pathType`],
    ['bad pathType', (i) => (i.spec!.rules![0]!.http!.paths[0]!.pathType = 'Regex' as never), `${path0}.pathType`],
    ['relative path', (i) => (i.spec!.rules![0]!.http!.paths[0]!.path = 'testpath'), `${path0}.path`],
    ['no backend service name', (i) => (i.spec!.rules![0]!.http!.paths[0]!.backend.service!.name = ''), `${path0}.backend.service.name`],
    ['port name and number', (i) => (i.spec!.rules![0]!.http!.paths[0]!.backend.service!.port = { name: 'http', number: 80 }), `${path0}.backend.service.port`],
    ['port out of range', (i) => (i.spec!.rules![0]!.http!.paths[0]!.backend.service!.port = { number: 0, name: '' }), `${path0}.backend.service.port`],
    ['IP host', (i) => (i.spec!.rules![0]!.host = '10.0.0.1'), 'spec.rules[0].host'],
    ['bad host', (i) => (i.spec!.rules![0]!.host = 'Foo_Bar'), 'spec.rules[0].host'],
    ['empty paths', (i) => (i.spec!.rules![0]!.http!.paths = []), 'spec.rules[0].http.paths'],
    ['nothing to route', (i) => (i.spec!.rules = []), 'spec'],
  ])('%s', (_what, mutate, path) => {
    expect(ingErrors(mutate)).toContain(path);
  });

  it('accepts wildcard hosts, named ports and a default backend', () => {
    expect(
      ingErrors((i) => {
        i.spec!.rules![0]!.host = '*.foo.com';
        i.spec!.rules![0]!.http!.paths[0]!.backend.service!.port = { name: 'http' };
        i.spec!.defaultBackend = { service: { name: 'fallback', port: { number: 8080 } } };
      }),
    ).toEqual([]);
  });
});

describe('other kinds', () => {
  it('namespaces are DNS labels and cluster-scoped', () => {
    expect(validateNamespace({ metadata: { name: 'team-a' } })).toEqual([]);
    expect(fields(validateNamespace({ metadata: { name: 'team.a' } }))).toEqual(['metadata.name']);
    expect(fields(validateNamespace({ metadata: { name: 'a', namespace: 'x' } }))).toEqual(['metadata.namespace']);
  });

  it('nodes: podCIDR, taints', () => {
    expect(validateNode({ metadata: { name: 'host-1' }, spec: { podCIDR: '10.244.1.0/24', taints: [{ key: 'k', effect: 'NoSchedule' }] } })).toEqual([]);
    expect(fields(validateNode({ metadata: { name: 'host-1' }, spec: { podCIDR: '10.244.1.0' } }))).toEqual(['spec.podCIDR']);
    expect(fields(validateNode({ metadata: { name: 'host-1' }, spec: { taints: [{ key: 'k', effect: 'Maybe' }] } }))).toEqual(['spec.taints[0].effect']);
  });

  it('events need an involvedObject in their namespace', () => {
    const ev = { metadata: { name: 'web.1', namespace: 'default' }, involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' }, reason: 'Started', type: 'Normal', count: 1 };
    expect(validateEvent(ev)).toEqual([]);
    expect(fields(validateEvent({ ...ev, involvedObject: undefined }))).toEqual(['involvedObject']);
    expect(fields(validateEvent({ ...ev, involvedObject: { kind: 'Pod', name: 'web', namespace: 'other' } }))).toEqual(['involvedObject.namespace']);
    expect(fields(validateEvent({ ...ev, type: 'Info' }))).toEqual(['type']);
  });

  it('leases: positive duration, RFC 3339 times', () => {
    const lease = { metadata: { name: 'host-1', namespace: 'kube-node-lease' }, spec: { holderIdentity: 'host-1', leaseDurationSeconds: 40, renewTime: '2024-01-02T03:04:05.123456Z', leaseTransitions: 0 } };
    expect(validateLease(lease)).toEqual([]);
    expect(fields(validateLease({ ...lease, spec: { ...lease.spec, leaseDurationSeconds: 0 } }))).toEqual(['spec.leaseDurationSeconds']);
    expect(fields(validateLease({ ...lease, spec: { ...lease.spec, renewTime: 'yesterday' } }))).toEqual(['spec.renewTime']);
    expect(fields(validateLease({ ...lease, spec: { ...lease.spec, leaseTransitions: -1 } }))).toEqual(['spec.leaseTransitions']);
  });

  it('never throws on garbage input', () => {
    for (const info of ['Pod', 'Deployment', 'Service', 'Ingress', 'Node', 'Event', 'Lease', 'Endpoints', 'ReplicaSet', 'Namespace']) {
      const r = resourceForKind(info === 'Deployment' || info === 'ReplicaSet' ? 'apps/v1' : info === 'Ingress' ? 'networking.k8s.io/v1' : info === 'Lease' ? 'coordination.k8s.io/v1' : 'v1', info)!;
      for (const junk of [{ metadata: {} }, { metadata: { name: 'x', namespace: 'y' }, spec: 5 }, { metadata: { name: 'x', namespace: 'y' }, spec: { containers: 'no', ports: {}, rules: 'x', template: 3, selector: 'x' }, subsets: 'x' }]) {
        const obj = deepCopy(junk) as KubeObject;
        expect(() => r.applyDefaults(obj), info).not.toThrow();
        expect(() => r.validate(obj), info).not.toThrow();
        // Only the nameless one is wrong for every kind: unknown fields are ignored, specs may be optional.
        if (!junk.metadata.name) expect(r.validate(obj).length, info).toBeGreaterThan(0);
      }
    }
  });
});

describe('topologySpreadConstraints', () => {
  const spread = (c: Record<string, unknown>) => (p: Pod) => {
    (p.spec as unknown as Record<string, unknown>).topologySpreadConstraints = [c];
  };
  it('accepts a constraint the scheduler can apply', () => {
    expect(podErrors(spread({ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }))).toEqual([]);
  });
  it('refuses maxSkew 0, an empty key, an unknown mode, naming each field', () => {
    expect(podErrors(spread({ maxSkew: 0, topologyKey: '', whenUnsatisfiable: 'Sometimes' }))).toEqual([
      'spec.topologySpreadConstraints[0].maxSkew',
      'spec.topologySpreadConstraints[0].topologyKey',
      'spec.topologySpreadConstraints[0].whenUnsatisfiable',
    ]);
  });
});

describe('pod status updates', () => {
  it('do not judge the stored spec again (carried over by reference), as Kubernetes; a changed spec still is', () => {
    const old = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'd', resourceVersion: '1' }, spec: { containers: [{ name: 'BAD NAME', image: 'x' }] } } as unknown as KubeObject;
    const statusWrite = { ...old, metadata: { ...old.metadata }, status: { phase: 'Running' } } as KubeObject;
    expect(validatePod(statusWrite, old)).toEqual([]);
    const specWrite = { ...statusWrite, spec: deepCopy((old as Pod).spec) } as KubeObject;
    expect(validatePod(specWrite, old).map((e) => e.field)).toContain('spec.containers[0].name');
  });
});
