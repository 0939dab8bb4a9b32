/** A ClusterView over plain arrays, and small builders of the objects it holds, for tests. */
import { SERVICE_NAME_LABEL, type Endpoint, type EndpointSlice, type EndpointSlicePort, type Service, type ServicePort } from '@flotilla/api';
import type { ClusterView } from '../cluster-view.js';

/** A ClusterView whose objects tests set directly. */
export class StaticClusterView implements ClusterView {
  services: Service[];
  slices: EndpointSlice[];

  constructor(services: Service[] = [], slices: EndpointSlice[] = []) {
    this.services = services;
    this.slices = slices;
  }

  service(namespace: string, name: string): Service | undefined {
    return this.services.find((s) => s.metadata.namespace === namespace && s.metadata.name === name);
  }

  endpointSlices(namespace: string, service: string): EndpointSlice[] {
    return this.slices.filter((s) => s.metadata.namespace === namespace && s.metadata.labels?.[SERVICE_NAME_LABEL] === service);
  }

  hasServicesIn(namespace: string): boolean {
    return this.services.some((s) => s.metadata.namespace === namespace);
  }
}

/** A ClusterIP Service. */
export function clusterIPService(namespace: string, name: string, clusterIP: string, ports: ServicePort[] = [{ name: 'http', port: 80, protocol: 'TCP' }]): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec: { type: 'ClusterIP', clusterIP, clusterIPs: [clusterIP], ports } };
}

/** A headless Service (`clusterIP: None`). */
export function headlessService(namespace: string, name: string, ports: ServicePort[] = [{ name: 'http', port: 80, protocol: 'TCP' }]): Service {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec: { type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'], ports } };
}

/** An IPv4 EndpointSlice of `service` with the given endpoints and ports. */
export function endpointSlice(namespace: string, service: string, endpoints: Endpoint[], ports: EndpointSlicePort[] = [{ name: 'http', port: 8080, protocol: 'TCP' }], name = `${service}-abc`): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { [SERVICE_NAME_LABEL]: service } },
    addressType: 'IPv4',
    endpoints,
    ports,
  };
}
