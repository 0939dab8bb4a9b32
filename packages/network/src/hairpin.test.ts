import { describe, expect, it } from 'vitest';
import { ensureHairpin, portsWithoutHairpin } from './hairpin.js';

const listing = [
  '7: veth1a2b@if6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master flotilla0 state UP mode DEFAULT \\    link/ether 5e:1b brd ff:ff \\    veth \\    bridge_slave state forwarding priority 32 cost 2 hairpin off guard off',
  '9: veth3c4d@if8: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master flotilla0 state UP mode DEFAULT \\    bridge_slave state forwarding priority 32 cost 2 hairpin on guard off',
  '',
].join('\n');

describe('hairpin mode on pod bridge ports', () => {
  it('finds the ports still off', () => {
    expect(portsWithoutHairpin(listing)).toEqual(['veth1a2b']);
  });

  it('turns on only those, through netlink', async () => {
    const calls: string[] = [];
    const run = async (file: string, args: string[]) => {
      calls.push([file, ...args].join(' '));
      return args.includes('show') ? listing : '';
    };
    expect(await ensureHairpin('flotilla0', run)).toEqual(['veth1a2b']);
    expect(calls).toEqual(['ip -d -o link show master flotilla0', 'ip link set dev veth1a2b type bridge_slave hairpin on']);
  });
});
