import { ApiError, internalError, serviceUnavailable } from '@flotilla/api';
import { ClientClosedError, EtcdError, GRPCGenericError, isRecoverableError } from 'etcd3';
import { EtcdCallError } from './etcd-kv.js';

/** True when etcd refused a read because the revision it names has been compacted away. */
export function isCompactedError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('required revision has been compacted');
}

/** True when etcd refused a read at a revision it has not reached yet. */
export function isFutureRevisionError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('required revision is a future revision');
}

/**
 * Turns whatever the etcd client threw (etcd3's errors, or EtcdKv's
 * EtcdCallError) into an ApiError: unreachable or closed etcd is 503
 * (clients retry), anything else a 500 naming the operation.
 */
export function toApiError(err: unknown, operation: string, key: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ClientClosedError) return serviceUnavailable(`storage is closed (${operation} ${key})`);
  const e = err as Error & { name?: string };
  const transient =
    (err instanceof EtcdCallError && err.recoverable) ||
    (err instanceof Error && isRecoverableError(err)) ||
    e?.name === 'BrokenCircuitError' ||
    /UNAVAILABLE|DEADLINE_EXCEEDED|Deadline exceeded|No connection established|ECONNREFUSED|leader changed|no leader|timed out/i.test(e?.message ?? '');
  if (transient) return serviceUnavailable(`etcd is unavailable (${operation} ${key}): ${e?.message ?? String(err)}`);
  if (err instanceof EtcdError || err instanceof GRPCGenericError || err instanceof EtcdCallError) return internalError(`etcd ${operation} ${key}: ${e.message}`);
  return internalError(`${operation} ${key}: ${e?.message ?? String(err)}`);
}
