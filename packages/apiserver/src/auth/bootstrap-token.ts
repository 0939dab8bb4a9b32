/**
 * Bootstrap tokens, as Kubernetes has them: `<id>.<secret>` (6 and 16 of
 * `[a-z0-9]`), each stored as a Secret `kube-system/bootstrap-token-<id>`
 * of type `bootstrap.kubernetes.io/token`. A valid, unexpired token with
 * `usage-bootstrap-authentication: "true"` authenticates as
 * `system:bootstrap:<id>` in group `system:bootstrappers` (plus its
 * `auth-extra-groups`), which may do one thing: ask for a node credential
 * (a CertificateSigningRequest; see authorizer.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { ApiError, type Secret } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import { bearerToken, AUTHENTICATED_GROUP } from './token-file.js';
import type { Authenticator, UserInfo } from './types.js';

/** The group of every bootstrap token's user. */
export const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';
/** The user-name prefix of bootstrap tokens: `system:bootstrap:<id>`. */
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
/** The Secret type of a bootstrap token. */
export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
/** The Secret name prefix: `bootstrap-token-<id>`. */
export const BOOTSTRAP_TOKEN_SECRET_PREFIX = 'bootstrap-token-';
/** Where bootstrap token Secrets live. */
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
/** The whole token: `<6>.<16>` of lower-case letters and digits. */
export const BOOTSTRAP_TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
/** Extra groups must be below system:bootstrappers (as Kubernetes checks). */
const EXTRA_GROUP_PATTERN = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/;

/** The Secret that stores a bootstrap token (`data` base64-encoded, as the API stores it). */
export function bootstrapTokenSecret(token: { id: string; secret: string; expiration?: Date; description?: string; extraGroups?: string[] }): Secret {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  const data: Record<string, string> = {
    'token-id': b64(token.id),
    'token-secret': b64(token.secret),
    'usage-bootstrap-authentication': b64('true'),
    'usage-bootstrap-signing': b64('true'),
  };
  if (token.expiration) data.expiration = b64(token.expiration.toISOString().replace(/\.\d{3}Z$/, 'Z'));
  if (token.description) data.description = b64(token.description);
  if (token.extraGroups?.length) data['auth-extra-groups'] = b64(token.extraGroups.join(','));
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${token.id}`, namespace: BOOTSTRAP_TOKEN_NAMESPACE },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    data,
  };
}

/** Why a bootstrap token Secret cannot authenticate `id`/`secret`, or undefined when it can. */
export function bootstrapTokenProblem(secret: Secret, id: string, tokenSecret: string, now: Date): string | undefined {
  if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return `secret type is ${String(secret.type)}`;
  if (secret.metadata.deletionTimestamp) return 'being deleted';
  const field = (k: string) => (secret.data?.[k] !== undefined ? Buffer.from(secret.data[k]!, 'base64').toString('utf8') : undefined);
  if (field('token-id') !== id) return 'token-id does not match the name';
  const stored = Buffer.from(field('token-secret') ?? '');
  const given = Buffer.from(tokenSecret);
  if (stored.length !== given.length || !timingSafeEqual(stored, given)) return 'wrong token-secret';
  if (field('usage-bootstrap-authentication') !== 'true') return 'not usable for authentication';
  const exp = field('expiration');
  if (exp !== undefined) {
    const t = Date.parse(exp);
    if (Number.isNaN(t)) return `unreadable expiration ${JSON.stringify(exp)}`;
    if (t <= now.getTime()) return `expired at ${exp}`;
  }
  const extra = field('auth-extra-groups');
  if (extra !== undefined && extra.split(',').some((g) => !EXTRA_GROUP_PATTERN.test(g.trim()))) return 'bad auth-extra-groups';
  return undefined;
}

/**
 * Authenticates `Authorization: Bearer <id>.<secret>` against the bootstrap
 * token Secrets. Anything else (another token shape, a missing, expired or
 * unusable Secret) is not authenticated (401).
 */
export class BootstrapTokenAuthenticator implements Authenticator {
  constructor(
    private readonly storage: Pick<Storage, 'get'>,
    private readonly options: { now?: () => Date; onReject?: (id: string, why: string) => void } = {},
  ) {}

  async authenticate(headers: Record<string, string | string[] | undefined>): Promise<UserInfo | undefined> {
    const token = bearerToken(headers);
    const m = token === undefined ? null : BOOTSTRAP_TOKEN_PATTERN.exec(token);
    if (!m) return undefined;
    const [, id, tokenSecret] = m as unknown as [string, string, string];
    let secret: Secret;
    try {
      secret = (await this.storage.get('secrets', BOOTSTRAP_TOKEN_NAMESPACE, `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`)) as Secret;
    } catch (err) {
      if (err instanceof ApiError && err.reason === 'NotFound') {
        this.options.onReject?.(id, 'no such token');
        return undefined;
      }
      throw err;
    }
    const why = bootstrapTokenProblem(secret, id, tokenSecret, (this.options.now ?? (() => new Date()))());
    if (why) {
      this.options.onReject?.(id, why);
      return undefined;
    }
    const extra = secret.data?.['auth-extra-groups'];
    const extraGroups = extra ? Buffer.from(extra, 'base64').toString('utf8').split(',').map((g) => g.trim()).filter(Boolean) : [];
    return { name: `${BOOTSTRAP_USER_PREFIX}${id}`, groups: [...new Set([BOOTSTRAPPERS_GROUP, ...extraGroups, AUTHENTICATED_GROUP])] };
  }
}
