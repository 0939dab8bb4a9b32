/**
 * EndpointSlice mirroring, as Kubernetes' endpointslicemirroring controller:
 * a Service without a selector whose Endpoints someone else writes (a user,
 * or the apiserver for the `kubernetes` Service) gets EndpointSlices that
 * mirror those Endpoints, so that consumers reading only slices (the
 * proxies, kubectl) see them. Slices are labelled
 * `endpointslice.kubernetes.io/managed-by: endpointslicemirroring-controller.k8s.io`
 * and owned by the Endpoints; `addresses` are ready, `notReadyAddresses`
 * are not. Endpoints labelled `endpointslice.kubernetes.io/skip-mirror: "true"`,
 * and those of Services with a selector (the EndpointSlice controller's),
 * are not mirrored.
 */
import {
  canonicalJson,
  MANAGED_BY_LABEL,
  SERVICE_NAME_LABEL,
  splitKey,
  type Endpoint,
  type EndpointSlice,
  type EndpointSlicePort,
  type Endpoints,
  type Service,
} from '@flotilla/api';
import { Controller, type Informer, type Logger } from '@flotilla/client';
import type { ControllerDeps } from '../context.js';
import { planSlices, type EndpointGroup } from './endpointslice-controller.js';
import { ManagedSlices } from './managed-slices.js';

/** The managed-by value of mirrored slices, as in Kubernetes. */
export const ENDPOINTSLICE_MIRRORING_CONTROLLER_NAME = 'endpointslicemirroring-controller.k8s.io';
/** Label that turns mirroring off for one Endpoints object. */
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';

/** Mirrors the Endpoints of selector-less Services into EndpointSlices. */
export class EndpointSliceMirroringController {
  readonly controller: Controller;
  private readonly services: Informer<Service>;
  private readonly endpoints: Informer<Endpoints>;
  private readonly managed: ManagedSlices;
  private readonly log: Logger;

  constructor(deps: ControllerDeps & { maxEndpointsPerSlice?: number }) {
    this.log = deps.logger;
    this.services = deps.informers.informer<Service>('services');
    this.endpoints = deps.informers.informer<Endpoints>('endpoints');
    const slices = deps.informers.informer<EndpointSlice>('endpointslices');
    this.managed = new ManagedSlices(slices, deps.client.resource<EndpointSlice>('endpointslices'), ENDPOINTSLICE_MIRRORING_CONTROLLER_NAME);
    const max = Math.max(1, deps.maxEndpointsPerSlice ?? 100);
    const reconcile = (key: string) => this.sync(key, max);
    this.controller = new Controller({
      name: 'endpointslice-mirroring',
      reconcile: deps.metrics ? deps.metrics.instrument('endpointslice-mirroring', reconcile) : reconcile,
      informers: [this.services, this.endpoints, slices],
      workers: deps.workers ?? 1,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue('endpointslice-mirroring', this.controller.queue);
    const enqueue = (o: Service | Endpoints) => this.controller.enqueue(o);
    this.services.addEventHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n), onDelete: enqueue });
    this.endpoints.addEventHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n), onDelete: enqueue });
    this.managed.requeueOnChange(this.controller);
  }

  /** Runs until `signal` aborts (informers started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** One Service/Endpoints pair (same namespace/name). */
  async sync(key: string, maxPerSlice = 100): Promise<void> {
    const existing = this.managed.of(key);
    const svc = this.services.store.get(key);
    const ep = this.endpoints.store.get(key);
    const hasSelector = !!svc?.spec?.selector && Object.keys(svc.spec.selector).length > 0;
    if (!svc || !ep || hasSelector || ep.metadata.labels?.[SKIP_MIRROR_LABEL] === 'true') {
      for (const s of existing) await this.managed.delete(s);
      return;
    }
    const groups = mirroredGroups(ep);
    const labels: Record<string, string> = { ...(ep.metadata.labels ?? {}), [SERVICE_NAME_LABEL]: splitKey(key).name, [MANAGED_BY_LABEL]: ENDPOINTSLICE_MIRRORING_CONTROLLER_NAME };
    const ownerReferences = [{ apiVersion: 'v1', kind: 'Endpoints', name: ep.metadata.name!, uid: ep.metadata.uid!, controller: true, blockOwnerDeletion: true }];
    const plan = planSlices(svc, groups, existing, maxPerSlice, { labels, ownerReferences });
    if (await this.managed.apply(plan)) this.log.debug({ service: key, created: plan.create.length, updated: plan.update.length, deleted: plan.delete.length }, 'endpoints mirrored');
  }
}

/** The endpoint groups (one per subset's port list) of an Endpoints object; IPv4 only. */
export function mirroredGroups(ep: Endpoints): Map<string, EndpointGroup> {
  const groups = new Map<string, EndpointGroup>();
  for (const subset of ep.subsets ?? []) {
    const ports: EndpointSlicePort[] = (subset.ports ?? [])
      .map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port);
    const key = canonicalJson(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    for (const [list, ready] of [[subset.addresses ?? [], true], [subset.notReadyAddresses ?? [], false]] as const) {
      for (const a of list) {
        if (!a.ip || a.ip.includes(':')) continue;
        const e: Endpoint = { addresses: [a.ip], conditions: { ready, serving: ready, terminating: false } };
        if (a.hostname) e.hostname = a.hostname;
        if (a.nodeName) e.nodeName = a.nodeName;
        if (a.targetRef) e.targetRef = a.targetRef;
        g.endpoints.push(e);
      }
    }
  }
  for (const [k, g] of groups) if (g.endpoints.length === 0) groups.delete(k);
  return groups;
}
