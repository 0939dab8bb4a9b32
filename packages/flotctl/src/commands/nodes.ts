/** `flotctl cordon|uncordon|drain NODE` and `flotctl status`: the cluster's hosts. */
import { getCondition, isReason, type Event, type Node, type Pod } from '@flotilla/api';
import { resourcePath } from '@flotilla/client';
import { resolveType, UsageError, type Ctx } from '../context.js';
import { layout } from '../printer.js';
import { explainPod, formatDiagnosis } from '../why.js';

/** Marks a node (un)schedulable. */
export async function cordon(ctx: Ctx, name: string, unschedulable: boolean): Promise<number> {
  const nodes = ctx.client.resource<Node>('nodes');
  const node = await nodes.get(undefined, name);
  if ((node.spec?.unschedulable === true) === unschedulable) {
    ctx.out(`node/${name} already ${unschedulable ? 'cordoned' : 'uncordoned'}`);
    return 0;
  }
  await nodes.patch(undefined, name, { spec: { unschedulable: unschedulable ? true : null } }, 'merge');
  ctx.out(`node/${name} ${unschedulable ? 'cordoned' : 'uncordoned'}`);
  return 0;
}

/** Options of drain. */
export interface DrainOptions {
  gracePeriod?: number;
  timeoutSeconds?: number;
  /** Delete pods directly instead of evicting them (no disruption budgets). */
  disableEviction?: boolean;
  sleep?: (ms: number) => Promise<void>;
}

const isDaemonSetPod = (p: Pod) => p.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet' && o.controller) ?? false;
const isFinished = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

/**
 * Cordons the node, then evicts its pods (DaemonSet pods stay, as with
 * kubectl's --ignore-daemonsets) and waits until they are gone. An eviction
 * refused for a disruption budget (429) is retried every 5 s, as kubectl
 * does; a server without the eviction API gets deletes instead.
 */
export async function drain(ctx: Ctx, name: string, opts: DrainOptions = {}): Promise<number> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  await cordon(ctx, name, true);
  const podsInfo = resolveType('pods');
  const pods = (await ctx.client.resource<Pod>(podsInfo).list(undefined, { fieldSelector: `spec.nodeName=${name}` })).items;
  const ds = pods.filter(isDaemonSetPod);
  if (ds.length) ctx.err(`Warning: ignoring DaemonSet-managed pods: ${ds.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).join(', ')}`);
  const victims = pods.filter((p) => !isDaemonSetPod(p));
  const deadline = opts.timeoutSeconds ? Date.now() + opts.timeoutSeconds * 1000 : Infinity;
  let evictionServed = !opts.disableEviction;
  for (const p of victims) {
    const ns = p.metadata.namespace!;
    const pn = p.metadata.name!;
    ctx.out(`evicting pod ${ns}/${pn}`);
    for (;;) {
      if (Date.now() > deadline) {
        ctx.err(`error: drain did not complete within ${opts.timeoutSeconds}s`);
        return 1;
      }
      try {
        if (evictionServed && !isFinished(p)) {
          await ctx.client.request({
            method: 'POST',
            path: resourcePath(podsInfo, ns, pn, 'eviction'),
            body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pn, namespace: ns }, ...(opts.gracePeriod !== undefined ? { deleteOptions: { gracePeriodSeconds: opts.gracePeriod } } : {}) },
          });
        } else {
          await ctx.client.resource(podsInfo).delete(ns, pn, opts.gracePeriod !== undefined ? { gracePeriodSeconds: opts.gracePeriod } : undefined);
        }
        break;
      } catch (err) {
        if (isReason(err, 'NotFound')) {
          // The pod may be gone already; or the server has no eviction subresource.
          const still = await ctx.client.resource(podsInfo).get(ns, pn).then(() => true, () => false);
          if (!still) break;
          if (evictionServed) {
            evictionServed = false;
            ctx.err('Warning: the server has no eviction API; deleting pods instead (disruption budgets are not honoured)');
            continue;
          }
          throw err;
        }
        if ((err as { code?: number }).code === 429 || isReason(err, 'TooManyRequests')) {
          ctx.err(`error when evicting pods/"${pn}" -n "${ns}" (will retry after 5s): ${(err as Error).message}`);
          await sleep(5000);
          continue;
        }
        throw err;
      }
    }
  }
  // Wait for every evicted pod to be gone (its replacement runs elsewhere).
  for (const p of victims) {
    for (;;) {
      const still = await ctx.client.resource<Pod>(podsInfo).get(p.metadata.namespace, p.metadata.name!).then((cur) => cur.metadata.uid === p.metadata.uid, () => false);
      if (!still) {
        ctx.out(`pod/${p.metadata.name} evicted`);
        break;
      }
      if (Date.now() > deadline) {
        ctx.err(`error: pod ${p.metadata.namespace}/${p.metadata.name} was not deleted within ${opts.timeoutSeconds}s`);
        return 1;
      }
      await sleep(250);
    }
  }
  ctx.out(`node/${name} drained`);
  return 0;
}

function since(ts: string | undefined, now: number): string {
  if (!ts) return '?';
  const s = Math.max(0, Math.round((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** The cluster at a glance: nodes and their pods, then what is unhealthy and since when. */
export function clusterStatus(nodes: Node[], pods: Pod[], events: Event[], now = Date.now()): string {
  const lines: string[] = [];
  const byNode = new Map<string, Pod[]>();
  for (const p of pods) {
    const n = p.spec?.nodeName ?? '';
    byNode.set(n, [...(byNode.get(n) ?? []), p]);
  }
  const rows: string[][] = [['NODE', 'STATUS', 'SINCE', 'ADDRESS', 'POD-CIDR', 'PODS', 'READY']];
  for (const n of [...nodes].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))) {
    const ready = getCondition(n.status?.conditions, 'Ready');
    const status = `${ready?.status === 'True' ? 'Ready' : 'NotReady'}${n.spec?.unschedulable ? ',SchedulingDisabled' : ''}`;
    const ps = (byNode.get(n.metadata.name ?? '') ?? []).filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase ?? ''));
    const readyPods = ps.filter((p) => getCondition(p.status?.conditions, 'Ready')?.status === 'True').length;
    const addr = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '';
    rows.push([n.metadata.name ?? '', status, since(ready?.lastTransitionTime, now), addr, n.spec?.podCIDR ?? '<none>', String(ps.length), `${readyPods}/${ps.length}`]);
  }
  lines.push(layout(rows));
  const unhealthy = pods
    .map((p) => ({ p, d: explainPod(p, events.filter((e) => e.involvedObject?.uid === p.metadata.uid)) }))
    .filter(({ d }) => d.state !== 'healthy' && d.state !== 'succeeded');
  lines.push('');
  if (!unhealthy.length) lines.push(`all ${pods.length} pod(s) are healthy.`);
  else {
    lines.push(`${unhealthy.length} of ${pods.length} pod(s) need attention:`);
    for (const { p, d } of unhealthy) {
      const t = getCondition(p.status?.conditions, 'Ready')?.lastTransitionTime ?? p.metadata.creationTimestamp;
      lines.push(`  ${p.metadata.namespace}/${p.metadata.name}: ${d.state} for ${since(t, now)} — ${d.summary}`);
    }
    lines.push('(flotctl why pod/NAME -n NAMESPACE explains one)');
  }
  return lines.join('\n');
}

/** `flotctl status`. */
export async function status(ctx: Ctx): Promise<number> {
  const [nodes, pods, events] = await Promise.all([
    ctx.client.resource<Node>('nodes').list(),
    ctx.client.resource<Pod>('pods').list(undefined),
    ctx.client.resource<Event>('events').list(undefined),
  ]);
  ctx.out(clusterStatus(nodes.items, pods.items, events.items));
  return 0;
}

/** `flotctl why pod/x`. */
export async function why(ctx: Ctx, target: string): Promise<{ code: number; text: string }> {
  const name = target.startsWith('pod/') ? target.slice(4) : target.startsWith('pods/') ? target.slice(5) : target;
  if (name.includes('/')) throw new UsageError(`why explains pods: use pod/NAME, got "${target}"`);
  const pod = await ctx.client.resource<Pod>('pods').get(ctx.namespace, name);
  const events = (await ctx.client.resource<Event>('events').list(ctx.namespace, { fieldSelector: `involvedObject.uid=${pod.metadata.uid}` })).items;
  const d = explainPod(pod, events);
  return { code: d.state === 'healthy' || d.state === 'succeeded' ? 0 : 2, text: formatDiagnosis(d) };
}
