/**
 * The two ranges a Service takes from: cluster IPs (`--service-cluster-ip-range`)
 * and node ports (`--service-node-port-range`), as sets of integers so one
 * allocator serves both.
 */
import { isIP } from 'node:net';

/** An inclusive range of allocatable values (IPv4 addresses as 32-bit numbers, or ports). */
export interface ValueRange {
  /** `ip` for cluster IPs, `port` for node ports: picks the wording of errors. */
  kind: 'ip' | 'port';
  /** First allocatable value. */
  min: number;
  /** Last allocatable value. */
  max: number;
  /** The range as the user wrote it, normalised (`10.96.0.0/16`, `30000-32767`). */
  text: string;
  /** A value as users see it (`10.96.0.10`, `30080`). */
  format(value: number): string;
  /** The inverse of format; undefined when the text is not such a value. */
  parse(text: string): number | undefined;
}

/** Default of `--service-cluster-ip-range`. */
export const DEFAULT_SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
/** Default of `--service-node-port-range`. */
export const DEFAULT_SERVICE_NODE_PORT_RANGE = '30000-32767';

/** The 32-bit number of a dotted IPv4 address, or undefined. */
export function ipv4ToNumber(ip: string): number | undefined {
  if (isIP(ip) !== 4) return undefined;
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** The dotted form of a 32-bit number. */
export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/**
 * Parses an IPv4 CIDR for cluster IPs. As kube-apiserver: the network and
 * broadcast addresses are never handed out, and a range larger than /12 is
 * refused (its bitmap would not fit one etcd value comfortably).
 */
export function parseServiceCidr(text: string): ValueRange {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text.trim());
  const addr = m ? ipv4ToNumber(m[1]!) : undefined;
  if (!m || addr === undefined) throw new Error(`invalid service cluster IP range "${text}": must be an IPv4 CIDR such as ${DEFAULT_SERVICE_CLUSTER_IP_RANGE}`);
  const bits = Number(m[2]);
  if (bits < 12) throw new Error(`service cluster IP range "${text}" is too large; the prefix length must be at least 12`);
  if (bits > 30) throw new Error(`service cluster IP range "${text}" is too small; the prefix length must be at most 30`);
  const size = 2 ** (32 - bits);
  const network = Math.floor(addr / size) * size;
  return {
    kind: 'ip',
    min: network + 1,
    max: network + size - 2,
    text: `${numberToIpv4(network)}/${bits}`,
    format: numberToIpv4,
    parse: ipv4ToNumber,
  };
}

/** Parses `30000-32767` (or a single port) for node ports. */
export function parsePortRange(text: string): ValueRange {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || min < 1 || max > 65535 || min > max) throw new Error(`invalid service node port range "${text}": must be FROM-TO with 1 <= FROM <= TO <= 65535, such as ${DEFAULT_SERVICE_NODE_PORT_RANGE}`);
  return {
    kind: 'port',
    min,
    max,
    text: `${min}-${max}`,
    format: (v) => String(v),
    parse: (t) => (/^\d{1,5}$/.test(t) ? Number(t) : undefined),
  };
}

/** The range of a stored allocation object, parsed the way its kind is; undefined when unreadable. */
export function parseStoredRange(kind: ValueRange['kind'], text: unknown): ValueRange | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return kind === 'ip' ? parseServiceCidr(text) : parsePortRange(text);
  } catch {
    return undefined;
  }
}
