/**
 * IPv4 CIDR arithmetic for the pod network: parsing, containment, overlap,
 * and carving a cluster range into per-node subnets. Pure, no I/O.
 */

/** A parsed IPv4 range: network address as an unsigned 32-bit number and prefix length. */
export interface Ipv4Cidr {
  /** The network address (host bits cleared), 0 … 2^32-1. */
  base: number;
  /** Prefix length, 0 … 32. */
  bits: number;
}

/** Parses a dotted IPv4 address; undefined when it is not one. */
export function parseIpv4(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

/** Formats an unsigned 32-bit number as a dotted IPv4 address. */
export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** Parses `a.b.c.d/n` (host bits are cleared); undefined when it is not an IPv4 CIDR. */
export function parseCidr(cidr: string): Ipv4Cidr | undefined {
  const [ip, bitsText, extra] = cidr.split('/');
  if (extra !== undefined || ip === undefined || bitsText === undefined || !/^\d{1,2}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const addr = parseIpv4(ip);
  if (addr === undefined || bits > 32) return undefined;
  const size = 2 ** (32 - bits);
  return { base: Math.floor(addr / size) * size, bits };
}

/** Parses a CIDR or throws an Error naming `what`. */
export function mustParseCidr(cidr: string, what = 'CIDR'): Ipv4Cidr {
  const c = parseCidr(cidr);
  if (!c) throw new Error(`${what} "${cidr}" is not an IPv4 CIDR like 10.244.0.0/16`);
  return c;
}

/** `a.b.c.d/n` of a parsed range. */
export function formatCidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.base)}/${c.bits}`;
}

/** Number of addresses in the range. */
export function cidrSize(c: Ipv4Cidr): number {
  return 2 ** (32 - c.bits);
}

/** Whether two ranges share any address. */
export function cidrsOverlap(a: Ipv4Cidr, b: Ipv4Cidr): boolean {
  return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}

/** Whether an address lies in a range. */
export function cidrContains(c: Ipv4Cidr, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : parseIpv4(ip);
  return n !== undefined && n >= c.base && n < c.base + cidrSize(c);
}

/** The n-th address of a range (1 = the usual gateway). */
export function nthAddress(c: Ipv4Cidr, n: number): string {
  return formatIpv4(c.base + n);
}

/**
 * The per-node subnets of a cluster range, in address order: a /16 carved
 * into /24s gives 256 of them. Throws when the mask is not longer than or
 * equal to the range's, or the count would be absurd (more than 65536).
 */
export function subnets(cluster: Ipv4Cidr, maskSize: number): Ipv4Cidr[] {
  if (!Number.isInteger(maskSize) || maskSize < cluster.bits || maskSize > 32) {
    throw new Error(`node CIDR mask size ${maskSize} must be between the cluster range's prefix (${cluster.bits}) and 32`);
  }
  const count = 2 ** (maskSize - cluster.bits);
  if (count > 65536) throw new Error(`node CIDR mask size ${maskSize} carves ${count} ranges out of /${cluster.bits}; at most 65536`);
  const size = 2 ** (32 - maskSize);
  return Array.from({ length: count }, (_, i) => ({ base: cluster.base + i * size, bits: maskSize }));
}
