/**
 * Query parameters parsed as Kubernetes parses them. Booleans follow Go's
 * strconv.ParseBool (`1`, `t`, `T`, `TRUE`, `true`, `True` and the false
 * forms), so `?watch=True`, which official client libraries send, watches;
 * anything else is a 400 naming the parameter.
 */
import { badRequest } from '@flotilla/api';

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** The boolean value of query parameter `name`; undefined when absent or empty. */
export function boolParam(query: Record<string, string | undefined>, name: string): boolean | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (TRUE.has(v)) return true;
  if (FALSE.has(v)) return false;
  throw badRequest(`invalid value for query parameter "${name}": ${JSON.stringify(v.slice(0, 100))}: must be a boolean (1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)`);
}
