/** `flotctl logs`, `scale`, `rollout status|history|undo|restart`: the everyday workload verbs. */
import type { Deployment, Pod, ReplicaSet } from '@flotilla/api';
import { queryString, resourcePath } from '@flotilla/client';
import { objectName, parseTargets, resolveType, UsageError, type Ctx } from '../context.js';

const REVISION = 'deployment.kubernetes.io/revision';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';

function selectorString(sel: { matchLabels?: Record<string, string> } | undefined): string {
  return Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}

/** A pod for `logs deploy/x`: the newest Running pod the workload's selector matches. */
export async function podFor(ctx: Ctx, target: string): Promise<string> {
  if (!target.includes('/')) return target;
  const [{ info, names }] = parseTargets([target]);
  if (info!.kind === 'Pod') return names[0]!;
  const owner = await ctx.client.resource(info!).get(ctx.namespace, names[0]!);
  const selector = selectorString((owner as { spec?: { selector?: { matchLabels?: Record<string, string> } } }).spec?.selector);
  if (!selector) throw new UsageError(`${target} has no selector to find its pods by`);
  const pods = (await ctx.client.resource<Pod>('pods').list(ctx.namespace, { labelSelector: selector })).items;
  const running = pods.filter((p) => p.status?.phase === 'Running').sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? ''));
  const pod = running[0] ?? pods[0];
  if (!pod) throw new UsageError(`no pods found for ${target}`);
  return pod.metadata.name!;
}

/** Options of logs. */
export interface LogsOptions {
  container?: string;
  follow?: boolean;
  previous?: boolean;
  tail?: number;
  timestamps?: boolean;
  signal?: AbortSignal;
}

/** Prints a container's log (following it with -f) through the apiserver. */
export async function logs(ctx: Ctx, target: string, opts: LogsOptions, write: (chunk: Buffer) => void): Promise<number> {
  const pod = await podFor(ctx, target);
  const q = queryString({
    container: opts.container,
    follow: opts.follow ? 'true' : undefined,
    previous: opts.previous ? 'true' : undefined,
    tailLines: opts.tail !== undefined && opts.tail >= 0 ? opts.tail : undefined,
    timestamps: opts.timestamps ? 'true' : undefined,
  });
  const path = resourcePath(resolveType('pods'), ctx.namespace, pod, 'log') + q;
  for await (const chunk of ctx.client.streamBytes(path, opts.signal)) write(chunk);
  return 0;
}

/** Sets replicas through the scale subresource. */
export async function scale(ctx: Ctx, args: string[], replicas: number): Promise<number> {
  if (!Number.isInteger(replicas) || replicas < 0) throw new UsageError('--replicas must be a non-negative integer');
  for (const { info, names } of parseTargets(args)) {
    if (!info.subresources.includes('scale')) throw new UsageError(`${info.plural} cannot be scaled`);
    if (!names.length) throw new UsageError('a resource name is required');
    for (const name of names) {
      await ctx.client.resource(info).patch(ctx.namespace, name, { spec: { replicas } }, 'merge');
      ctx.out(`${objectName(info, name)} scaled`);
    }
  }
  return 0;
}

async function deploymentArg(ctx: Ctx, target: string): Promise<Deployment> {
  const [{ info, names }] = parseTargets([target]);
  if (info!.kind !== 'Deployment') throw new UsageError(`rollout supports deployments here, not ${info!.plural}`);
  if (!names[0]) throw new UsageError('a deployment name is required');
  return ctx.client.resource<Deployment>(info!).get(ctx.namespace, names[0]);
}

async function ownedReplicaSets(ctx: Ctx, d: Deployment): Promise<ReplicaSet[]> {
  const list = await ctx.client.resource<ReplicaSet>('replicasets').list(ctx.namespace, { labelSelector: selectorString(d.spec?.selector) });
  return list.items
    .filter((rs) => rs.metadata.ownerReferences?.some((o) => o.uid === d.metadata.uid))
    .sort((a, b) => Number(a.metadata.annotations?.[REVISION] ?? 0) - Number(b.metadata.annotations?.[REVISION] ?? 0));
}

/** What kubectl's rollout status says of a deployment right now; `done` once it has rolled out. */
export function rolloutState(d: Deployment): { done: boolean; message: string; failed?: boolean } {
  const name = d.metadata.name;
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  if ((d.metadata.generation ?? 0) > (st.observedGeneration ?? 0)) return { done: false, message: 'Waiting for deployment spec update to be observed...' };
  const progressing = st.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') return { done: true, failed: true, message: `error: deployment "${name}" exceeded its progress deadline` };
  const updated = st.updatedReplicas ?? 0;
  if (updated < want) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${updated} out of ${want} new replicas have been updated...` };
  if ((st.replicas ?? 0) > updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${(st.replicas ?? 0) - updated} old replicas are pending termination...` };
  if ((st.availableReplicas ?? 0) < updated) return { done: false, message: `Waiting for deployment "${name}" rollout to finish: ${st.availableReplicas ?? 0} of ${updated} updated replicas are available...` };
  return { done: true, message: `deployment "${name}" successfully rolled out` };
}

/** Options of rollout. */
export interface RolloutOptions {
  toRevision?: number;
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** `rollout status|history|undo|restart|pause|resume`. */
export async function rollout(ctx: Ctx, action: string, target: string, opts: RolloutOptions): Promise<number> {
  const d = await deploymentArg(ctx, target);
  const name = d.metadata.name!;
  const rc = ctx.client.resource<Deployment>('deployments');
  switch (action) {
    case 'status': {
      const deadline = opts.timeoutSeconds ? Date.now() + opts.timeoutSeconds * 1000 : Infinity;
      let last = '';
      for (;;) {
        const cur = await rc.get(ctx.namespace, name);
        const s = rolloutState(cur);
        if (s.message !== last) (s.failed ? ctx.err : ctx.out)(s.message);
        last = s.message;
        if (s.done) return s.failed ? 1 : 0;
        if (Date.now() > deadline || opts.signal?.aborted) {
          ctx.err(`error: timed out waiting for the condition`);
          return 1;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    case 'history': {
      const rss = await ownedReplicaSets(ctx, d);
      const rows = rss.map((rs) => `${(rs.metadata.annotations?.[REVISION] ?? '').padEnd(10)}${rs.metadata.annotations?.[CHANGE_CAUSE] ?? '<none>'}`);
      ctx.out([`deployment.apps/${name}`, `${'REVISION'.padEnd(10)}CHANGE-CAUSE`, ...rows].join('\n'));
      return 0;
    }
    case 'undo': {
      const rss = await ownedReplicaSets(ctx, d);
      const current = d.metadata.annotations?.[REVISION];
      const pick = opts.toRevision
        ? rss.find((rs) => rs.metadata.annotations?.[REVISION] === String(opts.toRevision))
        : [...rss].reverse().find((rs) => rs.metadata.annotations?.[REVISION] !== current);
      if (!pick) throw new UsageError(opts.toRevision ? `unable to find the specified revision ${opts.toRevision}` : 'no rollout history found for deployment');
      // As kubectl: the old ReplicaSet's template (without its hash label) replaces the Deployment's whole.
      const template = JSON.parse(JSON.stringify(pick.spec?.template ?? {})) as { metadata?: { labels?: Record<string, string> } };
      if (template.metadata?.labels) delete template.metadata.labels['pod-template-hash'];
      await rc.patch(ctx.namespace, name, [{ op: 'replace', path: '/spec/template', value: template }], 'json');
      ctx.out(`deployment.apps/${name} rolled back`);
      return 0;
    }
    case 'restart':
      await rc.patch(ctx.namespace, name, { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } }, 'merge');
      ctx.out(`deployment.apps/${name} restarted`);
      return 0;
    case 'pause':
    case 'resume':
      await rc.patch(ctx.namespace, name, { spec: { paused: action === 'pause' } }, 'merge');
      ctx.out(`deployment.apps/${name} ${action}d`);
      return 0;
    default:
      throw new UsageError(`unknown rollout action "${action}" (status, history, undo, restart, pause, resume)`);
  }
}

/** Re-exported for describe. */
export { ownedReplicaSets, selectorString };
