import type { KubeObject } from '@flotilla/api';

/** Who made a request, as established by authentication. */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
}

/** The TLS peer of a request: its verified client certificate chain, when it showed one. */
export interface RequestPeer {
  /** The request's socket (a TLSSocket on an HTTPS server). */
  socket?: unknown;
}

/**
 * Finds the user behind a request's headers (and its TLS client
 * certificate); undefined means "not authenticated" (401). Lookups that read
 * the store (bootstrap tokens) answer with a promise.
 */
export interface Authenticator {
  authenticate(headers: Record<string, string | string[] | undefined>, peer?: RequestPeer): UserInfo | undefined | Promise<UserInfo | undefined>;
}

/** Kubernetes API verbs. */
export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

/** What a request wants to do, as seen by authorization. */
export interface RequestAttributes {
  user: UserInfo;
  verb: Verb;
  /** API group, '' for core. */
  group: string;
  /** Plural resource name: `pods`. */
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** The answer of an authorizer; `reason` goes into the 403 message. */
export interface Decision {
  allowed: boolean;
  reason?: string;
  /** A denial that `recheck` may overturn after a consistent read (the authorizer's view may lag the store). */
  recheck?: boolean;
}

/**
 * Decides whether a request may proceed. `authorize` runs before the object
 * is read; `admit` runs for writes once the stored and the new object are
 * known, so object-level rules (a node may only touch pods bound to it)
 * can be enforced. Both deny with a 403.
 */
export interface Authorizer {
  authorize(attrs: RequestAttributes): Decision;
  admit(attrs: RequestAttributes, oldObject: KubeObject | undefined, newObject: KubeObject | undefined): Decision;
  /** Decides again, from the store, a request `authorize` denied with `recheck: true`. */
  recheck?(attrs: RequestAttributes): Promise<Decision>;
}
