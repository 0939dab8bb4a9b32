/**
 * Cluster IPs and node ports of Services, as kube-apiserver hands them out:
 * allocate before the Service is stored, give back if storing fails, keep
 * them across updates, free node ports when a Service stops being NodePort,
 * free everything on delete, and a repair loop that rebuilds both sets from
 * the Services that exist (so a crash between allocate and create does not
 * leak forever).
 */
import { carryOverServiceAllocations, invalid, type FieldError, type Service } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import { AllocationError, RangeAllocator, type RepairResult } from './range-allocator.js';
import {
  DEFAULT_SERVICE_CLUSTER_IP_RANGE,
  DEFAULT_SERVICE_NODE_PORT_RANGE,
  parsePortRange,
  parseServiceCidr,
} from './service-ranges.js';

/** Configuration of Service allocation (kube-apiserver's flags). */
export interface ServiceAllocatorConfig {
  /** `--service-cluster-ip-range`, default 10.96.0.0/16. */
  clusterIPRange?: string;
  /** `--service-node-port-range`, default 30000-32767. */
  nodePortRange?: string;
  /** How long a fresh allocation without its Service survives a repair. Default 60 s. */
  recentGraceMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Values one write took, to give back if the write fails. */
export interface TakenValues {
  ips: number[];
  ports: number[];
}

const NONE: TakenValues = { ips: [], ports: [] };

const usesNodePorts = (svc: Service) => svc.spec?.type === 'NodePort' || (svc.spec?.type === 'LoadBalancer' && svc.spec.allocateLoadBalancerNodePorts !== false);
const hasClusterIP = (svc: Service) => svc.spec !== undefined && svc.spec.type !== 'ExternalName' && svc.spec.clusterIP !== 'None';

/** Allocates cluster IPs and node ports for Services through the store. */
export class ServiceAllocator {
  /** Cluster IPs (store object `ranges/serviceips`). */
  readonly ips: RangeAllocator;
  /** Node ports (store object `ranges/servicenodeports`). */
  readonly ports: RangeAllocator;

  constructor(
    private readonly storage: Storage,
    config: ServiceAllocatorConfig = {},
    private readonly log?: Logger,
  ) {
    const opts = { ...(config.recentGraceMs !== undefined ? { recentGraceMs: config.recentGraceMs } : {}), ...(config.now ? { now: config.now } : {}) };
    this.ips = new RangeAllocator(storage, 'serviceips', parseServiceCidr(config.clusterIPRange ?? DEFAULT_SERVICE_CLUSTER_IP_RANGE), opts);
    this.ports = new RangeAllocator(storage, 'servicenodeports', parsePortRange(config.nodePortRange ?? DEFAULT_SERVICE_NODE_PORT_RANGE), opts);
  }

  /** The first address of the range, which the `kubernetes` Service in `default` holds. */
  get kubernetesServiceIP(): string {
    return this.ips.range.format(this.ips.range.min);
  }

  /** The values a stored Service holds. */
  valuesOf(svc: Service): TakenValues {
    const ips: number[] = [];
    const ip = hasClusterIP(svc) && svc.spec?.clusterIP ? this.ips.range.parse(svc.spec.clusterIP) : undefined;
    if (ip !== undefined) ips.push(ip);
    const ports = usesNodePorts(svc) ? [...new Set((svc.spec?.ports ?? []).map((p) => p?.nodePort).filter((n): n is number => typeof n === 'number' && n > 0))] : [];
    return { ips, ports };
  }

  /**
   * Fills in and takes the cluster IP and node ports of a Service being
   * created. Throws 422 naming the field when a requested value is taken or
   * out of range, or when a range is full (our choice: kube-apiserver answers
   * that with a 500, but nothing is wrong with the server; the client can free
   * Services, ask for a headless one, or the admin can widen the range).
   */
  async allocateCreate(svc: Service, dryRun = false): Promise<TakenValues> {
    return this.take(svc, undefined, dryRun);
  }

  /**
   * Prepares an update before validation, as Kubernetes' Service strategy:
   * allocations left out of the new object are carried over, and node ports
   * the client left untouched are dropped when the type no longer uses them.
   */
  prepareUpdate(svc: Service, old: Service): void {
    carryOverServiceAllocations(svc, old);
    if (svc.spec && !usesNodePorts(svc) && usesNodePorts(old)) {
      const before = new Set((old.spec?.ports ?? []).map((p) => p.nodePort));
      for (const p of Array.isArray(svc.spec.ports) ? svc.spec.ports : []) {
        if (p && typeof p === 'object' && p.nodePort !== undefined && before.has(p.nodePort)) delete p.nodePort;
      }
    }
  }

  /** Takes what an update adds (a new nodePort, a type change to NodePort); see releaseReplaced for what it drops. */
  async allocateUpdate(svc: Service, old: Service, dryRun = false): Promise<TakenValues> {
    return this.take(svc, old, dryRun);
  }

  /** After a successful update: frees what the old object held and the new one does not. */
  async releaseReplaced(old: Service, next: Service): Promise<void> {
    const a = this.valuesOf(old);
    const b = this.valuesOf(next);
    await this.release({ ips: a.ips.filter((v) => !b.ips.includes(v)), ports: a.ports.filter((v) => !b.ports.includes(v)) });
  }

  /** Gives values back; failures are logged, not thrown (the repair loop frees what is left). */
  async release(values: TakenValues): Promise<void> {
    if (values.ips.length === 0 && values.ports.length === 0) return;
    try {
      await Promise.all([values.ips.length ? this.ips.release(values.ips) : undefined, values.ports.length ? this.ports.release(values.ports) : undefined]);
    } catch (err) {
      this.log?.warn({ err, ips: values.ips.map((v) => this.ips.range.format(v)), ports: values.ports }, 'could not release service allocations; the repair loop will');
    }
  }

  /** Rebuilds both sets from every Service in the store. */
  async repair(): Promise<{ ips: RepairResult; ports: RepairResult }> {
    const { items } = await this.storage.list('services', undefined);
    const ips: number[] = [];
    const ports: number[] = [];
    for (const s of items as Service[]) {
      const v = this.valuesOf(s);
      ips.push(...v.ips);
      ports.push(...v.ports);
    }
    const [ipResult, portResult] = await Promise.all([this.ips.repair(ips), this.ports.repair(ports)]);
    const fmt = (r: RepairResult, f: (v: number) => string) => ({ added: r.added.map(f), leaked: r.leaked.map(f), outOfRange: r.outOfRange.map(f) });
    const changed = (r: RepairResult) => r.added.length + r.leaked.length + r.outOfRange.length > 0;
    if (changed(ipResult)) this.log?.warn({ services: items.length, ...fmt(ipResult, this.ips.range.format) }, 'repaired the cluster IP allocations');
    if (changed(portResult)) this.log?.warn({ services: items.length, ...fmt(portResult, String) }, 'repaired the node port allocations');
    return { ips: ipResult, ports: portResult };
  }

  /** Repairs now and then every `intervalMs` until `signal` aborts; errors are logged and retried next round. */
  async runRepairLoop(signal: AbortSignal, intervalMs = 60_000): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.repair();
      } catch (err) {
        if (!signal.aborted) this.log?.warn({ err }, 'service allocation repair failed; retrying later');
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        t.unref?.();
        signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
      });
    }
  }

  // ------------------------------------------------------------ internals

  /** Takes what `svc` needs beyond what `old` holds; all or nothing. A dry run fills in values and reports conflicts but takes nothing. */
  private async take(svc: Service, old: Service | undefined, dryRun = false): Promise<TakenValues> {
    const spec = svc.spec;
    if (!spec || typeof spec !== 'object') return NONE;
    const name = svc.metadata?.name ?? '';
    const held = old ? this.valuesOf(old) : NONE;
    const taken: TakenValues = { ips: [], ports: [] };
    const errors: FieldError[] = [];
    try {
      // Cluster IP.
      if (spec.type !== 'ExternalName') {
        if (spec.clusterIP === 'None' || (!spec.clusterIP && spec.clusterIPs?.[0] === 'None')) {
          spec.clusterIP = 'None';
          spec.clusterIPs = ['None'];
        } else {
          const requested = spec.clusterIP || spec.clusterIPs?.[0];
          if (requested) {
            const ip = this.ips.range.parse(requested);
            if (ip === undefined || !this.ips.contains(ip)) {
              errors.push(fieldInvalid('spec.clusterIP', requested, `provided IP is not in the valid range. The range of valid IPs is ${this.ips.range.text}`));
            } else if (!held.ips.includes(ip)) {
              await this.takeOne(this.ips, ip, dryRun ? undefined : taken.ips, errors, 'spec.clusterIP', requested);
            }
            if (ip !== undefined) {
              spec.clusterIP = requested;
              spec.clusterIPs = [requested];
            }
          } else {
            const ip = await this.takeOne(this.ips, undefined, dryRun ? undefined : taken.ips, errors, 'spec.clusterIP', '');
            if (ip !== undefined) {
              spec.clusterIP = this.ips.range.format(ip);
              spec.clusterIPs = [spec.clusterIP];
            }
          }
          spec.ipFamilies ??= ['IPv4'];
          spec.ipFamilyPolicy ??= 'SingleStack';
        }
      }
      // Node ports: one per distinct value (TCP and UDP may share a port number).
      if (usesNodePorts(svc) && Array.isArray(spec.ports)) {
        const mine = new Set(held.ports);
        for (const [i, p] of spec.ports.entries()) {
          if (!p || typeof p !== 'object' || !p.nodePort) continue;
          if (mine.has(p.nodePort)) continue;
          const field = `spec.ports[${i}].nodePort`;
          if (!this.ports.contains(p.nodePort)) {
            errors.push(fieldInvalid(field, p.nodePort, `provided port is not in the valid range. The range of valid ports is ${this.ports.range.text}`));
            continue;
          }
          const got = await this.takeOne(this.ports, p.nodePort, dryRun ? undefined : taken.ports, errors, field, p.nodePort);
          if (got !== undefined) mine.add(got);
        }
        for (const [i, p] of spec.ports.entries()) {
          if (!p || typeof p !== 'object' || p.nodePort) continue;
          const got = await this.takeOne(this.ports, undefined, dryRun ? undefined : taken.ports, errors, `spec.ports[${i}].nodePort`, 0);
          if (got !== undefined) p.nodePort = got;
        }
      }
    } catch (err) {
      await this.release(taken);
      throw err;
    }
    if (errors.length > 0) {
      await this.release(taken);
      throw invalid('Service', name, errors);
    }
    return taken;
  }

  /** One allocation; an AllocationError becomes a field error, anything else (the store) is thrown. */
  private async takeOne(alloc: RangeAllocator, value: number | undefined, into: number[] | undefined, errors: FieldError[], field: string, shown: unknown): Promise<number | undefined> {
    try {
      const v = value === undefined ? await alloc.allocateNext(into === undefined) : await alloc.allocate(value, into === undefined);
      into?.push(v);
      return v;
    } catch (err) {
      if (!(err instanceof AllocationError)) throw err;
      errors.push(fieldInvalid(field, shown, err.message));
      return undefined;
    }
  }
}

function fieldInvalid(field: string, value: unknown, detail: string): FieldError {
  return { type: 'FieldValueInvalid', field, message: `Invalid value: ${JSON.stringify(value)}: ${detail}` };
}
