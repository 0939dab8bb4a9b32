/** discovery.k8s.io/v1 types with Kubernetes field names. */
import type { ObjectReference, Protocol } from './core-types.js';
import type { KubeList, KubeObject, ObjectMeta } from './meta.js';

/** The label naming the Service an EndpointSlice belongs to. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** The label naming who manages an EndpointSlice (the controller's own slices carry ENDPOINTSLICE_CONTROLLER_NAME). */
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
/** The managed-by value of slices the EndpointSlice controller owns, as in Kubernetes. */
export const ENDPOINTSLICE_CONTROLLER_NAME = 'endpointslice-controller.k8s.io';

/** The state of one endpoint. Unset means "unknown", which consumers read as ready/serving. */
export interface EndpointConditions {
  /** Ready for new traffic: serving and not terminating. */
  ready?: boolean;
  /** Passing readiness, whether or not terminating. */
  serving?: boolean;
  /** Being deleted. */
  terminating?: boolean;
}

/** One backend (a pod) of an EndpointSlice. */
export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  targetRef?: ObjectReference;
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: Array<{ name: string }> };
}

/** A port of the endpoints of a slice (the resolved target port). */
export interface EndpointSlicePort {
  name?: string;
  protocol?: Protocol;
  port?: number;
  appProtocol?: string;
}

/** A set of endpoints of one Service sharing one list of ports. */
export interface EndpointSlice extends KubeObject {
  metadata: ObjectMeta;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointSlicePort[];
}

/** A list of EndpointSlices. */
export type EndpointSliceList = KubeList<EndpointSlice>;
