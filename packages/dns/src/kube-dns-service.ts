/**
 * The `kube-dns` Service in `kube-system` and its endpoints, kept by the DNS
 * servers themselves (as the apiservers keep the `kubernetes` Service): a
 * selector-less ClusterIP Service at the cluster DNS address (10.96.0.10 by
 * default) with ports `dns` 53/UDP and `dns-tcp` 53/TCP, whose endpoints are
 * the host addresses the `flotilla dns` processes listen on. The proxy
 * DNATs the ClusterIP to them like any other Service.
 *
 * Each server owns one EndpointSlice (`kube-dns-<hash of identity>`, its own
 * address) and one Lease of the same name that it renews; a server that died
 * without saying goodbye is dropped by the others once its Lease expires.
 * The v1 Endpoints object (for `kubectl get endpoints`) is the union of the
 * live slices, labelled so the mirroring controller leaves it alone.
 */
import { createHash } from 'node:crypto';
import { isReason, nowMicroTimestamp, SERVICE_NAME_LABEL, MANAGED_BY_LABEL, type EndpointSlice, type Endpoints, type Lease, type Service } from '@flotilla/api';
import { sleep, realClock, StopGrace, type ApiClient, type ResourceClient } from '@flotilla/client';
import type { Logger } from '@flotilla/observability';

/** Namespace and name of the cluster DNS Service, as in Kubernetes. */
export const KUBE_DNS_NAMESPACE = 'kube-system';
export const KUBE_DNS_NAME = 'kube-dns';
/** managed-by value of the slices the DNS servers write. */
export const DNS_MANAGER = 'flotilla-dns';
/** Kubernetes' label that keeps the EndpointSlice mirroring controller off an Endpoints object. */
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
const SERVICE_LABELS = { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'Flotilla-DNS' };

/** Options of KubeDnsRegistrar. */
export interface KubeDnsRegistrarOptions {
  /** The Service's ClusterIP (--cluster-dns). */
  clusterIP: string;
  /** This server's address as the proxies should reach it (an endpoint of the Service). */
  address: string;
  /** The port this server answers on, UDP and TCP (the endpoints' port; the Service port is always 53). */
  port: number;
  /** This server's identity (one slice and one Lease each). */
  identity: string;
  /** Renewal period. Default 5 s. */
  intervalMs?: number;
  /** A server that has not renewed for this long is dropped. Default 15 s. */
  leaseSeconds?: number;
  logger?: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

/** How long a stopping server's requests may take (the round in flight, then leaving the endpoints). */
export const DEREGISTER_TIMEOUT_MS = 2_000;

/** Keeps the kube-dns Service and this server's place in its endpoints. */
export class KubeDnsRegistrar {
  /** This server's EndpointSlice and Lease name. */
  readonly objectName: string;
  /** What every request goes through: those of a stopping server are given up DEREGISTER_TIMEOUT_MS after the stop. */
  private readonly requests: StopGrace;
  private readonly services: ResourceClient<Service>;
  private readonly slices: ResourceClient<EndpointSlice>;
  private readonly endpoints: ResourceClient<Endpoints>;
  private readonly leases: ResourceClient<Lease>;
  private readonly now: () => number;
  private readonly leaseSeconds: number;

  constructor(
    client: ApiClient,
    private readonly o: KubeDnsRegistrarOptions,
  ) {
    this.objectName = `kube-dns-${createHash('sha256').update(o.identity).digest('hex').slice(0, 10)}`;
    this.requests = new StopGrace(client, DEREGISTER_TIMEOUT_MS);
    const api = this.requests.client;
    this.services = api.resource<Service>({ apiVersion: 'v1', kind: 'Service' });
    this.slices = api.resource<EndpointSlice>({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' });
    this.endpoints = api.resource<Endpoints>({ apiVersion: 'v1', kind: 'Endpoints' });
    this.leases = api.resource<Lease>({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease' });
    this.now = o.now ?? Date.now;
    this.leaseSeconds = o.leaseSeconds ?? 15;
  }

  /** One round: ensure the Service, renew our Lease, write our slice, drop dead servers' slices, write the Endpoints. */
  async reconcileOnce(): Promise<void> {
    await this.ensureService();
    await this.renewLease();
    await this.writeOwnSlice();
    const live = await this.pruneDead();
    await this.writeEndpoints(live);
  }

  /**
   * Rounds until `signal` aborts; then takes this server out of the
   * endpoints. The round in flight and the leaving get DEREGISTER_TIMEOUT_MS
   * together: leaving is a courtesy (the others drop a server whose Lease
   * expired), not worth holding a stop for an apiserver that stopped answering.
   */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.o.logger;
    const disarm = this.requests.arm(signal);
    try {
      while (!signal.aborted) {
        try {
          await this.reconcileOnce();
        } catch (err) {
          if (!signal.aborted) log?.warn({ err: (err as Error).message, service: `${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME}` }, 'could not reconcile the kube-dns service; retrying');
        }
        await sleep(realClock, this.o.intervalMs ?? 5000, signal);
      }
      await this.deregister();
    } finally {
      disarm();
    }
  }

  /** Removes this server's slice and Lease and rewrites the Endpoints without it. */
  async deregister(): Promise<void> {
    try {
      await this.slices.delete(KUBE_DNS_NAMESPACE, this.objectName).catch(ignoreNotFound);
      await this.leases.delete(KUBE_DNS_NAMESPACE, this.objectName).catch(ignoreNotFound);
      await this.writeEndpoints(await this.liveSlices());
      this.o.logger?.info({ slice: `${KUBE_DNS_NAMESPACE}/${this.objectName}` }, 'left the kube-dns endpoints');
    } catch (err) {
      this.o.logger?.warn({ err: (err as Error).message }, 'could not remove this server from the kube-dns endpoints');
    }
  }

  private desiredPorts(): NonNullable<Service['spec']>['ports'] {
    return [
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: this.o.port },
      { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: this.o.port },
    ];
  }

  private async ensureService(): Promise<void> {
    let cur: Service | undefined;
    try {
      cur = await this.services.get(KUBE_DNS_NAMESPACE, KUBE_DNS_NAME);
    } catch (err) {
      ignoreNotFound(err);
    }
    if (!cur) {
      try {
        await this.services.create({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: KUBE_DNS_NAME, namespace: KUBE_DNS_NAMESPACE, labels: SERVICE_LABELS },
          spec: { type: 'ClusterIP', clusterIP: this.o.clusterIP, ports: this.desiredPorts() },
        });
        this.o.logger?.info({ service: `${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME}`, clusterIP: this.o.clusterIP }, 'created the kube-dns service');
      } catch (err) {
        if (!isReason(err, 'AlreadyExists')) throw err;
      }
      return;
    }
    if (cur.spec?.clusterIP !== this.o.clusterIP) {
      this.o.logger?.warn({ service: `${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME}`, clusterIP: cur.spec?.clusterIP, want: this.o.clusterIP }, 'kube-dns service has another ClusterIP than --cluster-dns; pods may not reach DNS');
    }
    // Ports by name: a second server on another port must not flap them, so only missing names are added.
    const names = new Set((cur.spec?.ports ?? []).map((p) => p.name));
    if (!names.has('dns') || !names.has('dns-tcp') || cur.spec?.selector) {
      const { selector: _drop, ...spec } = cur.spec ?? {};
      await this.services.update({ ...cur, spec: { ...spec, ports: this.desiredPorts() } });
    }
  }

  private async renewLease(): Promise<void> {
    const renewTime = nowMicroTimestamp(new Date(this.now()));
    try {
      const cur = await this.leases.get(KUBE_DNS_NAMESPACE, this.objectName);
      await this.leases.update({ ...cur, spec: { ...cur.spec, holderIdentity: this.o.identity, leaseDurationSeconds: this.leaseSeconds, renewTime } });
    } catch (err) {
      ignoreNotFound(err);
      await this.leases.create({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.objectName, namespace: KUBE_DNS_NAMESPACE, labels: { [MANAGED_BY_LABEL]: DNS_MANAGER } },
        spec: { holderIdentity: this.o.identity, leaseDurationSeconds: this.leaseSeconds, acquireTime: renewTime, renewTime },
      });
    }
  }

  private desiredSlice(): Pick<EndpointSlice, 'addressType' | 'endpoints' | 'ports'> {
    return {
      addressType: 'IPv4',
      endpoints: [{ addresses: [this.o.address], conditions: { ready: true, serving: true, terminating: false } }],
      ports: [
        { name: 'dns', protocol: 'UDP', port: this.o.port },
        { name: 'dns-tcp', protocol: 'TCP', port: this.o.port },
      ],
    };
  }

  /** Writes our slice only when it differs: every write wakes every proxy. */
  private async writeOwnSlice(): Promise<void> {
    const want = this.desiredSlice();
    const labels = { [SERVICE_NAME_LABEL]: KUBE_DNS_NAME, [MANAGED_BY_LABEL]: DNS_MANAGER };
    let cur: EndpointSlice | undefined;
    try {
      cur = await this.slices.get(KUBE_DNS_NAMESPACE, this.objectName);
    } catch (err) {
      ignoreNotFound(err);
    }
    if (!cur) {
      await this.slices.create({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: this.objectName, namespace: KUBE_DNS_NAMESPACE, labels }, ...want });
      this.o.logger?.info({ slice: `${KUBE_DNS_NAMESPACE}/${this.objectName}`, address: this.o.address, port: this.o.port }, 'joined the kube-dns endpoints');
      return;
    }
    const same = JSON.stringify({ e: cur.endpoints, p: cur.ports, t: cur.addressType }) === JSON.stringify({ e: want.endpoints, p: want.ports, t: want.addressType });
    if (same && cur.metadata.labels?.[SERVICE_NAME_LABEL] === KUBE_DNS_NAME) return;
    await this.slices.update({ ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...labels } }, ...want });
  }

  /** Our servers' slices whose Lease is current; deletes the others (and their Leases). */
  private async pruneDead(): Promise<EndpointSlice[]> {
    const slices = await this.ourSlices();
    const leases = new Map((await this.leases.list(KUBE_DNS_NAMESPACE, { labelSelector: `${MANAGED_BY_LABEL}=${DNS_MANAGER}` })).items.map((l) => [l.metadata.name, l]));
    const live: EndpointSlice[] = [];
    for (const s of slices) {
      const name = s.metadata.name!;
      if (name === this.objectName || this.leaseLive(leases.get(name))) {
        live.push(s);
        continue;
      }
      this.o.logger?.info({ slice: `${KUBE_DNS_NAMESPACE}/${name}`, addresses: s.endpoints.flatMap((e) => e.addresses) }, 'dropping a dns server whose lease expired');
      await this.slices.delete(KUBE_DNS_NAMESPACE, name).catch(ignoreNotFound);
      await this.leases.delete(KUBE_DNS_NAMESPACE, name).catch(ignoreNotFound);
    }
    return live;
  }

  private leaseLive(lease: Lease | undefined): boolean {
    const renew = lease?.spec?.renewTime ? Date.parse(lease.spec.renewTime) : NaN;
    if (Number.isNaN(renew)) return false;
    return renew + (lease!.spec!.leaseDurationSeconds ?? this.leaseSeconds) * 1000 > this.now();
  }

  private async ourSlices(): Promise<EndpointSlice[]> {
    const list = await this.slices.list(KUBE_DNS_NAMESPACE, { labelSelector: `${SERVICE_NAME_LABEL}=${KUBE_DNS_NAME},${MANAGED_BY_LABEL}=${DNS_MANAGER}` });
    return list.items;
  }

  private async liveSlices(): Promise<EndpointSlice[]> {
    const leases = new Map((await this.leases.list(KUBE_DNS_NAMESPACE, { labelSelector: `${MANAGED_BY_LABEL}=${DNS_MANAGER}` })).items.map((l) => [l.metadata.name, l]));
    return (await this.ourSlices()).filter((s) => this.leaseLive(leases.get(s.metadata.name)));
  }

  /** The Endpoints object: one subset with every live server's address (sorted), if it differs. */
  private async writeEndpoints(live: EndpointSlice[]): Promise<void> {
    const byPort = new Map<number, Set<string>>();
    for (const s of live) {
      const port = s.ports?.find((p) => p.name === 'dns')?.port ?? 53;
      for (const e of s.endpoints) for (const a of e.addresses) (byPort.get(port) ?? byPort.set(port, new Set()).get(port)!).add(a);
    }
    const subsets: NonNullable<Endpoints['subsets']> = [...byPort.entries()]
      .sort(([a], [b]) => a - b)
      .map(([port, ips]) => ({
        addresses: [...ips].sort().map((ip) => ({ ip })),
        ports: [
          { name: 'dns', port, protocol: 'UDP' as const },
          { name: 'dns-tcp', port, protocol: 'TCP' as const },
        ],
      }));
    const labels = { ...SERVICE_LABELS, [SKIP_MIRROR_LABEL]: 'true' };
    for (let attempt = 0; attempt < 5; attempt++) {
      let cur: Endpoints | undefined;
      try {
        cur = await this.endpoints.get(KUBE_DNS_NAMESPACE, KUBE_DNS_NAME);
      } catch (err) {
        ignoreNotFound(err);
      }
      try {
        if (!cur) {
          await this.endpoints.create({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: KUBE_DNS_NAME, namespace: KUBE_DNS_NAMESPACE, labels }, subsets });
        } else if (JSON.stringify(cur.subsets ?? []) !== JSON.stringify(subsets)) {
          await this.endpoints.update({ ...cur, metadata: { ...cur.metadata, labels: { ...cur.metadata.labels, ...labels } }, subsets });
        }
        return;
      } catch (err) {
        // Another server wrote meanwhile: read again and decide again.
        if (!isReason(err, 'Conflict') && !isReason(err, 'AlreadyExists')) throw err;
      }
    }
  }
}

function ignoreNotFound(err: unknown): undefined {
  if (!isReason(err, 'NotFound')) throw err;
  return undefined;
}
