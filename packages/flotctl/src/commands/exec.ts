/**
 * `flotctl exec POD -- COMMAND…`: runs a command in a container through the
 * apiserver's `pods/exec` subresource, as kubectl does — a WebSocket with
 * subprotocol `v5.channel.k8s.io` (or `v4.channel.k8s.io`), every frame one
 * channel byte then data: 0 stdin, 1 stdout, 2 stderr, 3 the final Status
 * (the exit code), 255 (v5 only) "this channel is closed". The exit code of
 * flotctl is the command's.
 */
import type { Pod, Status } from '@flotilla/api';
import { queryString, resourcePath } from '@flotilla/client';
import WebSocket from 'ws';
import { resolveType, UsageError, type Ctx } from '../context.js';
import { podFor } from './workloads.js';

/** The subprotocols offered, newest first (the apiserver hands the choice to the agent). */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, close: 255 } as const;

/** Options of exec. */
export interface ExecOptions {
  container?: string;
  /** Send `input` as the command's stdin (-i). */
  stdin?: boolean;
  tty?: boolean;
  input?: NodeJS.ReadableStream;
  signal?: AbortSignal;
}

/** The exit code a remotecommand Status stands for: 0 on Success, the ExitCode cause on NonZeroExitCode, else undefined (an error). */
export function exitCodeOf(status: Status): number | undefined {
  if (status.status === 'Success') return 0;
  if ((status.reason as string | undefined) === 'NonZeroExitCode') {
    const code = Number(status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message);
    if (Number.isInteger(code)) return code;
  }
  return undefined;
}

/** The WebSocket URL of pods/exec for a command (each argument one `command` parameter). */
export function execUrl(server: string, namespace: string, pod: string, command: string[], o: Pick<ExecOptions, 'container' | 'stdin' | 'tty'>): string {
  const base = new URL(server);
  base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = queryString({ container: o.container, stdin: o.stdin ? 'true' : undefined, stdout: 'true', stderr: o.tty ? undefined : 'true', tty: o.tty ? 'true' : undefined });
  const cmd = command.map((c) => `command=${encodeURIComponent(c)}`).join('&');
  return `${base.origin}${resourcePath(resolveType('pods'), namespace, pod, 'exec')}${q ? `${q}&` : '?'}${cmd}`;
}

/** The annotation naming the container kubectl picks when none is given. */
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/**
 * The container to use when -c is not given, as kubectl picks it: the one
 * the pod's annotation names, else the first; said on stderr when the pod
 * has several (the server itself insists on a name then).
 */
async function defaultContainer(ctx: Ctx, name: string, errOut: (chunk: Buffer) => void): Promise<string | undefined> {
  const pod = await ctx.client.resource<Pod>('pods').get(ctx.namespace, name);
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  if (names.length <= 1) return undefined;
  const annotated = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  const chosen = annotated && names.includes(annotated) ? annotated : names[0]!;
  errOut(Buffer.from(`Defaulted container "${chosen}" out of: ${names.join(', ')}\n`));
  return chosen;
}

/** Runs `command` in the pod's container; resolves with its exit code. */
export async function exec(ctx: Ctx, target: string, command: string[], o: ExecOptions, out: (chunk: Buffer) => void, errOut: (chunk: Buffer) => void): Promise<number> {
  if (command.length === 0) throw new UsageError('you must specify at least one command for the container (flotctl exec POD -- COMMAND [ARGS…])');
  const pod = await podFor(ctx, target);
  const container = o.container ?? (await defaultContainer(ctx, pod, errOut));
  const { config } = ctx;
  const ws = new WebSocket(execUrl(config.server, ctx.namespace, pod, command, { ...o, ...(container ? { container } : {}) }), EXEC_PROTOCOLS, {
    ...(config.ca ? { ca: config.ca } : {}),
    ...(config.clientCert && config.clientKey ? { cert: config.clientCert, key: config.clientKey } : {}),
    rejectUnauthorized: !config.insecureSkipTlsVerify,
    headers: { 'user-agent': 'flotctl', ...(config.token ? { authorization: `Bearer ${config.token}` } : {}) },
  });
  return new Promise<number>((resolve, reject) => {
    let status: Status | undefined;
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => ws.close(1000);
    o.signal?.addEventListener('abort', onAbort, { once: true });

    // A refused upgrade comes back as an HTTP answer: its Status says why (404 pod, 403, 400 container not running…).
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => {
        let message = `the server answered ${res.statusCode} to the exec upgrade`;
        try {
          const s = JSON.parse(body) as Status;
          if (s.message) message = s.message;
        } catch {
          if (body.trim()) message += `: ${body.trim().slice(0, 200)}`;
        }
        finish(() => reject(new UsageError(message)));
      });
    });
    ws.on('open', () => {
      if (!o.stdin || !o.input) return;
      const input = o.input;
      input.on('data', (d: Buffer | string) => ws.send(Buffer.concat([Buffer.from([CH.stdin]), Buffer.isBuffer(d) ? d : Buffer.from(d)])));
      input.on('end', () => {
        // v5 closes stdin alone; v4 has no way to but closing everything, so the command is left to end by itself.
        if (ws.protocol === 'v5.channel.k8s.io' && ws.readyState === WebSocket.OPEN) ws.send(Buffer.from([CH.close, CH.stdin]));
      });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? data : Buffer.from(data);
      if (frame.length === 0) return;
      const payload = frame.subarray(1);
      switch (frame[0]) {
        case CH.stdout:
          if (payload.length) out(payload);
          break;
        case CH.stderr:
          if (payload.length) errOut(payload);
          break;
        case CH.error:
          try {
            status = JSON.parse(payload.toString('utf8')) as Status;
          } catch {
            status = { apiVersion: 'v1', kind: 'Status', status: 'Failure', message: payload.toString('utf8') } as Status;
          }
          break;
        default:
          break;
      }
    });
    ws.on('error', (err) => finish(() => reject(err)));
    ws.on('close', () => {
      finish(() => {
        if (o.signal?.aborted) return resolve(130);
        if (!status) return reject(new Error('the exec stream ended without an exit status'));
        const code = exitCodeOf(status);
        if (code !== undefined) return resolve(code);
        // The command could not run at all (no such executable, container gone): kubectl prints the message, exit 1.
        reject(new UsageError(status.message ?? 'exec failed'));
      });
    });
  });
}
