/**
 * Endpoints: for every Service with a selector, an Endpoints object of the
 * same name listing the pods it selects: ready ones under `addresses`, the
 * others under `notReadyAddresses`, with the ports resolved from each
 * service port's `targetPort` (a number, or a container port name looked up
 * in each pod, so pods with different numbers land in different subsets).
 * Pods without an IP, terminating or finished are left out. The object is
 * written only when it changes and deleted when the Service goes; Services
 * without a selector are the user's to fill and are left alone.
 */
import {
  canonicalJson,
  deepCopy,
  isPodReady,
  isPodTerminal,
  isReason,
  splitKey,
  type EndpointAddress,
  type EndpointPort,
  type Endpoints,
  type EndpointSubset,
  type Pod,
  type Service,
} from '@flotilla/api';
import { Controller, type Informer, type Logger, type ResourceClient } from '@flotilla/client';
import type { ControllerDeps } from '../context.js';
import { podAddressChanged, resolveTargetPort, ServicePodsQueue } from '../service-pods.js';

/** Keeps an Endpoints object per selector Service in step with the pods it selects. */
export class EndpointsController {
  /** The work queue and workers (key: the Service's namespace/name). */
  readonly controller: Controller;
  private readonly queue: ServicePodsQueue;
  private readonly endpoints: Informer<Endpoints>;
  private readonly api: ResourceClient<Endpoints>;
  private readonly log: Logger;

  constructor(deps: ControllerDeps) {
    this.log = deps.logger;
    this.endpoints = deps.informers.informer<Endpoints>('endpoints');
    this.api = deps.client.resource<Endpoints>('endpoints');
    this.queue = new ServicePodsQueue(deps, { name: 'endpoints', reconcile: (key) => this.sync(key), output: this.endpoints, podChanged: podAddressChanged });
    this.controller = this.queue.controller;
    // Someone else changed or deleted our object: put it back.
    this.endpoints.addEventHandler({
      onUpdate: (_o, e) => this.controller.enqueue(e),
      onDelete: (e) => this.controller.enqueue(e),
    });
  }

  /** Runs the workers until `signal` aborts (informers must be started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.queue.run(signal);
  }

  /** One Service: compute its Endpoints and write them if they differ. */
  async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const svc = this.queue.services.store.get(key);
    if (!svc) {
      await this.deleteEndpoints(namespace!, name);
      return;
    }
    const pods = this.queue.selectedPods(svc);
    if (!pods) return;
    const subsets = computeSubsets(svc, pods);
    const labels = { ...(svc.metadata.labels ?? {}) };

    const existing = this.endpoints.store.get(key);
    if (existing) {
      const same = canonicalJson(existing.subsets ?? []) === canonicalJson(subsets) && canonicalJson(existing.metadata.labels ?? {}) === canonicalJson(labels);
      if (same) return;
      const next = deepCopy(existing) as Endpoints;
      next.metadata.labels = labels;
      next.subsets = subsets;
      await this.api.update(next);
      this.log.debug({ service: key, subsets: subsets.length }, 'endpoints updated');
      return;
    }
    // AlreadyExists means our cache lags: the retry finds it there and updates it.
    await this.api.create({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name, namespace, labels }, subsets });
    this.log.debug({ service: key, subsets: subsets.length }, 'endpoints created');
  }

  private async deleteEndpoints(namespace: string, name: string): Promise<void> {
    try {
      await this.api.delete(namespace, name);
      this.log.debug({ service: `${namespace}/${name}` }, 'endpoints deleted with their service');
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
  }
}

/**
 * The subsets of a service over the pods it selects: one subset per
 * distinct set of resolved ports, addresses sorted by IP so that equal
 * inputs always give equal output.
 */
export function computeSubsets(svc: Service, pods: readonly Pod[]): EndpointSubset[] {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  const svcPorts = svc.spec?.ports ?? [];
  for (const pod of pods) {
    const ip = pod.status?.podIP;
    if (!ip || pod.metadata.deletionTimestamp || isPodTerminal(pod)) continue;
    const ports: EndpointPort[] = [];
    for (const sp of svcPorts) {
      const port = resolveTargetPort(pod, sp.targetPort, sp.port);
      if (port === undefined) continue;
      const ep: EndpointPort = { port, protocol: sp.protocol ?? 'TCP' };
      if (sp.name) ep.name = sp.name;
      if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
      ports.push(ep);
    }
    // A service with ports none of which this pod has gets no address for it.
    if (svcPorts.length > 0 && ports.length === 0) continue;
    ports.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port);
    const groupKey = canonicalJson(ports);
    let g = groups.get(groupKey);
    if (!g) {
      g = { ports, ready: [], notReady: [] };
      groups.set(groupKey, g);
    }
    const addr: EndpointAddress = {
      ip,
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    };
    if (pod.spec?.nodeName) addr.nodeName = pod.spec.nodeName;
    if (pod.spec?.hostname) addr.hostname = pod.spec.hostname;
    if (publishNotReady || isPodReady(pod)) g.ready.push(addr);
    else g.notReady.push(addr);
  }
  const byIp = (a: EndpointAddress, b: EndpointAddress) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : (a.targetRef?.name ?? '').localeCompare(b.targetRef?.name ?? ''));
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, g]) => {
      const s: EndpointSubset = {};
      if (g.ready.length) s.addresses = g.ready.sort(byIp);
      if (g.notReady.length) s.notReadyAddresses = g.notReady.sort(byIp);
      if (g.ports.length) s.ports = g.ports;
      return s;
    });
}
