export { StaticClusterView, headlessService, clusterIPService, endpointSlice } from './static-cluster-view.js';
export { decodeReply, queryDns, startFakeUpstream, type DnsRecord, type DnsReply, type FakeUpstream, type QueryOptions } from './dns-client.js';
