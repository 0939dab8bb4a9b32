export { run, parseHostPort, type IngressConfig } from './run.js';
export { RouteTable, pathElements, requestHost, requestPath, compareIngressAge, backendKey, type Route, type RouteConflict, type BackendRef } from './route-table.js';
export { classFilter, LEGACY_CLASS_ANNOTATION, type ClassIdentity } from './ingress-class.js';
export { parseRouteOptions, parseSize, rewritePath, DEFAULT_READ_TIMEOUT_MS, type RouteOptions } from './annotations.js';
export { resolveBackend, sliceEndpointSource, endpointsEndpointSource, sliceServiceIndex, SLICE_SERVICE_INDEX, type EndpointSource, type BackendState, type BackendProblem } from './backends.js';
export { IngressController, type IngressControllerOptions, type EndpointsFrom } from './ingress-controller.js';
export { ProxyServer, routeFor, type Snapshot, type LiveBackend, type ProxyOptions } from './proxy-server.js';
export { IngressMetrics } from './metrics.js';
export { TlsStore, selfSignedPair, type TlsSecret, type TlsSection, type TlsProblem, type KeyPair } from './tls-store.js';
