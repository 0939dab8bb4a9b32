/**
 * `flotctl describe TYPE NAME`: the object in readable sections — metadata,
 * what matters for its kind (a pod's containers, a Service's endpoints, a
 * Deployment's rollout, a node's conditions and pods) — and its Events.
 */
import type { Deployment, EndpointSlice, Event, KubeObject, Node, Pod, Secret, Service } from '@flotilla/api';
import { stringify } from 'yaml';
import { parseTargets, UsageError, type Ctx } from '../context.js';
import { layout } from '../printer.js';

const kv = (m: Record<string, string> | undefined) => {
  const e = Object.entries(m ?? {});
  return e.length ? e.map(([k, v]) => `${k}=${v}`).join('\n               ') : '<none>';
};

function field(label: string, value: unknown): string {
  return `${`${label}:`.padEnd(15)}${value === undefined || value === '' ? '<none>' : String(value)}`;
}

function indent(text: string, n = 2): string {
  return text.split('\n').map((l) => (l ? ' '.repeat(n) + l : l)).join('\n');
}

function podSection(p: Pod): string[] {
  const out = [field('Node', p.spec?.nodeName), field('Status', p.metadata.deletionTimestamp ? 'Terminating' : p.status?.phase), field('IP', p.status?.podIP)];
  out.push('Containers:');
  for (const c of p.spec?.containers ?? []) {
    const cs = p.status?.containerStatuses?.find((s) => s.name === c.name);
    const state = cs?.state?.running ? `Running (since ${cs.state.running.startedAt ?? '?'})` : cs?.state?.waiting ? `Waiting (${cs.state.waiting.reason ?? ''})` : cs?.state?.terminated ? `Terminated (${cs.state.terminated.reason ?? ''}, exit ${cs.state.terminated.exitCode})` : 'unknown';
    out.push(`  ${c.name}:`, `    Image:          ${c.image}`, `    State:          ${state}`);
    const last = cs?.lastState?.terminated;
    if (last) out.push(`    Last State:     Terminated (${last.reason ?? ''}, exit ${last.exitCode})`);
    out.push(`    Ready:          ${cs?.ready ?? false}`, `    Restart Count:  ${cs?.restartCount ?? 0}`);
    if (c.ports?.length) out.push(`    Ports:          ${c.ports.map((pt) => `${pt.containerPort}/${pt.protocol ?? 'TCP'}`).join(', ')}`);
  }
  const conds = p.status?.conditions ?? [];
  if (conds.length) out.push('Conditions:', indent(layout([['Type', 'Status'], ...conds.map((c) => [c.type, c.status])])));
  return out;
}

async function serviceSection(ctx: Ctx, s: Service): Promise<string[]> {
  const out = [field('Type', s.spec?.type), field('IP', s.spec?.clusterIP), field('Selector', kv(s.spec?.selector))];
  for (const p of s.spec?.ports ?? []) {
    out.push(field('Port', `${p.name ?? '<unset>'}  ${p.port}/${p.protocol ?? 'TCP'}`), field('TargetPort', `${p.targetPort ?? p.port}/${p.protocol ?? 'TCP'}`));
    if (p.nodePort) out.push(field('NodePort', `${p.name ?? '<unset>'}  ${p.nodePort}/${p.protocol ?? 'TCP'}`));
  }
  const slices = await ctx.client.resource<EndpointSlice>('endpointslices').list(s.metadata.namespace, { labelSelector: `kubernetes.io/service-name=${s.metadata.name}` }).then((l) => l.items, () => []);
  const eps = slices.flatMap((sl) => sl.endpoints.filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses.flatMap((a) => (sl.ports ?? [{}]).map((pt) => (pt.port ? `${a}:${pt.port}` : a)))));
  out.push(field('Endpoints', eps.length ? eps.join(',') : '<none>'), field('Session Affinity', s.spec?.sessionAffinity ?? 'None'));
  return out;
}

function deploymentSection(d: Deployment): string[] {
  const st = d.status ?? {};
  return [
    field('Selector', kv(d.spec?.selector?.matchLabels)),
    field('Replicas', `${d.spec?.replicas ?? 1} desired | ${st.updatedReplicas ?? 0} updated | ${st.replicas ?? 0} total | ${st.availableReplicas ?? 0} available | ${st.unavailableReplicas ?? 0} unavailable`),
    field('StrategyType', d.spec?.strategy?.type ?? 'RollingUpdate'),
    'Pod Template:',
    indent(stringify(d.spec?.template ?? {}).trimEnd(), 2),
    'Conditions:',
    indent(layout([['Type', 'Status', 'Reason'], ...(st.conditions ?? []).map((c) => [c.type, c.status, c.reason ?? ''])])),
  ];
}

async function nodeSection(ctx: Ctx, n: Node): Promise<string[]> {
  const out = [field('PodCIDR', n.spec?.podCIDR), field('Unschedulable', n.spec?.unschedulable ?? false)];
  if (n.spec?.taints?.length) out.push(field('Taints', n.spec.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(', ')));
  out.push('Conditions:', indent(layout([['Type', 'Status', 'Reason', 'Message'], ...(n.status?.conditions ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.message ?? ''])])));
  out.push('Addresses:', ...(n.status?.addresses ?? []).map((a) => `  ${a.type}: ${a.address}`));
  out.push('Capacity:', ...Object.entries(n.status?.capacity ?? {}).map(([k, v]) => `  ${k}: ${v}`));
  const pods = await ctx.client.resource<Pod>('pods').list(undefined, { fieldSelector: `spec.nodeName=${n.metadata.name}` }).then((l) => l.items, () => []);
  out.push(`Pods: (${pods.length} in total)`, indent(layout([['Namespace', 'Name', 'Phase'], ...pods.map((p) => [p.metadata.namespace ?? '', p.metadata.name ?? '', p.status?.phase ?? ''])])));
  return out;
}

/** A Secret as kubectl describes it: its type and each key's size, never a value. */
export function secretSection(s: Secret): string[] {
  const data = s.data ?? {};
  const out = [field('Type', s.type ?? 'Opaque'), '', 'Data', '====', ...Object.keys(data).sort().map((k) => `${k}:  ${Buffer.from(data[k] ?? '', 'base64').length} bytes`)];
  if (s.immutable) out.splice(1, 0, field('Immutable', true));
  return out;
}

function genericSection(o: KubeObject): string[] {
  const rest = { ...(o as Record<string, unknown>) };
  delete rest.apiVersion;
  delete rest.kind;
  delete rest.metadata;
  const text = stringify(rest).trimEnd();
  return text && text !== '{}' ? [text] : [];
}

/** Describes each named object; returns the exit code. */
export async function describe(ctx: Ctx, args: string[]): Promise<number> {
  const blocks: string[] = [];
  for (const { info, names } of parseTargets(args)) {
    const namespace = info.namespaced ? ctx.namespace : undefined;
    const objects = names.length ? await Promise.all(names.map((n) => ctx.client.resource(info).get(namespace, n))) : (await ctx.client.resource(info).list(namespace)).items;
    if (!objects.length) throw new UsageError(`No resources found${namespace ? ` in ${namespace} namespace` : ''}.`);
    for (const o of objects) {
      const md = o.metadata;
      const lines = [field('Name', md.name), ...(info.namespaced ? [field('Namespace', md.namespace)] : []), field('Labels', kv(md.labels)), field('Annotations', kv(md.annotations)), field('Created', md.creationTimestamp)];
      const owner = md.ownerReferences?.find((r) => r.controller);
      if (owner) lines.push(field('Controlled By', `${owner.kind}/${owner.name}`));
      if (info.kind === 'Pod') lines.push(...podSection(o as Pod));
      else if (info.kind === 'Service') lines.push(...(await serviceSection(ctx, o as Service)));
      else if (info.kind === 'Deployment') lines.push(...deploymentSection(o as Deployment));
      else if (info.kind === 'Node') lines.push(...(await nodeSection(ctx, o as Node)));
      else if (info.kind === 'Secret' && info.group === '') lines.push(...secretSection(o as Secret));
      else lines.push(...genericSection(o));
      const events = await ctx.client.resource<Event>('events').list(md.namespace ?? undefined, { fieldSelector: `involvedObject.uid=${md.uid}` }).then((l) => l.items, () => []);
      if (events.length) {
        const sorted = events.sort((a, b) => (a.lastTimestamp ?? '').localeCompare(b.lastTimestamp ?? ''));
        lines.push('Events:', indent(layout([['Type', 'Reason', 'Count', 'From', 'Message'], ...sorted.map((e) => [e.type ?? '', e.reason ?? '', String(e.count ?? 1), e.source?.component ?? e.reportingComponent ?? '', e.message ?? ''])])));
      } else lines.push('Events:        <none>');
      blocks.push(lines.join('\n'));
    }
  }
  ctx.out(blocks.join('\n\n'));
  return 0;
}
