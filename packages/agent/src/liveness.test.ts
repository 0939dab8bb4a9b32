import { connect } from 'node:http2';
import { conflict, type Node } from '@flotilla/api';
import { FakeApiClient } from '@flotilla/client/testing';
import { createLogger } from '@flotilla/observability';
import { describe, expect, it } from 'vitest';
import { leaseDurationFor, resolveConfig } from './config.js';
import { LivenessServer } from './liveness-server.js';
import { desiredNode, NodeStatusReporter, type NodeFacts } from './node-status.js';

const log = createLogger('liveness-test', { level: 'silent' });

/** GET /livez?node=… over a fresh h2c session, and a PING on it. */
async function probe(port: number, node: string): Promise<{ status: number; body: string; pinged: boolean }> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    const req = session.request({ ':path': `/livez?node=${node}` });
    req.setEncoding('utf8');
    let body = '';
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: string) => (body += c));
    await new Promise((r) => req.on('end', r));
    const pinged = await new Promise<boolean>((r) => session.ping((err) => r(!err)));
    return { status, body, pinged };
  } finally {
    session.destroy();
  }
}

describe('LivenessServer', () => {
  it('answers /livez for the nodes it serves (with a boot id), 404 for others, PINGs always; tells the agent it was probed', async () => {
    const server = new LivenessServer({ port: 0, host: '127.0.0.1', log });
    const port = await server.listen();
    try {
      const probed: string[] = [];
      server.serve('a', () => probed.push('a'));
      server.serve('b');
      const a = await probe(port, 'a');
      expect(a.status).toBe(200);
      expect(JSON.parse(a.body)).toEqual({ node: 'a', bootId: server.bootId });
      expect(a.pinged).toBe(true);
      expect(probed).toEqual(['a']);
      expect((await probe(port, 'b')).status).toBe(200);
      expect((await probe(port, 'c')).status).toBe(404);
      server.forget('a');
      expect((await probe(port, 'a')).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe('Lease truthfulness', () => {
  it('the Lease lasts twice the renewal period, never under 40 s; the agent renews every 60 s by default', () => {
    expect(leaseDurationFor(2_000)).toBe(40);
    expect(leaseDurationFor(60_000)).toBe(120);
    const c = resolveConfig({ nodeName: 'n', nodeIP: '192.0.2.1' });
    expect(c.heartbeatIntervalMs).toBe(60_000);
    expect(c.leaseDurationSeconds).toBe(120);
    expect(resolveConfig({ nodeName: 'n', nodeIP: '192.0.2.1', heartbeatIntervalMs: 90_000 }).leaseDurationSeconds).toBe(180);
    expect(resolveConfig({ nodeName: 'n', nodeIP: '192.0.2.1', leaseDurationSeconds: 7 }).leaseDurationSeconds).toBe(7);
  });
});

describe('NodeStatusReporter writes', () => {
  const facts: NodeFacts = {
    nodeName: 'n1',
    nodeIP: '192.0.2.1',
    maxPods: 110,
    logPort: 0,
    annotations: { 'node.flotilla.io/liveness-endpoint': '192.0.2.1:10248' },
    host: { cpus: 2, memoryBytes: 2 ** 30, kernel: 'k', os: 'o', osType: 'linux', dockerVersion: 'd', architecture: 'x86_64' },
  };

  it('writes an unchanged status only when the report interval ran out; a check rewrites what someone else changed', async () => {
    let now = 1_000_000;
    const client = new FakeApiClient();
    // random 0: the first report is due a whole interval after registering.
    const r = new NodeStatusReporter(client, facts, log, 600_000, () => now, () => 0);
    const writes = () => client.actions.filter((a) => a.verb !== 'get' && a.verb !== 'list').map((a) => `${a.verb} ${a.subresource ?? ''}`.trim());
    const registered = await r.register();
    expect(registered.metadata.annotations).toEqual({ 'node.flotilla.io/liveness-endpoint': '192.0.2.1:10248' });
    client.clearActions();

    now += 10_000;
    await r.update();
    expect(writes()).toEqual([]);

    // Nothing changed: a check reads, and writes nothing.
    await r.update({ check: true });
    expect(writes()).toEqual([]);
    client.clearActions();

    // The controller marked it Unknown: the check puts Ready=True back.
    const stored = client.peek<Node>('nodes', undefined, 'n1')!;
    stored.status!.conditions = stored.status!.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown' } : c));
    await client.resource<Node>('nodes').updateStatus(stored);
    client.clearActions();
    await r.update({ check: true });
    expect(writes()).toEqual(['update status']);
    expect(client.peek<Node>('nodes', undefined, 'n1')!.status!.conditions!.find((c) => c.type === 'Ready')?.status).toBe('True');
    client.clearActions();

    now += 600_000;
    await r.update();
    expect(writes()).toEqual(['update status']);
  });

  it('reads its Node from the apiserver cache first (resourceVersion 0); after a conflict with that copy, the current one', async () => {
    let now = 1_000_000;
    const client = new FakeApiClient();
    // What the reporter asks for on each GET, and status writes made to meet a newer Node (a stale cached copy).
    const reads: Array<string | undefined> = [];
    let conflicts = 0;
    client.prependReactor((a) => {
      if (a.resource !== 'nodes') return;
      if (a.verb === 'get') reads.push(a.resourceVersion);
      if (a.verb === 'update' && a.subresource === 'status' && conflicts-- > 0) throw conflict('nodes', a.name!, 'the object has been modified');
    });
    const r = new NodeStatusReporter(client, facts, log, 600_000, () => now);
    await r.register();
    reads.length = 0;
    conflicts = 1;
    now += 600_000;
    await r.update();
    expect(reads).toEqual(['0', undefined]);
    expect(client.peek<Node>('nodes', undefined, 'n1')!.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(client.actions.filter((a) => a.verb === 'update' && a.subresource === 'status')).toHaveLength(2); // the one that conflicted and the retry
  });

  it('spreads the unchanged reports of nodes registered together: the first over the whole interval, later ones over its last quarter, never later', async () => {
    let now = 1_000_000;
    // Per node: ms from registering to its first report, and from the first report to the second.
    const first: number[] = [];
    const second: number[] = [];
    for (let i = 0; i < 20; i++) {
      const client = new FakeApiClient();
      const r = new NodeStatusReporter(client, { ...facts, nodeName: `n${i}` }, log, 600_000, () => now, () => i / 19);
      const writes: number[] = [];
      const start = now;
      await r.register();
      client.clearActions();
      // The agent's loop checks every 10 s.
      while (writes.length < 2) {
        now += 10_000;
        await r.update();
        if (client.actions.some((a) => a.verb === 'update')) writes.push(now);
        client.clearActions();
      }
      first.push(writes[0]! - start);
      second.push(writes[1]! - writes[0]!);
    }
    expect(Math.min(...first)).toBeLessThanOrEqual(60_000);
    expect(Math.max(...first)).toBeGreaterThanOrEqual(540_000);
    expect(Math.max(...first)).toBeLessThanOrEqual(600_000);
    expect(new Set(first.map((t) => Math.ceil(t / 60_000))).size).toBe(10); // in every minute of the interval
    expect(Math.min(...second)).toBeGreaterThanOrEqual(450_000);
    expect(Math.max(...second)).toBeLessThanOrEqual(600_000);
    expect(new Set(second).size).toBeGreaterThan(10);
  });

  it('removes the liveness annotation when the agent runs without a liveness server', () => {
    const before = desiredNode(facts);
    const after = desiredNode({ ...facts, annotations: { 'node.flotilla.io/liveness-endpoint': undefined } }, before);
    expect(after.metadata.annotations).toBeUndefined();
  });
});
