import { ApiError } from '@flotilla/api';

/**
 * A create's failure, for counting: the API reason, or the network error's
 * code, and the message's first words without what is in parentheses (the
 * object's key, an address: one count per pod otherwise).
 */
export function retryReason(err: unknown): string {
  const e = err as { reason?: string; code?: unknown; cause?: { code?: unknown }; message?: string };
  const kind = err instanceof ApiError ? e.reason : String(e.cause?.code ?? e.code ?? (err as Error)?.name ?? 'error');
  const words = (e.message ?? String(err)).replace(/^\S+ \/\S+: /, '').replace(/\s*\([^)]*\)?/g, '').split(/\s+/).slice(0, 6).join(' ');
  return `${kind}: ${words}`.slice(0, 100);
}
