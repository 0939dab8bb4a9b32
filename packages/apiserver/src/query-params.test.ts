import { describe, expect, it } from 'vitest';
import { boolParam } from './query-params.js';

describe('boolParam (Go strconv.ParseBool)', () => {
  it.each(['1', 't', 'T', 'TRUE', 'true', 'True'])('%s is true', (v) => expect(boolParam({ watch: v }, 'watch')).toBe(true));
  it.each(['0', 'f', 'F', 'FALSE', 'false', 'False'])('%s is false', (v) => expect(boolParam({ watch: v }, 'watch')).toBe(false));
  it('absent or empty is undefined', () => {
    expect(boolParam({}, 'watch')).toBeUndefined();
    expect(boolParam({ watch: '' }, 'watch')).toBeUndefined();
  });
  it.each(['yes', 'tRUE', '2', 'on'])('%s is a 400 naming the parameter', (v) => {
    expect(() => boolParam({ allowWatchBookmarks: v }, 'allowWatchBookmarks')).toThrow(/query parameter "allowWatchBookmarks"/);
    try {
      boolParam({ allowWatchBookmarks: v }, 'allowWatchBookmarks');
    } catch (err) {
      expect((err as { code: number }).code).toBe(400);
    }
  });
});

describe('boolean query parameters over HTTP', () => {
  it('?watch=True watches (a stream of events, not a list); ?watch=yes is a 400 Status', async () => {
    const { startTestApiServer } = await import('./testing/index.js');
    const s = await startTestApiServer();
    try {
      const watched = await s.request('GET', '/api/v1/namespaces?watch=True&timeoutSeconds=1');
      expect(watched.status).toBe(200);
      expect(String(typeof watched.body === 'string' ? watched.body : JSON.stringify(watched.body))).toContain('"type":"ADDED"');
      const listed = await s.request('GET', '/api/v1/namespaces?watch=False');
      expect(listed.body.kind).toBe('NamespaceList');
      const bad = await s.request('GET', '/api/v1/namespaces?watch=yes');
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
      expect(bad.body.message).toContain('"watch"');
    } finally {
      await s.close();
    }
  });
});
