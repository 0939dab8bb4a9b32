/**
 * Query-string label and field selectors turned into object predicates,
 * with the parsers of @flotilla/api. A field the resource does not expose
 * is a 400, as in Kubernetes.
 */
import { badRequest, parseFieldSelector, parseLabelSelector } from '@flotilla/api';
import type { FieldLabel, KubeObject, ResourceInfo } from '@flotilla/api';
import type { StoreWatchIndex } from '@flotilla/store';

/** How a selector reads `field` of an object: the resource's own reader, never throwing (a malformed stored object reads as ''). */
function reader(info: ResourceInfo, field: string): FieldLabel {
  const read = Object.hasOwn(info.fields, field) ? info.fields[field] : undefined;
  if (!read) return () => '';
  return (obj) => {
    try {
      return read(obj);
    } catch {
      return '';
    }
  };
}

/** Combines optional label and field selectors into one object predicate (undefined: match all). */
export function selectorPredicate(info: ResourceInfo, labelSelector?: string, fieldSelector?: string): ((obj: KubeObject) => boolean) | undefined {
  const labels = labelSelector ? parseLabelSelector(labelSelector) : undefined;
  const fields = fieldSelector ? parseFieldSelector(fieldSelector) : undefined;
  for (const r of fields?.requirements ?? []) {
    if (!Object.hasOwn(info.fields, r.field)) throw badRequest(`field label not supported: ${r.field}`);
  }
  const l = labels && !labels.empty ? labels : undefined;
  // Each term reads only its own field: a kubelet's `spec.nodeName=` runs on every pod change.
  const terms = fields && !fields.empty ? fields.requirements.map((r) => ({ read: reader(info, r.field), value: r.value, equal: r.op === '=' })) : undefined;
  if (!l && !terms) return undefined;
  return (obj) => {
    if (l && !l.matches(obj.metadata?.labels ?? {})) return false;
    if (!terms) return true;
    for (const t of terms) if ((t.read(obj) === t.value) !== t.equal) return false;
    return true;
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
  return { name: `${info.group}/${info.plural}/${eq.field}`, value: eq.value, valueOf: reader(info, eq.field) };
}
