/** networking.k8s.io/v1 types with Kubernetes field names. */
import type { Condition, KubeList, KubeObject, ObjectMeta } from './meta.js';

/** The port of a service backend: a number or a port name, exactly one. */
export interface ServiceBackendPort {
  name?: string;
  number?: number;
}

/** A Service as an Ingress backend. */
export interface IngressServiceBackend {
  name: string;
  port?: ServiceBackendPort;
}

/** Where an Ingress sends matching traffic. */
export interface IngressBackend {
  service?: IngressServiceBackend;
  resource?: { apiGroup?: string; kind: string; name: string };
}

/** How an Ingress path is matched. */
export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

/** One path of an HTTP rule. */
export interface HTTPIngressPath {
  path?: string;
  pathType?: PathType;
  backend: IngressBackend;
}

/** HTTP paths of a rule. */
export interface HTTPIngressRuleValue {
  paths: HTTPIngressPath[];
}

/** One host rule of an Ingress. */
export interface IngressRule {
  host?: string;
  http?: HTTPIngressRuleValue;
}

/** TLS settings for some hosts. */
export interface IngressTLS {
  hosts?: string[];
  secretName?: string;
}

/** spec of an Ingress. */
export interface IngressSpec {
  ingressClassName?: string;
  defaultBackend?: IngressBackend;
  tls?: IngressTLS[];
  rules?: IngressRule[];
}

/** status of an Ingress. */
export interface IngressStatus {
  loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string; ports?: Array<{ port: number; protocol: string }> }> };
  conditions?: Condition[];
}

/** An Ingress: HTTP routing by host and path to Services. */
export interface Ingress extends KubeObject {
  metadata: ObjectMeta;
  spec?: IngressSpec;
  status?: IngressStatus;
}

/** A list of ingresses. */
export type IngressList = KubeList<Ingress>;

/** Where an IngressClass's controller reads its extra configuration. */
export interface IngressClassParametersReference {
  apiGroup?: string;
  kind: string;
  name: string;
  /** `Cluster` (default) or `Namespace`. */
  scope?: 'Cluster' | 'Namespace';
  /** Required when scope is `Namespace`, forbidden otherwise. */
  namespace?: string;
}

/** spec of an IngressClass. */
export interface IngressClassSpec {
  /** The controller that implements this class, e.g. `flotilla.dev/ingress`. Immutable. */
  controller?: string;
  parameters?: IngressClassParametersReference;
}

/** An IngressClass: names the controller that serves Ingresses of this class (cluster-scoped). */
export interface IngressClass extends KubeObject {
  metadata: ObjectMeta;
  spec?: IngressClassSpec;
}

/** A list of ingress classes. */
export type IngressClassList = KubeList<IngressClass>;

/** The annotation that makes an IngressClass the default for Ingresses without `ingressClassName`. */
export const DEFAULT_INGRESS_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
