/**
 * One node's agent: registers the Node, renews its Lease, and runs a pod
 * worker per pod key through the shared controller harness. Keys come from
 * three sources: the pod informer, the runtime's event stream (a container
 * died), and a periodic relist that also sweeps away containers of pods
 * that no longer exist.
 */
import { objectKey, type Node, type Pod, type Service } from '@flotilla/api';
import { Backoff, Controller, EventRecorder, Informer, realClock, sleep, type ApiClient } from '@flotilla/client';
import { createLogger, type Logger } from '@flotilla/observability';
import { resolveConfig, type AgentConfig, type ResolvedAgentConfig } from './config.js';
import type { RouteTable } from '@flotilla/network';
import { LeaseHeartbeat } from './lease-heartbeat.js';
import { LIVENESS_ENDPOINT_ANNOTATION, LivenessServer } from './liveness-server.js';
import { startNodeServer, type NodeServer, type TokenReviewer } from './node-server.js';
import { PodNetworkManager } from './network/pod-network.js';
import { AgentMetrics } from './metrics.js';
import { NodeStatusReporter } from './node-status.js';
import { NodePodIndex } from './pod-source.js';
import { PodSyncer, type PodSyncerDeps } from './pod-sync.js';
import { ProbeManager, type ProbeRunner } from './prober.js';
import { RelistSelection } from './relist.js';
import type { ContainerRuntime, RuntimeEvent } from './runtime/types.js';
import { StatusManager } from './status-manager.js';

/** The node server (logs, exec, attach, port-forward) an agent runs, if any. */
export interface AgentNodeServerOptions {
  port: number;
  host?: string;
  /** The pair to start serving with: a stored CA-signed one, or a throwaway bootstrap one. */
  tls: { key: string; cert: string };
  /** The cluster CA: the apiserver's client certificate must chain to it. */
  clientCa: string;
  /** When `tls` is not CA-signed yet: fetches the CA-signed pair once the Node exists (retried until it succeeds). */
  obtainCert?: () => Promise<{ key: string; cert: string }>;
  /** Reviews bearer tokens of administrators who call the node server directly. */
  reviewer?: TokenReviewer;
}

/** What an Agent is built from. */
export interface AgentOptions {
  config: AgentConfig;
  client: ApiClient;
  runtime: ContainerRuntime;
  /** A shared pod index (hollow nodes); otherwise the agent watches its own pods. */
  pods?: NodePodIndex;
  metrics?: AgentMetrics;
  /** Replaces real probes (hollow nodes have no network). */
  probeRunner?: ProbeRunner;
  /** Serve logs, exec, attach, port-forward and metrics; without it the Node advertises `advertisedPort` (or 0). */
  nodeServer?: AgentNodeServerOptions;
  advertisedPort?: number;
  /** Event recorder; one per agent by default. */
  recorder?: EventRecorder;
  /** Services for the containers' service variables: a shared informer (hollow nodes); the agent watches its own otherwise. */
  services?: Informer<Service>;
  /** With `config.podNetwork`: the routing table of host-gw routes (default the kernel's), or false for none. */
  hostRoutes?: RouteTable | false;
  /** With `config.podNetwork`: how forwarding into the pod bridge is allowed (default an iptables DOCKER-USER rule). */
  podForwarding?: (bridge: string) => Promise<unknown>;
  /**
   * A liveness server shared by several agents (hollow nodes) and the
   * `host:port` it is reached at; otherwise the agent starts its own when
   * `config.livenessPort` is set.
   */
  liveness?: { server: LivenessServer; endpoint: string };
  /** The containers' termination-log files (PodSyncerDeps.terminationLogs; host files by default). */
  terminationLogs?: PodSyncerDeps['terminationLogs'];
  /** The pod syncer's clock (back-offs, deadlines, the host resolv.conf's re-reading); Date.now by default. */
  now?: () => number;
}

/** A node agent. */
export class Agent {
  readonly config: ResolvedAgentConfig;
  readonly metrics: AgentMetrics;
  readonly syncer: PodSyncer;
  readonly prober: ProbeManager;
  readonly controller: Controller;
  private readonly log: Logger;
  private readonly recorder: EventRecorder;
  private pods: NodePodIndex | undefined;
  private readonly relisted: RelistSelection;
  /** Pods being synced now (key), with the runtime events that came meanwhile: judged once the sync has listed its containers. */
  private readonly syncing = new Map<string, RuntimeEvent[]>();
  private readonly services: Informer<Service>;
  private nodeServer: NodeServer | undefined;
  /** The pod network, when the agent manages it (set in run()). */
  network: PodNetworkManager | undefined;
  private readonly ready: Promise<void>;
  private markReady!: () => void;
  private readonly certReady: Promise<void>;
  private markCertReady!: () => void;

  constructor(private readonly o: AgentOptions) {
    this.config = resolveConfig(o.config);
    this.log = this.config.logger ?? createLogger('agent');
    this.metrics = o.metrics ?? new AgentMetrics();
    this.relisted = new RelistSelection(this.config.relistIntervalMs, this.config.podResyncIntervalMs);
    // Few Event writes at once: a burst of pod starts records three or four each, and they would queue at the
    // apiserver ahead of the pod status writes that make the pods Running (the kubelet rate-limits its Events too).
    this.recorder = o.recorder ?? new EventRecorder(o.client, { component: 'kubelet', host: this.config.nodeName, logger: this.log, maxInFlight: 2 });
    this.pods = o.pods;
    this.services = o.services ?? new Informer<Service>(o.client, { apiVersion: 'v1', kind: 'Service' }, { logger: this.log });
    this.ready = new Promise((r) => (this.markReady = r));
    this.certReady = new Promise((r) => (this.markCertReady = r));
    this.prober = new ProbeManager({
      runtime: o.runtime,
      onChange: (key) => this.controller.enqueue(key),
      onFailure: (target, kind, message) => {
        const pod = this.pods?.get(this.config.nodeName, target.podKey);
        const what = kind === 'liveness' ? 'Liveness' : kind === 'readiness' ? 'Readiness' : 'Startup';
        if (pod) this.recorder.event(pod, 'Warning', 'Unhealthy', `${what} probe failed: ${message}`);
      },
      ...(o.probeRunner ? { runner: o.probeRunner } : {}),
    });
    this.syncer = new PodSyncer({
      runtime: o.runtime,
      client: o.client,
      recorder: this.recorder,
      prober: this.prober,
      status: new StatusManager(o.client, this.metrics),
      config: this.config,
      metrics: this.metrics,
      log: this.log,
      services: () => this.services.store.list(),
      networkNotReady: () => (this.network ? this.network.notReadyReason() : this.config.podNetwork ? 'the agent is starting' : undefined),
      ...(o.terminationLogs ? { terminationLogs: o.terminationLogs } : {}),
      ...(o.now ? { now: o.now } : {}),
    });
    this.controller = new Controller({
      name: `agent-${this.config.nodeName}`,
      workers: this.config.workers,
      reconcile: (key) => this.reconcile(key),
      logger: this.log,
      // Containers start only once the Services were read: their service variables are fixed at start.
      informers: [{ waitForSync: (s?: AbortSignal) => this.ready.then(async () => (await this.pods!.waitForSync(s)) && (await this.services.waitForSync(s))) }],
    });
  }

  /** The node server's port once started (0 when none). */
  get nodeServerPort(): number {
    return this.nodeServer?.port ?? 0;
  }

  /** Resolves once the node server serves its CA-signed certificate. */
  whenServingCertReady(): Promise<void> {
    return this.certReady;
  }

  /** Resolves once the Node is registered and the pod cache is synced. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Runs until `signal` aborts; containers keep running after it stops (a restarted agent adopts them). */
  async run(signal: AbortSignal): Promise<void> {
    const { nodeName } = this.config;
    const host = await this.o.runtime.hostInfo();
    const ns = this.o.nodeServer;
    if (ns) {
      this.nodeServer = await startNodeServer({
        runtime: this.o.runtime,
        ...(ns.reviewer ? { reviewer: ns.reviewer } : {}),
        podUid: (namespace, name) => this.pods?.get(nodeName, `${namespace}/${name}`)?.metadata.uid,
        podIP: (namespace, name) => this.pods?.get(nodeName, `${namespace}/${name}`)?.status?.podIP,
        registry: this.metrics.registry,
        tls: { ...ns.tls, clientCa: ns.clientCa },
        port: ns.port,
        ...(ns.host ? { host: ns.host } : {}),
        log: this.log,
      });
      if (!ns.obtainCert) this.markCertReady();
    }
    const liveness = await this.startLiveness();
    const reporter = new NodeStatusReporter(
      this.o.client,
      {
        nodeName,
        nodeIP: this.config.nodeIP,
        maxPods: this.config.maxPods,
        logPort: this.nodeServer?.port ?? this.o.advertisedPort ?? 0,
        // Removed when there is no liveness server, so a controller never probes a port nobody serves.
        annotations: { [LIVENESS_ENDPOINT_ANNOTATION]: liveness?.endpoint },
        host,
        ...(this.config.podCIDR ? { podCIDR: this.config.podCIDR } : {}),
        ...(this.config.cpus ? { cpus: this.config.cpus } : {}),
        ...(this.config.memoryBytes ? { memoryBytes: this.config.memoryBytes } : {}),
      },
      this.log,
      this.config.nodeStatusReportIntervalMs,
    );
    const tasks: Array<Promise<void>> = [];
    // Answer probes for this name before registering: the Node carries the liveness endpoint from its
    // creation, and a controller probing it while registration still retries must not hear "another node".
    let registered = false;
    if (liveness) {
      // A prober (re)connecting means a controller may have judged us silent: make the stored status ours again.
      let checking = false;
      liveness.server.serve(nodeName, () => {
        if (!registered || checking || signal.aborted) return;
        checking = true;
        reporter
          .update({ check: true })
          .catch((err: unknown) => this.log.warn({ node: nodeName, err: (err as Error)?.message ?? String(err) }, 'node status check after a liveness probe failed'))
          .finally(() => (checking = false));
      });
    }
    try {
      const node = await retry(signal, this.log, 'register node', () => reporter.register(signal));
      if (!node || signal.aborted) return;
      registered = true;
      const lease = new LeaseHeartbeat(this.o.client, nodeName, this.config.leaseDurationSeconds, node.metadata.uid);
      tasks.push(every(signal, this.config.heartbeatIntervalMs, this.log, 'renew lease', () => lease.renew(signal).then(() => undefined), true, LEASE_RENEW_JITTER, new Backoff(LEASE_RETRY.initialMs, LEASE_RETRY.maxMs)));
      tasks.push(every(signal, this.config.nodeStatusIntervalMs, this.log, 'update node status', () => reporter.update({ signal }), false, LOOP_JITTER));
      if (ns?.obtainCert && this.nodeServer) {
        // The apiserver signs only for a registered Node (it takes the names from it), hence after register.
        const server = this.nodeServer;
        const obtain = ns.obtainCert;
        tasks.push(
          retry(signal, this.log, 'get the node serving certificate', obtain).then((pair) => {
            if (!pair) return;
            server.setTls({ ...pair, clientCa: ns.clientCa });
            this.log.info({ node: nodeName }, 'node server uses its CA-signed certificate');
            this.markCertReady();
          }),
        );
      }

      if (!this.o.services) this.services.start(signal);
      if (!this.pods) {
        const informer = new Informer<Pod>(this.o.client, { apiVersion: 'v1', kind: 'Pod' }, { fieldSelector: `spec.nodeName=${nodeName}`, logger: this.log });
        this.pods = new NodePodIndex(informer);
        informer.start(signal);
      }
      if (this.config.podNetwork) {
        const nodes = new Informer<Node>(this.o.client, { apiVersion: 'v1', kind: 'Node' }, { logger: this.log });
        this.network = new PodNetworkManager({
          nodeName,
          runtime: this.o.runtime,
          nodes,
          log: this.log,
          recorder: this.recorder,
          registry: this.metrics.registry,
          // Pods held back for the network go on at once.
          onReady: () => {
            for (const p of this.pods?.podsOf(nodeName) ?? []) this.controller.enqueue(objectKey(p));
          },
          ...(this.o.hostRoutes !== undefined ? { routes: this.o.hostRoutes } : {}),
          ...(this.o.podForwarding ? { forwarding: this.o.podForwarding } : {}),
        });
        nodes.start(signal);
        tasks.push(this.network.run(signal));
      }
      const unsubscribe = this.pods.subscribe(nodeName, (key) => this.controller.enqueue(key));
      this.markReady();
      tasks.push(this.watchRuntime(signal));
      tasks.push(
        this.pods.waitForSync(signal).then((ok) => (ok ? every(signal, this.config.relistIntervalMs, this.log, 'relist', () => this.relist(), false, LOOP_JITTER) : undefined)),
      );
      await this.controller.run(signal);
      unsubscribe();
    } finally {
      liveness?.server.forget(nodeName);
      if (liveness && !this.o.liveness) await liveness.server.close();
      this.markReady();
      this.prober.stop();
      await Promise.allSettled(tasks);
      // Events are worth a moment, not a stop held up by an apiserver that does not answer.
      await Promise.race([this.recorder.flush(), sleep(realClock, EVENTS_FLUSH_TIMEOUT_MS)]);
      await this.nodeServer?.close();
    }
  }

  /** The shared liveness server, or this agent's own when `config.livenessPort` is set. */
  private async startLiveness(): Promise<{ server: LivenessServer; endpoint: string } | undefined> {
    if (this.o.liveness) return this.o.liveness;
    if (this.config.livenessPort === undefined || this.config.livenessPort < 0) return undefined;
    const server = new LivenessServer({ port: this.config.livenessPort, log: this.log, ...(this.config.livenessBindAddress ? { host: this.config.livenessBindAddress } : {}) });
    let port: number;
    try {
      port = await server.listen();
    } catch (err) {
      // Not fatal: the node is then judged on its Lease alone (slower to declare lost), and says so.
      this.log.error({ node: this.config.nodeName, port: this.config.livenessPort, err: (err as Error)?.message ?? String(err) }, 'liveness server could not listen; the node is judged on its Lease only');
      return undefined;
    }
    const host = this.config.nodeIP.includes(':') ? `[${this.config.nodeIP}]` : this.config.nodeIP;
    this.log.info({ node: this.config.nodeName, port }, 'liveness server listening');
    return { server, endpoint: `${host}:${port}` };
  }

  /** The pod worker: sync a pod of this node, or clean up after one that is gone. */
  private async reconcile(key: string) {
    const pod = this.pods?.get(this.config.nodeName, key);
    if (!pod) {
      await this.syncer.removeOrphans((uid) => this.isKnown(uid), { onlyKey: key });
      return {};
    }
    let result;
    const during: RuntimeEvent[] = [];
    this.syncing.set(key, during);
    try {
      result = await this.syncer.sync(pod);
    } catch (err) {
      this.relisted.synced(pod, false);
      throw err;
    } finally {
      this.syncing.delete(key);
    }
    this.relisted.synced(pod, result.requeueAfter === undefined, result.containers, result.writtenVersion);
    // Most are the sync's own doings (its sandbox started): the pod is synced again only for what it did not see.
    if (during.some((ev) => !this.relisted.reflects(ev))) this.controller.enqueue(key);
    return result;
  }

  private isKnown(uid: string): boolean {
    return this.pods!.podsOf(this.config.nodeName).some((p) => p.metadata.uid === uid);
  }

  /** The backstop: the pods whose containers changed (or whose resync is due), and containers of vanished pods removed. */
  private async relist(): Promise<void> {
    // The containers first, the pods after: a pod that arrives while the runtime answers has its
    // sandbox made by a worker meanwhile, and a pod list taken before would call that sandbox an orphan.
    const containers = await this.o.runtime.listContainers();
    const pods = this.pods!.podsOf(this.config.nodeName);
    for (const p of this.relisted.select(pods, containers)) this.controller.enqueue(objectKey(p));
    const uids = new Set(pods.map((p) => p.metadata.uid ?? ''));
    await this.syncer.removeOrphans((uid) => uids.has(uid), { listed: containers });
    this.syncer.gc(new Set(containers.map((c) => c.id)));
  }

  /** Follows the runtime's event stream: a container that starts, dies or is OOM-killed re-syncs its pod. */
  private async watchRuntime(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(500, 10_000);
    let since = new Date();
    while (!signal.aborted) {
      try {
        for await (const ev of this.o.runtime.events(signal, since)) {
          since = new Date(ev.time);
          backoff.reset();
          if (ev.type === 'start' && ev.containerType === 'container') continue;
          const key = `${ev.podNamespace}/${ev.podName}`;
          const during = this.syncing.get(key);
          if (during) during.push(ev);
          else if (!this.relisted.reflects(ev)) this.controller.enqueue(key);
        }
      } catch (err) {
        if (signal.aborted) return;
        this.log.warn({ node: this.config.nodeName, err: (err as Error)?.message ?? String(err) }, 'runtime event stream broke; resubscribing');
        await sleep(realClock, backoff.next(), signal);
      }
    }
  }
}

/** Retries `fn` with back-off until it succeeds or `signal` aborts. */
async function retry<T>(signal: AbortSignal, log: Logger, what: string, fn: () => Promise<T>): Promise<T | undefined> {
  const backoff = new Backoff(500, 10_000);
  while (!signal.aborted) {
    try {
      return await fn();
    } catch (err) {
      log.warn({ err: (err as Error)?.message ?? String(err) }, `${what} failed; retrying`);
      await sleep(realClock, backoff.next(), signal);
    }
  }
  return undefined;
}

/**
 * Runs `fn` every `ms` until `signal` aborts; failures are logged, never
 * fatal. With `retry`, a failed run is tried again after that back-off
 * (never later than the interval) instead of a whole interval later.
 * Unless `immediately`, the first run comes at a random point of the first
 * interval, so a thousand hollow nodes started together in one process do
 * not run their loops in step (and jitter keeps a stall from lining them
 * up again).
 */
async function every(
  signal: AbortSignal,
  ms: number,
  log: Logger,
  what: string,
  fn: () => Promise<void>,
  immediately: boolean,
  jitter = 0,
  retry?: Backoff,
): Promise<void> {
  if (!immediately) await sleep(realClock, Math.max(1, Math.random() * ms), signal);
  while (!signal.aborted) {
    let wait = jitteredInterval(ms, jitter);
    try {
      await fn();
      retry?.reset();
    } catch (err) {
      if (signal.aborted) return;
      log.warn({ err: (err as Error)?.message ?? String(err) }, `${what} failed`);
      if (retry) wait = Math.min(wait, retry.next());
    }
    await sleep(realClock, wait, signal);
  }
}

/** How long a stopping agent waits for its last Events to be written. */
const EVENTS_FLUSH_TIMEOUT_MS = 2_000;

/** How far the relist and node-status intervals stray either way (see every). */
const LOOP_JITTER = 0.1;

/**
 * The back-off of a failed Lease renewal (1 s doubling, at most 16 s, as the
 * kubelet retries its Lease at once): waiting a whole 60 s interval after a
 * failure left the Lease 120 s old — expired for anyone reading it — and a
 * node whose first renewal failed while a fleet registered had no Lease for
 * a minute.
 */
const LEASE_RETRY = { initialMs: 1_000, maxMs: 16_000 };

/**
 * How far each Lease renewal interval strays from heartbeatIntervalMs, either
 * way (the mean, and so the write rate, is unchanged; the longest, 66 s of
 * the default 60, stays far inside the 120 s Lease). Agents started together
 * (a fleet registering at once, every host rebooted) otherwise renew in the
 * same seconds every minute: 1,000 renewals within 4 s at 1,000 hollow nodes.
 */
export const LEASE_RENEW_JITTER = 0.1;

/** `ms` moved by up to `jitter` of itself either way, uniformly. */
export function jitteredInterval(ms: number, jitter: number, random: () => number = Math.random): number {
  return jitter > 0 ? ms * (1 - jitter + 2 * jitter * random()) : ms;
}
