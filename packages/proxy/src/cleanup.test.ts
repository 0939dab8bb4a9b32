import { describe, expect, it } from 'vitest';
import { cleanupRules } from './cleanup.js';
import { buildRules, jumpRules } from './rules.js';
import { planRestore } from './restore-plan.js';
import { FakeIptables } from './testing/fake-iptables.js';

describe('cleanupRules', () => {
  it('removes the jumps and every chain of the prefix, and nothing else', async () => {
    const ipt = new FakeIptables();
    await ipt.restore('*nat\n:OTHER-CHAIN - [0:0]\nCOMMIT\n');
    await ipt.restore(planRestore(buildRules([], new Map(), { prefix: 'KUBE' }), undefined).text);
    for (const j of jumpRules('KUBE')) await ipt.ensureRule(j);
    const r = await cleanupRules(ipt, 'KUBE');
    expect(r.jumps).toBe(jumpRules('KUBE').length);
    expect(ipt.chains('nat', 'KUBE-')).toEqual([]);
    expect(ipt.chains('filter', 'KUBE-')).toEqual([]);
    expect(ipt.chains('nat', 'OTHER')).toEqual(['OTHER-CHAIN']);
    expect([...ipt.tables.nat.values(), ...ipt.tables.filter.values()].flat().filter((l) => l.includes('KUBE-'))).toEqual([]);
  });
});
