/**
 * One manifest per resource the apiserver serves, written the way the
 * Kubernetes documentation writes them, for the end-to-end tests of this
 * folder (every-resource, random-bodies).
 */

/** A resource, where it is served, and a valid manifest of it. */
export interface Row {
  plural: string;
  /** `/api/v1` or `/apis/<group>/v1`. */
  groupPath: string;
  namespaced: boolean;
  manifest: () => Record<string, any>;
}

const core = '/api/v1';
const podSpec = { containers: [{ name: 'nginx', image: 'flotilla/busybox:1.35', ports: [{ containerPort: 80 }] }] };

/**
 * The rows for a test run: `ns` is the namespace the namespaced objects go
 * to (an Event names it), `run` makes cluster-scoped names and the
 * `e2e.flotilla.dev/run` label unique.
 */
export function resourceRows(ns: string, run: string): Row[] {
  const runLabel = { 'e2e.flotilla.dev/run': run };
  return [
    {
      plural: 'namespaces', groupPath: core, namespaced: false,
      manifest: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `development-${run}`, labels: { name: 'development', ...runLabel } } }),
    },
    {
      plural: 'nodes', groupPath: core, namespaced: false,
      manifest: () => ({
        apiVersion: 'v1', kind: 'Node',
        metadata: { name: `node-${run}.example.com`, labels: { 'kubernetes.io/hostname': `node-${run}`, ...runLabel } },
        spec: { podCIDR: '10.244.7.0/24', taints: [{ key: 'example.com/maintenance', value: 'true', effect: 'NoSchedule' }] },
      }),
    },
    {
      plural: 'pods', groupPath: core, namespaced: true,
      manifest: () => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nginx', labels: { app: 'nginx', ...runLabel } }, spec: podSpec }),
    },
    {
      plural: 'replicasets', groupPath: '/apis/apps/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'apps/v1', kind: 'ReplicaSet',
        metadata: { name: 'frontend', labels: { app: 'guestbook', tier: 'frontend', ...runLabel } },
        spec: {
          replicas: 3,
          selector: { matchLabels: { tier: 'frontend' } },
          template: { metadata: { labels: { tier: 'frontend' } }, spec: { containers: [{ name: 'php-redis', image: 'flotilla/busybox:1.35' }] } },
        },
      }),
    },
    {
      plural: 'deployments', groupPath: '/apis/apps/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'apps/v1', kind: 'Deployment',
        metadata: { name: 'nginx-deployment', labels: { app: 'nginx', ...runLabel } },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: 'nginx' } },
          template: { metadata: { labels: { app: 'nginx' } }, spec: podSpec },
        },
      }),
    },
    {
      plural: 'daemonsets', groupPath: '/apis/apps/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'apps/v1', kind: 'DaemonSet',
        metadata: { name: 'fluentd-elasticsearch', labels: { 'k8s-app': 'fluentd-logging', ...runLabel } },
        spec: {
          selector: { matchLabels: { name: 'fluentd-elasticsearch' } },
          template: { metadata: { labels: { name: 'fluentd-elasticsearch' } }, spec: { tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }], containers: [{ name: 'fluentd-elasticsearch', image: 'flotilla/busybox:1.35' }] } },
        },
      }),
    },
    {
      plural: 'controllerrevisions', groupPath: '/apis/apps/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'apps/v1', kind: 'ControllerRevision',
        metadata: { name: 'fluentd-elasticsearch-5d8d7c9f8b', labels: { name: 'fluentd-elasticsearch', ...runLabel } },
        data: { spec: { template: { $patch: 'replace', metadata: { labels: { name: 'fluentd-elasticsearch' } }, spec: podSpec } } },
        revision: 1,
      }),
    },
    {
      plural: 'jobs', groupPath: '/apis/batch/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'batch/v1', kind: 'Job',
        metadata: { name: 'pi', labels: { app: 'pi', ...runLabel } },
        spec: { backoffLimit: 4, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'flotilla/busybox:1.35', command: ['sh', '-c', 'echo 3.14159'] }] } } },
      }),
    },
    {
      plural: 'cronjobs', groupPath: '/apis/batch/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'batch/v1', kind: 'CronJob',
        metadata: { name: 'hello', labels: { app: 'hello', ...runLabel } },
        spec: {
          schedule: '* * * * *',
          jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'hello', image: 'flotilla/busybox:1.35', command: ['sh', '-c', 'date; echo Hello'] }] } } } },
        },
      }),
    },
    {
      plural: 'services', groupPath: core, namespaced: true,
      manifest: () => ({
        apiVersion: 'v1', kind: 'Service',
        metadata: { name: 'my-service', labels: runLabel },
        spec: { selector: { 'app.kubernetes.io/name': 'MyApp' }, ports: [{ protocol: 'TCP', port: 80, targetPort: 9376 }] },
      }),
    },
    {
      plural: 'configmaps', groupPath: core, namespaced: true,
      manifest: () => ({
        apiVersion: 'v1', kind: 'ConfigMap',
        metadata: { name: 'game-demo', labels: runLabel },
        data: { player_initial_lives: '3', ui_properties_file_name: 'user-interface.properties', 'game.properties': 'enemy.types=aliens,monsters\nplayer.maximum-lives=5\n' },
      }),
    },
    {
      plural: 'secrets', groupPath: core, namespaced: true,
      manifest: () => ({
        apiVersion: 'v1', kind: 'Secret',
        metadata: { name: 'dotfile-secret', labels: runLabel },
        data: { '.secret-file': 'dmFsdWUtMg0KDQo=' },
      }),
    },
    {
      plural: 'endpoints', groupPath: core, namespaced: true,
      manifest: () => ({
        apiVersion: 'v1', kind: 'Endpoints',
        metadata: { name: 'my-service-manual', labels: runLabel },
        subsets: [{ addresses: [{ ip: '192.0.2.42' }], ports: [{ port: 9376 }] }],
      }),
    },
    {
      plural: 'endpointslices', groupPath: '/apis/discovery.k8s.io/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: 'example-abc', labels: { ...runLabel, 'kubernetes.io/service-name': 'example' } },
        addressType: 'IPv4',
        ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
        endpoints: [{ addresses: ['10.1.2.3'], conditions: { ready: true }, hostname: 'pod-1', nodeName: 'node-1', zone: 'us-west2-a' }],
      }),
    },
    {
      plural: 'ingresses', groupPath: '/apis/networking.k8s.io/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'networking.k8s.io/v1', kind: 'Ingress',
        metadata: { name: 'minimal-ingress', labels: runLabel, annotations: { 'nginx.ingress.kubernetes.io/rewrite-target': '/' } },
        spec: {
          ingressClassName: 'nginx-example',
          rules: [{ http: { paths: [{ path: '/testpath', pathType: 'Prefix', backend: { service: { name: 'test', port: { number: 80 } } } }] } }],
        },
      }),
    },
    {
      plural: 'ingressclasses', groupPath: '/apis/networking.k8s.io/v1', namespaced: false,
      manifest: () => ({
        apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass',
        metadata: { name: `external-lb-${run}`, labels: runLabel },
        spec: { controller: 'example.com/ingress-controller', parameters: { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'external-lb' } },
      }),
    },
    {
      plural: 'events', groupPath: core, namespaced: true,
      manifest: () => ({
        apiVersion: 'v1', kind: 'Event',
        metadata: { name: 'nginx.17a8f9c1d2e3b4a5', labels: runLabel },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: 'nginx' },
        reason: 'Scheduled', message: `Successfully assigned ${ns}/nginx to node-1`, type: 'Normal',
        source: { component: 'default-scheduler' }, count: 1,
        firstTimestamp: '2024-01-01T00:00:00Z', lastTimestamp: '2024-01-01T00:00:00Z',
      }),
    },
    {
      plural: 'leases', groupPath: '/apis/coordination.k8s.io/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: 'node-1', labels: runLabel },
        spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40, renewTime: '2024-01-01T00:00:00.000000Z' },
      }),
    },
    {
      plural: 'priorityclasses', groupPath: '/apis/scheduling.k8s.io/v1', namespaced: false,
      manifest: () => ({
        apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass',
        metadata: { name: `high-priority-${run}`, labels: runLabel },
        value: 1000000, globalDefault: false, description: 'This priority class should be used for XYZ service pods only.',
      }),
    },
    {
      plural: 'certificatesigningrequests', groupPath: '/apis/certificates.k8s.io/v1', namespaced: false,
      manifest: () => ({
        apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest',
        metadata: { name: `node-csr-${run}`, labels: runLabel },
        spec: {
          // Only the PEM framing is checked on create; the signer reads the request itself.
          request: Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nMIIBAA==\n-----END CERTIFICATE REQUEST-----\n').toString('base64'),
          signerName: 'example.com/e2e', usages: ['client auth'],
        },
      }),
    },
    {
      plural: 'poddisruptionbudgets', groupPath: '/apis/policy/v1', namespaced: true,
      manifest: () => ({
        apiVersion: 'policy/v1', kind: 'PodDisruptionBudget',
        metadata: { name: 'zk-pdb', labels: runLabel },
        spec: { minAvailable: 2, selector: { matchLabels: { app: 'zookeeper' } } },
      }),
    },
  ];
}
