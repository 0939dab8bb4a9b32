import { InvalidArgumentError } from 'commander';
import { isIP } from 'node:net';

/** Parses a TCP port (0 lets the kernel choose). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('want a port number 0-65535');
  return n;
}

/** Parses a comma-separated list of URLs (e.g. --etcd-servers). */
export function parseUrlList(value: string): string[] {
  const urls = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (urls.length === 0) throw new InvalidArgumentError('want at least one URL');
  for (const u of urls) {
    try {
      const parsed = new URL(u);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
    } catch {
      throw new InvalidArgumentError(`${JSON.stringify(u)} is not an http(s) URL`);
    }
  }
  return urls;
}

/** Parses an IP address. */
export function parseIp(value: string): string {
  if (!isIP(value)) throw new InvalidArgumentError('want an IP address');
  return value;
}

/** Parses a positive integer. */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('want a positive integer');
  return n;
}

/** Parses a duration in seconds: `40`, `40s`, `2m` (Kubernetes flags take Go durations). */
export function parseSeconds(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('want a duration such as 40s, 5m or 300');
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
}

/** A boolean flag value as Go's strconv.ParseBool reads it (`--leader-elect=false`), as Kubernetes' flags take them. */
export function parseBool(value: string): boolean {
  if (['1', 't', 'T', 'true', 'True', 'TRUE'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'False', 'FALSE'].includes(value)) return false;
  throw new InvalidArgumentError('want true or false');
}

/** Parses a Go-style duration (`500ms`, `2s`, `5m`, `1h`, combined `1m30s`, or `0`) into milliseconds. */
export function parseDuration(value: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of value.matchAll(re)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (value === '0') return 0;
  if (consumed !== value.length || consumed === 0) throw new InvalidArgumentError('want a duration like 500ms, 2s, 5m or 1m30s');
  return total;
}
