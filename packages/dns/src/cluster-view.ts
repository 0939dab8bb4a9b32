/**
 * What the DNS server reads about the cluster: Services by name and the
 * EndpointSlices of each Service. The real view is two shared informers'
 * caches (no API call per query); tests use StaticClusterView from
 * `@flotilla/dns/testing`.
 */
import { SERVICE_NAME_LABEL, type EndpointSlice, type Service } from '@flotilla/api';
import { NAMESPACE_INDEX, type Informer } from '@flotilla/client';

/** Read-only lookups the zone answers from. Objects are shared: never mutate them. */
export interface ClusterView {
  /** The Service `namespace/name`, if it exists. */
  service(namespace: string, name: string): Service | undefined;
  /** The EndpointSlices labelled `kubernetes.io/service-name=<name>` in `namespace`. */
  endpointSlices(namespace: string, service: string): EndpointSlice[];
  /** True when the namespace has at least one Service (so `<ns>.svc.<zone>` exists). */
  hasServicesIn(namespace: string): boolean;
}

/** Index of EndpointSlices by `<namespace>/<service-name label>`. */
export const SLICE_SERVICE_INDEX = 'dns/service';

/** A ClusterView over a Service informer and an EndpointSlice informer. */
export class InformerClusterView implements ClusterView {
  constructor(
    private readonly services: Informer<Service>,
    private readonly slices: Informer<EndpointSlice>,
  ) {
    slices.addIndexer(SLICE_SERVICE_INDEX, (s) => {
      const svc = s.metadata.labels?.[SERVICE_NAME_LABEL];
      return svc ? [`${s.metadata.namespace}/${svc}`] : [];
    });
  }

  service(namespace: string, name: string): Service | undefined {
    return this.services.store.get(`${namespace}/${name}`);
  }

  endpointSlices(namespace: string, service: string): EndpointSlice[] {
    return this.slices.store.byIndex(SLICE_SERVICE_INDEX, `${namespace}/${service}`);
  }

  hasServicesIn(namespace: string): boolean {
    return this.services.store.countIndexed(NAMESPACE_INDEX, namespace) > 0;
  }
}
