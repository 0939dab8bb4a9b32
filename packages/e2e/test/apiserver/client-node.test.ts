import { ApiException, CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRequest, startApiServer, waitFor, type TestApiServer } from '../../src/index.js';

// The official JavaScript client, unmodified, driven by the kubeconfig the
// harness writes (server, embedded CA, bearer token): what a user's own
// tooling would do against Flotilla.

const ns = 'e2e-client-node';
const pod = (name: string): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels: { app: 'client-node' } },
  spec: { containers: [{ name: 'main', image: 'flotilla/busybox:1', command: ['sleep', '3600'] }] },
});

describe('@kubernetes/client-node against flotilla apiserver', () => {
  let server: TestApiServer;
  let kc: KubeConfig;
  let core: CoreV1Api;

  beforeAll(async () => {
    server = await startApiServer();
    const res = await apiRequest(server.endpoint(), 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(res.status, res.text).toBe(201);
    kc = new KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('creates and lists pods', async () => {
    const created = await core.createNamespacedPod({ namespace: ns, body: pod('listed') });
    expect(created.metadata?.name).toBe('listed');
    expect(created.metadata?.uid).toBeTruthy();
    const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=client-node' });
    expect(list.items.map((p) => p.metadata?.name)).toContain('listed');
    expect(list.metadata?.resourceVersion).toBeTruthy();
  });

  it('surfaces a missing pod as an ApiException with code 404', async () => {
    const err = await core.readNamespacedPod({ namespace: ns, name: 'no-such-pod' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(404);
  });

  it('watches pods: ADDED then DELETED', async () => {
    const list = await core.listNamespacedPod({ namespace: ns });
    const seen: Array<[string, string | undefined]> = [];
    let doneErr: unknown = 'open';
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/pods`,
      { resourceVersion: list.metadata?.resourceVersion },
      (phase, obj: V1Pod) => seen.push([phase, obj.metadata?.name]),
      (err) => {
        doneErr = err;
      },
    );
    try {
      await core.createNamespacedPod({ namespace: ns, body: pod('watched') });
      await core.deleteNamespacedPod({ namespace: ns, name: 'watched', gracePeriodSeconds: 0 });
      await waitFor(() => seen.length >= 2, { timeout: 10_000, message: 'ADDED and DELETED of pod watched' });
      expect(seen).toEqual([
        ['ADDED', 'watched'],
        ['DELETED', 'watched'],
      ]);
      expect(doneErr).toBe('open');
    } finally {
      controller.abort();
    }
  });
});
