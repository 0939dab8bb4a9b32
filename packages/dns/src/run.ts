/**
 * `flotilla dns` as a process: informers on Services and EndpointSlices,
 * the DNS server on UDP and TCP once the caches are synced (an answer from
 * an empty cache would be a wrong NXDOMAIN), the /metrics and /healthz
 * server, and the kube-dns Service registration. The command only parses
 * flags into a DnsConfig and calls run().
 */
import { hostname } from 'node:os';
import type { EndpointSlice, Service } from '@flotilla/api';
import { Informer, RestClient, type ApiClient } from '@flotilla/client';
import { createLogger, startStatusServer, type Logger } from '@flotilla/observability';
import { InformerClusterView } from './cluster-view.js';
import { ClusterZone } from './cluster-zone.js';
import { DnsServer } from './dns-server.js';
import { Forwarder, hostUpstreams, type Upstream } from './forwarder.js';
import { KubeDnsRegistrar } from './kube-dns-service.js';
import { DnsMetrics } from './metrics.js';

/** Everything `flotilla dns` can set. */
export interface DnsConfig {
  /** kubeconfig path; $KUBECONFIG or ~/.kube/config when unset. */
  kubeconfig?: string;
  /** The zone served. Default `cluster.local`. */
  clusterDomain?: string;
  /** TTL of the zone's records, seconds. Default 30. */
  ttlSeconds?: number;
  /** Address to answer on (UDP and TCP). Default 0.0.0.0. */
  bindAddress?: string;
  /** Port to answer on. Default 53; 0 picks a free one. */
  port?: number;
  /** The address the proxies reach this server at (its kube-dns endpoint). Default: bindAddress unless that is 0.0.0.0. */
  advertiseAddress?: string;
  /** The kube-dns Service's ClusterIP. Default 10.96.0.10. */
  clusterDns?: string;
  /** Keep the kube-dns Service and add this server to its endpoints. Default true. */
  registerService?: boolean;
  /** Resolvers for names outside the zone ([]: forward nothing, SERVFAIL). Default: the nameservers of /etc/resolv.conf. */
  upstreams?: Upstream[];
  /** Per-upstream timeout of a forwarded query, ms. Default 2000. */
  forwardTimeoutMs?: number;
  /** Port of /metrics and /healthz; 0 picks one; -1 serves none. Default 9153 (CoreDNS's). */
  metricsPort?: number;
  /** Address of /metrics and /healthz. Default 127.0.0.1. */
  metricsHost?: string;
  /** This server's identity in the kube-dns endpoints. Default `<hostname>-<advertise address>:<port>`. */
  identity?: string;
  /** An ApiClient instead of one from the kubeconfig (tests). */
  client?: ApiClient;
  logger?: Logger;
  /** Told the bound ports once both servers listen. */
  onListening?: (ports: { dns: number; metrics: number }) => void;
}

/** Runs the DNS server until `signal` aborts; rejects if it cannot start. */
export async function run(config: DnsConfig, signal: AbortSignal): Promise<void> {
  const log = config.logger ?? createLogger('dns');
  const client = config.client ?? RestClient.fromKubeconfig(config.kubeconfig, { userAgent: 'flotilla-dns' });
  const metrics = new DnsMetrics();
  const bindAddress = config.bindAddress ?? '0.0.0.0';
  const advertise = config.advertiseAddress ?? (bindAddress === '0.0.0.0' || bindAddress === '::' ? undefined : bindAddress);
  const register = config.registerService ?? true;
  if (register && !advertise) throw new Error('--advertise-address is required when listening on every address (the kube-dns endpoints need one)');
  const upstreams = config.upstreams ?? hostUpstreams();
  if (upstreams.length === 0) log.warn('no upstream resolvers (--no-forward, or none in /etc/resolv.conf): names outside the zone get SERVFAIL');

  const services = new Informer<Service>(client, { apiVersion: 'v1', kind: 'Service' }, { logger: log });
  const slices = new Informer<EndpointSlice>(client, { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice' }, { logger: log });
  const zone = new ClusterZone(new InformerClusterView(services, slices), { domain: config.clusterDomain ?? 'cluster.local', ttl: config.ttlSeconds ?? 30 });
  const touch = () => zone.touch();
  for (const inf of [services, slices] as Array<Informer<Service | EndpointSlice>>) {
    inf.addEventHandler({ onAdd: touch, onUpdate: touch, onDelete: touch });
  }
  const forwarder = new Forwarder({ upstreams, timeoutMs: config.forwardTimeoutMs ?? 2000 });
  const server = new DnsServer({ zone, forwarder, metrics, logger: log, host: bindAddress, port: config.port ?? 53 });

  let serving = false;
  const registry = {
    render: () => {
      metrics.cachedObjects.set(services.store.size(), { resource: 'services' });
      metrics.cachedObjects.set(slices.store.size(), { resource: 'endpointslices' });
      return metrics.registry.render();
    },
  };
  const metricsPort = config.metricsPort ?? 9153;
  const status = metricsPort >= 0 ? await startStatusServer({ registry, port: metricsPort, host: config.metricsHost ?? '127.0.0.1', healthz: () => serving, logger: log }) : undefined;
  const tasks: Array<Promise<void>> = [];
  try {
    services.start(signal);
    slices.start(signal);
    const synced = (await Promise.all([services.waitForSync(signal), slices.waitForSync(signal)])).every(Boolean);
    if (!synced) return;
    await server.listen();
    serving = true;
    config.onListening?.({ dns: server.port, metrics: status?.port ?? -1 });
    if (register) {
      const registrar = new KubeDnsRegistrar(client, {
        clusterIP: config.clusterDns ?? '10.96.0.10',
        address: advertise!,
        port: server.port,
        identity: config.identity ?? `${hostname()}-${advertise}:${server.port}`,
        logger: log,
      });
      tasks.push(registrar.run(signal));
    }
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
  } finally {
    serving = false;
    await Promise.allSettled(tasks);
    await server.close();
    forwarder.close();
    await status?.close();
    log.info('dns stopped');
  }
}
