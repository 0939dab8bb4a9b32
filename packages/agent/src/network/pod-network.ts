/**
 * The node's side of the pod network, run by the agent:
 *
 * 1. once its Node has `spec.podCIDR` (from node IPAM, or `--pod-cidr`),
 *    the runtime makes that range a network pods join (a Docker bridge
 *    network, masquerading off) and traffic forwarded into its bridge from
 *    other hosts is accepted (DOCKER-USER); until then pods wait, Pending
 *    with reason NetworkNotReady;
 * 2. one route per other Node's range via that Node's InternalIP
 *    (HostGatewayRoutes of @flotilla/network, the same code the control
 *    plane's machine runs).
 *
 * Both are level-triggered over one Node informer and resynced periodically,
 * so a network or rule removed behind the agent's back comes back.
 */
import type { Node } from '@flotilla/api';
import { Controller, type EventRecorder, type Informer, type Logger } from '@flotilla/client';
import { ensurePodForwarding, HostGatewayRoutes, IpRouteTable, type RouteTable } from '@flotilla/network';
import type { Gauge, Registry } from '@flotilla/observability';
import type { ContainerRuntime, PodNetworkInfo } from '../runtime/types.js';

/** Options of PodNetworkManager. */
export interface PodNetworkManagerOptions {
  nodeName: string;
  runtime: ContainerRuntime;
  /** An informer of all Nodes (the caller starts it). */
  nodes: Informer<Node>;
  log: Logger;
  recorder: EventRecorder;
  registry?: Registry;
  /** Told when the network becomes ready (pods waiting for it can go on). */
  onReady?: () => void;
  /** Accepts forwarded traffic into the pod bridge; default: ensurePodForwarding (iptables DOCKER-USER). */
  forwarding?: (bridge: string) => Promise<unknown>;
  /** The routing table for host-gw routes; default the kernel's (IpRouteTable); false: no routes. */
  routes?: RouteTable | false;
  /** Resync period of the network and the routes. Default 30 s. */
  resyncMs?: number;
}

/** Realises the node's pod range and keeps routes to the other nodes' ranges. */
export class PodNetworkManager {
  /** Reconciles the node's own network (one key: the node name). */
  readonly controller: Controller;
  /** The route sync, when routes are kept. */
  readonly routes: HostGatewayRoutes | undefined;
  private ready: PodNetworkInfo | undefined;
  private reason = 'the node has no podCIDR yet (the controller manager allocates one, or start the agent with --pod-cidr)';
  private readonly readyGauge: Gauge | undefined;
  private readonly resyncMs: number;

  constructor(private readonly o: PodNetworkManagerOptions) {
    this.resyncMs = o.resyncMs ?? 30_000;
    this.readyGauge = o.registry?.gauge('flotilla_agent_pod_network_ready', '1 once the node\'s pod range exists on the engine and pods can start.');
    this.readyGauge?.set(0);
    this.controller = new Controller({ name: 'pod-network', reconcile: () => this.sync(), informers: [o.nodes], logger: o.log });
    const mine = (n: Node) => n.metadata.name === o.nodeName;
    o.nodes.addEventHandler({
      onAdd: (n) => mine(n) && this.controller.enqueue(o.nodeName),
      onUpdate: (a, b) => mine(b) && a.spec?.podCIDR !== b.spec?.podCIDR && this.controller.enqueue(o.nodeName),
    });
    this.routes =
      o.routes === false
        ? undefined
        : new HostGatewayRoutes({ nodes: o.nodes, nodeName: o.nodeName, routes: o.routes ?? new IpRouteTable(), logger: o.log, resyncMs: this.resyncMs, ...(o.registry ? { registry: o.registry } : {}) });
  }

  /** Why pods cannot start yet, or undefined once the network is ready. */
  notReadyReason(): string | undefined {
    return this.ready ? undefined : this.reason;
  }

  /** The network as made, once ready. */
  get network(): PodNetworkInfo | undefined {
    return this.ready;
  }

  /** Runs until `signal` aborts; what it set up stays (running pods keep their network). */
  async run(signal: AbortSignal): Promise<void> {
    this.controller.enqueue(this.o.nodeName);
    await Promise.all([this.controller.run(signal), this.routes?.run(signal)]);
  }

  /** The node's own range: network on the engine, forwarding rule. */
  async sync(): Promise<{ requeueAfter: number } | void> {
    const node = this.o.nodes.store.get(this.o.nodeName);
    const podCIDR = node?.spec?.podCIDR;
    if (!podCIDR) return;
    if (!this.o.runtime.ensurePodNetwork) {
      this.markReady({ name: 'none', bridge: '', subnet: podCIDR, gateway: '', created: false });
      return;
    }
    let info: PodNetworkInfo;
    try {
      info = await this.o.runtime.ensurePodNetwork(podCIDR);
      await (this.o.forwarding ?? ensurePodForwarding)(info.bridge);
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      this.reason = `pod network ${podCIDR} could not be set up: ${message}`;
      if (node) this.o.recorder.event(node, 'Warning', 'FailedPodNetwork', this.reason);
      throw err;
    }
    this.markReady(info);
    return { requeueAfter: this.resyncMs };
  }

  private markReady(info: PodNetworkInfo): void {
    const was = this.ready;
    this.ready = info;
    this.readyGauge?.set(1);
    if (!was || was.subnet !== info.subnet) {
      this.o.log.info({ node: this.o.nodeName, podCIDR: info.subnet, network: info.name, bridge: info.bridge, created: info.created }, 'pod network ready');
      this.o.onReady?.();
    }
  }
}
