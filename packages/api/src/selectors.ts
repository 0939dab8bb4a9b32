/**
 * Label selectors (string and object forms) and field selectors, with the
 * semantics the Kubernetes apiserver gives `?labelSelector=` and
 * `?fieldSelector=`. Bad syntax is a 400 BadRequest naming the problem.
 */
import { badRequest } from './errors.js';
import type { LabelSelector } from './meta.js';
import { isQualifiedName, isValidLabelValue } from './names.js';

/** Operators of a label requirement. */
export type SelectorOperator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

/** One requirement of a label selector; all of them must hold. */
export interface Requirement {
  key: string;
  operator: SelectorOperator;
  values: string[];
}

/** A compiled label query. */
export interface Selector {
  /** True when the labels satisfy every requirement (missing labels count as absent). */
  matches(labels?: Record<string, string>): boolean;
  /** True when there are no requirements: the selector matches everything. */
  readonly empty: boolean;
  /** The requirements, sorted by key. */
  readonly requirements: readonly Requirement[];
  /** Canonical string form, parseable by parseLabelSelector. */
  toString(): string;
}

function matchOne(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const val = has ? labels[r.key]! : undefined;
  switch (r.operator) {
    case '=':
    case 'in':
      return has && r.values.includes(val!);
    case '!=':
    case 'notin':
      return !has || !r.values.includes(val!);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || !/^-?\d+$/.test(val!)) return false;
      const n = Number(val);
      const bound = Number(r.values[0]);
      return r.operator === 'gt' ? n > bound : n < bound;
    }
  }
}

function requirementString(r: Requirement): string {
  switch (r.operator) {
    case '=':
    case '!=':
      return `${r.key}${r.operator}${r.values[0] ?? ''}`;
    case 'in':
    case 'notin':
      return `${r.key} ${r.operator} (${[...r.values].sort().join(',')})`;
    case 'exists':
      return r.key;
    case '!':
      return `!${r.key}`;
    case 'gt':
      return `${r.key}>${r.values[0]}`;
    case 'lt':
      return `${r.key}<${r.values[0]}`;
  }
}

/** Builds a selector from requirements (checked by the caller). */
export function selectorFromRequirements(reqs: Requirement[]): Selector {
  const sorted = [...reqs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    empty: sorted.length === 0,
    requirements: sorted,
    matches: (labels) => sorted.every((r) => matchOne(r, labels ?? {})),
    toString: () => sorted.map(requirementString).join(','),
  };
}

/** A selector that matches nothing (what a missing LabelSelector means). */
export const NOTHING: Selector = Object.freeze({
  empty: false,
  requirements: [],
  matches: () => false,
  toString: () => '',
});

/** A selector that matches everything. */
export const EVERYTHING: Selector = selectorFromRequirements([]);

/** A selector requiring every given label, e.g. a Service's `spec.selector`. */
export function selectorFromSet(labels: Record<string, string> | undefined): Selector {
  return selectorFromRequirements(Object.entries(labels ?? {}).map(([key, v]) => ({ key, operator: '=', values: [v] })));
}

function checkKey(key: string, where: string): void {
  const errs = isQualifiedName(key);
  if (errs.length) throw badRequest(`unable to parse requirement: ${where}: key "${key}": ${errs.join('; ')}`);
}

function checkValue(value: string, where: string): void {
  const errs = isValidLabelValue(value);
  if (errs.length) throw badRequest(`unable to parse requirement: ${where}: value "${value}": ${errs.join('; ')}`);
}

// ----------------------------------------------------------- string syntax

type Tok =
  | { t: 'id'; v: string; pos: number }
  | { t: '!' | '=' | '==' | '!=' | '(' | ')' | ',' | '>' | '<' | 'in' | 'notin' | 'eof'; v: string; pos: number };

const SPECIAL = new Set(['!', '=', '(', ')', ',', '>', '<']);

function lex(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '=' && s[i + 1] === '=') {
      out.push({ t: '==', v: '==', pos: i });
      i += 2;
    } else if (c === '!' && s[i + 1] === '=') {
      out.push({ t: '!=', v: '!=', pos: i });
      i += 2;
    } else if (SPECIAL.has(c)) {
      out.push({ t: c as '!', v: c, pos: i });
      i++;
    } else {
      const start = i;
      while (i < s.length && !SPECIAL.has(s[i]!) && !/\s/.test(s[i]!)) i++;
      const v = s.slice(start, i);
      out.push(v === 'in' || v === 'notin' ? { t: v, v, pos: start } : { t: 'id', v, pos: start });
    }
  }
  out.push({ t: 'eof', v: '', pos: s.length });
  return out;
}

/**
 * Parses the string form: `app=web,tier!=db`, `env in (prod,qa)`,
 * `env notin (dev)`, `gpu`, `!canary`, `app==web`. The empty string
 * selects everything. Throws BadRequest on bad syntax or bad keys/values.
 */
export function parseLabelSelector(s: string): Selector {
  if (typeof s !== 'string') throw badRequest('label selector must be a string');
  const toks = lex(s);
  let i = 0;
  const peek = () => toks[i]!;
  const next = () => toks[i++]!;
  const fail = (msg: string): never => {
    throw badRequest(`unable to parse requirement: found '${peek().v}' at position ${peek().pos} of "${s}": ${msg}`);
  };
  const reqs: Requirement[] = [];

  const parseValueList = (): string[] => {
    if (peek().t !== '(') fail("expected: '('");
    next();
    const values: string[] = [];
    for (;;) {
      const t = peek();
      if (t.t === 'id' || t.t === 'in' || t.t === 'notin') {
        values.push(next().v);
        if (peek().t === ',') {
          next();
          continue;
        }
      } else if (t.t === ',') {
        // `(a,,b)`: Kubernetes reads the gap as an empty value.
        values.push('');
        next();
        continue;
      }
      if (peek().t === ')') {
        next();
        break;
      }
      fail("expected: ',' or ')'");
    }
    return values;
  };

  for (;;) {
    const t = peek();
    if (t.t === 'eof') break;
    let req: Requirement;
    if (t.t === '!') {
      next();
      const k = peek();
      if (k.t !== 'id') fail("expected: identifier after '!'");
      next();
      req = { key: k.v, operator: '!', values: [] };
    } else if (t.t === 'id') {
      const key = next().v;
      const op = peek();
      switch (op.t) {
        case 'eof':
        case ',':
          req = { key, operator: 'exists', values: [] };
          break;
        case '=':
        case '==':
        case '!=': {
          next();
          const v = peek();
          let value = '';
          if (v.t === 'id' || v.t === 'in' || v.t === 'notin') value = next().v;
          else if (v.t !== 'eof' && v.t !== ',') fail('expected: identifier or end of requirement');
          req = { key, operator: op.t === '!=' ? '!=' : '=', values: [value] };
          break;
        }
        case 'in':
        case 'notin': {
          next();
          req = { key, operator: op.t, values: parseValueList() };
          if (op.t === 'in' && req.values.length === 0) fail("for 'in' operator, values set can't be empty");
          break;
        }
        case '>':
        case '<': {
          next();
          const v = peek();
          if (v.t !== 'id' || !/^-?\d+$/.test(v.v)) fail(`for '${op.v}' operator, exactly one integer value is required`);
          next();
          req = { key, operator: op.t === '>' ? 'gt' : 'lt', values: [v.v] };
          break;
        }
        default:
          return fail("expected: one of '=', '==', '!=', 'in', 'notin', '>', '<', ',' or end of string");
      }
    } else {
      return fail('expected: identifier or \'!\'');
    }
    const where = requirementString(req);
    checkKey(req.key, where);
    if (req.operator !== 'gt' && req.operator !== 'lt') for (const v of req.values) checkValue(v, where);
    reqs.push(req);
    const sep = peek();
    if (sep.t === 'eof') break;
    if (sep.t !== ',') fail("expected: ',' or end of string");
    next();
    if (peek().t === 'eof' || peek().t === ',') fail("expected: identifier after ','");
  }
  return selectorFromRequirements(reqs);
}

/**
 * Compiles a metav1.LabelSelector. A missing selector matches nothing and
 * `{}` matches everything, as in Kubernetes. Throws BadRequest on an
 * unknown operator or wrong number of values.
 */
export function labelSelectorFromObject(sel: LabelSelector | null | undefined): Selector {
  if (sel === undefined || sel === null) return NOTHING;
  if (typeof sel !== 'object') throw badRequest('label selector must be an object');
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    const where = `${key}=${value}`;
    checkKey(key, where);
    if (typeof value !== 'string') throw badRequest(`unable to parse requirement: ${where}: value must be a string`);
    checkValue(value, where);
    reqs.push({ key, operator: '=', values: [value] });
  }
  for (const expr of sel.matchExpressions ?? []) {
    const key = expr?.key ?? '';
    const values = expr?.values ?? [];
    checkKey(key, key);
    switch (expr.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) throw badRequest(`"${expr.operator}" operator for key "${key}" requires a non-empty set of values`);
        for (const v of values) checkValue(v, key);
        reqs.push({ key, operator: expr.operator === 'In' ? 'in' : 'notin', values: [...values] });
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) throw badRequest(`"${expr.operator}" operator for key "${key}" must not have values`);
        reqs.push({ key, operator: expr.operator === 'Exists' ? 'exists' : '!', values: [] });
        break;
      default:
        throw badRequest(`"${String(expr?.operator)}" is not a valid label selector operator`);
    }
  }
  return selectorFromRequirements(reqs);
}

// ------------------------------------------------------------ field selector

/** One term of a field selector. */
export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** A compiled field query over the fields a resource exposes (ResourceInfo.fieldLabels). */
export interface FieldSelector {
  /** True when every term holds; a missing field reads as ''. */
  matches(fields: Record<string, string>): boolean;
  readonly requirements: FieldRequirement[];
  /** True when there are no terms. */
  readonly empty: boolean;
  toString(): string;
}

// Splits on an unescaped separator; `\,` `\=` `\!` and `\\` are escapes, as in Kubernetes.
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
    } else if (c === sep) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

function unescape(s: string, whole: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') {
      const n = s[i + 1];
      if (n === undefined || !'\\,=!'.includes(n)) throw badRequest(`invalid field selector: "${whole}": invalid escape sequence`);
      out += n;
      i++;
    } else out += s[i];
  }
  return out;
}

function findOp(term: string): { index: number; op: '=' | '!=' | '=='; len: number } | undefined {
  for (let i = 0; i < term.length; i++) {
    if (term[i] === '\\') {
      i++;
      continue;
    }
    if (term[i] === '!' && term[i + 1] === '=') return { index: i, op: '!=', len: 2 };
    if (term[i] === '=') return term[i + 1] === '=' ? { index: i, op: '==', len: 2 } : { index: i, op: '=', len: 1 };
  }
  return undefined;
}

/**
 * Parses `metadata.name=web,status.phase!=Running` (also `==`). The empty
 * string selects everything. Throws BadRequest on a term without an
 * operator or with an empty field name.
 */
export function parseFieldSelector(s: string): FieldSelector {
  if (typeof s !== 'string') throw badRequest('field selector must be a string');
  const requirements: FieldRequirement[] = [];
  if (s.trim() !== '') {
    for (const raw of splitUnescaped(s, ',')) {
      const term = raw.trim();
      const found = findOp(term);
      if (!found) throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
      const field = unescape(term.slice(0, found.index).trim(), s);
      const value = unescape(term.slice(found.index + found.len).trim(), s);
      if (!field) throw badRequest(`invalid selector: '${s}'; field name is empty in '${term}'`);
      requirements.push({ field, op: found.op === '!=' ? '!=' : '=', value });
    }
  }
  const esc = (x: string) => x.replace(/[\\,=!]/g, (c) => `\\${c}`);
  return {
    requirements,
    empty: requirements.length === 0,
    matches: (fields) => requirements.every((r) => ((fields[r.field] ?? '') === r.value) === (r.op === '=')),
    toString: () => requirements.map((r) => `${esc(r.field)}${r.op}${esc(r.value)}`).join(','),
  };
}
