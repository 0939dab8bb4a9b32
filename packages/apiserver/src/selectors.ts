/**
 * Query-string label and field selectors turned into object predicates,
 * with the parsers of @flotilla/api. A field the resource does not expose
 * is a 400, as in Kubernetes.
 */
import { badRequest, parseFieldSelector, parseLabelSelector } from '@flotilla/api';
import type { KubeObject, ResourceInfo } from '@flotilla/api';
import type { StoreWatchIndex } from '@flotilla/store';

function safeFieldLabels(info: ResourceInfo, obj: KubeObject): Record<string, string> {
  try {
    return info.fieldLabels(obj);
  } catch {
    return {};
  }
}

/** The field labels a resource supports, read off an empty object; undefined if that cannot be told. */
function supportedFieldLabels(info: ResourceInfo): Set<string> | undefined {
  try {
    const keys = Object.keys(info.fieldLabels({ metadata: {}, spec: {}, status: {} } as KubeObject));
    return new Set(['metadata.name', 'metadata.namespace', ...keys]);
  } catch {
    return undefined;
  }
}

/** Combines optional label and field selectors into one object predicate (undefined: match all). */
export function selectorPredicate(info: ResourceInfo, labelSelector?: string, fieldSelector?: string): ((obj: KubeObject) => boolean) | undefined {
  const labels = labelSelector ? parseLabelSelector(labelSelector) : undefined;
  const fields = fieldSelector ? parseFieldSelector(fieldSelector) : undefined;
  if (fields) {
    const supported = supportedFieldLabels(info);
    for (const r of fields.requirements) {
      if (supported && !supported.has(r.field)) throw badRequest(`field label not supported: ${r.field}`);
    }
  }
  const l = labels && !labels.empty ? labels : undefined;
  const f = fields && !fields.empty ? fields : undefined;
  if (!l && !f) return undefined;
  return (obj) => {
    if (l && !l.matches(obj.metadata?.labels ?? {})) return false;
    if (!f) return true;
    const values = { 'metadata.name': obj.metadata?.name ?? '', 'metadata.namespace': obj.metadata?.namespace ?? '', ...safeFieldLabels(info, obj) };
    return f.matches(values);
  };
}

/**
 * The store index a field selector implies: its first `field=value`
 * requirement (`spec.nodeName=node-7`, a kubelet's pods), so the store hands
 * a watch only the changes of objects with that value instead of running its
 * predicate on every change. The value is read as the predicate reads it.
 */
export function selectorIndex(info: ResourceInfo, fieldSelector?: string): StoreWatchIndex | undefined {
  if (!fieldSelector) return undefined;
  const eq = parseFieldSelector(fieldSelector).requirements.find((r) => r.op === '=');
  if (!eq) return undefined;
  const field = eq.field;
  // The kubelets' index is worked out for every change of every pod: read straight off the pod,
  // as the pods' field labels read it, not by building all of them.
  const podNodeName = field === 'spec.nodeName' && info.group === '' && info.plural === 'pods';
  const valueOf = (obj: KubeObject): string => {
    if (field === 'metadata.name') return obj.metadata?.name ?? '';
    if (field === 'metadata.namespace') return obj.metadata?.namespace ?? '';
    if (podNodeName) {
      const n = (obj.spec as { nodeName?: unknown } | undefined)?.nodeName;
      return n === undefined || n === null ? '' : String(n);
    }
    return safeFieldLabels(info, obj)[field] ?? '';
  };
  return { name: `${info.group}/${info.plural}/${field}`, value: eq.value, valueOf };
}
