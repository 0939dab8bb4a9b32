/**
 * Where a host failover's time goes: a watch on the lost node, the
 * namespace's pods and (optionally) one Service's EndpointSlices that notes
 * when each step of the chain was first seen, in ms after the host was lost.
 * Used by the host-loss test and the chaos-under-load test so both report
 * the same steps.
 *
 * Steps (a pod step's time is when the last of the lost pods' replacements
 * got there):
 * - `lost`: when `isLost()` first held (polled every 20 ms): the moment of
 *   the loss itself when t0 is only when a tool was asked to cause it;
 * - `unknown`: the node's Ready condition Unknown (the controller's verdict);
 * - `tainted`: the `unreachable` NoExecute taint on the node;
 * - `evicted`: every lost pod marked for deletion (or gone);
 * - `created`, `bound`, `running`, `ready`: the replacements created (after
 *   the loss), bound to a node, phase Running, condition Ready;
 * - `unlisted`: no lost pod's address is a ready endpoint of the Service;
 * - `listed`: every replacement's address is a ready endpoint of the Service.
 */
import type { EndpointSlice, KubeObject, Node, Pod } from '@flotilla/api';
import type { ResourceTarget, RestClient } from '@flotilla/client';

/** Taint key of a node the node-lifecycle controller found silent. */
const UNREACHABLE = 'node.kubernetes.io/unreachable';

/** The steps a failover timeline records, in chain order. */
export const FAILOVER_STEPS = ['lost', 'unknown', 'tainted', 'evicted', 'created', 'bound', 'running', 'ready', 'unlisted', 'listed'] as const;

/** One step of a failover. */
export type FailoverStep = (typeof FAILOVER_STEPS)[number];

/** What a failover timeline watches. */
export interface FailoverTimelineOptions {
  client: RestClient;
  namespace: string;
  /** The lost node's name. */
  node: string;
  /** Uids of the pods that were on the lost node (their replacements are what the pod steps wait for). */
  lost: Iterable<string>;
  /** Local time (Date.now()) the host was lost. */
  t0: number;
  /** A Service whose EndpointSlices to follow (the `unlisted`/`listed` steps). */
  service?: string;
  /** Whether the host is lost yet (the `lost` step), e.g. its agent process exited or its link is down; must be cheap. */
  isLost?: () => boolean;
}

/** Follows one failover through watches; `stop()` ends them. */
export class FailoverTimeline {
  /** First time (ms after t0) each step was seen. */
  readonly seen: Partial<Record<FailoverStep, number>> = {};
  /** Other nodes seen Ready=Unknown meanwhile (false positives: only the lost node may go). */
  readonly othersUnknown = new Set<string>();
  /** The namespace's pods as last seen, by uid. */
  readonly pods = new Map<string, Pod>();
  private readonly lost: Set<string>;
  private readonly lostIPs = new Set<string>();
  private readonly per = new Map<FailoverStep, Set<string>>();
  private readonly ac = new AbortController();
  private readonly tasks: Array<Promise<void>> = [];
  private slices = new Map<string, EndpointSlice>();

  constructor(private readonly o: FailoverTimelineOptions) {
    this.lost = new Set(o.lost);
  }

  /** Local time the host was lost (the steps' zero). */
  get t0(): number {
    return this.o.t0;
  }

  /** Starts the watches (each lists first, so a step already reached is seen at once). */
  start(): this {
    const c = this.o.client;
    this.tasks.push(
      this.follow<Node>(c, 'nodes', undefined, (n, type) => {
        if (n.metadata.name !== this.o.node) {
          if (type !== 'ADDED' && (n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'Unknown')) this.othersUnknown.add(n.metadata.name!);
          return;
        }
        if ((n.status?.conditions ?? []).some((x) => x.type === 'Ready' && x.status === 'Unknown')) this.mark('unknown');
        if ((n.spec?.taints ?? []).some((t) => t.key === UNREACHABLE && t.effect === 'NoExecute')) this.mark('tainted');
      }),
      this.follow<Pod>(c, 'pods', this.o.namespace, (p, type) => this.onPod(p, type)),
    );
    const isLost = this.o.isLost;
    if (isLost) {
      this.tasks.push(
        (async () => {
          while (!this.ac.signal.aborted && this.seen.lost === undefined) {
            let gone = false;
            try {
              gone = isLost();
            } catch {
              // A probe that cannot tell (a file not there yet) says nothing.
            }
            if (gone) this.mark('lost');
            else await new Promise((r) => setTimeout(r, 20));
          }
        })(),
      );
    }
    if (this.o.service) {
      const service = this.o.service;
      this.tasks.push(
        this.follow<EndpointSlice>(c, { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }, this.o.namespace, (s, type) => {
          if (s.metadata.labels?.['kubernetes.io/service-name'] !== service) return;
          if (type === 'DELETED') this.slices.delete(s.metadata.name!);
          else this.slices.set(s.metadata.name!, s);
          this.checkEndpoints();
        }),
      );
    }
    return this;
  }

  /** Ends the watches. */
  async stop(): Promise<void> {
    this.ac.abort();
    await Promise.allSettled(this.tasks);
  }

  /** `seen` as one line: `unknown 2134, tainted 2212, …` (steps never seen left out); with `lost` seen, also each step after it. */
  summary(): string {
    const steps = FAILOVER_STEPS.filter((s) => this.seen[s] !== undefined);
    const all = steps.map((s) => `${s} ${this.seen[s]}`).join(', ');
    const lost = this.seen.lost;
    if (lost === undefined) return all;
    return `${all} | after the loss: ${steps.filter((s) => s !== 'lost').map((s) => `${s} ${this.seen[s]! - lost}`).join(', ')}`;
  }

  private mark(step: FailoverStep): void {
    this.seen[step] ??= Date.now() - this.o.t0;
  }

  private onPod(p: Pod, type: string): void {
    const uid = p.metadata.uid!;
    if (type === 'DELETED') this.pods.delete(uid);
    else this.pods.set(uid, p);
    if (this.lost.has(uid)) {
      if (p.status?.podIP) this.lostIPs.add(p.status.podIP);
      if (p.metadata.deletionTimestamp || type === 'DELETED') this.seenAll('evicted', uid);
      return;
    }
    if (Date.parse(p.metadata.creationTimestamp ?? '') < this.o.t0 - 1000) return;
    this.seenAll('created', uid);
    if (p.spec?.nodeName) this.seenAll('bound', uid);
    if (p.status?.phase === 'Running') this.seenAll('running', uid);
    if ((p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')) this.seenAll('ready', uid);
    this.checkEndpoints();
  }

  private checkEndpoints(): void {
    if (!this.o.service) return;
    const ready = new Set([...this.slices.values()].flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses)));
    if (this.lostIPs.size > 0 && ![...this.lostIPs].some((ip) => ready.has(ip))) this.mark('unlisted');
    const replacements = [...this.pods.values()].filter((p) => !this.lost.has(p.metadata.uid!) && !p.metadata.deletionTimestamp && Date.parse(p.metadata.creationTimestamp ?? '') >= this.o.t0 - 1000);
    if (replacements.length >= this.lost.size && replacements.every((p) => p.status?.podIP && ready.has(p.status.podIP))) this.mark('listed');
  }

  /** Per step, the pods seen at it; the step's time is when the last needed one got there. */
  private seenAll(step: FailoverStep, uid: string): void {
    const set = this.per.get(step) ?? new Set<string>();
    if (set.has(uid)) return;
    set.add(uid);
    this.per.set(step, set);
    if (set.size >= this.lost.size) this.mark(step);
  }

  private async follow<T extends KubeObject>(c: RestClient, resource: ResourceTarget, namespace: string | undefined, on: (o: T, type: string) => void): Promise<void> {
    const r = c.resource<T>(resource);
    while (!this.ac.signal.aborted) {
      try {
        const list = await r.list(namespace);
        for (const o of list.items) on(o, 'ADDED');
        for await (const ev of r.watch(namespace, { resourceVersion: list.metadata?.resourceVersion, signal: this.ac.signal })) {
          if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') continue;
          on(ev.object as T, ev.type);
        }
      } catch {
        if (this.ac.signal.aborted) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
