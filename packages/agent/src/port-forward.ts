/**
 * `portForward` on the node server: not served yet.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from '@flotilla/api';
import type { Logger } from '@flotilla/observability';

/** What port-forward needs from the agent. */
export interface PortForwardContext {
  log: Logger;
  podIP?: (namespace: string, name: string) => string | undefined;
}

/** Serves one port-forward upgrade request. */
export async function servePortForward(_c: PortForwardContext, _ns: string, pod: string, _req: IncomingMessage, _socket: Duplex, _head: Buffer): Promise<void> {
  throw new ApiError('BadRequest', `port-forward to pod "${pod}" is not served by this node yet`);
}
