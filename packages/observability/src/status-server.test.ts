import { describe, expect, it } from 'vitest';
import { Registry } from './metrics.js';
import { startStatusServer } from './status-server.js';

describe('startStatusServer', () => {
  it('serves /metrics from the registry and the health paths from healthz()', async () => {
    const registry = new Registry();
    registry.counter('things_total', 'Things.').inc();
    let healthy: boolean | Error = true;
    const lines: object[] = [];
    const server = await startStatusServer({
      registry,
      port: 0,
      host: '127.0.0.1',
      healthz: async () => {
        if (healthy instanceof Error) throw healthy;
        return healthy;
      },
      logger: { info: (fields) => lines.push(fields) },
    });
    const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;
    try {
      expect(lines).toEqual([{ port: server.port }]);
      const metrics = await fetch(url('/metrics'));
      expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await metrics.text()).toContain('things_total 1');
      for (const path of ['/healthz', '/livez', '/readyz?verbose']) expect((await fetch(url(path))).status).toBe(200);
      healthy = false;
      expect((await fetch(url('/healthz'))).status).toBe(500);
      healthy = new Error('boom');
      expect((await fetch(url('/healthz'))).status).toBe(500);
      expect((await fetch(url('/metrics'), { method: 'POST' })).status).toBe(405);
      expect((await fetch(url('/other'))).status).toBe(404);
    } finally {
      await server.close();
    }
    await expect(fetch(url('/healthz'))).rejects.toThrow();
  });
});
