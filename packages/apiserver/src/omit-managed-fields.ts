/**
 * `omitManagedFields=true` on a list or watch: the objects come without
 * `metadata.managedFields`. Flotilla's own components ask for it (none of
 * them reads the field; Kubernetes' clients strip it from their caches after
 * parsing, see client-go's TransformStripManagedFields): on a pod they are
 * ~40 % of its JSON and over half of its objects, which every watcher would
 * otherwise receive, parse, freeze and hold. A Kubernetes apiserver ignores
 * the parameter, and a client that does not send it sees no difference.
 *
 * The field is cut out of the object's JSON text, not re-serialised: the
 * text is scanned up to the end of its top-level `metadata` only.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/** The index just past the string whose opening quote is at `i`; -1 when it does not end. */
function skipString(s: string, i: number): number {
  // From quote to quote with the native search (most of a managedFields entry is its keys):
  // a quote ends the string unless an odd run of backslashes escapes it.
  for (let from = i + 1; ; ) {
    const q = s.indexOf('"', from);
    if (q < 0) return -1;
    let b = q - 1;
    while (b > i && s.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** The index just past the JSON value that starts at `i` (no whitespace before it). */
function skipValue(s: string, i: number): number {
  const first = s.charCodeAt(i);
  if (first === QUOTE) return skipString(s, i);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // A number, true, false or null: up to the next delimiter.
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isSpace(c)) break;
      i++;
    }
    return i;
  }
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) {
      i = skipString(s, i) - 1;
      if (i < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * Finds the member `name` of the object whose `{` is at `open`: the span of
 * the member (key to end of value) and where the object ends. `undefined`
 * when the text is not well-formed.
 */
function findMember(s: string, open: number, name: string): { start: number; end: number } | null | undefined {
  let i = skipSpace(s, open + 1);
  if (s.charCodeAt(i) === CLOSE_BRACE) return null;
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = skipString(s, i);
    if (keyEnd < 0) return undefined;
    const matches = keyEnd - i - 2 === name.length && s.startsWith(name, i + 1);
    const start = i;
    i = skipSpace(s, keyEnd);
    if (s.charCodeAt(i) !== COLON) return undefined;
    i = skipSpace(s, i + 1);
    if (matches) {
      const end = skipValue(s, i);
      return end < 0 ? undefined : { start, end };
    }
    i = skipValue(s, i);
    if (i < 0) return undefined;
    i = skipSpace(s, i);
    const c = s.charCodeAt(i);
    if (c === CLOSE_BRACE) return null;
    if (c !== COMMA) return undefined;
    i = skipSpace(s, i + 1);
  }
}

/** `json` (one object's JSON text) without its `metadata.managedFields`; the same string when it has none. */
export function withoutManagedFields(json: string): string {
  if (!json.includes('"managedFields"')) return json;
  const top = skipSpace(json, 0);
  if (json.charCodeAt(top) !== OPEN_BRACE) return json;
  const metadata = findMember(json, top, 'metadata');
  if (!metadata) return json;
  // The value of metadata: past its key and colon.
  let open = skipString(json, metadata.start);
  open = skipSpace(json, open);
  open = skipSpace(json, open + 1);
  if (json.charCodeAt(open) !== OPEN_BRACE) return json;
  const member = findMember(json, open, 'managedFields');
  if (!member) return json;
  // Cut the member and one comma beside it: the one after it, else the one before.
  let { start, end } = member;
  const after = skipSpace(json, end);
  if (json.charCodeAt(after) === COMMA) end = after + 1;
  else {
    let before = start - 1;
    while (before > open && isSpace(json.charCodeAt(before))) before--;
    if (json.charCodeAt(before) === COMMA) start = before;
  }
  return json.slice(0, start) + json.slice(end);
}
