/**
 * From a route's backend (Service + port by number or name) to the ready
 * addresses to send to, read from the informer caches on every table build.
 *
 * The Service port is resolved against the Service's ports (by number or
 * name), then to the endpoints' port of the same name. Endpoints come from
 * an EndpointSource: EndpointSlices (`kubernetes.io/service-name` label,
 * only endpoints whose `conditions.ready` is not false) or the older
 * Endpoints objects (only `addresses`, never `notReadyAddresses`).
 */
import { SERVICE_NAME_LABEL, type EndpointSlice, type Endpoints, type Service, type ServicePort } from '@flotilla/api';
import type { ReadonlyStore } from '@flotilla/client';
import type { BackendRef } from './route-table.js';

/** Where a Service's ready endpoints are read from. */
export interface EndpointSource {
  /** `ip:port` of every ready endpoint of `namespace/service` for the Service port `port` (by its name). */
  ready(namespace: string, service: string, port: ServicePort): string[];
}

/** The index an EndpointSlice informer needs for sliceEndpointSource: `namespace/service`. */
export const SLICE_SERVICE_INDEX = 'serviceName';

/** Index function for SLICE_SERVICE_INDEX. */
export function sliceServiceIndex(slice: EndpointSlice): string[] {
  const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
  return svc ? [`${slice.metadata.namespace}/${svc}`] : [];
}

const addr = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** Endpoints from EndpointSlices; the store must have SLICE_SERVICE_INDEX. */
export function sliceEndpointSource(slices: ReadonlyStore<EndpointSlice>): EndpointSource {
  return {
    ready(namespace, service, port) {
      const out = new Set<string>();
      for (const slice of slices.byIndex(SLICE_SERVICE_INDEX, `${namespace}/${service}`)) {
        if (slice.addressType === 'FQDN') continue;
        const p = (slice.ports ?? []).find((sp) => (sp.name ?? '') === (port.name ?? ''));
        if (!p?.port) continue;
        for (const ep of slice.endpoints ?? []) {
          // A nil ready means unknown, which consumers treat as ready (EndpointSlice API).
          if (ep.conditions?.ready === false) continue;
          if (ep.addresses?.[0]) out.add(addr(ep.addresses[0], p.port));
        }
      }
      return [...out];
    },
  };
}

/** Endpoints from the core Endpoints objects (ready addresses only). */
export function endpointsEndpointSource(endpoints: ReadonlyStore<Endpoints>): EndpointSource {
  return {
    ready(namespace, service, port) {
      const ep = endpoints.get(`${namespace}/${service}`);
      const out: string[] = [];
      for (const subset of ep?.subsets ?? []) {
        const p = (subset.ports ?? []).find((sp) => (sp.name ?? '') === (port.name ?? '')) ?? (subset.ports?.length === 1 && !port.name ? subset.ports[0] : undefined);
        if (!p) continue;
        for (const a of subset.addresses ?? []) out.push(addr(a.ip, p.port));
      }
      return out;
    },
  };
}

/** Why a backend cannot take traffic (each is a 503 naming the Service, and an Event). */
export type BackendProblem = 'ServiceNotFound' | 'PortNotFound' | 'NoEndpoints';

/** A backend resolved at build time. */
export type BackendState =
  | { ok: true; ref: BackendRef; addresses: string[] }
  | { ok: false; ref: BackendRef; reason: BackendProblem; message: string };

/** Resolves one backend against the current caches. */
export function resolveBackend(ref: BackendRef, services: ReadonlyStore<Service>, source: EndpointSource): BackendState {
  const name = `${ref.namespace}/${ref.service}`;
  const svc = services.get(name);
  if (!svc) return { ok: false, ref, reason: 'ServiceNotFound', message: `service ${name} not found` };
  const ports = svc.spec?.ports ?? [];
  const port = ref.port.name ? ports.find((p) => p.name === ref.port.name) : ports.find((p) => p.port === ref.port.number);
  if (!port) return { ok: false, ref, reason: 'PortNotFound', message: `service ${name} has no port ${ref.port.name ?? ref.port.number}` };
  const addresses = source.ready(ref.namespace, ref.service, port);
  if (addresses.length === 0) return { ok: false, ref, reason: 'NoEndpoints', message: `service ${name} has no ready endpoints` };
  return { ok: true, ref, addresses };
}
