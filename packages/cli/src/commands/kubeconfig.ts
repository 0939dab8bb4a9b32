import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { parseTokenFile, readCaBundle } from '@flotilla/apiserver';
import { renderKubeconfig, writeKubeconfig } from '../kubeconfig.js';

interface KubeconfigFlags {
  server: string;
  caFile: string;
  token?: string;
  tokenAuthFile?: string;
  user: string;
  cluster?: string;
  context?: string;
  namespace?: string;
  output?: string;
}

/** `flotilla kubeconfig`: writes a standard kubeconfig for one cluster and one token user. */
export function kubeconfigCommand(): Command {
  return new Command('kubeconfig')
    .description('write a kubeconfig (server, cluster CA, bearer token) that kubectl and flotctl read')
    .requiredOption('--server <url>', 'apiserver URL, e.g. https://127.0.0.1:6443')
    .requiredOption('--ca-file <file>', 'cluster CA certificate, e.g. /var/lib/flotilla/pki/ca.crt')
    .option('--token <token>', 'bearer token from the token auth file')
    .option('--token-auth-file <file>', 'take the token of --user from this token file (the apiserver\'s --token-auth-file)')
    .requiredOption('--user <name>', 'name of the user entry')
    .option('--cluster <name>', 'name of the cluster entry', 'flotilla')
    .option('--context <name>', 'name of the context (default <user>@<cluster>)')
    .option('--namespace <ns>', 'default namespace of the context')
    .option('-o, --output <file>', 'write here (mode 0600) instead of stdout')
    .action(async (opts: KubeconfigFlags) => {
      let token = opts.token;
      if (!token && opts.tokenAuthFile) {
        token = parseTokenFile(await readFile(opts.tokenAuthFile, 'utf8'), opts.tokenAuthFile).find((e) => e.user.name === opts.user)?.token;
        if (!token) throw new Error(`${opts.tokenAuthFile} has no token of user "${opts.user}"`);
      }
      if (!token) throw new Error('--token or --token-auth-file is required');
      const ca = await readCaBundle(opts.caFile);
      const text = renderKubeconfig({ ...opts, token, caData: ca.data });
      if (opts.output) {
        const file = await writeKubeconfig(opts.output, text);
        process.stderr.write(`wrote ${file}\n`);
      } else {
        process.stdout.write(text);
      }
    });
}
