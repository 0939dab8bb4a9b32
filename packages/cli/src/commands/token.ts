import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { isReason, type Secret } from '@flotilla/api';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_PATTERN,
  BOOTSTRAP_TOKEN_SECRET_PREFIX,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  bootstrapTokenSecret,
} from '@flotilla/apiserver';
import { caCertHash } from '@flotilla/agent';
import { loadKubeconfig, RestClient } from '@flotilla/client';
import { parseDuration, parsePositiveInt } from '../flags.js';
import { generateToken } from '../token.js';

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const randomPart = (n: number) => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

/** A new bootstrap token `<6>.<16>` of `[a-z0-9]` (Kubernetes' format). */
export function newBootstrapToken(): { id: string; secret: string; token: string } {
  const id = randomPart(6);
  const secret = randomPart(16);
  return { id, secret, token: `${id}.${secret}` };
}

/** Retries while the apiserver is still starting (connection refused), up to `ms`. */
async function whenReachable<T>(fn: () => Promise<T>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: string; cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code;
      if (!['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET'].includes(code ?? '') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function field(s: Secret, key: string): string | undefined {
  const v = s.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

function parseGroups(value: string): string[] {
  const groups = value.split(',').map((g) => g.trim()).filter(Boolean);
  for (const g of groups) if (!/^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/.test(g)) throw new InvalidArgumentError(`${g}: extra groups must start with system:bootstrappers:`);
  return groups;
}

/**
 * `flotilla token`: bootstrap tokens for joining nodes (`create`, `list`,
 * `delete`, `ca-hash`, like `kubeadm token`) and `generate` for static
 * token files.
 */
export function tokenCommand(): Command {
  const token = new Command('token').description('bootstrap tokens that let a new node join (create, list, delete, ca-hash), and static tokens for --token-auth-file (generate)');
  const kubeconfigOpt = ['--kubeconfig <file>', 'admin kubeconfig ($KUBECONFIG or ~/.kube/config by default)'] as const;
  token
    .command('create')
    .description('create a bootstrap token (Secret kube-system/bootstrap-token-<id>) and print it')
    .option(...kubeconfigOpt)
    .option('--ttl <duration>', 'time until the token expires (0: never)', parseDuration, 24 * 3600_000)
    .option('--description <text>', 'what the token is for')
    .option('--groups <list>', 'extra groups, each system:bootstrappers:…', parseGroups)
    .option('--print-join-command', 'print the whole `flotilla agent` command a worker runs to join')
    .action(async (opts: { kubeconfig?: string; ttl: number; description?: string; groups?: string[]; printJoinCommand?: boolean }) => {
      const config = loadKubeconfig(opts.kubeconfig);
      const client = new RestClient(config, { userAgent: 'flotilla-token' });
      try {
        const t = newBootstrapToken();
        const secret = bootstrapTokenSecret({
          id: t.id,
          secret: t.secret,
          ...(opts.ttl > 0 ? { expiration: new Date(Date.now() + opts.ttl) } : {}),
          ...(opts.description ? { description: opts.description } : {}),
          ...(opts.groups ? { extraGroups: opts.groups } : {}),
        });
        await whenReachable(() => client.resource<Secret>('secrets').create(secret));
        if (opts.printJoinCommand) {
          if (!config.ca) throw new Error('the kubeconfig carries no cluster CA to pin');
          process.stdout.write(`flotilla agent --server ${config.server} --bootstrap-token ${t.token} --discovery-token-ca-cert-hash ${caCertHash(config.ca)}\n`);
        } else process.stdout.write(`${t.token}\n`);
      } finally {
        await client.close();
      }
    });
  token
    .command('list')
    .description('list bootstrap tokens')
    .option(...kubeconfigOpt)
    .action(async (opts: { kubeconfig?: string }) => {
      const client = RestClient.fromKubeconfig(opts.kubeconfig, { userAgent: 'flotilla-token' });
      try {
        const list = await whenReachable(() => client.resource<Secret>('secrets').list(BOOTSTRAP_TOKEN_NAMESPACE));
        const rows = [['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS']];
        for (const s of list.items) {
          if (s.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) continue;
          const id = field(s, 'token-id') ?? '';
          const exp = field(s, 'expiration');
          const left = exp ? Date.parse(exp) - Date.now() : undefined;
          const ttl = left === undefined ? '<forever>' : left <= 0 ? '<invalid>' : `${Math.round(left / 3600_000)}h`;
          const usages = ['authentication', 'signing'].filter((u) => field(s, `usage-bootstrap-${u}`) === 'true').join(',');
          // As kubeadm: the secret half is never shown again.
          rows.push([`${id}.<secret>`, ttl, exp ?? '<never>', usages, field(s, 'description') ?? '<none>', field(s, 'auth-extra-groups') ?? '']);
        }
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd()}\n`);
      } finally {
        await client.close();
      }
    });
  token
    .command('delete')
    .description('delete bootstrap tokens, by id or whole token')
    .argument('<token...>', 'token ids (abcdef) or tokens (abcdef.0123456789abcdef)')
    .option(...kubeconfigOpt)
    .action(async (ids: string[], opts: { kubeconfig?: string }) => {
      const client = RestClient.fromKubeconfig(opts.kubeconfig, { userAgent: 'flotilla-token' });
      try {
        for (const raw of ids) {
          const id = BOOTSTRAP_TOKEN_PATTERN.exec(raw)?.[1] ?? raw;
          if (!/^[a-z0-9]{6}$/.test(id)) throw new Error(`${raw}: not a token id or token`);
          try {
            await whenReachable(() => client.resource<Secret>('secrets').delete(BOOTSTRAP_TOKEN_NAMESPACE, `${BOOTSTRAP_TOKEN_SECRET_PREFIX}${id}`));
          } catch (err) {
            if (isReason(err, 'NotFound')) throw new Error(`bootstrap token "${id}" not found`);
            throw err;
          }
          process.stdout.write(`bootstrap token "${id}" deleted\n`);
        }
      } finally {
        await client.close();
      }
    });
  token
    .command('ca-hash')
    .description('print sha256:<hex> of the cluster CA\'s public key, for --discovery-token-ca-cert-hash')
    .option(...kubeconfigOpt)
    .option('--ca-file <file>', 'read the CA from this file instead of the kubeconfig')
    .action(async (opts: { kubeconfig?: string; caFile?: string }) => {
      const ca = opts.caFile ? await readFile(opts.caFile, 'utf8') : loadKubeconfig(opts.kubeconfig).ca;
      if (!ca) throw new Error('the kubeconfig carries no cluster CA; pass --ca-file');
      process.stdout.write(`${caCertHash(ca)}\n`);
    });
  token
    .command('generate')
    .description('print a random token for a static token file (with --user: a whole token-file line)')
    .option('--bytes <n>', 'random bytes in the token', parsePositiveInt, 32)
    .option('--user <name>', 'print `token,user,uid,"groups"` for a token file')
    .option('--uid <uid>', 'the user uid in the line (default: the user name)')
    .option('--groups <list>', 'comma-separated groups, e.g. system:masters')
    .action((opts: { bytes: number; user?: string; uid?: string; groups?: string }) => {
      const t = generateToken(opts.bytes);
      if (!opts.user) {
        process.stdout.write(`${t}\n`);
        return;
      }
      const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
      const fields = [t, quote(opts.user), quote(opts.uid ?? opts.user)];
      if (opts.groups) fields.push(quote(opts.groups));
      process.stdout.write(`${fields.join(',')}\n`);
    });
  return token;
}
