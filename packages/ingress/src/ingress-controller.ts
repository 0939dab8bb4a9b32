/**
 * The control plane of the ingress: informers on Ingresses, IngressClasses,
 * Services and endpoints; on any change a new Snapshot is built (route
 * table + resolved backends) and handed to the data plane in one
 * assignment. Builds are coalesced: many events in one tick cost one build.
 *
 * It also writes `status.loadBalancer.ingress` of our Ingresses (a
 * level-triggered reconcile per Ingress key) and records Events: Warning
 * `RouteConflict` on an Ingress that lost a host/path to an older one,
 * Warning `ServiceNotFound` / `PortNotFound` / `UnsupportedBackend` when a
 * backend cannot be served.
 */
import { isIP } from 'node:net';
import { findResource, isReason, type KubeObject, type Endpoints, type EndpointSlice, type Ingress, type IngressClass, type Service } from '@flotilla/api';
import { Controller, Informer, StopGrace, type ApiClient, type EventRecorder } from '@flotilla/client';
import type { Logger } from '@flotilla/observability';
import { endpointsEndpointSource, resolveBackend, sliceEndpointSource, sliceServiceIndex, SLICE_SERVICE_INDEX, type EndpointSource } from './backends.js';
import { classFilter, type ClassIdentity } from './ingress-class.js';
import type { IngressMetrics } from './metrics.js';
import type { LiveBackend, Snapshot } from './proxy-server.js';
import { RouteTable } from './route-table.js';
import type { WireSnapshot } from './snapshot-wire.js';
import type { TlsProblem, TlsSecret, TlsSection, TlsStore } from './tls-store.js';

/** Where backend addresses come from: EndpointSlices (the default) or the core Endpoints objects. */
export type EndpointsFrom = 'endpointslices' | 'endpoints';

/** Options of the IngressController. */
export interface IngressControllerOptions extends ClassIdentity {
  client: ApiClient;
  logger: Logger;
  metrics: IngressMetrics;
  events: Pick<EventRecorder, 'event'>;
  /** Written to `status.loadBalancer.ingress` (an IP as `ip`, a name as `hostname`); no status writes when unset. */
  publishAddress?: string;
  endpointsFrom?: EndpointsFrom;
  /** Told every new snapshot. */
  onSnapshot(s: Snapshot): void;
  /** Told every new snapshot in its wire form, for worker processes (built only when set). */
  onWire?(w: WireSnapshot): void;
  /**
   * Told, with every new snapshot, the EndpointSlice resourceVersion it
   * reflects (undefined when endpoints come from Endpoints objects): what the
   * ingress reports in its proxy Lease once the snapshot serves, so an agent
   * signals a deleted pod only after the ingress stopped sending it requests.
   */
  onBuilt?(sliceRevision: string | undefined): void;
  /** The HTTPS certificates, refreshed from Secrets on every build; no Secret informer when unset. */
  tls?: TlsStore;
}

/** How long a status write in flight may go on after the stop before it is given up. */
export const STATUS_GRACE_MS = 1_000;

/** Builds snapshots from informers and keeps Ingress status. */
export class IngressController {
  private readonly opts: IngressControllerOptions;
  private readonly log: Logger;
  readonly ingresses: Informer<Ingress>;
  readonly classes: Informer<IngressClass>;
  readonly services: Informer<Service>;
  private readonly endpointInformer: Informer<EndpointSlice> | Informer<Endpoints>;
  /** Only when TLS is served and the API has core/v1 Secrets. */
  readonly secrets: Informer<TlsSecret> | undefined;
  private readonly source: EndpointSource;
  private readonly status: Controller;
  /** What status writes go through: their requests are given up STATUS_GRACE_MS after a stop. */
  private readonly statusRequests: StopGrace;
  private scheduled = false;
  private synced = false;
  private last: Snapshot | undefined;
  private isOurs: (ing: Ingress) => boolean = () => false;
  /** Problems reported by the last build: a build only records Events for new ones, so a rebuild per endpoint change does not bump every Event's count. */
  private reported = new Set<string>();
  private version = 0;

  constructor(opts: IngressControllerOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.statusRequests = new StopGrace(opts.client, STATUS_GRACE_MS);
    const informerOpts = { logger: opts.logger };
    this.ingresses = new Informer<Ingress>(opts.client, { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' }, informerOpts);
    this.classes = new Informer<IngressClass>(opts.client, { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass' }, informerOpts);
    this.services = new Informer<Service>(opts.client, { apiVersion: 'v1', kind: 'Service' }, informerOpts);
    if ((opts.endpointsFrom ?? 'endpointslices') === 'endpointslices') {
      const slices = new Informer<EndpointSlice>(opts.client, { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }, informerOpts);
      slices.addIndexer(SLICE_SERVICE_INDEX, sliceServiceIndex);
      this.endpointInformer = slices;
      this.source = sliceEndpointSource(slices.store);
    } else {
      const eps = new Informer<Endpoints>(opts.client, { apiVersion: 'v1', kind: 'Endpoints' }, informerOpts);
      this.endpointInformer = eps;
      this.source = endpointsEndpointSource(eps.store);
    }
    // Secrets only when HTTPS is served, and only once the API serves them (the kind arrives separately).
    this.secrets = opts.tls && findResource('', 'v1', 'secrets') ? new Informer<TlsSecret>(opts.client, { apiVersion: 'v1', kind: 'Secret' }, informerOpts) : undefined;
    this.status = new Controller({
      name: 'ingress-status',
      logger: opts.logger,
      reconcile: (key) => this.syncStatus(key),
      informers: [this.ingresses, this.classes],
    });
    const rebuild = { onAdd: () => this.schedule(), onUpdate: () => this.schedule(), onDelete: () => this.schedule() };
    for (const inf of this.informers()) inf.addEventHandler(rebuild);
    this.ingresses.addEventHandler({ onAdd: (o) => this.status.enqueue(o), onUpdate: (_o, n) => this.status.enqueue(n) });
    // A class change can make any Ingress ours (or not): look at every one.
    this.classes.addEventHandler({ onAdd: () => this.enqueueAll(), onUpdate: () => this.enqueueAll(), onDelete: () => this.enqueueAll() });
  }

  private informers(): Array<Informer<KubeObject>> {
    return [this.ingresses, this.classes, this.services, this.endpointInformer, ...(this.secrets ? [this.secrets] : [])] as Array<Informer<KubeObject>>;
  }

  private enqueueAll(): void {
    for (const ing of this.ingresses.store.list()) this.status.enqueue(ing);
  }

  /** Coalesces a burst of events into one build on the next macrotask. */
  private schedule(): void {
    if (!this.synced || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.build();
    });
  }

  /** The latest snapshot built. */
  snapshot(): Snapshot | undefined {
    return this.last;
  }

  /** Builds a snapshot from the caches now and hands it on. */
  build(): Snapshot {
    this.isOurs = classFilter(this.opts, this.classes.store.list());
    const ours = this.ingresses.store.list().filter(this.isOurs);
    const table = new RouteTable(ours);
    const backends = new Map<string, LiveBackend>();
    for (const ref of table.backends.values()) {
      // Keep the round-robin cursor across builds so a rebuild does not send a burst to the first endpoint.
      const prev = this.last?.backends.get(ref.key);
      backends.set(ref.key, { state: resolveBackend(ref, this.services.store, this.source), next: prev?.next ?? Math.floor(Math.random() * 1024) });
    }
    const tlsHosts = new Set<string>();
    const sections: TlsSection[] = [];
    for (const ing of ours) {
      const ruleHosts = (ing.spec?.rules ?? []).map((r) => (r.host ?? '').toLowerCase()).filter(Boolean);
      for (const t of ing.spec?.tls ?? []) {
        // A TLS entry without hosts covers the Ingress's own rule hosts.
        const hosts = t.hosts?.length ? t.hosts.map((h) => h.toLowerCase()) : ruleHosts;
        hosts.forEach((h) => tlsHosts.add(h));
        if (t.secretName) sections.push({ ingress: ing, namespace: ing.metadata.namespace ?? 'default', secretName: t.secretName, hosts });
      }
    }
    // Read before the caches: every slice event up to it is in what this build saw.
    const sliceRevision = this.sliceRevision();
    const snap: Snapshot = { table, backends, tlsHosts };
    this.last = snap;
    this.opts.metrics.rebuilds.inc();
    this.opts.metrics.routes.set(table.routes.length);
    this.opts.onSnapshot(snap);
    if (this.opts.onWire) this.opts.onWire(this.wire(ours, backends, tlsHosts, sections, sliceRevision));
    this.opts.onBuilt?.(sliceRevision);
    const tlsProblems: TlsProblem[] = [];
    if (this.opts.tls) {
      const secrets = this.secrets?.store;
      tlsProblems.push(...this.opts.tls.replace(sections, (ns, name) => secrets?.get(`${ns}/${name}`)));
    }
    this.recordProblems(table, backends, ours, tlsProblems);
    return snap;
  }

  /** The snapshot as worker processes get it: only the Secrets the sections name, only the fields they read. */
  /** The EndpointSlice informer's last resourceVersion (list, event or bookmark), when endpoints come from slices. */
  private sliceRevision(): string | undefined {
    return (this.opts.endpointsFrom ?? 'endpointslices') === 'endpointslices' ? this.endpointInformer.lastSyncResourceVersion() : undefined;
  }

  private wire(ours: Ingress[], backends: Map<string, LiveBackend>, tlsHosts: Set<string>, sections: TlsSection[], sliceRevision: string | undefined): WireSnapshot {
    const secrets: Array<[string, TlsSecret]> = [];
    for (const s of sections) {
      const key = `${s.namespace}/${s.secretName}`;
      const sec = this.secrets?.store.get(key);
      if (sec) secrets.push([key, { apiVersion: 'v1', kind: 'Secret', metadata: { uid: sec.metadata.uid, resourceVersion: sec.metadata.resourceVersion }, type: sec.type, data: sec.data }]);
    }
    return {
      version: ++this.version,
      ...(sliceRevision !== undefined ? { sliceRevision } : {}),
      ingresses: ours,
      backends: [...backends].map(([k, b]) => [k, b.state]),
      tlsHosts: [...tlsHosts],
      tls: sections.map(({ namespace, secretName, hosts }) => ({ namespace, secretName, hosts })),
      secrets,
    };
  }

  private recordProblems(table: RouteTable, backends: Map<string, LiveBackend>, ours: Ingress[], tlsProblems: TlsProblem[]): void {
    const now = new Set<string>();
    const report = (obj: Ingress | KubeObject, reason: string, message: string) => {
      const id = `${obj.metadata.uid ?? ''}/${obj.metadata.namespace}/${obj.metadata.name}\u0000${reason}\u0000${message}`;
      now.add(id);
      if (!this.reported.has(id)) this.opts.events.event(obj, 'Warning', reason, message);
    };
    for (const c of table.conflicts) {
      const what = c.pathType === 'defaultBackend' ? 'defaultBackend' : `host "${c.host || '*'}" path "${c.path}" (${c.pathType})`;
      report(c.loser, 'RouteConflict', `${what} is already served by the older Ingress ${c.winner}; this rule is ignored`);
    }
    for (const u of table.unsupported) report(u.ingress, 'UnsupportedBackend', `${u.field}: ${u.message}`);
    const byKey = new Map(ours.map((i) => [`${i.metadata.namespace ?? 'default'}/${i.metadata.name}`, i]));
    for (const r of table.routes) {
      const b = backends.get(r.backend.key);
      // No ready endpoints is the normal state of a rollout or a scale from zero: a 503, not an Event.
      if (!b || b.state.ok || b.state.reason === 'NoEndpoints') continue;
      const ing = byKey.get(r.ingress);
      if (ing) report(ing, b.state.reason, `${b.state.message}: requests to ${r.host || '*'}${r.path || ' (default backend)'} get 503`);
    }
    for (const p of tlsProblems) report(p.section.ingress, p.reason, p.message);
    this.reported = now;
  }

  /** Writes `status.loadBalancer.ingress` of one Ingress when it is ours and differs. */
  private async syncStatus(key: string): Promise<void> {
    const addr = this.opts.publishAddress;
    if (!addr) return;
    const ing = this.ingresses.store.get(key);
    if (!ing) return;
    // Ingresses of another class are left alone: their controller owns their status.
    if (!classFilter(this.opts, this.classes.store.list())(ing)) return;
    const want = [isIP(addr) ? { ip: addr } : { hostname: addr }];
    const have = ing.status?.loadBalancer?.ingress ?? [];
    if (JSON.stringify(have) === JSON.stringify(want)) return;
    try {
      await this.statusRequests.client
        .resource<Ingress>({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' })
        .patchStatus(ing.metadata.namespace, ing.metadata.name!, { status: { loadBalancer: { ingress: want } } }, 'merge');
      this.log.info({ key, address: addr }, 'ingress status updated');
    } catch (err) {
      if (isReason(err, 'NotFound')) return;
      throw err;
    }
  }

  /** Starts the informers, builds the first snapshot once they have synced, then runs the status writer. */
  async run(signal: AbortSignal, onReady?: () => void): Promise<void> {
    const informers = this.informers();
    for (const inf of informers) inf.start(signal);
    for (const inf of informers) if (!(await inf.waitForSync(signal))) return;
    this.synced = true;
    this.build();
    onReady?.();
    // A status write in flight is finished on stop, but not waited on for the response timeout of an apiserver that stopped answering.
    const disarm = this.statusRequests.arm(signal);
    try {
      await this.status.run(signal);
    } finally {
      disarm();
    }
  }
}
