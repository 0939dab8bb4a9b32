import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApiError, type KubeObject, type Pod } from '@flotilla/api';
import { createApiServer, DefaultAuthorizer, TokenAuthenticator, type ApiServer } from '@flotilla/apiserver';
import { ensureServingCerts } from '@flotilla/apiserver/tls';
import { createLogger } from '@flotilla/observability';
import { deleteEtcdPrefix, etcdEndpoints } from '@flotilla/e2e';
import { EtcdStorage } from '@flotilla/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Controller,
  Informer,
  loadKubeconfig,
  NetworkError,
  RestClient,
  type ApiClient,
  type ListOptions,
  type ResourceClient,
  type ResourceTarget,
  type WatchOptions,
} from '../src/index.js';
import { waitFor } from '../src/testing/index.js';

const endpoints = etcdEndpoints();
const prefix = `/client-it-${randomBytes(6).toString('hex')}`;
const ns = `it-${randomBytes(3).toString('hex')}`;
const token = randomBytes(24).toString('base64url');
let dir: string;
let storage: EtcdStorage;
let server: ApiServer;
let client: RestClient;
let kubeconfig: string;

const pod = (name: string, labels: Record<string, string> = {}): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: { containers: [{ name: 'c', image: 'flotilla/busybox:latest' }] },
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-client-it-'));
  const certs = await ensureServingCerts({ certDir: join(dir, 'certs'), hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
  storage = new EtcdStorage({ endpoints, prefix, logger: createLogger('store', { level: 'silent' }) });
  server = createApiServer({
    storage,
    authenticator: new TokenAuthenticator([{ token, user: { name: 'admin', uid: 'admin', groups: ['system:masters'] } }]),
    authorizer: new DefaultAuthorizer(),
    logger: createLogger('apiserver', { level: 'silent' }),
    https: { key: certs.key, cert: certs.cert },
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const port = (server.server.address() as AddressInfo).port;
  kubeconfig = join(dir, 'kubeconfig');
  await writeFile(join(dir, 'token'), `${token}\n`);
  // The CA by file (relative to the kubeconfig) and the token by tokenFile: the indirect forms.
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: it',
      'clusters:',
      `- name: c\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority: certs/ca.crt`,
      'users:',
      '- name: u\n  user:\n    tokenFile: token',
      'contexts:',
      `- name: it\n  context:\n    cluster: c\n    user: u\n    namespace: ${ns}`,
    ].join('\n'),
  );
  client = RestClient.fromKubeconfig(kubeconfig);
  await client.resource('namespaces').create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

afterAll(async () => {
  await client?.close();
  await server?.close();
  await storage?.close();
  await deleteEtcdPrefix(endpoints, prefix);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('RestClient against the real apiserver over HTTPS', () => {
  it('reads the kubeconfig with relative CA file and tokenFile', () => {
    const cfg = loadKubeconfig(kubeconfig);
    expect(cfg.ca).toContain('BEGIN CERTIFICATE');
    expect(cfg.token).toBe(token);
    expect(cfg.namespace).toBe(ns);
  });

  it('creates, gets, lists with selectors and pages, updates with CAS, patches, deletes', async () => {
    const pods = client.resource<Pod>('pods');
    const a = await pods.create(pod('a', { app: 'web' }));
    await pods.create(pod('b', { app: 'db' }));
    await pods.create(pod('c', { app: 'web' }));
    expect(a.metadata.uid).toBeTruthy();
    expect((await pods.get(ns, 'a')).metadata.resourceVersion).toBe(a.metadata.resourceVersion);

    const web = await pods.list(ns, { labelSelector: 'app=web' });
    expect(web.items.map((p) => p.metadata.name).sort()).toEqual(['a', 'c']);
    const page1 = await pods.list(ns, { limit: 2 });
    expect(page1.items).toHaveLength(2);
    expect(page1.metadata.continue).toBeTruthy();
    const page2 = await pods.list(ns, { limit: 2, continue: page1.metadata.continue });
    expect([...page1.items, ...page2.items].map((p) => p.metadata.name)).toEqual(['a', 'b', 'c']);

    const updated = await pods.update({ ...a, metadata: { ...a.metadata, labels: { app: 'web', v: '2' } } });
    expect(updated.metadata.labels?.v).toBe('2');
    const stale = pods.update({ ...a, metadata: { ...a.metadata, labels: { app: 'stale' } } });
    await expect(stale).rejects.toSatisfy((e: unknown) => e instanceof ApiError && e.code === 409 && e.reason === 'Conflict');

    const patched = await pods.patch(ns, 'b', { metadata: { labels: { patched: 'yes' } } }, 'merge');
    expect(patched.metadata.labels).toEqual({ app: 'db', patched: 'yes' });

    await client.bind(ns, 'b', 'node-1');
    expect((await pods.get(ns, 'b')).spec?.nodeName).toBe('node-1');

    await pods.delete(ns, 'c', { gracePeriodSeconds: 0 });
    await waitFor(async () => pods.get(ns, 'c').then(() => false, (e: unknown) => e instanceof ApiError && e.code === 404));
  });

  it('turns error Status bodies into ApiErrors with their reason and causes', async () => {
    const pods = client.resource<Pod>('pods');
    const notFound = await pods.get(ns, 'nope').catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(ApiError);
    expect((notFound as ApiError).reason).toBe('NotFound');
    const invalid = await pods.create({ ...pod('Bad_Name'), spec: { containers: [] } }).catch((e: unknown) => e);
    expect((invalid as ApiError).code).toBe(422);
    expect((invalid as ApiError).status.details?.causes?.length).toBeGreaterThan(0);
    const noAuth = new RestClient({ ...loadKubeconfig(kubeconfig), token: 'wrong' });
    await expect(noAuth.resource('pods').list(ns)).rejects.toSatisfy((e: unknown) => e instanceof ApiError && e.code === 401);
    await noAuth.close();
    const untrusted = new RestClient({ server: client.server });
    await expect(untrusted.resource('pods').list(ns)).rejects.toBeInstanceOf(NetworkError);
    await untrusted.close();
  });

  it('runs an informer and a controller over list+watch, resuming after the connection drops', async () => {
    // Count list and watch calls; the server ends each watch after 1 s, so the informer must resume.
    const calls = { list: 0, watch: 0 };
    const counting: ApiClient = {
      bind: (...a) => client.bind(...a),
      resource<T extends KubeObject>(t: ResourceTarget) {
        const rc = client.resource<T>(t);
        return {
          ...Object.fromEntries((['get', 'create', 'update', 'updateStatus', 'patch', 'patchStatus', 'delete', 'getScale', 'updateScale'] as const).map((m) => [m, rc[m].bind(rc)])),
          resource: rc.resource,
          list: (n?: string, o?: ListOptions) => (calls.list++, rc.list(n, o)),
          watch: (n?: string, o?: WatchOptions) => (calls.watch++, rc.watch(n, o)),
        } as ResourceClient<T>;
      },
    };
    const inf = new Informer<Pod>(counting, 'pods', { namespace: ns, labelSelector: 'group=inf', pageSize: 2, watchTimeoutSeconds: 1 });
    const seen = new Set<string>();
    const ctrl = new Controller({
      name: 'it',
      informers: [inf],
      reconcile: async (key) => {
        seen.add(key);
      },
    });
    inf.addEventHandler({ onAdd: (o) => ctrl.enqueue(o), onUpdate: (_o, n) => ctrl.enqueue(n), onDelete: (o) => ctrl.enqueue(o) });
    const pods = client.resource<Pod>('pods');
    for (const n of ['i1', 'i2', 'i3']) await pods.create(pod(n, { group: 'inf' }));
    const ac = new AbortController();
    inf.start(ac.signal);
    const running = ctrl.run(ac.signal);
    await waitFor(() => seen.size === 3, { timeoutMs: 10_000 });
    expect(inf.store.keys().sort()).toEqual([`${ns}/i1`, `${ns}/i2`, `${ns}/i3`]);

    await waitFor(() => calls.watch >= 2, { timeoutMs: 10_000, what: 'the watch to be resumed' });
    await pods.create(pod('i4', { group: 'inf' }));
    await waitFor(() => inf.store.get(`${ns}/i4`), { timeoutMs: 10_000 });
    await pods.delete(ns, 'i1', { gracePeriodSeconds: 0 });
    await waitFor(() => !inf.store.get(`${ns}/i1`), { timeoutMs: 10_000, what: 'i1 to leave the cache' });
    expect(calls.list).toBe(2); // two pages of the one initial list: resuming never relisted
    ac.abort();
    await running;
  });

  it("an informer's objects come without managedFields (from the list and the watch) unless it asks for them; an update from the cache keeps the stored ones", async () => {
    const pods = client.resource<Pod>('pods');
    await pods.create(pod('mf1', { group: 'mf' }));
    const lean = new Informer<Pod>(client, 'pods', { namespace: ns, labelSelector: 'group=mf' });
    const full = new Informer<Pod>(client, 'pods', { namespace: ns, labelSelector: 'group=mf', managedFields: true });
    const ac = new AbortController();
    lean.start(ac.signal);
    full.start(ac.signal);
    try {
      await waitFor(() => lean.store.get(`${ns}/mf1`) && full.store.get(`${ns}/mf1`), { timeoutMs: 10_000, what: 'mf1 listed' });
      await pods.create(pod('mf2', { group: 'mf' }));
      await waitFor(() => lean.store.get(`${ns}/mf2`) && full.store.get(`${ns}/mf2`), { timeoutMs: 10_000, what: 'mf2 watched' });
      const stored = await pods.get(ns, 'mf2');
      expect(stored.metadata.managedFields?.length).toBeGreaterThan(0);
      for (const name of ['mf1', 'mf2']) {
        expect(lean.store.get(`${ns}/${name}`)!.metadata.managedFields).toBeUndefined();
        expect(full.store.get(`${ns}/${name}`)!.metadata.managedFields?.length).toBeGreaterThan(0);
      }
      // Everything else is what the apiserver stored.
      const { managedFields: _, ...rest } = stored.metadata;
      expect(lean.store.get(`${ns}/mf2`)!.metadata).toEqual(rest);
      // A controller's update of its cached copy (no managedFields in the body) keeps the stored entries, and adds its own.
      const cached = lean.store.get(`${ns}/mf2`)!;
      const updated = await pods.update({ ...cached, metadata: { ...cached.metadata, labels: { ...cached.metadata.labels, touched: 'yes' } } });
      // (Reset, they would hold only this update's own field, the new label.)
      expect(JSON.stringify(updated.metadata.managedFields)).toContain('"f:containers"');
      await waitFor(() => lean.store.get(`${ns}/mf2`)?.metadata.labels?.touched === 'yes', { timeoutMs: 10_000, what: 'the update watched' });
      expect(lean.store.get(`${ns}/mf2`)!.metadata.managedFields).toBeUndefined();
    } finally {
      ac.abort();
    }
  });

  it('serves 64 concurrent requests without serialising them on a few sockets', async () => {
    const pods = client.resource<Pod>('pods');
    const t0 = performance.now();
    const lists = await Promise.all(Array.from({ length: 64 }, () => pods.list(ns, { limit: 1 })));
    const ms = performance.now() - t0;
    expect(lists.every((l) => l.items.length === 1)).toBe(true);
    console.log(`64 concurrent lists: ${ms.toFixed(0)} ms`);
  });
});
