/** Writing a standard kubeconfig for a process the benchmark starts (JSON is valid YAML). */
import { writeFile } from 'node:fs/promises';

/** Writes a kubeconfig with the server, its CA and a bearer token. */
export async function writeKubeconfig(path: string, server: string, caPem: string, token: string, user = 'bench'): Promise<void> {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'bench', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'bench', context: { cluster: 'bench', user } }],
    'current-context': 'bench',
  };
  await writeFile(path, JSON.stringify(config, null, 2), { mode: 0o600 });
}
