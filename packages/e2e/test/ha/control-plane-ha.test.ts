import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type TestApiServer } from '../../src/apiserver.js';
import { superviseProcess, type SupervisedProcess } from '../../src/child-process.js';
import { flotillaBin } from '../../src/env.js';
import { freePort } from '../../src/free-port.js';
import { apiRequest, type Endpoint } from '../../src/https.js';
import { startPrivateEtcdCluster, type PrivateEtcdCluster } from '../../src/private-etcd.js';
import { waitFor } from '../../src/wait-for.js';

// The highly available control plane of `FLOTILLA_HA=1 scripts/up.sh` and
// the README: a 3-member etcd cluster, two apiservers sharing it (and the
// certificates, tokens and encryption key), `flotilla lb` in front. Clients
// write through the one address while the etcd leader and one apiserver are
// SIGKILLed: the API keeps answering, and every write it acknowledged is
// still there afterwards.
describe('a highly available control plane', () => {
  let etcd: PrivateEtcdCluster;
  let a: TestApiServer;
  let b: TestApiServer;
  let lb: SupervisedProcess;
  let front: Endpoint;

  beforeAll(async () => {
    etcd = await startPrivateEtcdCluster(3);
    a = await startApiServer({ etcd: etcd.endpoints, readyTimeout: 60_000 });
    b = await startApiServer({ etcd: etcd.endpoints, peerOf: a, readyTimeout: 60_000 });
    const port = await freePort();
    const args = [flotillaBin(), 'lb', '--listen', `127.0.0.1:${port}`, '--backend', `127.0.0.1:${a.port}`, '--backend', `127.0.0.1:${b.port}`,
      '--ca-file', a.caFile, '--health-interval', '500ms', '--metrics-bind-address', '127.0.0.1:-1'];
    front = { url: `https://127.0.0.1:${port}`, ca: a.caPem, token: a.adminToken };
    lb = superviseProcess({
      name: 'lb',
      readyMessage: `flotilla lb on ${front.url}`,
      readyTimeout: 30_000,
      stopGraceMs: 5_000,
      incarnation: async () => ({
        args,
        command: `flotilla ${args.slice(1).join(' ')}`,
        ready: async () => (await apiRequest(front, 'GET', '/readyz')).status === 200,
      }),
    });
    await lb.launch();
  }, 180_000);

  afterAll(async () => {
    await lb?.stop();
    await b?.stop();
    await a?.stop();
    await etcd?.close();
  }, 120_000);

  it('keeps answering and loses no acknowledged write when the etcd leader and one apiserver are killed under load', async () => {
    const acked: string[] = [];
    const failures: Array<{ at: number; what: string }> = [];
    let stop = false;
    let n = 0;
    // Four writers and one reader through the balancer, as fast as they go.
    const writer = async (w: number) => {
      while (!stop) {
        const name = `ha-${w}-${n++}`;
        try {
          const res = await apiRequest(front, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { n: String(n) } });
          if (res.status === 201) acked.push(name);
          else failures.push({ at: Date.now(), what: `${name}: HTTP ${res.status} ${res.text.slice(0, 120)}` });
        } catch (err) {
          failures.push({ at: Date.now(), what: `${name}: ${(err as Error).message}` });
        }
      }
    };
    const reader = async () => {
      while (!stop) {
        const res = await apiRequest(front, 'GET', '/api/v1/namespaces/default/configmaps?limit=50').catch((err: Error) => ({ status: 0, text: err.message }));
        if (res.status !== 200) failures.push({ at: Date.now(), what: `list: ${res.status} ${res.text.slice(0, 120)}` });
      }
    };
    const load = Promise.all([0, 1, 2, 3].map(writer).concat(reader()));

    await waitFor(() => acked.length >= 50, { timeout: 60_000, message: '50 writes before the failures' });
    const leader = await etcd.leader();
    const killedAt = Date.now();
    await Promise.all([etcd.members[leader]!.kill(), a.kill('SIGKILL')]);
    const ackedAtKill = acked.length;
    // The API answers again through the same address: 50 more acknowledged writes.
    await waitFor(() => acked.length >= ackedAtKill + 50, { timeout: 60_000, message: '50 writes after the etcd leader and apiserver A died' });
    const recoveredAt = Date.now();
    // And keeps answering: a further stretch of load without a single failure.
    const failuresBefore = failures.length;
    const ackedBefore = acked.length;
    await waitFor(() => acked.length >= ackedBefore + 100, { timeout: 60_000, message: '100 more writes' });
    const laterFailures = failures.slice(failuresBefore);
    stop = true;
    await load;

    console.log(
      `HA: ${acked.length} writes acknowledged, ${failures.length} failed (all within ${failures.length ? Math.max(...failures.map((f) => f.at)) - killedAt : 0} ms of the kills); ` +
        `API writing again ${recoveredAt - killedAt} ms after the kills (etcd leader member ${leader} and apiserver A SIGKILLed)`,
    );
    expect(laterFailures, laterFailures.map((f) => f.what).join('\n')).toEqual([]);

    // Nothing acknowledged is lost: every acknowledged ConfigMap is in the list, read through the survivor.
    const list = await apiRequest(front, 'GET', '/api/v1/namespaces/default/configmaps');
    expect(list.status).toBe(200);
    const present = new Set((JSON.parse(list.text) as { items: Array<{ metadata: { name: string } }> }).items.map((i) => i.metadata.name));
    const lost = acked.filter((name) => !present.has(name));
    expect(lost).toEqual([]);

    // The dead come back and catch up: the etcd member rejoins, apiserver A serves the same data.
    await etcd.members[leader]!.start();
    await a.restart();
    const direct = await apiRequest(a.endpoint(), 'GET', '/api/v1/namespaces/default/configmaps');
    expect((JSON.parse(direct.text) as { items: unknown[] }).items.length).toBe(present.size);
  }, 300_000);
});
