import { hash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Authenticator, UserInfo } from './types.js';

/** One line of a static token file. */
export interface TokenEntry {
  token: string;
  user: UserInfo;
}

/** Splits one CSV record (RFC 4180 quoting: `"a,b"`, `""` for a quote); throws on an unterminated quote. */
function splitCsv(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new Error('unterminated quoted field');
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      if (i < line.length && line[i] !== ',') throw new Error(`unexpected character after closing quote at column ${i + 1}`);
    } else {
      const end = line.indexOf(',', i);
      field = end === -1 ? line.slice(i) : line.slice(i, end);
      if (field.includes('"')) throw new Error(`bare quote in unquoted field at column ${i + 1}`);
      i = end === -1 ? line.length : end;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++; // the comma
  }
}

/**
 * Parses a Kubernetes static token file (`--token-auth-file`): one
 * `token,user,uid[,"group1,group2"]` record per line. Blank lines and
 * `#` comments are skipped. Errors name the file and the line.
 */
export function parseTokenFile(text: string, file = 'token file'): TokenEntry[] {
  const entries: TokenEntry[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (const [idx, raw] of lines.entries()) {
    const lineNo = idx + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fail = (why: string): never => {
      throw new Error(`${file}:${lineNo}: ${why} (want token,user,uid[,"group1,group2"])`);
    };
    let fields: string[] = [];
    try {
      fields = splitCsv(line);
    } catch (err) {
      fail((err as Error).message);
    }
    if (fields.length < 3) fail(`need at least 3 columns, found ${fields.length}`);
    if (fields.length > 4) fail(`found ${fields.length} columns; quote the group list`);
    const [token, name, uid, groupList] = fields.map((f) => f.trim()) as [string, string, string, string | undefined];
    if (token === '') fail('empty token');
    if (/\s/.test(token)) fail('token contains whitespace');
    if (name === '') fail('empty user name');
    const prev = seen.get(token);
    // Two users behind one token would make the identity depend on line order.
    if (prev !== undefined) fail(`token already used on line ${prev}`);
    seen.set(token, lineNo);
    const groups = groupList ? groupList.split(',').map((g) => g.trim()).filter((g) => g !== '') : [];
    entries.push({ token, user: { name, ...(uid ? { uid } : {}), groups } });
  }
  return entries;
}

/** The group Kubernetes adds to every authenticated user. */
export const AUTHENTICATED_GROUP = 'system:authenticated';

// One-shot hashing: half the CPU of a Hash object, and this runs on every request.
const digest = (s: string): Buffer => hash('sha256', s, 'buffer');

/** The bearer token of an `Authorization` header, or undefined when absent or malformed. */
export function bearerToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers.authorization;
  // Several Authorization headers are ambiguous: refuse rather than pick one.
  if (typeof value !== 'string') return undefined;
  const m = /^bearer +(\S+) *$/i.exec(value);
  return m ? m[1] : undefined;
}

/**
 * Authenticates `Authorization: Bearer <token>` against a static token
 * file. Every known token is compared in constant time (over SHA-256
 * digests, so lengths leak nothing) and all of them are checked, so the
 * answer's timing does not reveal which or how many characters matched.
 */
export class TokenAuthenticator implements Authenticator {
  private readonly entries: Array<{ digest: Buffer; user: UserInfo }>;

  constructor(entries: TokenEntry[]) {
    this.entries = entries.map((e) => ({ digest: digest(e.token), user: { ...e.user, groups: [...e.user.groups] } }));
  }

  /** Reads and parses a token file; rejects with `<file>:<line>: …` on a bad record. */
  static async fromFile(file: string): Promise<TokenAuthenticator> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new Error(`cannot read token file ${file}: ${(err as Error).message}`);
    }
    return new TokenAuthenticator(parseTokenFile(text, file));
  }

  /** How many tokens are known (for the start-up log; never the tokens). */
  get size(): number {
    return this.entries.length;
  }

  authenticate(headers: Record<string, string | string[] | undefined>): UserInfo | undefined {
    const token = bearerToken(headers);
    if (token === undefined) return undefined;
    const d = digest(token);
    let found: UserInfo | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(e.digest, d) && !found) found = e.user;
    }
    // A copy, so a request handler cannot alter the identity of later requests.
    if (!found) return undefined;
    // As in Kubernetes, every authenticated user is also in system:authenticated.
    const groups = found.groups.includes(AUTHENTICATED_GROUP) ? [...found.groups] : [...found.groups, AUTHENTICATED_GROUP];
    return { ...found, groups };
  }
}
