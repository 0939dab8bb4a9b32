import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildKubeconfig, renderKubeconfig, writeKubeconfig } from './kubeconfig.js';
import { generateToken } from './token.js';

const spec = { server: 'https://127.0.0.1:6443/', caData: 'Q0E=', token: 'tok', user: 'admin' };

describe('kubeconfig', () => {
  it('has the fields kubectl reads', () => {
    expect(parse(renderKubeconfig(spec))).toEqual({
      apiVersion: 'v1',
      kind: 'Config',
      preferences: {},
      clusters: [{ name: 'flotilla', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': 'Q0E=' } }],
      users: [{ name: 'admin', user: { token: 'tok' } }],
      contexts: [{ name: 'admin@flotilla', context: { cluster: 'flotilla', user: 'admin' } }],
      'current-context': 'admin@flotilla',
    });
  });

  it('names cluster, context and namespace on request', () => {
    const k = buildKubeconfig({ ...spec, cluster: 'c', context: 'x', namespace: 'ns' }) as { contexts: unknown };
    expect(k.contexts).toEqual([{ name: 'x', context: { cluster: 'c', user: 'admin', namespace: 'ns' } }]);
  });

  it.each([
    [{ server: 'http://127.0.0.1:6443' }, /must be an https:\/\/ URL/],
    [{ server: 'not a url' }, /is not a URL/],
    [{ token: 'a b' }, /--token/],
    [{ user: '' }, /--user/],
  ])('rejects %j', (bad, err) => {
    expect(() => buildKubeconfig({ ...spec, ...bad })).toThrow(err);
  });

  it('writes the file with mode 0600, creating the directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-kc-'));
    try {
      const file = await writeKubeconfig(join(dir, 'sub', 'kubeconfig'), renderKubeconfig(spec));
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('generateToken', () => {
  it('is random, long and CSV/header safe', () => {
    const a = generateToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(generateToken()).not.toBe(a);
  });
});
