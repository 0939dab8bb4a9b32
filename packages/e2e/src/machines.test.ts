import { describe, expect, it } from 'vitest';
import { readmeBlocks } from './machines.js';

const readme = [
  '# X', '## Deploy on real machines', 'text', '```sh', '# on this checkout', './build', '```', '```sh', '# on the control plane', 'a &', '```',
  '```sh', '# on each worker, with TOKEN', 'b', '```', '```yaml', 'not: shell', '```', '### A subsection', '```sh', 'CP1_IP', '```', '## Next', '```sh', '# on the moon', '```', '',
].join('\n');

describe('readmeBlocks', () => {
  it('reads the sh blocks of one section and where each runs', () => {
    expect(readmeBlocks(readme, 'Deploy on real machines')).toEqual([
      { where: 'checkout', text: '# on this checkout\n./build\n' },
      { where: 'control-plane', text: '# on the control plane\na &\n' },
      { where: 'worker', text: '# on each worker, with TOKEN\nb\n' },
    ]);
  });
  it('reads a subsection (### title) with the highly available control plane\'s places', () => {
    const ha = ['## Other', '### HA', '```sh', '# on each control-plane machine', 'etcd &', '```', '```sh', '# on the first control-plane machine: once', 'a', '```',
      '```sh', '# on each other control-plane machine, with copies', 'b', '```', '```sh', '# on the machine of the balancer (one)', 'c', '```', '## Next', ''].join('\n');
    expect(readmeBlocks(ha, 'HA').map((b) => b.where)).toEqual(['each-control-plane', 'first-control-plane', 'other-control-planes', 'balancer']);
  });
  it('refuses a block that does not say where it runs, and a missing section', () => {
    expect(() => readmeBlocks(readme.replace('# on the control plane', 'a'), 'Deploy on real machines')).toThrow(/does not say where it runs/);
    expect(() => readmeBlocks(readme, 'Nope')).toThrow(/no section/);
  });
});
