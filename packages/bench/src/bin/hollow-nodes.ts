/**
 * `node hollow-nodes.js KUBECONFIG COUNT PREFIX [no-events] [old-liveness] [first=N] [pod-watch=per-node]`: many hollow nodes (the
 * agent's own code on FakeRuntimes, @flotilla/agent runHollowNodes) in one
 * process of their own, so the scheduler benchmark can measure and kill
 * them apart from itself. Writes `READY` once every node has registered
 * (or `FAILED …`) to file descriptor 3 when the benchmark opened one,
 * else to stdout: the nodes' logs go to stdout, and the benchmark must not
 * have to read them to find one line.
 * `no-events`: the kubelets record no Events (HollowNodesOptions.events).
 * `old-liveness`: the heartbeat scheme before the liveness server (Lease
 * renewed every 2 s, Node status written every 10 s, no liveness server),
 * the liveness benchmark's baseline. `first=N`: the first node is
 * `<PREFIX>N` (a fleet split over several processes, each its own range).
 * `pod-watch=per-node`: each node watches its own pods, as a kubelet does
 * (HollowNodesOptions.podWatch), over a connection of its own.
 */
import { setMaxListeners } from 'node:events';
import { writeSync } from 'node:fs';
import { RestClient } from '@flotilla/client';
import { runHollowNodes } from '@flotilla/agent';

const [kubeconfig, countArg, prefix, ...flags] = process.argv.slice(2);
const oldLiveness = flags.includes('old-liveness');
const firstIndex = Number(flags.find((f) => f.startsWith('first='))?.slice('first='.length) ?? 0);
const abort = new AbortController();
// A thousand nodes' loops listen for the stop on this one signal.
setMaxListeners(0, abort.signal);
process.on('SIGTERM', () => abort.abort());
process.on('SIGINT', () => abort.abort());
const podWatch = flags.includes('pod-watch=per-node') ? 'per-node' : 'shared';
// Each open watch holds a connection: one per node when each watches its own pods. Requests share the client's few
// (RestClient's default), as a thousand kubelets' requests would share one HTTP/2 connection each.
const client = RestClient.fromKubeconfig(kubeconfig, { streamConnections: podWatch === 'per-node' ? Number(countArg) + 32 : 32, userAgent: 'flotilla-bench-hollow' });
const nodes = runHollowNodes({
  count: Number(countArg),
  namePrefix: prefix ?? 'hollow-',
  firstIndex,
  client,
  signal: abort.signal,
  events: !flags.includes('no-events'),
  podWatch,
  ...(oldLiveness ? { liveness: false, config: { heartbeatIntervalMs: 2_000, leaseDurationSeconds: 40, nodeStatusIntervalMs: 10_000, nodeStatusReportIntervalMs: 10_000 } } : {}),
});
const report = (line: string): void => {
  try {
    writeSync(3, `${line}\n`);
  } catch {
    process.stdout.write(`${line}\n`); // run by hand: no fd 3
  }
};
nodes.ready.then(
  () => report('READY'),
  (err: unknown) => report(`FAILED ${(err as Error).message.replace(/\n/g, ' ')}`),
);
await nodes.done;
await client.close();
process.exit(0);
