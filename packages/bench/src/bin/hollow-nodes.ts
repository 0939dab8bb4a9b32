/**
 * `node hollow-nodes.js KUBECONFIG COUNT PREFIX [no-events]`: many hollow nodes (the
 * agent's own code on FakeRuntimes, @flotilla/agent runHollowNodes) in one
 * process of their own, so the scheduler benchmark can measure and kill
 * them apart from itself. Prints `READY` once every node has registered.
 * `no-events`: the kubelets record no Events (HollowNodesOptions.events).
 */
import { RestClient } from '@flotilla/client';
import { runHollowNodes } from '@flotilla/agent';

const [kubeconfig, countArg, prefix, eventsArg] = process.argv.slice(2);
const abort = new AbortController();
process.on('SIGTERM', () => abort.abort());
process.on('SIGINT', () => abort.abort());
const client = RestClient.fromKubeconfig(kubeconfig, { connections: 256, userAgent: 'flotilla-bench-hollow' });
const nodes = runHollowNodes({ count: Number(countArg), namePrefix: prefix ?? 'hollow-', client, signal: abort.signal, events: eventsArg !== 'no-events' });
nodes.ready.then(
  () => process.stdout.write('READY\n'),
  (err: unknown) => process.stdout.write(`FAILED ${(err as Error).message}\n`),
);
await nodes.done;
await client.close();
process.exit(0);
