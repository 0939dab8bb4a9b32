/**
 * The proxy's only I/O towards netfilter, behind a small interface so the
 * sync logic is tested against a fake (`@flotilla/proxy/testing`) and runs
 * against the real `iptables-restore` / `iptables-save` / `iptables`.
 */
import { execFile, spawn } from 'node:child_process';
import type { JumpRule } from './rules.js';

/** What the proxier needs of netfilter. */
export interface Iptables {
  /** Applies an iptables-restore input with `--noflush` (chains it names are replaced, others kept); rejects on failure, changing nothing. */
  restore(text: string): Promise<void>;
  /** The `iptables-save -t <table>` output. */
  save(table: 'nat' | 'filter'): Promise<string>;
  /** Makes sure a built-in chain holds `rule` (inserted first when missing); resolves true when it had to insert it. */
  ensureRule(rule: JumpRule): Promise<boolean>;
  /** Deletes every copy of `rule` from its chain; resolves with how many were deleted. */
  deleteRule(rule: JumpRule): Promise<number>;
}

/** Options of the real iptables driver. */
export interface ExecIptablesOptions {
  /** Seconds to wait for the xtables lock. Default 5. */
  lockWaitSeconds?: number;
  /** A command the tools run under, e.g. `['nsenter', '--net=/var/run/netns/x', '--']` (benchmarks in a scratch namespace). */
  wrap?: string[];
}

function runTool(file: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    if (input === undefined) {
      execFile(file, args, { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) || (err?.message ?? '') });
      });
      return;
    }
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (err) => resolve({ code: 1, stdout, stderr: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** Drives the host's iptables binaries (the legacy or nft flavour, whichever `iptables` is). */
export class ExecIptables implements Iptables {
  private readonly wait: string;
  private readonly wrap: string[];

  constructor(options: ExecIptablesOptions = {}) {
    this.wait = String(options.lockWaitSeconds ?? 5);
    this.wrap = options.wrap ?? [];
  }

  private tool(file: string, args: string[], input?: string) {
    return this.wrap.length ? runTool(this.wrap[0]!, [...this.wrap.slice(1), file, ...args], input) : runTool(file, args, input);
  }

  async restore(text: string): Promise<void> {
    const r = await this.tool('iptables-restore', ['-w', this.wait, '--noflush'], text);
    if (r.code !== 0) throw new Error(`iptables-restore failed (${r.code}): ${r.stderr.trim().slice(0, 2000)}`);
  }

  async save(table: 'nat' | 'filter'): Promise<string> {
    const r = await this.tool('iptables-save', ['-t', table]);
    if (r.code !== 0) throw new Error(`iptables-save -t ${table} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  async ensureRule(rule: JumpRule): Promise<boolean> {
    const check = await this.tool('iptables', ['-w', this.wait, '-t', rule.table, '-C', rule.chain, ...rule.args]);
    if (check.code === 0) return false;
    const ins = await this.tool('iptables', ['-w', this.wait, '-t', rule.table, '-I', rule.chain, '1', ...rule.args]);
    if (ins.code !== 0) throw new Error(`iptables -t ${rule.table} -I ${rule.chain} ${rule.args.join(' ')} failed (${ins.code}): ${ins.stderr.trim()}`);
    return true;
  }

  async deleteRule(rule: JumpRule): Promise<number> {
    let n = 0;
    while ((await this.tool('iptables', ['-w', this.wait, '-t', rule.table, '-D', rule.chain, ...rule.args])).code === 0) n += 1;
    return n;
  }
}
