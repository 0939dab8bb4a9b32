import { describe, expect, it } from 'vitest';
import type { Deployment, ReplicaSet } from './apps-types.js';
import type { Namespace, Pod, Service } from './core-types.js';
import { defaultDeployment, defaultNamespace, defaultPod, defaultPullPolicy, defaultReplicaSet, defaultService } from './defaults.js';

describe('defaultPullPolicy', () => {
  it.each([
    ['nginx', 'Always'],
    ['nginx:latest', 'Always'],
    ['nginx:1.14.2', 'IfNotPresent'],
    ['localhost:5000/app', 'Always'],
    ['localhost:5000/app:v1', 'IfNotPresent'],
    ['busybox@sha256:abc', 'IfNotPresent'],
  ])('%s → %s', (image, want) => expect(defaultPullPolicy(image)).toBe(want));
});

describe('pod defaults', () => {
  it('fills in what the Kubernetes apiserver fills in', () => {
    const pod: Pod = {
      metadata: { name: 'p', namespace: 'default' },
      spec: {
        containers: [
          {
            name: 'c',
            image: 'app:v1',
            ports: [{ containerPort: 80 }],
            readinessProbe: { httpGet: { port: 80 } },
            resources: { limits: { cpu: '500m' } },
          },
        ],
        volumes: [{ name: 'scratch' }],
      },
    };
    defaultPod(pod);
    const spec = pod.spec!;
    expect(spec).toMatchObject({ restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler' });
    const c = spec.containers[0]!;
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.terminationMessagePath).toBe('/dev/termination-log');
    expect(c.terminationMessagePolicy).toBe('File');
    expect(c.ports![0]!.protocol).toBe('TCP');
    expect(c.readinessProbe).toEqual({ httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
    expect(c.resources!.requests).toEqual({ cpu: '500m' });
    expect(spec.volumes![0]).toEqual({ name: 'scratch', emptyDir: {} });
    expect(pod.status!.phase).toBe('Pending');
  });

  it('keeps what the user set, and host ports follow container ports on the host network', () => {
    const pod: Pod = { metadata: { name: 'p' }, spec: { restartPolicy: 'Never', hostNetwork: true, containers: [{ name: 'c', image: 'x', imagePullPolicy: 'Never', ports: [{ containerPort: 8080, protocol: 'UDP' }] }] } };
    defaultPod(pod);
    expect(pod.spec!.restartPolicy).toBe('Never');
    expect(pod.spec!.containers[0]!.imagePullPolicy).toBe('Never');
    expect(pod.spec!.containers[0]!.ports![0]).toEqual({ containerPort: 8080, protocol: 'UDP', hostPort: 8080 });
  });
});

describe('controller defaults', () => {
  it('Deployment: 1 replica, RollingUpdate 25%/25%, history 10, deadline 600, template defaults', () => {
    const d: Deployment = { metadata: { name: 'd' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
    defaultDeployment(d);
    expect(d.spec).toMatchObject({
      replicas: 1,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    });
    expect(d.spec!.template.spec.restartPolicy).toBe('Always');
    expect(d.spec!.template.spec.containers[0]!.imagePullPolicy).toBe('Always');
  });

  it('Deployment with Recreate gets no rollingUpdate', () => {
    const d: Deployment = { metadata: { name: 'd' }, spec: { replicas: 0, strategy: { type: 'Recreate' }, selector: {}, template: { spec: { containers: [] } } } };
    defaultDeployment(d);
    expect(d.spec!.strategy).toEqual({ type: 'Recreate' });
    expect(d.spec!.replicas).toBe(0);
  });

  it('ReplicaSet: 1 replica', () => {
    const rs: ReplicaSet = { metadata: { name: 'r' }, spec: { selector: {}, template: { spec: { containers: [] } } } };
    defaultReplicaSet(rs);
    expect(rs.spec!.replicas).toBe(1);
  });
});

describe('service and namespace defaults', () => {
  it('Service: ClusterIP, TCP, targetPort = port, sessionAffinity None', () => {
    const s: Service = { metadata: { name: 's' }, spec: { ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 'dns' }] } };
    defaultService(s);
    expect(s.spec).toMatchObject({ type: 'ClusterIP', sessionAffinity: 'None' });
    expect(s.spec!.ports).toEqual([
      { port: 80, protocol: 'TCP', targetPort: 80 },
      { port: 53, protocol: 'UDP', targetPort: 'dns' },
    ]);
  });

  it('Namespace: phase Active', () => {
    const ns: Namespace = { metadata: { name: 'n' } };
    defaultNamespace(ns);
    expect(ns.status).toEqual({ phase: 'Active' });
  });
});
