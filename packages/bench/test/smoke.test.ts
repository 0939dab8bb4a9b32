import { describe, expect, it } from 'vitest';
import { runApiserverOp } from '../src/apiserver-bench.js';

// A seconds-long smoke run of the benchmark machinery against the real
// apiserver process and the test etcd: the benchmarks themselves are run by
// scripts/bench.sh, never by the test suite, and nothing here is timed.
describe('bench smoke', () => {
  it('drives the real apiserver with concurrent GETs and creates and counts every operation', async () => {
    const get = await runApiserverOp('get', 2, 300);
    expect(get.errors).toBe(0);
    expect(get.ops).toBeGreaterThan(0);
    expect(get.latency.count).toBe(get.ops);
    const create = await runApiserverOp('create', 2, 300);
    expect(create.errors).toBe(0);
    expect(create.ops).toBeGreaterThan(0);
  });
});
