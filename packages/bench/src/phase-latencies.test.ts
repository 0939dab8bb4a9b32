import { describe, expect, it } from 'vitest';
import { initPodsDefault, phaseLatencies, podTimes } from './scheduler-bench.js';

describe('phaseLatencies', () => {
  it('measures each pod from its creation, and the rate from the first creation to the last binding', () => {
    const t = podTimes();
    t.created.set('ns/a', 1000).set('ns/b', 1500).set('ns/c', 2000);
    t.bound.set('ns/a', 1100).set('ns/b', 1800).set('ns/c', 3000);
    t.running.set('ns/a', 1200).set('ns/b', 1900);
    const r = phaseLatencies(t);
    // 3 bindings between 1000 (first create) and 3000 (last binding).
    expect(r.boundPerSec).toBe(1.5);
    expect(r.schedulingLatency.count).toBe(3);
    expect(r.schedulingLatency.max).toBe(1000);
    expect(r.schedulingLatency.min).toBe(100);
    // c never ran: it counts in neither direction.
    expect(r.runningLatency.count).toBe(2);
    expect(r.runningLatency.max).toBe(400);
  });

  it('leaves pods never bound out of the latencies', () => {
    const t = podTimes();
    t.created.set('ns/a', 0).set('ns/b', 0);
    t.bound.set('ns/a', 500);
    const r = phaseLatencies(t);
    expect(r.schedulingLatency.count).toBe(1);
    expect(r.boundPerSec).toBe(2);
  });
});

describe('initPodsDefault', () => {
  it("is one pod per node, at most 1,000 (scheduler_perf's largest SchedulingBasic initPods)", () => {
    expect(initPodsDefault(10)).toBe(10);
    expect(initPodsDefault(1000)).toBe(1000);
    expect(initPodsDefault(5000)).toBe(1000);
  });
});
