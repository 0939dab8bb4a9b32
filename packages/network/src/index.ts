export {
  cidrContains,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIpv4,
  mustParseCidr,
  nthAddress,
  parseCidr,
  parseIpv4,
  subnets,
  type Ipv4Cidr,
} from './cidr.js';
export { ensurePodForwarding, podForwardRule } from './forwarding.js';
export { ensureHairpin, portsWithoutHairpin } from './hairpin.js';
export {
  desiredRoutes,
  HostGatewayRoutes,
  nodeInternalIP,
  planRoutes,
  RouteMetrics,
  runHostGatewayRoutes,
  type HostGatewayRoutesOptions,
  type RoutePlan,
  type StartHostGatewayRoutesOptions,
} from './host-gw-routes.js';
export { execCommand, FLOTILLA_ROUTE_PROTOCOL, IpRouteTable, type CommandRunner, type HostRoute, type IpRouteTableOptions, type RouteTable } from './route-table.js';
export { openssl, runCommand, type CommandResult, type RunCommandOptions } from './run-command.js';
export { runHostRoutes, type HostRoutesConfig } from './run.js';
export { DEFAULT_SINK_CIDRS, ensureSink, type EnsureSinkOptions } from './sink.js';
