import { describe, expect, it } from 'vitest';
import { fieldMeta, fieldSchemaFor, leafSchema, unknownFields } from './known-fields.js';
import { resourceForKind } from './registry.js';

const deploy = resourceForKind('apps/v1', 'Deployment')!;

describe('unknownFields', () => {
  it('names typos at the top level, in metadata, in spec, in the template and in containers', () => {
    const obj = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', lables: {} }, spce: {},
      spec: {
        replicaz: 3, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'x', imagePullPolicy: 'Never', imgae: 'y' }], restartPolcy: 'Always' } },
      },
      status: { anything: 1 },
    };
    expect(unknownFields(deploy, obj)).toEqual(['metadata.lables', 'spce', 'spec.replicaz', 'spec.template.spec.containers[0].imgae', 'spec.template.spec.restartPolcy']);
  });

  it('knows what kubectl and the documentation manifests send', () => {
    const pod = {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'p', namespace: 'd', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' }, managedFields: [], creationTimestamp: null },
      spec: { containers: [{ name: 'c', image: 'x', resources: {}, terminationMessagePath: '/dev/termination-log', stdin: true, tty: true }], dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', enableServiceLinks: true, securityContext: {}, volumes: [] },
      status: {},
    };
    expect(unknownFields(resourceForKind('v1', 'Pod')!, pod as never)).toEqual([]);
    expect(unknownFields(resourceForKind('v1', 'Secret')!, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'Opaque', stringData: {}, data: {} })).toEqual([]);
  });

  it('checks the structures the table describes (strategy, probes, ports, selectors) and leaves typed leaves and open objects alone', () => {
    const obj = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { anything: 'x' } },
      spec: {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxSurgee: 2 } },
        selector: { matchLabels: { app: 'web' }, matchLabel: {} },
        template: { spec: { containers: [{ name: 'web', image: 'x', ports: [{ containerPort: 80, prot: 'TCP' }], livenessProbe: { httpGet: { path: '/', port: 80, whatever: 1 }, periodSecond: 1 }, securityContext: { runAsUser: 1, novel: true } }], volumes: [{ name: 'v', emptyDir: {} }] } },
      },
    };
    expect(unknownFields(deploy, obj)).toEqual([
      'spec.strategy.rollingUpdate.maxSurgee',
      'spec.selector.matchLabel',
      'spec.template.spec.containers[0].ports[0].prot',
      'spec.template.spec.containers[0].livenessProbe.periodSecond',
    ]);
  });

  it('types leaves by name for kinds that list them with leaf()', () => {
    expect(fieldMeta(leafSchema('replicas')).type).toBe('integer');
    expect(fieldMeta(leafSchema('schedule')).type).toBe('string');
    expect(fieldMeta(leafSchema('selector')).name).toBe('io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector');
    expect(fieldMeta(fieldSchemaFor(deploy)!.spec).name).toBe('io.k8s.api.apps.v1.DeploymentSpec');
  });

  it('leaves kinds without a schema alone', () => {
    expect(unknownFields({ group: 'example.com', plural: 'widgets' }, { metadata: {}, whatever: 1 } as never)).toEqual([]);
  });
});
