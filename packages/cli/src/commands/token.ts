import { Command } from 'commander';
import { parsePositiveInt } from '../flags.js';
import { generateToken } from '../token.js';

/** `flotilla token generate`: prints a random bearer token, or a token-file line with --user. */
export function tokenCommand(): Command {
  const token = new Command('token').description('bearer tokens for --token-auth-file');
  token
    .command('generate')
    .description('print a random token (with --user: a whole token-file line)')
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
