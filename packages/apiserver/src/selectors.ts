/**
 * Query-string label and field selectors turned into predicates. Malformed
 * selectors are a 400, as in Kubernetes.
 */
import { badRequest } from '@flotilla/api';
import type { KubeObject, ResourceInfo } from '@flotilla/api';

type LabelTest = (labels: Record<string, string>) => boolean;

// Own properties only: `constructor` is not a label every object has.
const has = (l: Record<string, string>, k: string) => Object.hasOwn(l, k);
const val = (l: Record<string, string>, k: string) => (Object.hasOwn(l, k) ? l[k] : undefined);

/** Splits on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

const KEY = /^([a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?)?$/;

function checkKey(k: string, whole: string): string {
  if (!KEY.test(k) || k.length > 317) throw badRequest(`unable to parse requirement: invalid label key "${k}" in selector "${whole}"`);
  return k;
}
function checkValue(v: string, whole: string): string {
  if (!VALUE.test(v) || v.length > 63) throw badRequest(`unable to parse requirement: invalid label value "${v}" in selector "${whole}"`);
  return v;
}

/** A predicate over labels for a `labelSelector` query value (equality- and set-based). */
export function labelSelectorPredicate(selector: string): LabelTest {
  const tests: LabelTest[] = [];
  for (const term of splitTerms(selector)) {
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^(\S+?)\s+(in|notin)\s*\((.*)\)$/))) {
      const key = checkKey(m[1]!, selector);
      const values = new Set(m[3]!.split(',').map((v) => checkValue(v.trim(), selector)));
      const notIn = m[2] === 'notin';
      tests.push((l) => (notIn ? !has(l, key) || !values.has(val(l, key)!) : has(l, key) && values.has(val(l, key)!)));
    } else if ((m = term.match(/^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/))) {
      const key = checkKey(m[1]!, selector);
      const value = checkValue(m[3]!, selector);
      const neg = m[2] === '!=';
      tests.push((l) => (neg ? val(l, key) !== value : val(l, key) === value));
    } else if ((m = term.match(/^!\s*(\S+)$/))) {
      const key = checkKey(m[1]!, selector);
      tests.push((l) => !has(l, key));
    } else {
      const key = checkKey(term, selector);
      tests.push((l) => has(l, key));
    }
  }
  return (labels) => tests.every((t) => t(labels));
}

/** A predicate over an object for a `fieldSelector` query value, using the resource's field labels. */
export function fieldSelectorPredicate(selector: string, info: ResourceInfo): (obj: KubeObject) => boolean {
  const supported = supportedFieldLabels(info);
  const tests: Array<(f: Record<string, string>) => boolean> = [];
  for (const term of splitTerms(selector)) {
    const m = term.match(/^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw badRequest(`invalid field selector: "${selector}"`);
    const field = m[1]!;
    const value = m[3]!.trim();
    if (supported && !supported.has(field)) throw badRequest(`field label not supported: ${field}`);
    const neg = m[2] === '!=';
    tests.push((f) => (neg ? (val(f, field) ?? '') !== value : (val(f, field) ?? '') === value));
  }
  return (obj) => {
    const fields = { 'metadata.name': obj.metadata?.name ?? '', 'metadata.namespace': obj.metadata?.namespace ?? '', ...safeFieldLabels(info, obj) };
    return tests.every((t) => t(fields));
  };
}

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
  const l = labelSelector ? labelSelectorPredicate(labelSelector) : undefined;
  const f = fieldSelector ? fieldSelectorPredicate(fieldSelector, info) : undefined;
  if (!l && !f) return undefined;
  return (obj) => (!l || l(obj.metadata?.labels ?? {})) && (!f || f(obj));
}
