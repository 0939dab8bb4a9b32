/**
 * Namespace lifecycle: the namespaces every cluster has, and the admission
 * rule that nothing new is created in a namespace that is missing or being
 * terminated.
 */
import { ApiError, isReason, NAMESPACE_FINALIZER, NAMESPACE_NAME_LABEL, notFound } from '@flotilla/api';
import type { KubeObject } from '@flotilla/api';
import type { Storage } from '@flotilla/store';

/** Namespaces that exist in every cluster. */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'] as const;

/** The finalizer the namespace controller removes once a terminating namespace is empty (the Namespace strategy adds it). */
export { NAMESPACE_FINALIZER };

/** Creates the system namespaces if missing; safe when several apiservers start at once. */
export async function ensureSystemNamespaces(storage: Storage): Promise<void> {
  for (const name of SYSTEM_NAMESPACES) {
    try {
      await storage.get('namespaces', undefined, name);
    } catch (err) {
      if (!isReason(err, 'NotFound')) throw err;
      try {
        await storage.create('namespaces', {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name, labels: { [NAMESPACE_NAME_LABEL]: name } },
          spec: {},
          status: { phase: 'Active' },
        });
      } catch (e) {
        if (!isReason(e, 'AlreadyExists')) throw e;
      }
    }
  }
}

/** Throws 404 when the namespace is missing and 403 when it is terminating (NamespaceLifecycle). */
export async function checkNamespaceAcceptsCreate(storage: Storage, namespace: string, resource: string, name: string): Promise<void> {
  // The in-memory copy answers the common case without a round trip, as
  // Kubernetes' admission reads its namespace lister; a missing or
  // terminating answer from it is confirmed with a consistent read.
  const cached = storage.getCachedShared ? storage.getCachedShared('namespaces', undefined, namespace) : storage.getCached?.('namespaces', undefined, namespace);
  if (cached && !isTerminating(cached)) return;
  let ns: KubeObject;
  try {
    ns = await storage.get('namespaces', undefined, namespace);
  } catch (err) {
    if (isReason(err, 'NotFound')) throw notFound('namespaces', namespace);
    throw err;
  }
  if (isTerminating(ns)) {
    throw new ApiError(
      'Forbidden',
      `${resource} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      { name, kind: resource },
    );
  }
}

function isTerminating(ns: KubeObject): boolean {
  return !!ns.metadata.deletionTimestamp || (ns.status as { phase?: string } | undefined)?.phase === 'Terminating';
}
