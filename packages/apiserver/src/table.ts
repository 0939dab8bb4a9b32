/**
 * `kubectl get` asks for `application/json;as=Table;v=v1;g=meta.k8s.io`:
 * rows with a few columns per kind, each carrying the object as
 * PartialObjectMetadata (or in full with includeObject=Object).
 */
import type { KubeObject, ResourceInfo } from '@flotilla/api';

/** True when the Accept header asks for a meta.k8s.io/v1 Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim().replace(/\s/g, ''));
    return params.includes('as=Table') && params.includes('g=meta.k8s.io') && (params.includes('v=v1') || params.includes('v=v1beta1'));
  });
}

interface Column {
  name: string;
  type: string;
  format?: string;
  description: string;
  priority: number;
  cell: (o: KubeObject) => unknown;
}

/** `5m`, `3h`, `2d`: age as kubectl prints it. */
export function age(ts: string | undefined, now = Date.now()): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (!Number.isFinite(s)) return '<unknown>';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
const num = (v: unknown) => (typeof v === 'number' ? v : 0);

function podStatus(o: KubeObject): string {
  if (o.metadata.deletionTimestamp) return 'Terminating';
  const st = (o.status ?? {}) as { phase?: string; reason?: string; containerStatuses?: Array<{ state?: { waiting?: { reason?: string }; terminated?: { reason?: string } } }> };
  for (const c of st.containerStatuses ?? []) {
    const r = c.state?.waiting?.reason ?? c.state?.terminated?.reason;
    if (r && r !== 'Completed') return r;
  }
  return st.reason ?? st.phase ?? 'Unknown';
}

const name: Column = { name: 'Name', type: 'string', format: 'name', description: 'Name of the object.', priority: 0, cell: (o) => o.metadata.name ?? '' };
const ageCol: Column = { name: 'Age', type: 'string', description: 'Time since creation.', priority: 0, cell: (o) => age(o.metadata.creationTimestamp) };

function columnsFor(info: ResourceInfo): Column[] {
  switch (`${info.group}/${info.plural}`) {
    case '/pods':
      return [
        name,
        { name: 'Ready', type: 'string', description: 'Ready containers.', priority: 0, cell: (o) => {
          const cs = (get(o, 'status.containerStatuses') as Array<{ ready?: boolean }> | undefined) ?? [];
          const total = ((get(o, 'spec.containers') as unknown[] | undefined) ?? []).length;
          return `${cs.filter((c) => c.ready).length}/${total}`;
        } },
        { name: 'Status', type: 'string', description: 'Pod status.', priority: 0, cell: podStatus },
        { name: 'Restarts', type: 'string', description: 'Container restarts.', priority: 0, cell: (o) => String(((get(o, 'status.containerStatuses') as Array<{ restartCount?: number }> | undefined) ?? []).reduce((a, c) => a + num(c.restartCount), 0)) },
        ageCol,
        { name: 'IP', type: 'string', description: 'Pod IP.', priority: 1, cell: (o) => get(o, 'status.podIP') ?? '<none>' },
        { name: 'Node', type: 'string', description: 'Node.', priority: 1, cell: (o) => get(o, 'spec.nodeName') ?? '<none>' },
      ];
    case 'apps/deployments':
      return [
        name,
        { name: 'Ready', type: 'string', description: 'Ready replicas.', priority: 0, cell: (o) => `${num(get(o, 'status.readyReplicas'))}/${num(get(o, 'spec.replicas'))}` },
        { name: 'Up-to-date', type: 'integer', description: 'Updated replicas.', priority: 0, cell: (o) => num(get(o, 'status.updatedReplicas')) },
        { name: 'Available', type: 'integer', description: 'Available replicas.', priority: 0, cell: (o) => num(get(o, 'status.availableReplicas')) },
        ageCol,
      ];
    case 'apps/replicasets':
      return [
        name,
        { name: 'Desired', type: 'integer', description: 'Desired replicas.', priority: 0, cell: (o) => num(get(o, 'spec.replicas')) },
        { name: 'Current', type: 'integer', description: 'Current replicas.', priority: 0, cell: (o) => num(get(o, 'status.replicas')) },
        { name: 'Ready', type: 'integer', description: 'Ready replicas.', priority: 0, cell: (o) => num(get(o, 'status.readyReplicas')) },
        ageCol,
      ];
    case '/nodes':
      return [
        name,
        { name: 'Status', type: 'string', description: 'Node readiness.', priority: 0, cell: (o) => {
          const ready = ((get(o, 'status.conditions') as Array<{ type?: string; status?: string }> | undefined) ?? []).find((c) => c.type === 'Ready');
          const s = ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown';
          return get(o, 'spec.unschedulable') === true ? `${s},SchedulingDisabled` : s;
        } },
        ageCol,
        { name: 'Version', type: 'string', description: 'Agent version.', priority: 0, cell: (o) => get(o, 'status.nodeInfo.kubeletVersion') ?? '' },
      ];
    case '/namespaces':
      return [name, { name: 'Status', type: 'string', description: 'Phase.', priority: 0, cell: (o) => get(o, 'status.phase') ?? '' }, ageCol];
    case '/services':
      return [
        name,
        { name: 'Type', type: 'string', description: 'Service type.', priority: 0, cell: (o) => get(o, 'spec.type') ?? 'ClusterIP' },
        { name: 'Cluster-IP', type: 'string', description: 'Cluster IP.', priority: 0, cell: (o) => get(o, 'spec.clusterIP') ?? '<none>' },
        { name: 'Ports', type: 'string', description: 'Ports.', priority: 0, cell: (o) => ((get(o, 'spec.ports') as Array<{ port?: number; nodePort?: number; protocol?: string }> | undefined) ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') || '<none>' },
        ageCol,
      ];
    default:
      return [name, ageCol];
  }
}

/** A Table of a list or a single object; `includeObject` is None, Metadata (default) or Object. */
export function toTable(info: ResourceInfo, body: unknown, includeObject = 'Metadata'): Record<string, unknown> {
  const b = body as { kind?: string; items?: KubeObject[]; metadata?: Record<string, unknown> };
  const isList = Array.isArray(b?.items);
  if (!isList && !(b && typeof b === 'object' && 'metadata' in b && b.kind === info.kind)) return body as Record<string, unknown>;
  const items = isList ? b.items! : [b as KubeObject];
  const cols = columnsFor(info);
  const rows = items.map((o) => ({
    cells: cols.map((c) => {
      try {
        return c.cell(o);
      } catch {
        return '';
      }
    }),
    object:
      includeObject === 'None'
        ? undefined
        : includeObject === 'Object'
          ? o
          : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
  }));
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: isList ? { resourceVersion: b.metadata?.resourceVersion, ...(b.metadata?.continue ? { continue: b.metadata.continue } : {}) } : { resourceVersion: (b as KubeObject).metadata.resourceVersion },
    columnDefinitions: cols.map(({ cell: _c, ...d }) => ({ ...d, format: d.format ?? '' })),
    rows,
  };
}
