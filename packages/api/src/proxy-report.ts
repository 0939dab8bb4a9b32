/**
 * How service proxies tell the agents what they have applied, so a pod
 * being deleted is signalled only after no proxy sends it new connections.
 * Each proxy keeps a Lease `<PROXY_LEASE_PREFIX><proxy name>` in
 * kube-node-lease, labelled PROXY_LEASE_LABEL, renewed while it runs, whose
 * APPLIED_ENDPOINTSLICE_RV_ANNOTATION is the highest EndpointSlice
 * resourceVersion (an etcd revision: globally ordered) whose state its rules
 * reflect. Any EndpointSlice written at or below that revision is in force
 * on that host.
 */
import type { Lease } from './coordination-types.js';

/** Namespace of the proxies' Leases (with the node heartbeats). */
export const PROXY_LEASE_NAMESPACE = 'kube-node-lease';
/** Name prefix of a proxy's Lease. */
export const PROXY_LEASE_PREFIX = 'flotilla-proxy-';
/** Label (value `proxy`) on every proxy Lease, so one list finds them all. */
export const PROXY_LEASE_LABEL = 'flotilla.dev/component';
/** Annotation holding the EndpointSlice resourceVersion a proxy has applied. */
export const APPLIED_ENDPOINTSLICE_RV_ANNOTATION = 'proxy.flotilla.dev/applied-endpointslice-resource-version';

/** The applied revision a proxy Lease reports (0 when none). */
export function appliedRevision(lease: Lease): number {
  const v = Number(lease.metadata.annotations?.[APPLIED_ENDPOINTSLICE_RV_ANNOTATION]);
  return Number.isFinite(v) ? v : 0;
}

/** Whether a Lease was renewed within its duration as of `nowMs` (a proxy that stopped renewing is not waited for). */
export function leaseFresh(lease: Lease, nowMs: number): boolean {
  const renew = Date.parse(lease.spec?.renewTime ?? '');
  const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
  return Number.isFinite(renew) && renew + duration > nowMs;
}
