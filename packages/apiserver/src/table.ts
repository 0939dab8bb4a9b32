/**
 * `kubectl get` asks for `application/json;as=Table;v=v1;g=meta.k8s.io`:
 * rows with the columns of the kind's registry entry (`table`), each
 * carrying the object as PartialObjectMetadata (or in full with
 * includeObject=Object).
 */
import type { KubeObject, ResourceInfo } from '@flotilla/api';
export { age, formatLabels, formatLabelSelector, humanDuration, podSummary } from '@flotilla/api';

/** True when the Accept header asks for a meta.k8s.io/v1 Table. */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim().replace(/\s/g, ''));
    return params.includes('as=Table') && params.includes('g=meta.k8s.io') && (params.includes('v=v1') || params.includes('v=v1beta1'));
  });
}

/** A Table of a list or a single object; `includeObject` is None, Metadata (default) or Object. */
export function toTable(info: ResourceInfo, body: unknown, includeObject = 'Metadata', now = Date.now()): Record<string, unknown> {
  const b = body as { kind?: string; items?: KubeObject[]; metadata?: Record<string, unknown> };
  const isList = Array.isArray(b?.items);
  if (!isList && !(b && typeof b === 'object' && 'metadata' in b && b.kind === info.kind)) return body as Record<string, unknown>;
  const items = isList ? b.items! : [b as KubeObject];
  const printer = info.table;
  const cols = printer.columns;
  const rows = items.map((o) => ({
    ...(printer.rowConditions ? printer.rowConditions(o) : {}),
    cells: cols.map((c) => {
      try {
        return c.cell(o, now);
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
