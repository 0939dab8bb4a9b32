/**
 * The ControllerManager runs the chosen controllers on one shared
 * InformerFactory, so each resource is listed and watched once per process
 * however many controllers read it. It knows nothing of flags, kubeconfigs
 * or leader election: run.ts does that and hands it a client and a signal.
 */
import { EventRecorder, InformerFactory, StopGrace, realClock, type ApiClient, type Clock, type Logger } from '@flotilla/client';
import { ControllerMetrics } from './controller-metrics.js';
import { CronJobController } from './cronjob/index.js';
import { DaemonSetController } from './daemonset/index.js';
import { JobController } from './job/index.js';
import { CsrSigningController } from './csr/index.js';
import { DeploymentController } from './deployment/index.js';
import { DisruptionController } from './disruption/index.js';
import type { ControllerDeps } from './context.js';
import { EndpointsController } from './endpoints/index.js';
import { EndpointSliceController, EndpointSliceMirroringController } from './endpointslice/index.js';
import { GarbageCollector } from './garbage-collector/index.js';
import { NamespaceController } from './namespace/index.js';
import { NodeIpamController } from './node-ipam/index.js';
import { NodeLifecycleController } from './node-lifecycle/index.js';
import { ReplicaSetController } from './replicaset/index.js';
import { ServiceLBController } from './service-lb/index.js';
import { TokenCleanerController } from './tokencleaner/index.js';

/** Every controller the manager can run, by its `--controllers` name. */
export const CONTROLLER_NAMES = ['replicaset', 'deployment', 'node-lifecycle', 'endpoints', 'endpointslice', 'endpointslice-mirroring', 'garbage-collector', 'namespace', 'disruption', 'node-ipam', 'service-lb', 'daemonset', 'job', 'cronjob', 'csr-signing', 'tokencleaner'] as const;

/** A controller name. */
export type ControllerName = (typeof CONTROLLER_NAMES)[number];

/** How long the controllers' requests in flight may go on after the stop (see ControllerManager.run). */
export const REQUEST_GRACE_MS = 1_000;

/** What the manager needs of a controller: run until the signal aborts. */
export interface RunnableController {
  run(signal: AbortSignal): Promise<void>;
}

/** The Event source component of each controller, as Kubernetes names them. */
const COMPONENTS: Record<ControllerName, string> = {
  replicaset: 'replicaset-controller',
  deployment: 'deployment-controller',
  'node-lifecycle': 'node-controller',
  endpoints: 'endpoint-controller',
  endpointslice: 'endpointslice-controller',
  'endpointslice-mirroring': 'endpointslicemirroring-controller',
  'garbage-collector': 'garbage-collector-controller',
  namespace: 'namespace-controller',
  disruption: 'controllermanager',
  'node-ipam': 'node-ipam-controller',
  'service-lb': 'service-lb-controller',
  daemonset: 'daemonset-controller',
  job: 'job-controller',
  cronjob: 'cronjob-controller',
  'csr-signing': 'certificatesigningrequest-signing-controller',
  tokencleaner: 'tokencleaner',
};

/** Options of a ControllerManager. */
export interface ControllerManagerOptions {
  client: ApiClient;
  /** Which controllers run: names, `*` for all, `-name` to leave one out (kube-controller-manager syntax). Default all. */
  controllers?: readonly string[];
  logger: Logger;
  clock?: Clock;
  metrics?: ControllerMetrics;
  /** Node lifecycle: Lease silence before a node is Unknown. Default 8 s. */
  nodeMonitorGracePeriodMs?: number;
  /** Node lifecycle: default toleration of pods for the unreachable taint. Default 1 s. */
  defaultUnreachableTolerationSeconds?: number;
  /** Node lifecycle: PING period of each node's liveness server. Default 500 ms. */
  nodeProbeIntervalMs?: number;
  /** Node lifecycle: silence of a probed node before it is Unknown. Default 3 s (six PING periods). */
  nodeProbeGracePeriodMs?: number;
  /** Node lifecycle: false = judge nodes on their Lease only (no probes). Default true. */
  nodeProbes?: boolean;
  /** Node IPAM: give Nodes pod ranges at all (`--allocate-node-cidrs`). Default true; false leaves node-ipam out. */
  allocateNodeCIDRs?: boolean;
  /** Node IPAM: the cluster pod range. Default 10.244.0.0/16. */
  clusterCIDR?: string;
  /** Node IPAM: prefix length of each node's range. Default 24. */
  nodeCIDRMaskSize?: number;
  /** EndpointSlice: endpoints per slice. Default 100. */
  maxEndpointsPerSlice?: number;
  /** CSR signing: the cluster CA certificate and key (PEM files); without them csr-signing is skipped. */
  clusterSigningCertFile?: string;
  clusterSigningKeyFile?: string;
  /** CSR signing: longest validity of a signed certificate, seconds. Default 365 days. */
  clusterSigningDurationSeconds?: number;
  /** Workers per controller, by name. */
  workers?: Partial<Record<ControllerName, number>>;
  /** Informer watch timeout (tests use short ones). */
  watchTimeoutSeconds?: number;
}

/** Resolves a `--controllers` list to the names that run; throws on an unknown name. */
export function resolveControllers(spec: readonly string[] | undefined): ControllerName[] {
  const list = spec && spec.length > 0 ? spec : ['*'];
  const known = new Set<string>(CONTROLLER_NAMES);
  const on = new Set<ControllerName>();
  const off = new Set<string>();
  for (const raw of list) {
    const item = raw.trim();
    if (!item) continue;
    if (item === '*') CONTROLLER_NAMES.forEach((n) => on.add(n));
    else if (item.startsWith('-')) {
      if (!known.has(item.slice(1))) throw new Error(`unknown controller "${item.slice(1)}"; known: ${CONTROLLER_NAMES.join(', ')}`);
      off.add(item.slice(1));
    } else {
      if (!known.has(item)) throw new Error(`unknown controller "${item}"; known: ${CONTROLLER_NAMES.join(', ')}`);
      on.add(item as ControllerName);
    }
  }
  return CONTROLLER_NAMES.filter((n) => on.has(n) && !off.has(n));
}

/** Runs a set of controllers over one shared informer factory. */
export class ControllerManager {
  /** Reconcile counts, errors, durations and queue depths of every controller. */
  readonly metrics: ControllerMetrics;
  /** The controllers that will run (or ran), by name; filled by run(). */
  readonly running = new Map<ControllerName, RunnableController>();
  private readonly names: ControllerName[];
  private readonly clock: Clock;

  constructor(private readonly options: ControllerManagerOptions) {
    this.names = resolveControllers(options.controllers).filter((n) => n !== 'node-ipam' || options.allocateNodeCIDRs !== false);
    this.metrics = options.metrics ?? new ControllerMetrics();
    this.clock = options.clock ?? realClock;
  }

  /** The controllers selected to run. */
  get controllers(): readonly ControllerName[] {
    return this.names;
  }

  /** Builds the controllers on a fresh informer factory, starts it, and runs them until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    // The controllers finish the item in hand when they stop. With an apiserver that stopped
    // answering, a request of that item would hold the stop for the client's response timeout
    // (60 s): REQUEST_GRACE_MS after the stop, whatever is still in flight is given up.
    const requests = new StopGrace(this.options.client, REQUEST_GRACE_MS);
    const disarm = requests.arm(signal);
    try {
      await this.runWith(requests.client, signal);
    } finally {
      disarm();
    }
  }

  private async runWith(client: ApiClient, signal: AbortSignal): Promise<void> {
    const { logger } = this.options;
    const informers = new InformerFactory(client, { clock: this.clock, logger, watchTimeoutSeconds: this.options.watchTimeoutSeconds });
    const recorders: EventRecorder[] = [];
    this.running.clear();
    for (const name of this.names) {
      const recorder = new EventRecorder(client, { component: COMPONENTS[name], clock: this.clock, logger });
      recorders.push(recorder);
      const deps: ControllerDeps = {
        client,
        informers,
        recorder,
        logger: childLogger(logger, name),
        clock: this.clock,
        metrics: this.metrics,
        ...(this.options.workers?.[name] ? { workers: this.options.workers[name] } : {}),
      };
      const c = await this.build(name, deps);
      if (c) this.running.set(name, c);
      else logger.warn({ controller: name }, 'controller not available in this build; skipped');
    }
    if (signal.aborted) return;
    informers.start(signal);
    logger.info({ controllers: [...this.running.keys()] }, 'controllers starting');
    await Promise.all(
      [...this.running.entries()].map(([name, c]) =>
        c.run(signal).catch((err: unknown) => {
          logger.error({ controller: name, err: (err as Error)?.message ?? String(err) }, 'controller failed');
          throw err;
        }),
      ),
    );
    await Promise.all(recorders.map((r) => r.flush()));
    logger.info({}, 'controllers stopped');
  }

  private async build(name: ControllerName, deps: ControllerDeps): Promise<RunnableController | undefined> {
    switch (name) {
      case 'node-lifecycle':
        return new NodeLifecycleController({
          ...deps,
          nodeMonitorGracePeriodMs: this.options.nodeMonitorGracePeriodMs,
          defaultUnreachableTolerationSeconds: this.options.defaultUnreachableTolerationSeconds,
          probeIntervalMs: this.options.nodeProbeIntervalMs,
          probeGracePeriodMs: this.options.nodeProbeGracePeriodMs,
          ...(this.options.nodeProbes === false ? { liveness: false as const } : {}),
        });
      case 'endpoints':
        return new EndpointsController(deps);
      case 'endpointslice':
        return new EndpointSliceController({ ...deps, maxEndpointsPerSlice: this.options.maxEndpointsPerSlice });
      case 'endpointslice-mirroring':
        return new EndpointSliceMirroringController({ ...deps, maxEndpointsPerSlice: this.options.maxEndpointsPerSlice });
      case 'garbage-collector':
        return new GarbageCollector(deps);
      case 'namespace':
        return new NamespaceController(deps);
      case 'replicaset':
        return new ReplicaSetController(deps);
      case 'deployment':
        return new DeploymentController(deps);
      case 'disruption':
        return new DisruptionController(deps);
      case 'daemonset':
        return new DaemonSetController(deps);
      case 'job':
        return new JobController(deps);
      case 'cronjob':
        return new CronJobController(deps);
      case 'node-ipam':
        return new NodeIpamController({ ...deps, clusterCIDR: this.options.clusterCIDR, nodeCIDRMaskSize: this.options.nodeCIDRMaskSize });
      case 'service-lb':
        return new ServiceLBController(deps);
      case 'csr-signing':
        if (!this.options.clusterSigningCertFile || !this.options.clusterSigningKeyFile) return undefined;
        return new CsrSigningController({ ...deps, caCertFile: this.options.clusterSigningCertFile, caKeyFile: this.options.clusterSigningKeyFile, ...(this.options.clusterSigningDurationSeconds ? { maxDurationSeconds: this.options.clusterSigningDurationSeconds } : {}) });
      case 'tokencleaner':
        return new TokenCleanerController(deps);
    }
  }
}

/** A pino child logger with the controller's name on every line, when the logger supports it. */
function childLogger(logger: Logger, controller: string): Logger {
  const child = (logger as Logger & { child?: (b: object) => Logger }).child;
  return typeof child === 'function' ? child.call(logger, { controller }) : logger;
}
