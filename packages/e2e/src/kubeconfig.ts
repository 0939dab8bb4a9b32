import { writeFile } from 'node:fs/promises';

/** What a kubeconfig for one user of one cluster holds. */
export interface KubeconfigSpec {
  server: string;
  /** PEM of the cluster CA; embedded as certificate-authority-data. */
  caPem: string;
  token: string;
  user?: string;
  cluster?: string;
  namespace?: string;
}

/** A standard kubeconfig document (v1 Config). */
export function kubeconfig(spec: KubeconfigSpec): Record<string, unknown> {
  const cluster = spec.cluster ?? 'flotilla';
  const user = spec.user ?? 'admin';
  const context = `${user}@${cluster}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster, cluster: { server: spec.server, 'certificate-authority-data': Buffer.from(spec.caPem).toString('base64') } }],
    users: [{ name: user, user: { token: spec.token } }],
    contexts: [{ name: context, context: { cluster, user, ...(spec.namespace ? { namespace: spec.namespace } : {}) } }],
    'current-context': context,
    preferences: {},
  };
}

/** Writes a kubeconfig (JSON, which is YAML too) readable only by its owner, since it holds a token. */
export async function writeKubeconfig(path: string, spec: KubeconfigSpec): Promise<void> {
  await writeFile(path, `${JSON.stringify(kubeconfig(spec), null, 2)}\n`, { mode: 0o600 });
}
