import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '@flotilla/observability';
import { DockerRuntime, mayHideOomKill } from './docker-runtime.js';
import { LABELS } from './types.js';

/** An inspect answer of a container the engine saw die. */
function exited(over: { exitCode?: number; oomKilled?: boolean; memory?: number } = {}) {
  return {
    Id: 'c0ffee000000c0ffee',
    Created: '2026-01-01T00:00:00Z',
    Image: 'sha256:1',
    Config: { Image: 'flotilla/busybox:1', Labels: { [LABELS.type]: 'container', [LABELS.podUid]: 'u', [LABELS.containerName]: 'hog' } },
    HostConfig: { Memory: over.memory ?? 16 << 20 },
    State: { Status: 'exited', ExitCode: over.exitCode ?? 137, OOMKilled: over.oomKilled ?? false, StartedAt: '2026-01-01T00:00:01Z', FinishedAt: '2026-01-01T00:00:02Z' },
  };
}

const oomLine = JSON.stringify({ Type: 'container', Action: 'oom', Actor: { ID: 'c0ffee000000c0ffee', Attributes: { [LABELS.type]: 'container', [LABELS.podUid]: 'u' } }, time: 1 });

/** A DockerRuntime whose engine answers inspect with `raw` and the events query with `events` (or fails it). */
function runtimeWith(raw: ReturnType<typeof exited>, events: string[] | Error) {
  const rt = new DockerRuntime({ host: 'unix:///nonexistent.sock', stateDir: '/nonexistent', logger: createLogger('test', { level: 'silent' }) });
  const queries: unknown[] = [];
  Object.assign(rt.docker, {
    getContainer: () => ({ inspect: async () => raw }),
    getEvents: async (opts: unknown) => {
      queries.push(opts);
      if (events instanceof Error) throw events;
      return Readable.from(events.map((e) => `${e}\n`));
    },
  });
  return { rt, queries };
}

describe('an OOM kill the engine reported after the exit', () => {
  it('is read from the engine events when the container says OOMKilled=false', async () => {
    const { rt, queries } = runtimeWith(exited(), [oomLine]);
    expect(await rt.inspect('c0ffee')).toMatchObject({ state: 'exited', exitCode: 137, oomKilled: true });
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatchObject({ since: Date.parse('2026-01-01T00:00:01Z') / 1000, filters: { container: ['c0ffee000000c0ffee'], event: ['oom'] } });
  });

  it('is not invented: a SIGKILL with no oom event stays a plain kill', async () => {
    const { rt } = runtimeWith(exited(), []);
    expect(await rt.inspect('c0ffee')).toMatchObject({ exitCode: 137, oomKilled: false });
  });

  it('leaves the flag as it is when the engine cannot answer', async () => {
    const { rt } = runtimeWith(exited(), new Error('connection refused'));
    expect(await rt.inspect('c0ffee')).toMatchObject({ exitCode: 137, oomKilled: false });
  });

  it('asks only about SIGKILLed containers under a memory limit that the engine does not call OOM-killed', async () => {
    expect(mayHideOomKill(exited() as never)).toBe(true);
    expect(mayHideOomKill(exited({ oomKilled: true }) as never)).toBe(false);
    expect(mayHideOomKill(exited({ exitCode: 1 }) as never)).toBe(false);
    expect(mayHideOomKill(exited({ memory: 0 }) as never)).toBe(false);
    for (const raw of [exited({ oomKilled: true }), exited({ exitCode: 143 }), exited({ memory: 0 })]) {
      const { rt, queries } = runtimeWith(raw, [oomLine]);
      await rt.inspect('c0ffee');
      expect(queries).toHaveLength(0);
    }
  });
});
