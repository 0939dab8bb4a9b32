/** The control plane against the in-memory FakeApiClient: snapshots, status writes and Events. */
import { afterEach, describe, expect, it } from 'vitest';
import type { EndpointSlice, Ingress, IngressClass, KubeObject, Service } from '@flotilla/api';
import { FakeApiClient, stopWithRequestsInFlight, unansweredResource, waitFor, type Unanswered } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { IngressController } from './ingress-controller.js';
import { IngressMetrics } from './metrics.js';
import type { Snapshot } from './proxy-server.js';

const cls: IngressClass = { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'flotilla' }, spec: { controller: 'flotilla.dev/ingress' } };
const svc: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } } as Service;
const slice = (ready: boolean[]): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: { name: 'web-abc', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: ready.map((r, i) => ({ addresses: [`10.244.1.${i + 1}`], conditions: { ready: r } })),
});
const ing = (name: string, className: string, service: string, port: { number?: number; name?: string } = { number: 80 }): Ingress => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'default' },
  spec: { ingressClassName: className, rules: [{ host: `${name}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port } } }] } }] },
});

const aborts: AbortController[] = [];
afterEach(() => aborts.splice(0).forEach((a) => a.abort()));

function start(client: FakeApiClient) {
  const events: Array<{ obj: KubeObject; reason: string; message: string }> = [];
  let snap: Snapshot | undefined;
  const c = new IngressController({
    client, className: 'flotilla', controllerName: 'flotilla.dev/ingress', publishAddress: '10.250.0.1',
    logger: createLogger('test', { level: 'silent' }), metrics: new IngressMetrics(),
    events: { event: (obj, _t, reason, message) => events.push({ obj, reason, message }) },
    onSnapshot: (s) => (snap = s),
  });
  const ac = new AbortController();
  aborts.push(ac);
  void c.run(ac.signal);
  return { events, snapshot: () => snap };
}

describe('IngressController', () => {
  it('resolves backends to ready EndpointSlice endpoints and follows changes', async () => {
    const client = new FakeApiClient({ objects: [cls, svc, slice([true, false, true]), ing('web', 'flotilla', 'web', { name: 'http' })] });
    const { snapshot } = start(client);
    const state = async () => (await waitFor(() => snapshot()?.backends.get('default/web:http')?.state));
    await waitFor(async () => ((await state()).ok ? true : undefined));
    expect(await state()).toMatchObject({ ok: true, addresses: ['10.244.1.1:8080', '10.244.1.3:8080'] });
    await client.resource<EndpointSlice>({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }).update(slice([false, false, false]));
    await waitFor(async () => ((await state()).ok === false ? true : undefined));
    expect(await state()).toMatchObject({ ok: false, reason: 'NoEndpoints', message: 'service default/web has no ready endpoints' });
  });

  it('writes status only on our Ingresses, records Events for a missing Service or port', async () => {
    const client = new FakeApiClient({ objects: [cls, svc, slice([true]), ing('ours', 'flotilla', 'web'), ing('theirs', 'nginx', 'web'), ing('gone', 'flotilla', 'nope'), ing('noport', 'flotilla', 'web', { number: 81 })] });
    const { events } = start(client);
    await waitFor(() => (client.actionsOf('patch', 'ingresses').length >= 3 ? true : undefined));
    const patched = client.actionsOf('patch', 'ingresses').map((a) => [a.name, a.subresource, a.object]);
    expect(patched.map((p) => p[0]).sort()).toEqual(['gone', 'noport', 'ours']);
    expect(patched[0]![1]).toBe('status');
    expect(patched[0]![2]).toEqual({ status: { loadBalancer: { ingress: [{ ip: '10.250.0.1' }] } } });
    await waitFor(() => (events.length >= 2 ? true : undefined));
    expect(events.map((e) => [e.obj.metadata.name, e.reason]).sort()).toEqual([['gone', 'ServiceNotFound'], ['noport', 'PortNotFound']]);
    expect(events.find((e) => e.reason === 'ServiceNotFound')!.message).toContain('service default/nope not found');
  });
});

describe('IngressController stopping', () => {
  it('gives up a status write that never answers a second after the stop, instead of waiting on it', async () => {
    const fake = new FakeApiClient({ objects: [cls, svc, slice([true]), ing('a', 'flotilla', 'web')] });
    // An apiserver that stopped answering, for the Ingress status writes.
    const hung: Unanswered = { calls: 0, givenUp: 0 };
    const client = unansweredResource(fake, 'ingresses', ['patchStatus'], hung);
    const c = new IngressController({
      client, className: 'flotilla', controllerName: 'flotilla.dev/ingress', publishAddress: '10.250.0.1',
      logger: createLogger('test', { level: 'silent' }), metrics: new IngressMetrics(), events: { event: () => undefined }, onSnapshot: () => undefined,
    });
    // Without the stop's signal on the status writes, this never returns.
    await stopWithRequestsInFlight(hung, (signal) => c.run(signal));
    expect(hung.givenUp).toBe(hung.calls);
  });
});
