// CPU per etcd unary call in the calling process: etcd3 (grpc-js) against
// EtcdKv (src/etcd-kv.ts), 16 calls in flight, Txn-puts of 1.5 KB then
// single-key Ranges (issue 11). Needs a built store (npx tsc -b) and an etcd:
//
//   scripts/etcd.sh start --port 23901
//   node packages/store/bench/etcd-kv-cpu.mjs http://127.0.0.1:23901 [calls=20000] [rounds=2]
//   scripts/etcd.sh stop --port 23901 --purge
//
// Each client runs in a child process of its own, alternating, so neither
// pays for the other's garbage; compare cpuUsPerCall (µs of user+system CPU).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const [endpoint = 'http://127.0.0.1:23901', callsArg = '20000', roundsArg = '2', which] = process.argv.slice(2);
const CALLS = Number(callsArg);
const IN_FLIGHT = 16;

if (!which) {
  const self = fileURLToPath(import.meta.url);
  for (let round = 0; round < Number(roundsArg); round++) {
    for (const w of ['etcd3', 'lean']) process.stdout.write(execFileSync(process.execPath, [self, endpoint, callsArg, roundsArg, w]));
  }
} else {
  const require = createRequire(new URL('../package.json', import.meta.url));
  let kv;
  let close;
  if (which === 'etcd3') {
    const { Etcd3 } = require('etcd3');
    // As the store configured it before EtcdKv.
    const c = new Etcd3({
      hosts: [endpoint],
      grpcOptions: { 'grpc.max_receive_message_length': 1 << 30 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }),
    });
    kv = c.kv;
    close = () => c.close();
  } else {
    const { EtcdKv } = await import('../dist/etcd-kv.js');
    const c = new EtcdKv({ endpoints: [endpoint] });
    kv = c;
    close = () => c.close();
  }
  const value = Buffer.alloc(1500, 'x');
  const prefix = `/etcd-kv-cpu/${which}/${process.pid}/`;
  const run = async (label, op) => {
    let i = 0;
    const worker = async () => {
      while (i < CALLS) await op(i++);
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker)); // warm-up
    i = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    console.log(JSON.stringify({ client: which, op: label, calls: CALLS, cpuUsPerCall: +((cpu.user + cpu.system) / CALLS).toFixed(1), callsPerSec: Math.round((CALLS / wall) * 1000) }));
  };
  await run('txn-put', (i) => {
    const key = Buffer.from(prefix + (i % 2000));
    return kv.txn({ compare: [{ key, target: 'Version', result: 'Greater', version: -1 }], success: [{ request_put: { key, value } }], failure: [] });
  });
  await run('range', (i) => kv.range({ key: Buffer.from(prefix + (i % 2000)) }));
  await kv.txn({ compare: [], success: [{ request_delete_range: { key: Buffer.from(prefix), range_end: Buffer.from(prefix.slice(0, -1) + '0') } }], failure: [] });
  close();
}
