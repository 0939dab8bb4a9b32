import { PassThrough } from 'node:stream';
import { createLogger } from '@flotilla/observability';
import { describe, expect, it } from 'vitest';
import { requestLogLevel } from './server.js';
import { startTestApiServer } from './testing/harness.js';

describe('requestLogLevel', () => {
  it('keeps routine reads at debug and writes, client errors, slow requests and failures visible', () => {
    expect(requestLogLevel('GET', 200, 0.01)).toBe('debug');
    expect(requestLogLevel('GET', 404, 0.01)).toBe('debug');
    expect(requestLogLevel('GET', 403, 0.01)).toBe('info');
    expect(requestLogLevel('GET', 200, 1.5)).toBe('info');
    expect(requestLogLevel('POST', 201, 0.01)).toBe('info');
    expect(requestLogLevel('DELETE', 404, 0.01)).toBe('info');
    expect(requestLogLevel('PUT', 409, 0.01)).toBe('info');
    expect(requestLogLevel('GET', 503, 0.01)).toBe('error');
  });
});

describe('the request line', () => {
  it('is written once per write with its members, and the server logger still redacts its other lines', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString()));
    const logger = createLogger('apiserver', { destination: out });
    const server = await startTestApiServer({ logger });
    try {
      await server.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' } });
      const res = await server.request('POST', '/api/v1/namespaces/ns1/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } });
      expect(res.status).toBe(201);
      logger.info({ token: 's3cret', headers: { authorization: 'Bearer s3cret' } }, 'other');
      logger.flush();
      await new Promise((r) => setImmediate(r));
      const lines = chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const requests = lines.filter((l) => l.msg === 'request');
      expect(requests.at(-1)).toMatchObject({ level: 30, component: 'apiserver', method: 'POST', path: '/api/v1/namespaces/ns1/configmaps', verb: 'create', resource: 'configmaps', key: 'ns1', code: 201 });
      expect(Object.keys(requests.at(-1)!)).toEqual(['level', 'time', 'component', 'pid', 'method', 'path', 'verb', 'resource', 'key', 'user', 'code', 'ms', 'msg']);
      expect(lines.find((l) => l.msg === 'other')).toMatchObject({ token: '[redacted]', headers: { authorization: '[redacted]' } });
      expect(chunks.join('')).not.toContain('s3cret');
    } finally {
      await server.close();
    }
  });
});
