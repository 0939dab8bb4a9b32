import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigMap, Pod, Secret } from '@flotilla/api';
import { referencedSources, type PodConfigSources } from './config-sources.js';
import { ContainerConfigError, resolveEnv, type SkippedEnvKeys } from './container-config.js';
import { projectVolume, writeAtomically } from './projected-volumes.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'ns' }, data: { mode: 'prod', 'bad key': 'x', 'app.conf': 'a=1' } };
const secret: Secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'ns' }, data: { password: b64('pw'), user: b64('admin') } };
const sources = (withSecret = true): PodConfigSources => ({
  configMaps: new Map([['app', cm], ['gone', undefined]]),
  secrets: new Map([['db', withSecret ? secret : undefined]]),
});
const pod = (container: Partial<Pod['spec'] & object>['containers'] extends infer C ? C : never): Pod => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u1' }, spec: { containers: container as never },
});

describe('resolveEnv with ConfigMaps and Secrets', () => {
  it('envFrom (sorted keys, prefix, invalid names skipped and reported), then env key refs and $(VAR)', () => {
    const c = {
      name: 'c', image: 'x',
      envFrom: [{ configMapRef: { name: 'app' }, prefix: 'CM_' }, { secretRef: { name: 'db' } }],
      env: [
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app', key: 'mode' } } },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
        { name: 'DSN', value: '$(user):$(PW)@db' },
        { name: 'OPT', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k', optional: true } } },
      ],
    };
    const skipped: SkippedEnvKeys[] = [];
    const env = resolveEnv(pod([c]), c as never, '10.0.0.1', '10.1.0.1', [], sources(), (s) => skipped.push(s));
    expect(env).toEqual([
      { name: 'CM_app.conf', value: 'a=1' },
      { name: 'CM_mode', value: 'prod' },
      { name: 'password', value: 'pw' },
      { name: 'user', value: 'admin' },
      { name: 'MODE', value: 'prod' },
      { name: 'PW', value: 'pw' },
      { name: 'DSN', value: 'admin:pw@db' },
    ]);
    expect(skipped).toEqual([{ kind: 'configMap', name: 'app', keys: ['bad key'] }]);
  });

  it.each<[string, object, string]>([
    ['missing configmap', { env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k' } } }] }, 'configmap "gone" not found'],
    ['missing key', { env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'app', key: 'nope' } } }] }, "couldn't find key nope in ConfigMap ns/app"],
    ['missing secret', { envFrom: [{ secretRef: { name: 'db' } }] }, 'secret "db" not found'],
    ['missing secret key', { env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'other', key: 'k' } } }] }, 'secret "other" not found'],
  ])('a %s is a ContainerConfigError naming it', (_n, spec, message) => {
    const c = { name: 'c', image: 'x', ...spec };
    const run = () => resolveEnv(pod([c]), c as never, '', '', [], sources(false));
    expect(run).toThrow(ContainerConfigError);
    expect(run).toThrow(message);
  });

  it('lists what a pod references', () => {
    const p = pod([{ name: 'c', envFrom: [{ secretRef: { name: 's1' } }], env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c1', key: 'k' } } }] }] as never);
    p.spec!.volumes = [{ name: 'v', configMap: { name: 'c2' } }, { name: 'w', secret: { secretName: 's2' } }];
    const refs = referencedSources(p);
    expect([...refs.configMaps].sort()).toEqual(['c1', 'c2']);
    expect([...refs.secrets].sort()).toEqual(['s1', 's2']);
  });
});

describe('projected volumes', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  });

  it('projects items with modes, defaultMode, optional and missing keys', () => {
    const p = pod([]);
    expect(projectVolume(p, { name: 'v', configMap: { name: 'app', items: [{ key: 'mode', path: 'etc/mode', mode: 0o600 }], defaultMode: 0o644 } }, sources())).toEqual({
      files: [{ path: 'etc/mode', data: Buffer.from('prod'), mode: 0o600 }],
    });
    expect(projectVolume(p, { name: 'v', secret: { secretName: 'db', defaultMode: 0o400 } }, sources())).toEqual({
      files: [{ path: 'password', data: Buffer.from('pw'), mode: 0o400 }, { path: 'user', data: Buffer.from('admin'), mode: 0o400 }],
    });
    expect(projectVolume(p, { name: 'v', configMap: { name: 'gone', optional: true } }, sources())).toEqual({ files: [] });
    expect(projectVolume(p, { name: 'v', configMap: { name: 'gone' } }, sources())).toEqual({ missing: 'configmap "gone" not found' });
    expect(projectVolume(p, { name: 'v', configMap: { name: 'app', items: [{ key: 'nope', path: 'x' }] } }, sources())).toMatchObject({ missing: expect.stringContaining('non-existent config key: nope') });
  });

  it('writes versions atomically: ..data swaps, top-level names are links through it, old versions go', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-projected-'));
    dirs.push(dir);
    await writeAtomically(dir, [{ path: 'a', data: Buffer.from('1'), mode: 0o600 }, { path: 'sub/b', data: Buffer.from('2'), mode: 0o644 }]);
    expect(await readFile(join(dir, 'a'), 'utf8')).toBe('1');
    expect(await readFile(join(dir, 'sub/b'), 'utf8')).toBe('2');
    expect(await readlink(join(dir, 'a'))).toBe('..data/a');
    expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o600);
    const first = await readlink(join(dir, '..data'));
    await writeAtomically(dir, [{ path: 'a', data: Buffer.from('changed'), mode: 0o644 }, { path: 'c', data: Buffer.from('3'), mode: 0o644 }]);
    expect(await readFile(join(dir, 'a'), 'utf8')).toBe('changed');
    expect(await readFile(join(dir, 'c'), 'utf8')).toBe('3');
    await expect(lstat(join(dir, 'sub'))).rejects.toThrow();
    const entries = (await readdir(dir)).sort();
    expect(entries).not.toContain(first);
    expect(entries.filter((e) => e.startsWith('..') && e !== '..data')).toHaveLength(1);
  });
});
