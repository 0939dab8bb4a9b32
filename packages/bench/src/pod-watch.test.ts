import { afterEach, describe, expect, it } from 'vitest';
import type { Pod } from '@flotilla/api';
import { FakeApiClient, waitFor } from '@flotilla/client/testing';
import { isRunning, PodWatch } from './pod-watch.js';

function pod(name: string, phase?: string): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'bench' }, spec: { containers: [{ name: 'c', image: 'pause' }] }, ...(phase ? { status: { phase } } : {}) } as Pod;
}

describe('PodWatch', () => {
  let watch: PodWatch | undefined;
  afterEach(async () => {
    await watch?.stop();
    watch = undefined;
  });

  /** A PodWatch of namespace bench started on a counting fake, its stream open, waiting for pod a to run. */
  async function watching() {
    const { fake, reads } = fakeCounting();
    watch = new PodWatch(fake, 'bench');
    await watch.start();
    const running = watch.waitFor('bench/a', isRunning, 10_000);
    await waitFor(() => fake.openWatches() === 1, { what: 'the watch open' });
    return { fake, reads, running };
  }

  it('resumes a dropped stream from its last resourceVersion without a relist, and sees what happened meanwhile', async () => {
    const { fake, reads, running } = await watching();

    fake.dropWatches();
    await waitFor(() => fake.openWatches() === 0, { what: 'the stream closed' });
    // Changed while no stream is open: the resumed watch replays it from history.
    fake.seed(pod('a', 'Running'));
    await running;

    expect(reads.list).toBe(1);
    expect(watch!.relists).toBe(0);
    expect(watch!.resumes).toBe(1);
    expect(reads.watch).toBe(2);
  });

  it('relists only when its resourceVersion is gone (410), and passes the listed state to the waiters', async () => {
    const { fake, reads, running } = await watching();

    fake.seed(pod('a', 'Running'));
    await running;
    fake.seed(pod('b', 'Running'));
    fake.compact();
    await waitFor(() => watch!.relists === 1 && fake.openWatches() === 1, { what: 'a relist and a new watch' });

    expect(reads.list).toBe(2);
    expect([...watch!.pods.keys()].sort()).toEqual(['bench/a', 'bench/b']);
  });
});

/** A fake apiserver, and the pod LISTs and WATCHes made to it (its actions record only writes). */
function fakeCounting(): { fake: FakeApiClient; reads: { list: number; watch: number } } {
  const fake = new FakeApiClient({ objects: [pod('a')] });
  const reads = { list: 0, watch: 0 };
  fake.prependReactor((a) => {
    if (a.resource === 'pods' && (a.verb === 'list' || a.verb === 'watch')) reads[a.verb]++;
  });
  return { fake, reads };
}

