/**
 * The `kubernetes` Service in `default`: the first address of the service
 * range, port 443 to the apiservers' secure port, and an Endpoints object
 * listing every live apiserver. As kube-apiserver's lease endpoint
 * reconciler, each apiserver renews its own entry in an internal object
 * (`masterleases/kubernetes`, not served over the API) with an expiry, so
 * the Endpoints lose an apiserver that died without saying goodbye.
 */
import { isReason } from '@flotilla/api';
import type { Endpoints, KubeObject, Service } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import { AllocationError } from './range-allocator.js';
import type { ServiceAllocator } from './service-allocator.js';

/** The store resource of the apiservers' leases; not served over the API. */
export const MASTER_LEASES_RESOURCE = 'masterleases';

/** Options of the kubernetes Service reconciler. */
export interface KubernetesServiceOptions {
  /** The address other hosts reach this apiserver at (--advertise-address). */
  address: string;
  /** The secure port this apiserver serves on. */
  port: number;
  /** How often the lease is renewed and the objects checked. Default 10 s. */
  intervalMs?: number;
  /** How long an apiserver stays in the Endpoints without renewing. Default 15 s. */
  leaseTtlMs?: number;
  logger?: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

interface MasterLeases extends KubeObject {
  /** `ip:port` → expiry in ms since the epoch. */
  leases: Record<string, number>;
}

const NAMESPACE = 'default';
const NAME = 'kubernetes';
const LABELS = { component: 'apiserver', provider: 'kubernetes' };

/** Keeps the `kubernetes` Service and its Endpoints pointing at the live apiservers. */
export class KubernetesServiceReconciler {
  private readonly me: string;
  private readonly interval: number;
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(
    private readonly storage: Storage,
    private readonly allocator: ServiceAllocator,
    private readonly options: KubernetesServiceOptions,
  ) {
    this.me = `${options.address}:${options.port}`;
    this.interval = options.intervalMs ?? 10_000;
    this.ttl = options.leaseTtlMs ?? 15_000;
    this.now = options.now ?? Date.now;
  }

  /** One round: renew this apiserver's lease, ensure the Service, write the Endpoints of the live apiservers. */
  async reconcileOnce(): Promise<void> {
    const live = await this.updateLeases((leases, now) => {
      leases[this.me] = now + this.ttl;
    });
    await this.ensureService();
    await this.writeEndpoints(live);
  }

  /** Runs rounds until `signal` aborts, then takes this apiserver out of the Endpoints. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.options.logger;
    while (!signal.aborted) {
      try {
        await this.reconcileOnce();
      } catch (err) {
        if (!signal.aborted) log?.warn({ err, service: `${NAMESPACE}/${NAME}` }, 'could not reconcile the kubernetes service; retrying');
      }
      await sleep(this.interval, signal);
    }
    try {
      const live = await this.updateLeases((leases) => {
        delete leases[this.me];
      });
      await this.writeEndpoints(live);
    } catch (err) {
      log?.warn({ err, endpoint: this.me }, 'could not remove this apiserver from the kubernetes endpoints');
    }
  }

  /** Applies `change` to the leases, drops expired ones, and returns the live `ip:port` entries. */
  private async updateLeases(change: (leases: Record<string, number>, now: number) => void): Promise<string[]> {
    let live: string[] = [];
    for (;;) {
      try {
        await this.storage.guaranteedUpdate(MASTER_LEASES_RESOURCE, undefined, NAME, (cur) => {
          const obj = cur as MasterLeases;
          const now = this.now();
          const leases: Record<string, number> = {};
          for (const [k, t] of Object.entries(obj.leases ?? {})) if (typeof t === 'number' && t > now) leases[k] = t;
          change(leases, now);
          live = Object.keys(leases).sort();
          return { ...obj, leases };
        });
        return live;
      } catch (err) {
        if (!isReason(err, 'NotFound')) throw err;
        try {
          await this.storage.create(MASTER_LEASES_RESOURCE, { apiVersion: 'v1', kind: 'MasterLeases', metadata: { name: NAME }, leases: {} } as MasterLeases);
        } catch (e) {
          if (!isReason(e, 'AlreadyExists')) throw e;
        }
      }
    }
  }

  private desiredPorts(): NonNullable<Service['spec']>['ports'] {
    return [{ name: 'https', port: 443, protocol: 'TCP', targetPort: this.options.port }];
  }

  /** Creates the Service with the first IP of the range, or puts its ports back if someone changed them. */
  private async ensureService(): Promise<void> {
    let cur: Service | undefined;
    try {
      cur = (await this.storage.get('services', NAMESPACE, NAME)) as Service;
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
    if (cur) {
      if (JSON.stringify(cur.spec?.ports) !== JSON.stringify(this.desiredPorts())) {
        await this.storage.guaranteedUpdate('services', NAMESPACE, NAME, (s) => ({ ...s, spec: { ...(s.spec as object), ports: this.desiredPorts() } }));
      }
      return;
    }
    const ip = this.allocator.kubernetesServiceIP;
    const value = this.allocator.ips.range.parse(ip)!;
    try {
      await this.allocator.ips.allocate(value);
    } catch (err) {
      // Another apiserver is creating it right now, or a leak the repair loop will free: next round.
      if (err instanceof AllocationError) {
        this.options.logger?.info({ service: `${NAMESPACE}/${NAME}`, ip, reason: err.message }, 'kubernetes service IP not free yet');
        return;
      }
      throw err;
    }
    const svc: Service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: NAME, namespace: NAMESPACE, labels: LABELS },
      spec: {
        type: 'ClusterIP',
        clusterIP: ip,
        clusterIPs: [ip],
        ipFamilies: ['IPv4'],
        ipFamilyPolicy: 'SingleStack',
        ports: this.desiredPorts(),
        sessionAffinity: 'None',
        internalTrafficPolicy: 'Cluster',
      },
    };
    try {
      await this.storage.create('services', svc);
      this.options.logger?.info({ service: `${NAMESPACE}/${NAME}`, ip }, 'created the kubernetes service');
    } catch (err) {
      const existing = isReason(err, 'AlreadyExists') ? ((await this.storage.get('services', NAMESPACE, NAME).catch(() => undefined)) as Service | undefined) : undefined;
      if (existing?.spec?.clusterIP !== ip) await this.allocator.ips.release([value]);
      if (!isReason(err, 'AlreadyExists')) throw err;
    }
  }

  /** Writes the Endpoints of the live apiservers (one subset per port), if they differ. */
  private async writeEndpoints(live: string[]): Promise<void> {
    const byPort = new Map<number, string[]>();
    for (const entry of live) {
      const i = entry.lastIndexOf(':');
      const port = Number(entry.slice(i + 1));
      byPort.set(port, [...(byPort.get(port) ?? []), entry.slice(0, i)]);
    }
    const subsets: NonNullable<Endpoints['subsets']> = [...byPort.entries()]
      .sort(([a], [b]) => a - b)
      .map(([port, ips]) => ({ addresses: ips.map((ip) => ({ ip })), ports: [{ name: 'https', port, protocol: 'TCP' }] }));
    let cur: Endpoints | undefined;
    try {
      cur = (await this.storage.get('endpoints', NAMESPACE, NAME)) as Endpoints;
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
    if (!cur) {
      try {
        await this.storage.create('endpoints', { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: NAME, namespace: NAMESPACE, labels: LABELS }, subsets } as Endpoints);
        return;
      } catch (err) {
        if (!isReason(err, 'AlreadyExists')) throw err;
      }
    }
    await this.storage.guaranteedUpdate('endpoints', NAMESPACE, NAME, (ep) => {
      if (JSON.stringify((ep as Endpoints).subsets ?? []) === JSON.stringify(subsets)) return ep;
      return { ...ep, subsets };
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
