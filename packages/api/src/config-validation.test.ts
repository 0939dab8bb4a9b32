import { describe, expect, it } from 'vitest';
import type { ConfigMap, Secret } from './config-types.js';
import { defaultSecret, isBase64, validateConfigMap, validateSecret } from './config-validation.js';
import type { Pod } from './core-types.js';
import { defaultPod } from './defaults.js';
import { resourceForKind } from './registry.js';
import { validatePod } from './validation.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (over: Partial<Secret> = {}): Secret => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'default' }, ...over });
const cm = (over: Partial<ConfigMap> = {}): ConfigMap => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' }, ...over });
const fields = (errs: Array<{ field: string }>) => errs.map((x) => x.field);

/** Defaults then validation, as the apiserver runs them. */
function checkSecret(s: Secret, old?: Secret) {
  defaultSecret(s);
  return validateSecret(s, old);
}

describe('Secret', () => {
  it('folds stringData into data (stringData wins) and defaults the type to Opaque', () => {
    const s = secret({ data: { a: b64('old'), b: b64('keep') }, stringData: { a: 'new', 'c.txt': 'hé' } });
    expect(checkSecret(s)).toEqual([]);
    expect(s).toMatchObject({ type: 'Opaque', data: { a: b64('new'), b: b64('keep'), 'c.txt': b64('hé') } });
    expect(s.stringData).toBeUndefined();
  });

  it.each<[string, Partial<Secret>, string]>([
    ['tls without tls.key', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64('c') } }, 'data[tls.key]'],
    ['tls without tls.crt', { type: 'kubernetes.io/tls', stringData: { 'tls.key': 'k' } }, 'data[tls.crt]'],
    ['dockerconfigjson without its key', { type: 'kubernetes.io/dockerconfigjson', data: {} }, 'data[.dockerconfigjson]'],
    ['dockerconfigjson not JSON', { type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{nope' } }, 'data[.dockerconfigjson]'],
    ['service-account-token without its annotation', { type: 'kubernetes.io/service-account-token' }, 'metadata.annotations[kubernetes.io/service-account.name]'],
    ['bad key', { data: { 'a b': b64('x') } }, 'data[a b]'],
    ['key ..x', { data: { '..x': b64('x') } }, 'data[..x]'],
    ['not base64', { data: { k: 'not base64!' } }, 'data[k]'],
    ['unpadded base64', { data: { k: 'YQ' } }, 'data[k]'],
    ['over 1 MiB', { data: { k: Buffer.alloc(1024 * 1024 + 1).toString('base64') } }, 'data'],
    ['immutable not a boolean', { immutable: 'yes' as never }, 'immutable'],
  ])('refuses %s', (_name, over, field) => {
    const errs = checkSecret(secret(over));
    expect(fields(errs)).toContain(field);
  });

  it('accepts the typed secrets kubectl creates', () => {
    expect(checkSecret(secret({ type: 'kubernetes.io/tls', data: { 'tls.crt': b64('c'), 'tls.key': b64('k') } }))).toEqual([]);
    expect(checkSecret(secret({ type: 'kubernetes.io/dockerconfigjson', stringData: { '.dockerconfigjson': '{"auths":{}}' } }))).toEqual([]);
    expect(checkSecret(secret({ type: 'kubernetes.io/service-account-token', metadata: { name: 's', namespace: 'default', annotations: { 'kubernetes.io/service-account.name': 'default' } } }))).toEqual([]);
    expect(checkSecret(secret({ type: 'example.com/custom', data: { x: b64('1') } }))).toEqual([]);
  });

  it('never prints a value in an error', () => {
    const errs = checkSecret(secret({ data: { k: 'hunter2!' }, type: 'kubernetes.io/dockerconfigjson' }));
    expect(JSON.stringify(errs)).not.toContain('hunter2');
    expect(JSON.stringify(errs)).toContain('<secret contents redacted>');
  });

  it('refuses changes to data, and unsetting immutable, once immutable', () => {
    const old = secret({ immutable: true, type: 'Opaque', data: { a: b64('1') } });
    expect(checkSecret(secret({ immutable: true, data: { a: b64('1') } }), old)).toEqual([]);
    expect(fields(checkSecret(secret({ immutable: true, stringData: { a: '2' }, data: { a: b64('1') } }), old))).toEqual(['data']);
    expect(fields(checkSecret(secret({ immutable: false, data: { a: b64('1') } }), old))).toEqual(['immutable']);
    expect(fields(checkSecret(secret({ type: 'kubernetes.io/tls', data: { a: b64('1'), 'tls.crt': 'eA==', 'tls.key': 'eA==' } }), secret({ type: 'Opaque' })))).toEqual(['type']);
  });

  it('is served as v1 secrets with a type field selector', () => {
    const info = resourceForKind('v1', 'Secret')!;
    expect(info.plural).toBe('secrets');
    expect(info.fieldLabels(secret({ type: 'kubernetes.io/tls' })).type).toBe('kubernetes.io/tls');
  });
});

describe('ConfigMap', () => {
  it.each<[string, Partial<ConfigMap>, string]>([
    ['bad key', { data: { 'a/b': 'x' } }, 'data[a/b]'],
    ['key .', { data: { '.': 'x' } }, 'data[.]'],
    ['binaryData not base64', { binaryData: { b: '%%' } }, 'binaryData[b]'],
    ['key in data and binaryData', { data: { k: 'x' }, binaryData: { k: 'eA==' } }, 'data[k]'],
    ['non-string value', { data: { k: 1 as never } }, 'data[k]'],
    ['over 1 MiB', { data: { k: 'x'.repeat(1024 * 1024 + 1) } }, 'data'],
  ])('refuses %s', (_name, over, field) => {
    expect(fields(validateConfigMap(cm(over)))).toContain(field);
  });

  it('accepts keys as Kubernetes does', () => {
    expect(validateConfigMap(cm({ data: { 'game.properties': 'a=1', KEY_NAME: '', 'key-name': 'x', '.hidden': 'y' }, binaryData: { bin: 'AAE=' } }))).toEqual([]);
  });

  it('refuses changes once immutable', () => {
    const old = cm({ immutable: true, data: { a: '1' } });
    expect(validateConfigMap(cm({ immutable: true, data: { a: '1' }, metadata: { name: 'c', namespace: 'default', labels: { x: 'y' } } }), old)).toEqual([]);
    expect(fields(validateConfigMap(cm({ immutable: true, data: { a: '2' } }), old))).toEqual(['data']);
    expect(fields(validateConfigMap(cm({ data: { a: '1' } }), old))).toEqual(['immutable']);
  });
});

describe('pods consuming ConfigMaps and Secrets', () => {
  const pod = (): Pod => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' },
    spec: {
      containers: [{
        name: 'app', image: 'busybox:1',
        env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c', key: 'a' } } }, { name: 'B', valueFrom: { secretKeyRef: { name: 's', key: 'b', optional: true } } }],
        envFrom: [{ prefix: 'CM_', configMapRef: { name: 'c' } }, { secretRef: { name: 's', optional: true } }],
        volumeMounts: [{ name: 'cfg', mountPath: '/etc/cfg' }, { name: 'sec', mountPath: '/etc/sec' }],
      }],
      volumes: [
        { name: 'cfg', configMap: { name: 'c', items: [{ key: 'a', path: 'dir/a.conf', mode: 0o600 }] } },
        { name: 'sec', secret: { secretName: 's', defaultMode: 0o400, optional: true } },
      ],
    },
  });
  const check = (p: Pod) => {
    defaultPod(p);
    return fields(validatePod(p));
  };

  it('accepts them and defaults defaultMode to 0644', () => {
    const p = pod();
    expect(check(p)).toEqual([]);
    expect(p.spec!.volumes![0]!.configMap!.defaultMode).toBe(0o644);
    expect(p.spec!.volumes![1]!.secret!.defaultMode).toBe(0o400);
  });

  it.each<[string, (p: Pod) => void, string]>([
    ['key ref without key', (p) => (p.spec!.containers[0]!.env![0]!.valueFrom!.configMapKeyRef = { name: 'c' } as never), 'spec.containers[0].env[0].valueFrom.configMapKeyRef.key'],
    ['key ref without name', (p) => (p.spec!.containers[0]!.env![1]!.valueFrom!.secretKeyRef = { key: 'b' }), 'spec.containers[0].env[1].valueFrom.secretKeyRef.name'],
    ['envFrom with both', (p) => (p.spec!.containers[0]!.envFrom![0]!.secretRef = { name: 's' }), 'spec.containers[0].envFrom[0]'],
    ['envFrom with neither', (p) => (p.spec!.containers[0]!.envFrom![0] = { prefix: 'X' }), 'spec.containers[0].envFrom[0]'],
    ['envFrom bad prefix', (p) => (p.spec!.containers[0]!.envFrom![0]!.prefix = '1X'), 'spec.containers[0].envFrom[0].prefix'],
    ['volume item path with ..', (p) => (p.spec!.volumes![0]!.configMap!.items![0]!.path = 'a/../../etc'), 'spec.volumes[0].configMap.items[0].path'],
    ['volume item absolute path', (p) => (p.spec!.volumes![0]!.configMap!.items![0]!.path = '/etc/x'), 'spec.volumes[0].configMap.items[0].path'],
    ['volume item mode 01000', (p) => (p.spec!.volumes![0]!.configMap!.items![0]!.mode = 0o1000), 'spec.volumes[0].configMap.items[0].mode'],
    ['secret volume without secretName', (p) => delete p.spec!.volumes![1]!.secret!.secretName, 'spec.volumes[1].secret.secretName'],
    ['defaultMode negative', (p) => (p.spec!.volumes![1]!.secret!.defaultMode = -1), 'spec.volumes[1].secret.defaultMode'],
  ])('refuses %s', (_name, mutate, field) => {
    const p = pod();
    mutate(p);
    expect(check(p)).toContain(field);
  });
});

describe('isBase64', () => {
  it('is Go StdEncoding', () => {
    expect(isBase64('')).toBe(true);
    expect(isBase64('YWI=')).toBe(true);
    expect(isBase64('YWI')).toBe(false);
    expect(isBase64('YW-_')).toBe(false);
  });
});
