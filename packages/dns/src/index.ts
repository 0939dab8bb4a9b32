export { InformerClusterView, SLICE_SERVICE_INDEX, type ClusterView } from './cluster-view.js';
export { ClusterZone, RCODE, RCODE_NAME, type ClusterZoneOptions, type ZoneAnswer } from './cluster-zone.js';
export { DnsServer, type DnsServerOptions } from './dns-server.js';
export { Forwarder, ForwardError, hostUpstreams, nameserversOf, parseUpstream, type ForwarderOptions, type ForwardTransport, type Upstream } from './forwarder.js';
export { DNS_MANAGER, KUBE_DNS_NAME, KUBE_DNS_NAMESPACE, KubeDnsRegistrar, SKIP_MIRROR_LABEL, type KubeDnsRegistrarOptions } from './kube-dns-service.js';
export { DnsMetrics } from './metrics.js';
export { run, type DnsConfig } from './run.js';
