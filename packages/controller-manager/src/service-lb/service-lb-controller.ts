/**
 * `type: LoadBalancer` without a cloud: the idea of k3s' ServiceLB. Every
 * node's proxy already answers a Service's port on the node's own
 * addresses once they are in `status.loadBalancer.ingress` (the proxy
 * programs ingress IPs through the Service's EXT chain, as kube-proxy
 * does), so this controller publishes node addresses there:
 *
 * - `externalTrafficPolicy: Cluster`: the InternalIP of every Ready node
 *   (any of them forwards to any endpoint);
 * - `externalTrafficPolicy: Local`: only the Ready nodes that hold a ready
 *   endpoint of the Service (the others would drop the traffic, keeping the
 *   client's source address), so a client spreading over the addresses
 *   never hits a node that cannot serve it — the role MetalLB's L2 mode
 *   gives to the node announcing the address.
 *
 * The list follows nodes and endpoints as they come and go. A Service
 * with `spec.loadBalancerClass` belongs to another implementation and is
 * left alone; a Service that stops being a LoadBalancer gets its ingress
 * cleared, as Kubernetes' service controller does.
 */
import { isReason, splitKey, SERVICE_NAME_LABEL, type EndpointSlice, type Node, type Service } from '@flotilla/api';
import { Controller, type EventRecorder, type Informer, type Logger, type ResourceClient } from '@flotilla/client';
import type { ControllerDeps } from '../context.js';

/** Ingress entries of a LoadBalancer status. */
export type LoadBalancerIngress = Array<{ ip: string }>;

/** Whether a node's Ready condition is True. */
function nodeReady(node: Node): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** A node's InternalIP (the address its proxy answers on), if it has one. */
function internalIP(node: Node): string | undefined {
  return node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

/**
 * The ingress a LoadBalancer Service should have (pure): the InternalIPs of
 * the Ready nodes — only those with a ready endpoint of it under
 * `externalTrafficPolicy: Local` — sorted, each once.
 */
export function desiredIngress(svc: Service, nodes: readonly Node[], slices: readonly EndpointSlice[]): LoadBalancerIngress {
  let eligible = nodes.filter((n) => nodeReady(n) && !n.metadata.deletionTimestamp);
  if (svc.spec?.externalTrafficPolicy === 'Local') {
    const withEndpoint = new Set<string>();
    for (const s of slices) for (const e of s.endpoints ?? []) if (e.nodeName && e.conditions?.ready !== false) withEndpoint.add(e.nodeName);
    eligible = eligible.filter((n) => withEndpoint.has(n.metadata.name!));
  }
  const ips = [...new Set(eligible.map(internalIP).filter((ip): ip is string => !!ip && !ip.includes(':')))];
  ips.sort((a, b) => {
    const x = a.split('.').map(Number);
    const y = b.split('.').map(Number);
    for (let i = 0; i < 4; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return 0;
  });
  return ips.map((ip) => ({ ip }));
}

/** Whether this controller implements the Service's load balancer. */
function ours(svc: Service): boolean {
  return svc.spec?.type === 'LoadBalancer' && !svc.spec.loadBalancerClass;
}

/** Publishes node addresses as the ingress of LoadBalancer Services. */
export class ServiceLBController {
  /** The work queue and workers (key: the Service's namespace/name). */
  readonly controller: Controller;
  private readonly services: Informer<Service>;
  private readonly nodes: Informer<Node>;
  private readonly slices: Informer<EndpointSlice>;
  private readonly api: ResourceClient<Service>;
  private readonly recorder: EventRecorder;
  private readonly log: Logger;

  constructor(deps: ControllerDeps) {
    this.log = deps.logger;
    this.recorder = deps.recorder;
    this.services = deps.informers.informer<Service>('services');
    this.nodes = deps.informers.informer<Node>('nodes');
    this.slices = deps.informers.informer<EndpointSlice>('endpointslices');
    this.api = deps.client.resource<Service>('services');
    const reconcile = (key: string) => this.sync(key);
    this.controller = new Controller({
      name: 'service-lb',
      reconcile: deps.metrics ? deps.metrics.instrument('service-lb', reconcile) : reconcile,
      informers: [this.services, this.nodes, this.slices],
      workers: deps.workers ?? 1,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue('service-lb', this.controller.queue);
    const onService = (s: Service) => {
      if (ours(s) || (s.status?.loadBalancer?.ingress?.length ?? 0) > 0) this.controller.enqueue(s);
    };
    this.services.addEventHandler({ onAdd: onService, onUpdate: (_o, s) => onService(s) });
    // A node joining, leaving or changing readiness or address changes every LoadBalancer's list.
    const onNode = () => {
      for (const s of this.services.store.list()) if (ours(s)) this.controller.enqueue(s);
    };
    this.nodes.addEventHandler({
      onAdd: onNode,
      onUpdate: (o, n) => (nodeReady(o) !== nodeReady(n) || internalIP(o) !== internalIP(n) || !!o.metadata.deletionTimestamp !== !!n.metadata.deletionTimestamp ? onNode() : undefined),
      onDelete: onNode,
    });
    // Endpoints moving between nodes matter to externalTrafficPolicy: Local.
    const onSlice = (sl: EndpointSlice) => {
      const name = sl.metadata.labels?.[SERVICE_NAME_LABEL];
      const svc = name ? this.services.store.get(`${sl.metadata.namespace}/${name}`) : undefined;
      if (svc && ours(svc) && svc.spec?.externalTrafficPolicy === 'Local') this.controller.enqueue(svc);
    };
    this.slices.addEventHandler({ onAdd: onSlice, onUpdate: (_o, s) => onSlice(s), onDelete: onSlice });
  }

  /** Runs the workers until `signal` aborts (informers must be started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** One Service: write its ingress when it differs from what it should be. */
  async sync(key: string): Promise<void> {
    const svc = this.services.store.get(key);
    if (!svc || svc.spec?.loadBalancerClass) return;
    const { namespace, name } = splitKey(key);
    const slices = this.slices.store.byNamespace(namespace!).filter((s) => s.metadata.labels?.[SERVICE_NAME_LABEL] === name);
    const want = ours(svc) ? desiredIngress(svc, this.nodes.store.list(), slices) : [];
    const have = (svc.status?.loadBalancer?.ingress ?? []).map((i) => ({ ip: i.ip ?? '' }));
    if (JSON.stringify(have) === JSON.stringify(want)) return;
    const next: Service = { ...svc, status: { ...svc.status, loadBalancer: want.length > 0 ? { ingress: want } : {} } };
    try {
      await this.api.updateStatus(next);
    } catch (err) {
      if (isReason(err, 'NotFound')) return;
      throw err;
    }
    this.log.info({ service: key, ingress: want.map((i) => i.ip) }, 'load balancer ingress updated');
    if (ours(svc)) {
      if (want.length === 0) this.recorder.event(svc, 'Warning', 'NoEligibleNodes', svc.spec?.externalTrafficPolicy === 'Local' ? 'no Ready node holds a ready endpoint (externalTrafficPolicy: Local)' : 'no Ready node with an InternalIP');
      else this.recorder.event(svc, 'Normal', 'UpdatedLoadBalancer', `ingress: ${want.map((i) => i.ip).join(', ')}`);
    }
  }
}
