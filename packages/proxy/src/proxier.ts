/**
 * The Proxier keeps this host's netfilter in step with Services and
 * EndpointSlices. Informer events only enqueue one key; a single worker
 * syncs: generate every rule from the caches (pure, rules.ts), diff against
 * what the last successful apply left, and apply the difference with one
 * `iptables-restore --noflush`. Syncs are spaced by `minSyncPeriodMs` (a
 * burst of changes folds into one sync); every `syncPeriodMs`, and on
 * start, a full sync rewrites every chain, deletes chains nobody wants
 * (also those an earlier process left) and re-checks the jumps from the
 * built-in chains — so a restarted proxy, or a rebooted host, gets its rules
 * back from the API. Stopping removes nothing: established and new traffic
 * keeps flowing through the last rules until a proxy runs again.
 */
import type { EndpointSlice, Service } from '@flotilla/api';
import { Controller, realClock, silentLogger, type Clock, type Informer, type InformerFactory, type Logger } from '@flotilla/client';
import { staleFlows, type Conntrack } from './conntrack.js';
import type { Iptables } from './iptables.js';
import { ProxyMetrics } from './proxy-metrics.js';
import { chainsWithPrefix, planRestore } from './restore-plan.js';
import { buildRules, countRules, jumpRules, RuleCache, slicesByService, type RuleOptions, type RuleSet } from './rules.js';

/** conntrack(8) deletions run at once after a sync. */
const CONNTRACK_PARALLELISM = 8;

/** Above this many endpoints rule comments are left out of the endpoint and service chains (kube-proxy's large-cluster threshold). */
const LARGE_CLUSTER_ENDPOINTS = 1000;

/** The one work-queue key: the whole dataplane is one unit of work. */
const SYNC_KEY = 'sync';

/** Options of a Proxier. */
export interface ProxierOptions {
  /** Shared informers; the Proxier asks for services and endpointslices; the caller starts them. */
  informers: InformerFactory;
  iptables: Iptables;
  /** Deletes UDP flows to endpoints that left a Service's rules; unset: none are deleted. */
  conntrack?: Conntrack;
  rules: RuleOptions;
  /** Least time between two syncs. Default 50 ms. */
  minSyncPeriodMs?: number;
  /** Period of the routine check: a sync (writing only what changed) and a check of the jumps from the built-in chains. Default 30 s. */
  syncPeriodMs?: number;
  /** Period of the full rewrite of every chain (also done on start, after a failed restore and when a jump was missing). Default 1 h, as kube-proxy. */
  fullSyncPeriodMs?: number;
  metrics?: ProxyMetrics;
  logger?: Logger;
  clock?: Clock;
  /** Chains one iptables-restore input may name before a large sync is cut into several (restore-plan.ts). Default 1,000. */
  maxChainsPerRestore?: number;
  /** Told after each successful sync the EndpointSlice resourceVersion whose state is now in force. */
  onApplied?: (resourceVersion: string | undefined) => void;
}

/** Result of one sync, for tests and logs. */
export interface SyncResult {
  full: boolean;
  /** Chains rewritten, per table. */
  written: { nat: number; filter: number };
  deleted: { nat: number; filter: number };
  /** Whether iptables-restore was called at all. */
  restored: boolean;
}

/** Programs services into iptables. */
export class Proxier {
  /** The work queue and its single worker. */
  readonly controller: Controller;
  readonly metrics: ProxyMetrics;
  private readonly services: Informer<Service>;
  private readonly slices: Informer<EndpointSlice>;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly minSyncPeriod: number;
  private readonly syncPeriod: number;
  private readonly fullSyncPeriod: number;
  private lastCheck = -Infinity;
  private needFull = true;
  private applied: RuleSet | undefined;
  /** UDP service ports as of the last successful sync (kept across a failed restore, unlike `applied`). */
  private appliedFlows: RuleSet['flows'];
  /** Each Service's rules, recomputed only when it or its slices change. */
  private readonly cache = new RuleCache();
  private lastSyncStart = -Infinity;
  private lastFullSync = -Infinity;
  private lastSuccess = -Infinity;
  private endpointChanges = 0;
  private serviceChanges = 0;

  constructor(private readonly options: ProxierOptions) {
    this.clock = options.clock ?? realClock;
    this.log = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? new ProxyMetrics();
    this.minSyncPeriod = options.minSyncPeriodMs ?? 50;
    this.syncPeriod = options.syncPeriodMs ?? 30_000;
    this.fullSyncPeriod = options.fullSyncPeriodMs ?? 3_600_000;
    if (!/^[A-Z][A-Z0-9]{0,4}$/.test(options.rules.prefix)) throw new Error(`chain prefix "${options.rules.prefix}" must be 1-5 upper-case letters or digits, starting with a letter`);
    this.services = options.informers.informer<Service>('services');
    this.slices = options.informers.informer<EndpointSlice>('endpointslices');
    this.controller = new Controller({
      name: 'proxy',
      reconcile: () => this.reconcile(),
      informers: [this.services, this.slices],
      workers: 1,
      logger: this.log,
      clock: this.clock,
    });
    const onService = () => {
      this.serviceChanges += 1;
      this.metrics.serviceChangesPending.set(this.serviceChanges);
      this.controller.enqueue(SYNC_KEY);
    };
    const onSlice = () => {
      this.endpointChanges += 1;
      this.metrics.endpointChangesPending.set(this.endpointChanges);
      this.controller.enqueue(SYNC_KEY);
    };
    // Status matters too: a LoadBalancer's ingress IPs are rules.
    this.services.addEventHandler({ onAdd: onService, onUpdate: (o, n) => (o.spec === n.spec && o.status === n.status ? undefined : onService()), onDelete: onService });
    this.slices.addEventHandler({ onAdd: onSlice, onUpdate: onSlice, onDelete: onSlice });
  }

  /** Syncs until `signal` aborts (the informers must be started by the caller). The first sync is full. */
  run(signal: AbortSignal): Promise<void> {
    this.controller.enqueue(SYNC_KEY);
    return this.controller.run(signal);
  }

  /** Healthy while syncs succeed: the last one within two full periods (or none due yet). */
  healthy(startedAt: number): boolean {
    const now = this.clock.now();
    const since = Number.isFinite(this.lastSuccess) ? this.lastSuccess : startedAt;
    return now - since < 2 * this.syncPeriod + 10_000;
  }

  /** Deletes stale flows; a failure is logged and counted, never fails the sync (the rules are right either way). */
  private async deleteFlows(filters: ReturnType<typeof staleFlows>): Promise<void> {
    const deleted = { tcp: 0, udp: 0 };
    // A few conntrack(8) runs at a time: a sync can bring many Services at once.
    let next = 0;
    const worker = async () => {
      while (next < filters.length) {
        const f = filters[next++]!;
        try {
          deleted[f.protocol] += await this.options.conntrack!.delete(f);
        } catch (err) {
          this.metrics.conntrackFailures.inc();
          this.log.warn({ filter: f, err: (err as Error)?.message ?? String(err) }, 'could not delete stale flows');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNTRACK_PARALLELISM, filters.length) }, worker));
    for (const protocol of ['tcp', 'udp'] as const) if (deleted[protocol] > 0) this.metrics.conntrackDeleted.inc({ protocol }, deleted[protocol]);
    this.log.debug({ filters: filters.length, deleted }, 'stale flows deleted');
  }

  private async reconcile(): Promise<{ requeueAfter?: number }> {
    const now = this.clock.now();
    const wait = this.lastSyncStart + this.minSyncPeriod - now;
    if (wait > 0) return { requeueAfter: wait };
    if (now - this.lastCheck >= this.syncPeriod && this.applied && !this.needFull) {
      // Someone flushed a built-in chain (a firewall reload): only a full sync puts everything back.
      this.lastCheck = now;
      for (const rule of jumpRules(this.options.rules.prefix)) {
        if (await this.options.iptables.ensureRule(rule)) {
          this.log.warn({ table: rule.table, chain: rule.chain }, 'a jump to the proxy chains was missing; full resync');
          this.needFull = true;
        }
      }
    }
    const full = this.needFull || !this.applied || now - this.lastFullSync >= this.fullSyncPeriod;
    await this.sync(full);
    if (full) this.lastCheck = this.clock.now();
    const due = Math.min(this.lastCheck + this.syncPeriod, this.lastFullSync + this.fullSyncPeriod);
    return { requeueAfter: Math.max(1, due - this.clock.now()) };
  }

  /**
   * One sync. Everything read from the caches happens before the first
   * await, so the rules reflect the EndpointSlices exactly as of the
   * informer's resourceVersion taken here.
   */
  async sync(full: boolean): Promise<SyncResult> {
    const started = this.clock.now();
    this.lastSyncStart = started;
    const rv = this.slices.lastSyncResourceVersion();
    const endpointChanges = this.endpointChanges;
    const serviceChanges = this.serviceChanges;
    const sliceList = this.slices.store.list();
    let endpoints = 0;
    for (const s of sliceList) endpoints += s.endpoints?.length ?? 0;
    const rules = this.options.rules.comments === undefined ? { ...this.options.rules, comments: endpoints <= LARGE_CLUSTER_ENDPOINTS } : this.options.rules;
    const next = buildRules(this.services.store.list(), slicesByService(sliceList), rules, this.cache);
    const ipt = this.options.iptables;
    const prefix = this.options.rules.prefix;
    let existing: { nat: string[]; filter: string[] } | undefined;
    if (full) {
      const [nat, filter] = await Promise.all([ipt.save('nat'), ipt.save('filter')]);
      existing = { nat: chainsWithPrefix(nat, prefix), filter: chainsWithPrefix(filter, prefix) };
    }
    const plan = planRestore(next, full ? undefined : this.applied, existing, { maxChainsPerRestore: this.options.maxChainsPerRestore });
    if (plan.chunks.length > 0) {
      try {
        for (const chunk of plan.chunks) await ipt.restore(chunk);
      } catch (err) {
        // What the kernel holds is now unknown: the retry is a full sync.
        this.applied = undefined;
        this.needFull = true;
        this.metrics.restoreFailures.inc();
        this.log.error({ full, chunks: plan.chunks.length, err: (err as Error)?.message ?? String(err) }, 'iptables-restore failed');
        throw err;
      }
    }
    if (full) {
      for (const rule of jumpRules(prefix)) {
        if (await ipt.ensureRule(rule)) this.log.info({ table: rule.table, chain: rule.chain }, 'jump to the proxy chains inserted');
      }
      this.lastFullSync = started;
      this.needFull = false;
    }
    // Once the new rules are in force: the next packet of a deleted flow is NATed by them.
    const stale = this.options.conntrack ? staleFlows(this.appliedFlows, next.flows ?? new Map()) : [];
    this.applied = next;
    this.appliedFlows = next.flows ?? new Map();
    if (stale.length > 0) await this.deleteFlows(stale);
    this.endpointChanges -= endpointChanges;
    this.serviceChanges -= serviceChanges;
    const done = this.clock.now();
    this.lastSuccess = done;
    const mode = full ? 'full' : 'partial';
    this.metrics.syncDuration.observe((done - started) / 1000, { mode });
    this.metrics.lastSync.set(done / 1000);
    const counts = countRules(next);
    this.metrics.rulesTotal.set(counts.nat, { table: 'nat' });
    this.metrics.rulesTotal.set(counts.filter, { table: 'filter' });
    this.metrics.rulesWritten.inc({ table: 'nat' }, plan.rules.nat);
    this.metrics.rulesWritten.inc({ table: 'filter' }, plan.rules.filter);
    this.metrics.chainsWritten.set(plan.written.nat, { table: 'nat' });
    this.metrics.chainsWritten.set(plan.written.filter, { table: 'filter' });
    this.metrics.endpointChanges.inc(undefined, endpointChanges);
    this.metrics.endpointChangesPending.set(this.endpointChanges);
    this.metrics.serviceChangesPending.set(this.serviceChanges);
    if (rv) this.metrics.appliedRevision.set(Number(rv));
    this.options.onApplied?.(rv);
    const result: SyncResult = { full, written: plan.written, deleted: plan.deleted, restored: plan.text !== '' };
    if (plan.text || full) this.log.debug({ mode, ms: done - started, written: plan.written, deleted: plan.deleted, restores: plan.chunks.length, resourceVersion: rv }, 'synced proxy rules');
    return result;
  }
}
