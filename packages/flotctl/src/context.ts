/**
 * What every flotctl command starts from: the kubeconfig (--kubeconfig,
 * $KUBECONFIG, ~/.kube/config — as kubectl), the namespace (-n, else the
 * context's, else `default`) and a REST client.
 */
import { resourceByName, type ResourceInfo } from '@flotilla/api';
import { loadKubeconfig, RestClient, type ClientConfig } from '@flotilla/client';

/** Global options every command accepts. */
export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  server?: string;
  token?: string;
  insecureSkipTlsVerify?: boolean;
}

/** The client and defaults of one invocation. */
export interface Ctx {
  client: RestClient;
  /** Where and as whom the client connects (for streams the REST client does not carry: exec). */
  config: ClientConfig;
  namespace: string;
  /** The namespace came from -n (not just the context default). */
  namespaceExplicit: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** A problem of the user's input: printed as `error: …`, exit 1, no stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Builds the context; kubeconfig problems name the file. */
export function makeContext(g: GlobalOptions, io: { out: (t: string) => void; err: (t: string) => void }): Ctx {
  let config: ClientConfig;
  if (g.server) {
    config = { server: g.server, ...(g.token ? { token: g.token } : {}), ...(g.insecureSkipTlsVerify ? { insecureSkipTlsVerify: true } : {}) };
  } else {
    config = loadKubeconfig(g.kubeconfig, g.context ? { context: g.context } : {});
    if (g.token) config.token = g.token;
    if (g.insecureSkipTlsVerify) config.insecureSkipTlsVerify = true;
  }
  const client = new RestClient(config, { connections: 8, userAgent: 'flotctl' });
  return { client, config, namespace: g.namespace ?? config.namespace ?? 'default', namespaceExplicit: g.namespace !== undefined, out: io.out, err: io.err };
}

/** Resolves `po`, `deploy`, `deployments.apps`… or fails naming what the user typed. */
export function resolveType(name: string): ResourceInfo {
  const info = resourceByName(name);
  if (!info) throw new UsageError(`the server doesn't have a resource type "${name}"`);
  return info;
}

/** `deployment.apps/web`, `pod/web-1` — how kubectl names an object in messages. */
export function objectName(info: Pick<ResourceInfo, 'group' | 'kind'>, name: string): string {
  const kind = info.kind.toLowerCase();
  return `${info.group ? `${kind}.${info.group}` : kind}/${name}`;
}

/**
 * Splits kubectl's argument forms: `TYPE NAME…`, `TYPE/NAME…`, `TYPE1,TYPE2`.
 * Returns [type, names] pairs in order.
 */
export function parseTargets(args: string[]): Array<{ info: ResourceInfo; names: string[] }> {
  if (args.length === 0) throw new UsageError('you must specify the type of resource');
  if (args.some((a) => a.includes('/'))) {
    const out: Array<{ info: ResourceInfo; names: string[] }> = [];
    for (const a of args) {
      const slash = a.indexOf('/');
      if (slash <= 0 || slash === a.length - 1) throw new UsageError(`arguments in resource/name form must have a single resource and name: "${a}"`);
      const info = resolveType(a.slice(0, slash));
      const name = a.slice(slash + 1);
      const last = out[out.length - 1];
      if (last && last.info === info) last.names.push(name);
      else out.push({ info, names: [name] });
    }
    return out;
  }
  const [types, ...names] = args;
  const infos = types!.split(',').filter(Boolean).map(resolveType);
  if (infos.length > 1 && names.length > 0) throw new UsageError('names cannot be given with several resource types; use TYPE/NAME');
  return infos.map((info) => ({ info, names }));
}
