/**
 * Entry point of an ingress worker process (forked by WorkerPool): waits
 * for its config, runs a data plane on the shared ports, applies every
 * snapshot the controller sends, answers metrics requests, and drains on
 * `stop`, on SIGTERM/SIGINT, or when the controller process goes away.
 */
import cluster from 'node:cluster';
import type { Socket } from 'node:net';
import { setDefaultHighWaterMark } from 'node:stream';
import { createLogger } from '@flotilla/observability';
import { startDataPlane, type DataPlane } from './data-plane.js';
import { IngressMetrics } from './metrics.js';
import { applyWireTls, snapshotFromWire, type WireSnapshot } from './snapshot-wire.js';
import type { FromWorker, ToWorker, WorkerConfig } from './worker-pool.js';

if (!cluster.isWorker) throw new Error('worker-main.js is started by flotilla ingress --workers N, not directly');

const send = (msg: FromWorker) => {
  if (process.connected) process.send!(msg);
};
const metrics = new IngressMetrics();
let plane: DataPlane | undefined;
let config: WorkerConfig | undefined;
let pending: WireSnapshot | undefined;
let stopping: Promise<void> | undefined;
let log = createLogger('ingress', { level: process.env.FLOTILLA_LOG_LEVEL ?? 'info' }).child({ worker: Number(process.env.FLOTILLA_INGRESS_WORKER ?? 0) });

function apply(wire: WireSnapshot): void {
  if (!plane) {
    pending = wire;
    return;
  }
  plane.proxy.setSnapshot(snapshotFromWire(wire, plane.proxy.current()));
  if (plane.tls) applyWireTls(wire, plane.tls);
  send({ t: 'applied', version: wire.version, ...(wire.sliceRevision !== undefined ? { sliceRevision: wire.sliceRevision } : {}) });
}

function stop(why: string): Promise<void> {
  stopping ??= (async () => {
    log.debug({ why }, 'ingress worker draining');
    await plane?.close(config?.graceMs ?? 5_000);
    // The IPC channel keeps the process alive: leave once the listeners are drained.
    if (cluster.worker?.isConnected()) cluster.worker.disconnect();
    process.exit(0);
  })();
  return stopping;
}

process.on('message', (msg: ToWorker, handle?: unknown) => {
  switch (msg.t) {
    case 'conn':
      // A connection the controller accepted, handed over in turn.
      if (plane && !stopping) plane.take(msg.proto, handle as Socket);
      else (handle as Socket | undefined)?.destroy();
      break;
    case 'config':
      config = msg.config;
      // Handed-over sockets are made by the IPC channel with the default buffer; the 256 KiB the
      // listeners ask for (see data-plane.ts) come from the default then.
      if (config.handed) setDefaultHighWaterMark(false, 256 * 1024);
      log = createLogger('ingress', { level: config.logLevel }).child({ worker: Number(process.env.FLOTILLA_INGRESS_WORKER ?? 0) });
      startDataPlane({ logger: log, metrics, httpPort: config.httpPort, httpsPort: config.httpsPort, bindAddress: config.bindAddress, accessLog: config.accessLog, handedConnections: config.handed === true,
        onEndpointFailed: (address, until) => send({ t: 'endpointFailed', address, until }), ...(config.defaultPair ? { defaultPair: config.defaultPair } : {}) })
        .then((p) => {
          plane = p;
          send({ t: 'listening', ...p.ports });
          if (pending) apply(pending);
          pending = undefined;
        })
        .catch((err: unknown) => {
          send({ t: 'failed', message: (err as Error).message });
          process.exit(1);
        });
      break;
    case 'snapshot':
      apply(msg.wire);
      break;
    case 'endpointFailed':
      plane?.proxy.endpointFailed(msg.address, msg.until);
      break;
    case 'metrics':
      send({ t: 'metrics', id: msg.id, text: metrics.render() });
      break;
    case 'stop':
      void stop('asked by the controller');
      break;
  }
});
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
// The controller process is gone (killed): nobody updates routes any more.
process.on('disconnect', () => void stop('controller gone'));
send({ t: 'hello' });
