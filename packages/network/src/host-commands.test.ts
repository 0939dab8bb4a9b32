import { describe, expect, it } from 'vitest';
import { ensurePodForwarding } from './forwarding.js';
import { IpRouteTable } from './route-table.js';
import { ensureSink } from './sink.js';

/** A command runner that records argv and answers from a script (a throw = non-zero exit). */
function runner(answer: (cmd: string) => string | Error = () => '') {
  const calls: string[] = [];
  const run = async (file: string, args: string[]) => {
    const cmd = [file, ...args].join(' ');
    calls.push(cmd);
    const a = answer(cmd);
    if (a instanceof Error) throw a;
    return a;
  };
  return { calls, run };
}

describe('IpRouteTable', () => {
  it('lists only its protocol\'s routes and writes them with it', async () => {
    const r = runner((cmd) => (cmd.includes('show') ? JSON.stringify([{ dst: '10.244.1.0/24', gateway: '10.250.0.12', dev: 'eth0' }, { dst: '10.244.9.9', gateway: '10.250.0.19' }, { dst: 'default', dev: 'x' }]) : ''));
    const t = new IpRouteTable({ run: r.run });
    expect(await t.list()).toEqual([
      { dst: '10.244.1.0/24', via: '10.250.0.12' },
      { dst: '10.244.9.9/32', via: '10.250.0.19' },
    ]);
    await t.replace({ dst: '10.244.2.0/24', via: '10.250.0.13' });
    await t.delete('10.244.1.0/24');
    expect(r.calls).toEqual([
      'ip -4 -j route show proto 77',
      'ip -4 route replace 10.244.2.0/24 via 10.250.0.13 proto 77',
      'ip -4 route del 10.244.1.0/24 proto 77',
    ]);
  });

  it('deleting a route that is already gone is fine; other failures are not', async () => {
    const gone = new IpRouteTable({ run: runner(() => new Error('RTNETLINK answers: No such process')).run });
    await expect(gone.delete('10.244.1.0/24')).resolves.toBeUndefined();
    const denied = new IpRouteTable({ run: runner(() => new Error('RTNETLINK answers: Operation not permitted')).run });
    await expect(denied.delete('10.244.1.0/24')).rejects.toThrow(/not permitted/);
  });
});

describe('ensureSink', () => {
  it('creates the bridge when missing, brings it up and routes every range to it', async () => {
    let exists = false;
    const r = runner((cmd) => {
      if (cmd === 'ip link show flotsink' && !exists) return new Error('Device "flotsink" does not exist.');
      if (cmd.startsWith('ip link add')) exists = true;
      return '';
    });
    await ensureSink({ run: r.run, cidrs: ['10.96.0.0/12', '10.244.0.0/16'] });
    expect(r.calls).toEqual([
      'ip link show flotsink',
      'ip link add flotsink type bridge',
      'ip link set flotsink up',
      'ip -4 route replace 10.96.0.0/12 dev flotsink',
      'ip -4 route replace 10.244.0.0/16 dev flotsink',
    ]);
    r.calls.length = 0;
    await ensureSink({ run: r.run, cidrs: ['10.96.0.0/12'] });
    expect(r.calls).toEqual(['ip link show flotsink', 'ip link set flotsink up', 'ip -4 route replace 10.96.0.0/12 dev flotsink']);
  });
});

describe('ensurePodForwarding', () => {
  it('inserts the rule once: -C first, -I only when it is missing', async () => {
    let present = false;
    const r = runner((cmd) => {
      if (cmd.includes(' -C ')) return present ? '' : new Error('iptables: Bad rule (does a matching rule exist in that chain?).');
      present = true;
      return '';
    });
    expect(await ensurePodForwarding('flotilla0', r.run)).toBe(true);
    expect(await ensurePodForwarding('flotilla0', r.run)).toBe(false);
    expect(r.calls).toEqual([
      'iptables -w 10 -C DOCKER-USER -o flotilla0 -m comment --comment flotilla pod network -j ACCEPT',
      'iptables -w 10 -I DOCKER-USER -o flotilla0 -m comment --comment flotilla pod network -j ACCEPT',
      'iptables -w 10 -C DOCKER-USER -o flotilla0 -m comment --comment flotilla pod network -j ACCEPT',
    ]);
  });
});
