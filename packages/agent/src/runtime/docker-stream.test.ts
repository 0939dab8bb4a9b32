import { describe, expect, it } from 'vitest';
import { DockerDemux, STREAM_STDERR, STREAM_STDOUT, demuxBuffer, encodeFrame, splitDockerStream } from './docker-stream.js';
import { infoFromInspect, parseEvent } from './docker-runtime.js';
import { LABELS } from './types.js';

describe('Docker stream demultiplexing', () => {
  it('joins frames split at any byte boundary', async () => {
    const bytes = Buffer.concat([encodeFrame(STREAM_STDOUT, 'hello\n'), encodeFrame(STREAM_STDERR, 'oops\n'), encodeFrame(STREAM_STDOUT, 'bye\n')]);
    for (const cut of [1, 3, 8, 9, 14, 20]) {
      const d = new DockerDemux();
      const out: Buffer[] = [];
      d.on('data', (b: Buffer) => out.push(b));
      const ended = new Promise((r) => d.on('end', r));
      d.write(bytes.subarray(0, cut));
      d.end(bytes.subarray(cut));
      await ended;
      expect(Buffer.concat(out).toString()).toBe('hello\noops\nbye\n');
    }
  });

  it('demultiplexes a whole buffer', () => {
    expect(demuxBuffer(Buffer.concat([encodeFrame(STREAM_STDOUT, 'a'), encodeFrame(STREAM_STDERR, 'b')])).toString()).toBe('ab');
  });
});

describe('engine events', () => {
  const labels = { [LABELS.type]: 'container', [LABELS.podUid]: 'u1', [LABELS.podNamespace]: 'ns', [LABELS.podName]: 'p', [LABELS.containerName]: 'c', [LABELS.attempt]: '2' };

  it('maps a die event with its exit code and labels', () => {
    const line = JSON.stringify({ Type: 'container', Action: 'die', Actor: { ID: 'abc', Attributes: { ...labels, exitCode: '137', image: 'x' } }, time: 10, timeNano: 10_500_000_000 });
    expect(parseEvent(line)).toEqual({ type: 'die', id: 'abc', podUid: 'u1', podNamespace: 'ns', podName: 'p', containerName: 'c', containerType: 'container', attempt: 2, exitCode: 137, time: 10_500 });
  });

  it('ignores other actions, foreign containers and garbage', () => {
    expect(parseEvent(JSON.stringify({ Action: 'exec_die', Actor: { ID: 'a', Attributes: labels } }))).toBeUndefined();
    expect(parseEvent(JSON.stringify({ Action: 'die', Actor: { ID: 'a', Attributes: { exitCode: '0' } } }))).toBeUndefined();
    expect(parseEvent('{not json')).toBeUndefined();
  });
});

describe('infoFromInspect', () => {
  it('rebuilds a container view from labels and state', () => {
    const info = infoFromInspect({
      Id: 'abc',
      Created: '2024-01-01T00:00:00.123456789Z',
      Image: 'sha256:1234',
      Config: { Image: 'flotilla/busybox:1', Labels: { ...{ [LABELS.type]: 'container', [LABELS.podUid]: 'u', [LABELS.podNamespace]: 'ns', [LABELS.podName]: 'p', [LABELS.containerName]: 'c', [LABELS.attempt]: '1' }, [LABELS.terminationGracePeriodSeconds]: '30' } },
      State: { Status: 'exited', OOMKilled: true, ExitCode: 137, Error: '', StartedAt: '2024-01-01T00:00:01Z', FinishedAt: '2024-01-01T00:00:02Z' },
      NetworkSettings: { Networks: {} },
    } as never);
    expect(info).toMatchObject({ id: 'abc', type: 'container', podUid: 'u', attempt: 1, state: 'exited', exitCode: 137, oomKilled: true, image: 'flotilla/busybox:1', imageId: 'sha256:1234', terminationGracePeriodSeconds: 30, startedAt: '2024-01-01T00:00:01.000Z', finishedAt: '2024-01-01T00:00:02.000Z' });
  });

  it('leaves zero times out for a created container', () => {
    const info = infoFromInspect({ Id: 'x', Created: '2024-01-01T00:00:00Z', Image: 'sha256:1', Config: { Image: 'i', Labels: { [LABELS.type]: 'sandbox' } }, State: { Status: 'created', StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '0001-01-01T00:00:00Z', ExitCode: 0 }, NetworkSettings: { IPAddress: '' } } as never);
    expect(info.state).toBe('created');
    expect(info.startedAt).toBeUndefined();
    expect(info.exitCode).toBeUndefined();
  });
});

describe('splitDockerStream', () => {
  it('routes frames to stdout and stderr and ends both; unframed engine text goes to stderr', async () => {
    const { PassThrough } = await import('node:stream');
    const collect = (s: InstanceType<typeof PassThrough>) => new Promise<string>((r) => { const parts: Buffer[] = []; s.on('data', (d: Buffer) => parts.push(d)); s.on('end', () => r(Buffer.concat(parts).toString())); });
    const input = new PassThrough();
    const out = new PassThrough();
    const err = new PassThrough();
    splitDockerStream(input, out, err);
    const both = Promise.all([collect(out), collect(err)]);
    const frames = Buffer.concat([encodeFrame(1, 'out1 '), encodeFrame(2, 'err1 '), encodeFrame(1, 'out2')]);
    input.write(frames.subarray(0, 5));
    input.end(frames.subarray(5));
    expect(await both).toEqual(['out1 out2', 'err1 ']);

    const input2 = new PassThrough();
    const out2 = new PassThrough();
    const err2 = new PassThrough();
    splitDockerStream(input2, out2, err2);
    const both2 = Promise.all([collect(out2), collect(err2)]);
    input2.end('OCI runtime exec failed: exec failed\r\n');
    expect(await both2).toEqual(['', 'OCI runtime exec failed: exec failed\r\n']);
  });
});
