import { describe, expect, it } from 'vitest';
import { containerMetricsText, UsageSampler } from './container-usage.js';
import type { ContainerInfo, ContainerRuntime } from './runtime/types.js';

const info = (id: string, pod: string, name: string, state: ContainerInfo['state'] = 'running'): ContainerInfo =>
  ({ id, type: 'container', podUid: `uid-${pod}`, podNamespace: 'ns', podName: pod, containerName: name, attempt: 0, state, oomKilled: false, createdAt: '', image: 'flotilla/busybox:1', imageId: '', labels: {} }) as ContainerInfo;

/** A runtime with two running containers and one exited, counting usage() calls. */
function stub() {
  const calls: string[] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const runtime = {
    listContainers: async () => [info('a', 'web', 'app'), info('b', 'web', 'side"car'), info('c', 'old', 'x', 'exited')],
    usage: async (id: string) => {
      calls.push(id);
      await gate;
      return { cpuCores: 0.5, memoryBytes: 1024, cpuSecondsTotal: id === 'a' ? 12.5 : 3 };
    },
  } as unknown as ContainerRuntime;
  return { runtime, calls, release };
}

describe('UsageSampler', () => {
  it('shares one in-flight sampling between readers and reuses a fresh one', async () => {
    let t = 1_000;
    const s = stub();
    const sampler = new UsageSampler(s.runtime, () => t);
    const first = sampler.sample(5_000);
    const second = sampler.sample(5_000);
    s.release();
    const [a, b] = await Promise.all([first, second]);
    expect(a).toBe(b);
    expect(s.calls.sort()).toEqual(['a', 'b']);
    t += 4_000;
    expect(await sampler.sample(5_000)).toBe(a);
    expect(s.calls).toHaveLength(2);
    t += 2_000;
    await sampler.sample(5_000);
    expect(s.calls).toHaveLength(4);
  });
});

describe('containerMetricsText', () => {
  it('renders cAdvisor\'s names and labels, escaped', async () => {
    const s = stub();
    s.release();
    const snap = await new UsageSampler(s.runtime, () => 42).sample(0);
    const text = containerMetricsText(snap);
    expect(text).toContain('# TYPE container_cpu_usage_seconds_total counter');
    expect(text).toContain('container_cpu_usage_seconds_total{container="app",id="a",image="flotilla/busybox:1",namespace="ns",pod="web"} 12.5 42');
    expect(text).toContain('container_memory_working_set_bytes{container="side\\"car",id="b",image="flotilla/busybox:1",namespace="ns",pod="web"} 1024 42');
    expect(text).not.toContain('pod="old"');
    expect(containerMetricsText(undefined)).toContain('# TYPE container_memory_working_set_bytes gauge');
  });
});
