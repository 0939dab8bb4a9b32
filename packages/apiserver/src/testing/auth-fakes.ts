/** Trivial authenticators and authorizers for tests. */
import type { Authenticator, Authorizer, Decision, RequestAttributes, UserInfo } from '../auth/types.js';

/** Everyone is `admin` in group system:masters. */
export const allowAllAuthenticator: Authenticator = {
  authenticate: () => ({ name: 'admin', groups: ['system:masters', 'system:authenticated'] }),
};

/** Only requests with `Authorization: Bearer <token>` matching one of these are users. */
export function tokenAuthenticator(tokens: Record<string, UserInfo>): Authenticator {
  return {
    authenticate: (headers) => {
      const h = headers.authorization;
      const v = Array.isArray(h) ? h[0] : h;
      const m = v?.match(/^Bearer\s+(\S+)$/i);
      return m ? tokens[m[1]!] : undefined;
    },
  };
}

/** Allows everything. */
export const allowAllAuthorizer: Authorizer = {
  authorize: () => ({ allowed: true }),
  admit: () => ({ allowed: true }),
};

/** An authorizer from two functions (allow by default). */
export function fakeAuthorizer(
  authorize: (attrs: RequestAttributes) => Decision = () => ({ allowed: true }),
  admit: Authorizer['admit'] = () => ({ allowed: true }),
): Authorizer {
  return { authorize, admit };
}
