/**
 * The local route sink: a bridge with no ports that the cluster's ranges
 * (services, pods, hosts) are routed to, so an address no more specific
 * route or NAT rule catches dies on this machine instead of following the
 * default route off it. Not a `blackhole` route: with one, `connect()` to a
 * Service address fails before netfilter's OUTPUT NAT could rewrite it;
 * and this kernel may lack `dummy` devices. Idempotent; needs CAP_NET_ADMIN
 * in the network namespace it runs in. scripts/hosts.sh does the same in bash.
 */
import { execCommand, type CommandRunner } from './route-table.js';

/** The ranges every Flotilla machine sinks by default: services, pods, the test hosts' bridge range. */
export const DEFAULT_SINK_CIDRS = ['10.96.0.0/12', '10.244.0.0/16'];

/** Options of ensureSink. */
export interface EnsureSinkOptions {
  /** The sink device. Default `flotsink`. */
  device?: string;
  /** The ranges routed to it. Default DEFAULT_SINK_CIDRS. */
  cidrs?: readonly string[];
  run?: CommandRunner;
}

/** Creates the sink bridge (if missing), brings it up and routes `cidrs` to it. */
export async function ensureSink(options: EnsureSinkOptions = {}): Promise<void> {
  const run = options.run ?? execCommand;
  const dev = options.device ?? 'flotsink';
  try {
    await run('ip', ['link', 'show', dev]);
  } catch {
    await run('ip', ['link', 'add', dev, 'type', 'bridge']).catch(async (err: Error) => {
      // A concurrent creator won: fine if the device is there now.
      await run('ip', ['link', 'show', dev]).catch(() => Promise.reject(err));
    });
  }
  await run('ip', ['link', 'set', dev, 'up']);
  for (const cidr of options.cidrs ?? DEFAULT_SINK_CIDRS) await run('ip', ['-4', 'route', 'replace', cidr, 'dev', dev]);
}
