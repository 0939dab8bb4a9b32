/**
 * Node IPAM: gives every Node a pod range (`spec.podCIDR`, `spec.podCIDRs`)
 * carved out of the cluster range (`--cluster-cidr`, /`--node-cidr-mask-size`
 * per node), as kube-controller-manager's range allocator does. The range
 * goes back to the pool when the Node is deleted. A Node that already has a
 * podCIDR (an agent started with `--pod-cidr`) keeps it; if it overlaps
 * another node's range that is reported (Event `PodCIDRConflict`), not
 * silently accepted. No free range: Event `CIDRNotAvailable` on the Node,
 * which stays without one until a range is freed.
 *
 * Why allocation records in the API (one claim object per range) and not
 * only a resourceVersion-checked write of the Node: that precondition guards
 * one Node against two writers, but two controller managers (a leader and
 * a stale one that has not noticed yet) can give the *same* range to two
 * *different* Nodes with two perfectly valid updates. So a range is first
 * claimed by creating an object named after it — etcd's create-if-absent
 * makes exactly one creator win — and only the winner writes the Node (with
 * its resourceVersion, so two managers working on one Node cannot both
 * write; the loser drops its claim). Kubernetes' newer service IP allocator
 * uses the same one-object-per-address idea (IPAddress objects). The claims
 * are coordination.k8s.io Leases in kube-system (the one kind here that
 * carries a holder), labelled `flotilla.io/pod-cidr-claim=true`.
 *
 * A claim is stale when its holder Node is gone (confirmed with a read from
 * the API, not only the cache, so a Node this process has not seen yet keeps
 * a claim a racing manager just made for it) or holds a different range
 * (spec.podCIDR cannot change once set); stale claims are deleted.
 */
import { deepCopy, isReason, type Lease, type Node } from '@flotilla/api';
import { Controller, type EventRecorder, type Informer, type Logger, type ResourceClient } from '@flotilla/client';
import { cidrsOverlap, cidrSize, formatCidr, mustParseCidr, parseCidr, subnets, type Ipv4Cidr } from '@flotilla/network';
import type { ControllerDeps } from '../context.js';

/** Label on every claim Lease. */
export const POD_CIDR_CLAIM_LABEL = 'flotilla.io/pod-cidr-claim';
/** Annotation of a claim: the UID of the Node it was made for (a Node re-created under the same name is another Node). */
export const POD_CIDR_CLAIM_NODE_UID = 'flotilla.io/node-uid';
/** Annotation of a claim: the range, as written to the Node. */
export const POD_CIDR_CLAIM_RANGE = 'flotilla.io/pod-cidr';
/** Default cluster pod range (Kubernetes' and flannel's usual one). */
export const DEFAULT_CLUSTER_CIDR = '10.244.0.0/16';
/** Default per-node prefix length. */
export const DEFAULT_NODE_CIDR_MASK_SIZE = 24;
/** Parallel allocations by default (Kubernetes' range allocator runs 30 CIDR update workers). */
export const DEFAULT_NODE_IPAM_WORKERS = 30;

/** Options of the node IPAM controller besides the shared dependencies. */
export interface NodeIpamOptions extends ControllerDeps {
  /** The range node ranges are carved from. Default 10.244.0.0/16. */
  clusterCIDR?: string;
  /** Prefix length of each node's range. Default 24. */
  nodeCIDRMaskSize?: number;
  /** Namespace of the claim Leases. Default kube-system. */
  claimNamespace?: string;
}

/** The Lease name of the claim on one range: `pod-cidr-10.244.3.0-24`. */
export function claimName(range: Ipv4Cidr): string {
  return `pod-cidr-${formatCidr(range).replace('/', '-')}`;
}

/** Allocates, keeps and releases the pod ranges of Nodes. */
export class NodeIpamController {
  /** Reconciles nodes (key: node name). */
  readonly controller: Controller;
  /** The cluster range, parsed. */
  readonly clusterCIDR: Ipv4Cidr;
  private readonly pool: Ipv4Cidr[];
  private readonly nodes: Informer<Node>;
  private readonly claims: Informer<Lease>;
  private readonly nodeApi: ResourceClient<Node>;
  private readonly claimApi: ResourceClient<Lease>;
  private readonly recorder: EventRecorder;
  private readonly log: Logger;
  private readonly ns: string;
  private readonly parsed = new Map<string, Ipv4Cidr | undefined>();
  /** Where allocation looks first: after the last range handed out (next fit), so a pass does not rescan the taken ones. */
  private nextSlot = 0;
  /**
   * Pool slots (by position) a worker is creating a claim on right now. The cache shows a claim
   * only once its watch event arrives; without this, workers allocating in parallel would all try
   * the same free slot (safe, one create wins, but each loser pays a failed create per slot).
   */
  private readonly reserving = new Set<number>();
  /** Index names (per pool: informers are shared by every controller of the process). */
  private readonly slotIndex: string;
  private readonly outsideIndex: string;
  private readonly waitingIndex: string;
  private readonly holderIndex = 'node-ipam/holder';

  constructor(deps: NodeIpamOptions) {
    this.log = deps.logger;
    this.recorder = deps.recorder;
    this.ns = deps.claimNamespace ?? 'kube-system';
    this.clusterCIDR = mustParseCidr(deps.clusterCIDR ?? DEFAULT_CLUSTER_CIDR, 'cluster CIDR');
    this.pool = subnets(this.clusterCIDR, deps.nodeCIDRMaskSize ?? DEFAULT_NODE_CIDR_MASK_SIZE);
    this.nodes = deps.informers.informer<Node>('nodes');
    this.claims = deps.informers.informer<Lease>('leases', { namespace: this.ns, labelSelector: `${POD_CIDR_CLAIM_LABEL}=true` });
    // Indexes instead of scans: at 5,000 nodes each allocation, and each sync of a node with a range,
    // went over every node and every claim (O(nodes²) to bring a fleet up, ~30 nodes/s).
    const pool = `${formatCidr(this.clusterCIDR)}/${this.pool[0]?.bits ?? 0}`;
    this.slotIndex = `node-ipam/slot/${pool}`;
    this.outsideIndex = `node-ipam/outside/${pool}`;
    this.waitingIndex = 'node-ipam/waiting';
    const nodeRange = (n: Node) => this.parse(n.spec?.podCIDR);
    const claimRange = (c: Lease) => this.parse(c.metadata.annotations?.[POD_CIDR_CLAIM_RANGE]);
    this.nodes.addIndexer(this.slotIndex, (n) => this.slotKeys(nodeRange(n)));
    this.nodes.addIndexer(this.outsideIndex, (n) => {
      const r = nodeRange(n);
      return r && !this.insidePool(r) ? ['outside'] : [];
    });
    this.nodes.addIndexer(this.waitingIndex, (n) => (n.spec?.podCIDR ? [] : ['waiting']));
    this.claims.addIndexer(this.slotIndex, (c) => this.slotKeys(claimRange(c)));
    this.claims.addIndexer(this.holderIndex, (c) => (c.spec?.holderIdentity ? [c.spec.holderIdentity] : []));
    this.nodeApi = deps.client.resource<Node>('nodes');
    this.claimApi = deps.client.resource<Lease>('leases');
    const reconcile = (key: string) => this.sync(key);
    this.controller = new Controller({
      name: 'node-ipam',
      reconcile: deps.metrics ? deps.metrics.instrument('node-ipam', reconcile) : reconcile,
      informers: [this.nodes, this.claims],
      // As kube-controller-manager's range allocator (30 CIDR update workers): a range costs two
      // writes one after the other, so one worker gives ~70 nodes/s; a fleet joining at once waits.
      workers: deps.workers ?? DEFAULT_NODE_IPAM_WORKERS,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue('node-ipam', this.controller.queue);

    this.nodes.addEventHandler({
      onAdd: (n) => this.controller.enqueue(n),
      // Only a change of range or identity concerns this controller. Every other update (a status
      // write, a label) left the node as it was synced; a node still waiting for a range is looked at
      // again when one is freed (enqueueWaiting). Re-running allocate on each status write of each
      // waiting node scanned every node and claim: at 5,000 nodes on a /16 (256 ranges), 4,744
      // waiting nodes kept this process busy and its log full of "no pod CIDR available".
      onUpdate: (o, n) => {
        if (o.spec?.podCIDR === n.spec?.podCIDR && o.metadata.uid === n.metadata.uid) return;
        this.enqueueOverlapping(n);
        this.controller.enqueue(n);
      },
      onDelete: (n) => {
        this.controller.enqueue(n);
        // A freed range may serve a node that is waiting; a conflict may be over.
        this.enqueueWaiting();
        this.enqueueOverlapping(n);
      },
    });
    // A claim changed or vanished under us: look at its holder again.
    this.claims.addEventHandler({
      onAdd: (c) => this.enqueueHolder(c),
      onUpdate: (_o, c) => this.enqueueHolder(c),
      onDelete: (c) => {
        this.enqueueHolder(c);
        this.enqueueWaiting();
      },
    });
  }

  /** Runs the workers until `signal` aborts (informers must be started by the caller). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  private enqueueHolder(c: Lease): void {
    if (c.spec?.holderIdentity) this.controller.enqueue(c.spec.holderIdentity);
  }

  private enqueueWaiting(): void {
    for (const n of this.nodes.store.byIndex(this.waitingIndex, 'waiting')) this.controller.enqueue(n);
  }

  /** Nodes whose range overlaps `node`'s: their conflict state may have changed. */
  private enqueueOverlapping(node: Node): void {
    const mine = this.parse(node.spec?.podCIDR);
    if (!mine) return;
    for (const n of this.overlapping(mine, node.metadata.name!)) this.controller.enqueue(n);
  }

  /**
   * Other nodes whose range overlaps `range`: those in the pool slots it
   * covers, and those (few, set by hand) whose range reaches outside the pool,
   * the only ones that can overlap a part of `range` outside it.
   */
  private overlapping(range: Ipv4Cidr, except: string): Node[] {
    const out = new Map<string, Node>();
    const consider = (n: Node) => {
      const theirs = this.parse(n.spec?.podCIDR);
      if (theirs && n.metadata.name !== except && cidrsOverlap(range, theirs)) out.set(n.metadata.name!, n);
    };
    for (const key of this.slotKeys(range)) for (const n of this.nodes.store.byIndex(this.slotIndex, key)) consider(n);
    for (const n of this.nodes.store.byIndex(this.outsideIndex, 'outside')) consider(n);
    return [...out.values()];
  }

  /** The pool slots a range covers, as index values. */
  private slotKeys(range: Ipv4Cidr | undefined): string[] {
    return range ? this.slotsOf(range).map((s) => String(s.base)) : [];
  }

  /** Whether a range lies entirely within the cluster range. */
  private insidePool(range: Ipv4Cidr): boolean {
    return range.base >= this.clusterCIDR.base && range.base + cidrSize(range) <= this.clusterCIDR.base + cidrSize(this.clusterCIDR);
  }

  /** Whether a node's range or a claim covers the slot. */
  private slotTaken(slot: Ipv4Cidr): boolean {
    const key = String(slot.base);
    return this.nodes.store.countIndexed(this.slotIndex, key) > 0 || this.claims.store.countIndexed(this.slotIndex, key) > 0;
  }

  /** One node: allocate a range, or keep (claim) the one it has, or release what a deleted node held. */
  async sync(name: string): Promise<void> {
    const node = this.nodes.store.get(name);
    // Claims made for a node of this name that is gone (deleted, or re-created with another UID).
    if (!node || this.claimsOf(name).some((c) => c.metadata.annotations?.[POD_CIDR_CLAIM_NODE_UID] !== node.metadata.uid)) {
      await this.releaseClaimsOf(name);
      if (!node) return;
    }
    if (node.spec?.podCIDR) {
      await this.occupy(node, node.spec.podCIDR);
      return;
    }
    await this.allocate(node);
  }

  /** Claims held for `name` (by holder), from the cache. */
  private claimsOf(name: string): Lease[] {
    return this.claims.store.byIndex(this.holderIndex, name);
  }

  /**
   * The pool ranges a range overlaps (a node given a /23 by hand occupies two /24 slots): the pool is
   * consecutive equal slots, so they are found by arithmetic. Filtering the 256 slots of a /16 for every
   * node and claim made each allocation O(nodes × slots): a fifth of this process's CPU at 300 nodes.
   */
  private slotsOf(range: Ipv4Cidr): Ipv4Cidr[] {
    const first = this.pool[0];
    if (!first) return [];
    const size = cidrSize(first);
    const lo = Math.max(range.base, first.base);
    const hi = Math.min(range.base + cidrSize(range), first.base + this.pool.length * size);
    if (lo >= hi) return [];
    return this.pool.slice(Math.floor((lo - first.base) / size), Math.floor((hi - 1 - first.base) / size) + 1);
  }

  /** parseCidr, remembered: every allocation and every node sync reads the ranges of all nodes and claims. */
  private parse(cidr: string | undefined): Ipv4Cidr | undefined {
    if (!cidr) return undefined;
    if (this.parsed.has(cidr)) return this.parsed.get(cidr);
    // Ranges are few (at most a pool's worth plus hand-set ones); the bound only guards against garbage.
    if (this.parsed.size >= 100_000) this.parsed.clear();
    const r = parseCidr(cidr);
    this.parsed.set(cidr, r);
    return r;
  }

  /**
   * Deletes the claims held for `name` that were not made for the Node of
   * that name the API has now (read from the API, not the cache: a Node this
   * process has not seen yet keeps the claim a racing manager made for it).
   */
  private async releaseClaimsOf(name: string): Promise<void> {
    const held = this.claimsOf(name);
    if (held.length === 0) return;
    let uid: string | undefined;
    try {
      uid = (await this.nodeApi.get(undefined, name)).metadata.uid;
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
    }
    for (const c of held) {
      if (uid && c.metadata.annotations?.[POD_CIDR_CLAIM_NODE_UID] === uid) continue;
      await this.deleteClaim(c, 'node deleted');
    }
  }

  private async deleteClaim(c: Lease, why: string): Promise<void> {
    try {
      await this.claimApi.delete(this.ns, c.metadata.name!, { preconditions: { resourceVersion: c.metadata.resourceVersion } });
      this.log.info({ node: c.spec?.holderIdentity, podCIDR: c.metadata.annotations?.[POD_CIDR_CLAIM_RANGE], why }, 'pod CIDR released');
    } catch (err) {
      // Gone already, or changed (someone took it over): the next look decides again.
      if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) throw err;
    }
  }

  /**
   * A node with a range: make sure its slots are claimed for it and that no
   * other node's range overlaps it; drop claims it made for other ranges.
   */
  private async occupy(node: Node, podCIDR: string): Promise<void> {
    const name = node.metadata.name!;
    const uid = node.metadata.uid ?? '';
    const range = parseCidr(podCIDR);
    if (!range) return; // validation keeps this from happening
    // Claims of this node for ranges it did not get (a lost race, a crash in between) are stale for good.
    for (const c of this.claimsOf(name)) {
      const claimed = parseCidr(c.metadata.annotations?.[POD_CIDR_CLAIM_RANGE] ?? '');
      const sameNode = c.metadata.annotations?.[POD_CIDR_CLAIM_NODE_UID] === uid;
      if (sameNode && claimed && !cidrsOverlap(claimed, range)) await this.deleteClaim(c, `node holds ${podCIDR}`);
    }
    // Another node's range overlaps: report it on this node; nothing is taken from either.
    const clash = this.overlapping(range, name)[0];
    if (clash) {
      this.conflict(node, podCIDR, clash.metadata.name!, clash.spec!.podCIDR!);
      return;
    }
    for (const slot of this.slotsOf(range)) {
      const existing = this.claims.store.get(`${this.ns}/${claimName(slot)}`);
      if (!existing) {
        await this.createClaim(slot, node, podCIDR);
        continue;
      }
      const holder = existing.spec?.holderIdentity;
      if (holder === name && existing.metadata.annotations?.[POD_CIDR_CLAIM_NODE_UID] === uid) continue;
      // Held for another node that has no range yet: its manager is about to write
      // this slot to it, so both will hold it — say so. A claim whose holder is gone
      // or holds another range is stale and taken over.
      const holderNode = holder ? this.nodes.store.get(holder) : undefined;
      if (holderNode && holderNode.metadata.uid === existing.metadata.annotations?.[POD_CIDR_CLAIM_NODE_UID] && !holderNode.spec?.podCIDR) {
        this.conflict(node, podCIDR, holder!, 'a range being allocated');
        return;
      }
      await this.takeOver(existing, slot, node, podCIDR);
    }
  }

  private conflict(node: Node, podCIDR: string, other: string, otherCIDR: string): void {
    this.log.warn({ node: node.metadata.name, podCIDR, other, otherCIDR }, 'pod CIDR overlaps another node');
    this.recorder.event(node, 'Warning', 'PodCIDRConflict', `Node ${node.metadata.name} podCIDR ${podCIDR} overlaps ${otherCIDR} of node ${other}; pods of the two nodes cannot all be reached`);
  }

  private claimObject(slot: Ipv4Cidr, node: Node, podCIDR: string): Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: claimName(slot),
        namespace: this.ns,
        labels: { [POD_CIDR_CLAIM_LABEL]: 'true' },
        annotations: { [POD_CIDR_CLAIM_NODE_UID]: node.metadata.uid ?? '', [POD_CIDR_CLAIM_RANGE]: podCIDR },
      },
      spec: { holderIdentity: node.metadata.name },
    };
  }

  /** Creates a claim; undefined when someone else created it first. */
  private async createClaim(slot: Ipv4Cidr, node: Node, podCIDR: string): Promise<Lease | undefined> {
    try {
      return await this.claimApi.create(this.claimObject(slot, node, podCIDR));
    } catch (err) {
      if (isReason(err, 'AlreadyExists')) return undefined;
      throw err;
    }
  }

  /** Rewrites a stale claim for `node`, compare-and-swap on its resourceVersion. */
  private async takeOver(existing: Lease, slot: Ipv4Cidr, node: Node, podCIDR: string): Promise<void> {
    const next = this.claimObject(slot, node, podCIDR);
    next.metadata.resourceVersion = existing.metadata.resourceVersion;
    next.metadata.uid = existing.metadata.uid;
    await this.claimApi.update(next);
    this.log.info({ node: node.metadata.name, podCIDR, previous: existing.spec?.holderIdentity }, 'stale pod CIDR claim taken over');
  }

  /** A node without a range: claim a free slot, then write it to the node. */
  private async allocate(node: Node): Promise<void> {
    const name = node.metadata.name!;
    const uid = node.metadata.uid ?? '';
    // A claim already made for this very node (by us before a crash, or by a racing manager): finish it.
    const mine = this.claimsOf(name).find((c) => c.metadata.annotations?.[POD_CIDR_CLAIM_NODE_UID] === uid);
    if (mine) {
      await this.assign(node, mine.metadata.annotations![POD_CIDR_CLAIM_RANGE]!, mine);
      return;
    }
    // Next fit: from after the last range handed out, round the pool once.
    const start = this.nextSlot;
    for (let i = 0; i < this.pool.length; i++) {
      const at = (start + i) % this.pool.length;
      const slot = this.pool[at]!;
      if (this.reserving.has(at) || this.slotTaken(slot)) continue;
      const cidr = formatCidr(slot);
      this.reserving.add(at);
      this.nextSlot = (at + 1) % this.pool.length; // parallel allocations look past it
      let claim: Lease | undefined;
      try {
        claim = await this.createClaim(slot, node, cidr);
      } finally {
        this.reserving.delete(at);
      }
      if (!claim) continue; // our cache lags: someone holds it
      await this.assign(node, cidr, claim);
      return;
    }
    this.log.warn({ node: name, clusterCIDR: formatCidr(this.clusterCIDR) }, 'no pod CIDR available');
    this.recorder.event(node, 'Warning', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable (no free /${this.pool[0]?.bits} left in ${formatCidr(this.clusterCIDR)})`);
  }

  /**
   * Writes the claimed range to the node with its resourceVersion. On a
   * conflict the node is read again: if someone gave it a range meanwhile,
   * ours is released; otherwise the write is tried again.
   */
  private async assign(cached: Node, cidr: string, claim: Lease): Promise<void> {
    let node = cached;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (node.spec?.podCIDR) {
        if (node.spec.podCIDR !== cidr) await this.dropClaim(claim, `node got ${node.spec.podCIDR} elsewhere`);
        return;
      }
      const next = deepCopy(node) as Node;
      next.spec = { ...(next.spec ?? {}), podCIDR: cidr, podCIDRs: [cidr] };
      try {
        await this.nodeApi.update(next);
        this.log.info({ node: node.metadata.name, podCIDR: cidr }, 'pod CIDR allocated');
        return;
      } catch (err) {
        if (isReason(err, 'NotFound')) {
          await this.dropClaim(claim, 'node deleted');
          return;
        }
        if (!isReason(err, 'Conflict')) throw err;
      }
      try {
        node = await this.nodeApi.get(undefined, cached.metadata.name!);
      } catch (err) {
        if (!isReason(err, 'NotFound')) throw err;
        await this.dropClaim(claim, 'node deleted');
        return;
      }
      if (node.metadata.uid !== cached.metadata.uid) {
        await this.dropClaim(claim, 'node re-created');
        return;
      }
    }
    throw new Error(`node ${cached.metadata.name}: writing podCIDR ${cidr} kept conflicting`);
  }

  /**
   * Deletes our claim, and only that object (UID precondition): once it was
   * released as stale, the range may have been claimed again, under the same
   * name, for another node, and deleting that claim would let a third node be
   * given the range that node holds.
   */
  private async dropClaim(claim: Lease, why: string): Promise<void> {
    try {
      await this.claimApi.delete(this.ns, claim.metadata.name!, { preconditions: { uid: claim.metadata.uid! } });
      this.log.info({ claim: claim.metadata.name, why }, 'pod CIDR claim dropped');
    } catch (err) {
      // Gone, or no longer ours.
      if (!isReason(err, 'NotFound') && !isReason(err, 'Conflict')) throw err;
    }
  }
}
