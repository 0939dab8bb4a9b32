/**
 * The token cleaner, as Kubernetes' tokencleaner controller: bootstrap
 * token Secrets (`kube-system`, type `bootstrap.kubernetes.io/token`) whose
 * `expiration` has passed are deleted, so a join token stops existing once
 * it has stopped working (the apiserver already refuses it). A Secret not
 * yet expired is looked at again when it expires; one whose expiration does
 * not parse is treated as expired, as Kubernetes does. The delete carries a
 * UID precondition: a token re-created under the same name meanwhile stays.
 */
import { isReason, type Secret } from '@flotilla/api';
import { Controller, realClock, type Clock, type Informer, type Logger, type ResourceClient } from '@flotilla/client';
import { errMessage, type ControllerDeps } from '../context.js';

/** Where bootstrap token Secrets live. */
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
/** The Secret type of a bootstrap token. */
export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';

/** When a bootstrap token Secret expires: a time, `never` (no expiration), or `unreadable`. */
export function tokenExpiration(secret: Secret): number | 'never' | 'unreadable' {
  const raw = secret.data?.expiration;
  if (raw === undefined) return 'never';
  const text = Buffer.from(raw, 'base64').toString('utf8');
  // RFC 3339, as Kubernetes parses it: a date, a time and a zone.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return 'unreadable';
  const t = Date.parse(text);
  return Number.isNaN(t) ? 'unreadable' : t;
}

/** Deletes expired bootstrap token Secrets. */
export class TokenCleanerController {
  /** The work queue and workers (key: `kube-system/<name>`). */
  readonly controller: Controller;
  private readonly secrets: Informer<Secret>;
  private readonly api: ResourceClient<Secret>;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(deps: ControllerDeps) {
    this.log = deps.logger;
    this.clock = deps.clock ?? realClock;
    // Only the token Secrets, as kube-controller-manager's field-selected informer: other Secrets never reach this process's cache for it.
    this.secrets = deps.informers.informer<Secret>('secrets', { namespace: BOOTSTRAP_TOKEN_NAMESPACE, fieldSelector: `type=${BOOTSTRAP_TOKEN_SECRET_TYPE}` });
    this.api = deps.client.resource<Secret>('secrets');
    const reconcile = (key: string) => this.sync(key);
    this.controller = new Controller({
      name: 'tokencleaner',
      reconcile: deps.metrics ? deps.metrics.instrument('tokencleaner', reconcile) : reconcile,
      informers: [this.secrets],
      workers: deps.workers ?? 1,
      logger: deps.logger,
      clock: deps.clock,
    });
    deps.metrics?.watchQueue('tokencleaner', this.controller.queue);
    this.secrets.addEventHandler({ onAdd: (s) => this.controller.enqueue(s), onUpdate: (_o, s) => this.controller.enqueue(s) });
  }

  /** Runs the workers until `signal` aborts (informers are started by the manager). */
  run(signal: AbortSignal): Promise<void> {
    return this.controller.run(signal);
  }

  /** One Secret: deleted once expired, else looked at again when it expires. */
  async sync(key: string): Promise<{ requeueAfter?: number } | void> {
    const secret = this.secrets.store.get(key);
    if (!secret || secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE || secret.metadata.deletionTimestamp) return;
    const exp = tokenExpiration(secret);
    if (exp === 'never') return;
    if (exp !== 'unreadable' && exp > this.clock.now()) return { requeueAfter: exp - this.clock.now() };
    const name = secret.metadata.name!;
    try {
      await this.api.delete(BOOTSTRAP_TOKEN_NAMESPACE, name, { preconditions: { uid: secret.metadata.uid! } });
      this.log.info({ secret: key, expiration: exp === 'unreadable' ? 'unreadable' : new Date(exp).toISOString() }, 'deleted expired bootstrap token');
    } catch (err) {
      // Gone already, or replaced by a new token of the same name (the UID precondition): nothing of ours to delete.
      if (isReason(err, 'NotFound') || isReason(err, 'Conflict')) return;
      throw new Error(`deleting expired bootstrap token ${key}: ${errMessage(err)}`);
    }
  }
}
