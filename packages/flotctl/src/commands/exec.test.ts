import type { Status } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { execUrl, exitCodeOf } from './exec.js';

describe('execUrl', () => {
  it('is the WebSocket URL of pods/exec with one command parameter per argument, as kubectl sends it', () => {
    const u = new URL(execUrl('https://10.0.0.1:6443', 'team', 'web-1', ['sh', '-c', 'echo a&b'], { container: 'app', stdin: true }));
    expect(u.protocol).toBe('wss:');
    expect(u.pathname).toBe('/api/v1/namespaces/team/pods/web-1/exec');
    expect(u.searchParams.getAll('command')).toEqual(['sh', '-c', 'echo a&b']);
    expect(Object.fromEntries([...u.searchParams].filter(([k]) => k !== 'command'))).toEqual({ container: 'app', stdin: 'true', stdout: 'true', stderr: 'true' });
  });
  it('asks for no stderr with a TTY (the terminal carries both)', () => {
    const u = new URL(execUrl('http://127.0.0.1:8080', 'default', 'p', ['sh'], { tty: true }));
    expect(u.protocol).toBe('ws:');
    expect(u.searchParams.get('tty')).toBe('true');
    expect(u.searchParams.get('stderr')).toBeNull();
  });
});

describe('exitCodeOf', () => {
  const status = (s: Partial<Status>) => ({ apiVersion: 'v1', kind: 'Status', ...s }) as Status;
  it('reads Success as 0 and NonZeroExitCode as its ExitCode cause', () => {
    expect(exitCodeOf(status({ status: 'Success' }))).toBe(0);
    expect(exitCodeOf(status({ status: 'Failure', reason: 'NonZeroExitCode' as Status['reason'], details: { causes: [{ reason: 'ExitCode' as never, message: '7' }] } }))).toBe(7);
  });
  it('has no exit code for other failures (the command did not run)', () => {
    expect(exitCodeOf(status({ status: 'Failure', reason: 'InternalError', message: 'no such file' }))).toBeUndefined();
  });
});
