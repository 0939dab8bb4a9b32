/**
 * EndpointSlices: for every Service with a selector, discovery.k8s.io/v1
 * EndpointSlices (labelled with the Service's name and this controller as
 * manager, owned by the Service) listing the pods it selects, with the
 * `ready` / `serving` / `terminating` conditions the proxies route by.
 * Named target ports are resolved per pod, so pods that give one name
 * different numbers land in different slices; a slice holds at most
 * `maxEndpointsPerSlice` endpoints. The plan keeps endpoints in the slice
 * they are already in (so one pod changing rewrites one slice, and the
 * proxies resync one slice), fills free room before creating slices, and
 * deletes slices left empty. Nothing is written when nothing changed.
 * Services without a selector are the user's: their slices are not touched.
 */
import {
  canonicalJson,
  deepCopy,
  ENDPOINTSLICE_CONTROLLER_NAME,
  isPodReady,
  isPodTerminal,
  MANAGED_BY_LABEL,
  SERVICE_NAME_LABEL,
  type Endpoint,
  type EndpointSlice,
  type EndpointSlicePort,
  type OwnerReference,
  type Pod,
  type Service,
} from '@flotilla/api';
import type { Controller, EventRecorder, Logger } from '@flotilla/client';
import type { ControllerDeps } from '../context.js';
import { podAddressChanged, resolveTargetPort, ServicePodsQueue } from '../service-pods.js';
import { ManagedSlices } from './managed-slices.js';

/** Default maximum endpoints per slice (Kubernetes' `--max-endpoints-per-slice`). */
export const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;
/** Label Kubernetes puts on the slices of a headless Service. */
const HEADLESS_LABEL = 'service.kubernetes.io/headless';

/** Options of the EndpointSlice controller. */
export interface EndpointSliceControllerOptions extends ControllerDeps {
  /** Endpoints per slice before a new slice is started. Default 100. */
  maxEndpointsPerSlice?: number;
}

/** Keeps the EndpointSlices of every selector Service in step with the pods it selects. */
export class EndpointSliceController {
  /** The work queue and workers (key: the Service's namespace/name). */
  readonly controller: Controller;
  private readonly queue: ServicePodsQueue;
  private readonly managed: ManagedSlices;
  private readonly recorder: EventRecorder;
  private readonly log: Logger;
  private readonly maxPerSlice: number;

  constructor(deps: EndpointSliceControllerOptions) {
    this.log = deps.logger;
    this.recorder = deps.recorder;
    this.maxPerSlice = Math.max(1, deps.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE);
    const slices = deps.informers.informer<EndpointSlice>('endpointslices');
    this.managed = new ManagedSlices(slices, deps.client.resource<EndpointSlice>('endpointslices'), ENDPOINTSLICE_CONTROLLER_NAME);
    this.queue = new ServicePodsQueue(deps, {
      name: 'endpointslice',
      reconcile: (key) => this.sync(key),
      output: slices,
      podChanged: (o, p) => podAddressChanged(o, p) || o.spec?.subdomain !== p.spec?.subdomain,
    });
    this.controller = this.queue.controller;
    // Someone else changed or deleted one of our slices: put it right.
    this.managed.requeueOnChange(this.controller);
  }

  /** Runs the workers until `signal` aborts (informers must be started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.queue.run(signal);
  }

  /** One Service: plan its slices against the cached ones and apply the difference. */
  async sync(key: string): Promise<void> {
    const existing = this.managed.of(key);
    const svc = this.queue.services.store.get(key);
    const pods = svc && this.queue.selectedPods(svc);
    if (!svc || !pods) {
      // Service gone (the garbage collector would get there too, later), or
      // its selector removed: our slices go; the user's are left alone.
      for (const s of existing) await this.managed.delete(s);
      return;
    }
    const { groups, unresolved } = desiredEndpoints(svc, pods);
    if (unresolved.length > 0) {
      this.recorder.event(svc, 'Warning', 'FailedToResolvePort', `targetPort ${unresolved.map((u) => `"${u.port}"`).join(', ')} is declared by no container of pod(s) ${[...new Set(unresolved.map((u) => u.pod))].slice(0, 5).join(', ')}`);
    }
    const plan = planSlices(svc, groups, existing, this.maxPerSlice);
    if (await this.managed.apply(plan)) {
      this.log.debug({ service: key, created: plan.create.length, updated: plan.update.length, deleted: plan.delete.length }, 'endpointslices synced');
    }
  }
}

/** Endpoints that share one resolved port list. */
export interface EndpointGroup {
  ports: EndpointSlicePort[];
  endpoints: Endpoint[];
}

/**
 * The endpoints a Service should have, grouped by resolved port list (key:
 * canonical JSON of the ports). Pods without an IP or finished are left
 * out; terminating pods stay, marked `terminating`, so proxies can fall
 * back to them. Conditions follow Kubernetes: serving = Ready (or
 * publishNotReadyAddresses), ready = serving and not terminating (or
 * publishNotReadyAddresses).
 */
export function desiredEndpoints(svc: Service, pods: readonly Pod[]): { groups: Map<string, EndpointGroup>; unresolved: Array<{ pod: string; port: string }> } {
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  const groups = new Map<string, EndpointGroup>();
  const unresolved: Array<{ pod: string; port: string }> = [];
  for (const pod of pods) {
    const ip = pod.status?.podIP;
    if (!ip || isPodTerminal(pod) || ip.includes(':')) continue;
    const ports: EndpointSlicePort[] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const port = resolveTargetPort(pod, sp.targetPort, sp.port);
      if (port === undefined) {
        unresolved.push({ pod: pod.metadata.name!, port: String(sp.targetPort) });
        continue;
      }
      const p: EndpointSlicePort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
      if (sp.appProtocol) p.appProtocol = sp.appProtocol;
      ports.push(p);
    }
    ports.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || (a.port ?? 0) - (b.port ?? 0));
    const serving = publishNotReady || isPodReady(pod);
    const terminating = !!pod.metadata.deletionTimestamp;
    const ep: Endpoint = {
      addresses: [ip],
      conditions: { ready: publishNotReady || (serving && !terminating), serving, terminating },
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    };
    if (pod.spec?.hostname && pod.spec.subdomain === svc.metadata.name && pod.metadata.namespace === svc.metadata.namespace) ep.hostname = pod.spec.hostname;
    if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
    const key = canonicalJson(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    g.endpoints.push(ep);
  }
  return { groups, unresolved };
}

/** Labels and owner of planned slices when they are not the EndpointSlice controller's own (the mirroring controller's). */
export interface SliceMeta {
  labels: Record<string, string>;
  ownerReferences: OwnerReference[];
}

/** What to write to bring a Service's slices to the desired endpoints. */
export interface SlicePlan {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
}

/** An endpoint's identity across syncs: its pod (or its address when it has no targetRef). */
function endpointId(ep: Endpoint): string {
  return ep.targetRef?.uid || ep.targetRef?.name || ep.addresses[0] || '';
}

const byAddress = (a: Endpoint, b: Endpoint) => {
  const x = a.addresses[0] ?? '';
  const y = b.addresses[0] ?? '';
  return x < y ? -1 : x > y ? 1 : endpointId(a).localeCompare(endpointId(b));
};

/**
 * Plans the slices of one Service. Pure: `existing` are the managed slices
 * now (from the cache, never mutated). Endpoints stay in the slice that
 * holds them; new ones fill the slices of their port list that have room,
 * then new slices; slices left empty are deleted, except that a Service
 * with no endpoints at all keeps one empty slice (as Kubernetes does, so
 * consumers can tell "no endpoints" from "not synced").
 */
export function planSlices(svc: Service, groups: Map<string, EndpointGroup>, existing: readonly EndpointSlice[], maxPerSlice: number, meta?: SliceMeta): SlicePlan {
  const plan: SlicePlan = { create: [], update: [], delete: [] };
  const labels = meta?.labels ?? sliceLabels(svc);
  const owner = meta?.ownerReferences ?? ownerOf(svc);
  const sortedExisting = [...existing].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  const byPorts = new Map<string, EndpointSlice[]>();
  for (const s of sortedExisting) {
    const key = canonicalJson(sortPorts(s.ports ?? []));
    if (!groups.has(key) || s.addressType !== 'IPv4') {
      plan.delete.push(s);
      continue;
    }
    let l = byPorts.get(key);
    if (!l) byPorts.set(key, (l = []));
    l.push(s);
  }
  for (const [key, group] of groups) {
    const want = new Map(group.endpoints.map((e) => [endpointId(e), e]));
    const slices = byPorts.get(key) ?? [];
    // Keep each still-wanted endpoint where it is (refreshed), drop the rest.
    const kept = slices.map((s) => {
      const eps: Endpoint[] = [];
      for (const e of s.endpoints ?? []) {
        const id = endpointId(e);
        const w = want.get(id);
        if (w && eps.length < maxPerSlice) {
          eps.push(w);
          want.delete(id);
        }
      }
      return { slice: s, endpoints: eps };
    });
    const fresh = [...want.values()].sort(byAddress);
    for (const k of kept) while (fresh.length > 0 && k.endpoints.length < maxPerSlice) k.endpoints.push(fresh.shift()!);
    for (const k of kept) {
      if (k.endpoints.length === 0) {
        plan.delete.push(k.slice);
        continue;
      }
      const next = buildSlice(svc, labels, owner, group.ports, k.endpoints.sort(byAddress));
      if (sliceDiffers(k.slice, next)) {
        const upd = deepCopy(k.slice) as EndpointSlice;
        upd.metadata.labels = next.metadata.labels;
        upd.metadata.ownerReferences = next.metadata.ownerReferences;
        upd.endpoints = next.endpoints;
        upd.ports = next.ports;
        plan.update.push(upd);
      }
    }
    while (fresh.length > 0) plan.create.push(buildSlice(svc, labels, owner, group.ports, fresh.splice(0, maxPerSlice)));
  }
  // No endpoints at all: keep (or make) one empty slice.
  const remaining = existing.length - plan.delete.length + plan.create.length;
  if (groups.size === 0 && remaining === 0) {
    const empty = buildSlice(svc, labels, owner, [], []);
    const reuse = plan.delete.shift();
    if (reuse) {
      if (sliceDiffers(reuse, empty)) plan.update.push({ ...deepCopy(reuse), metadata: { ...deepCopy(reuse.metadata), labels: empty.metadata.labels, ownerReferences: empty.metadata.ownerReferences }, endpoints: [], ports: [] });
    } else plan.create.push(empty);
  }
  return plan;
}

function sortPorts(ports: EndpointSlicePort[]): EndpointSlicePort[] {
  return [...ports]
    .map((p) => ({ ...p, name: p.name ?? '', protocol: p.protocol ?? 'TCP' }))
    .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || (a.port ?? 0) - (b.port ?? 0));
}

function sliceLabels(svc: Service): Record<string, string> {
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  labels[SERVICE_NAME_LABEL] = svc.metadata.name!;
  labels[MANAGED_BY_LABEL] = ENDPOINTSLICE_CONTROLLER_NAME;
  if (svc.spec?.clusterIP === 'None') labels[HEADLESS_LABEL] = '';
  return labels;
}

function ownerOf(svc: Service): OwnerReference[] {
  return [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata.name!, uid: svc.metadata.uid!, controller: true, blockOwnerDeletion: true }];
}

function buildSlice(svc: Service, labels: Record<string, string>, owner: OwnerReference[], ports: EndpointSlicePort[], endpoints: Endpoint[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { generateName: `${svc.metadata.name!.slice(0, 57)}-`, namespace: svc.metadata.namespace, labels: { ...labels }, ownerReferences: owner },
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}

function sliceDiffers(have: EndpointSlice, want: EndpointSlice): boolean {
  return (
    canonicalJson(have.endpoints ?? []) !== canonicalJson(want.endpoints) ||
    canonicalJson(sortPorts(have.ports ?? [])) !== canonicalJson(want.ports ?? []) ||
    canonicalJson(have.metadata.labels ?? {}) !== canonicalJson(want.metadata.labels ?? {}) ||
    canonicalJson(have.metadata.ownerReferences ?? []) !== canonicalJson(want.metadata.ownerReferences ?? [])
  );
}
