import { createLogger } from '@flotilla/observability';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runComponent } from './run-component.js';

const log = createLogger('run-component-test', { level: 'silent' });

describe('runComponent', () => {
  const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  afterEach(() => {
    vi.restoreAllMocks();
    // runComponent owns the whole process; take its signal handlers off again.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.off(sig, l);
  });

  const exits = () => {
    const codes: Array<number | undefined> = [];
    vi.spyOn(process, 'exit').mockImplementation(((code?: number) => void codes.push(code)) as never);
    return codes;
  };

  it('exits 0 once the run finishes after SIGTERM', async () => {
    const codes = exits();
    let aborted = false;
    const done = runComponent('test', async (_c, signal) => new Promise<void>((r) => signal.addEventListener('abort', () => ((aborted = true), r()))), {}, log, 200);
    await new Promise((r) => setTimeout(r, 10));
    process.emit('SIGTERM', 'SIGTERM');
    await done;
    expect(aborted).toBe(true);
    expect(codes).toEqual([0]);
  });

  it('exits 1 when the run is still stopping after the stop timeout', async () => {
    const codes = exits();
    let finish!: () => void;
    const done = runComponent('test', async () => new Promise<void>((r) => (finish = r)), {}, log, 200);
    await new Promise((r) => setTimeout(r, 10));
    process.emit('SIGTERM', 'SIGTERM');
    await vi.waitFor(() => expect(codes).toEqual([1]), { timeout: 5_000 });
    finish();
    await done;
  });

  it('lets the whole component listen on its stop signal without a MaxListenersExceededWarning', async () => {
    const codes = exits();
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      // Informers, controllers, sleeps: a component has dozens of listeners on the one signal.
      const done = runComponent('test', async (_c, signal) => {
        await Promise.all(Array.from({ length: 30 }, () => new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))));
      }, {}, log, 1_000);
      // The run added its listeners as runComponent called it.
      process.emit('SIGTERM', 'SIGTERM');
      await done;
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(codes).toEqual([0]);
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
