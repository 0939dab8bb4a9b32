import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { loadKubeconfig } from './kubeconfig.js';

const dir = mkdtempSync(join(tmpdir(), 'kubeconfig-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

const config = (cluster: string, user: string, extraContexts = '') => `apiVersion: v1
kind: Config
current-context: main
clusters:
- name: c
  cluster:
${cluster}
users:
- name: u
  user:
${user}
contexts:
- name: main
  context: {cluster: c, user: u, namespace: team}
${extraContexts}`;

describe('loadKubeconfig', () => {
  const saved = process.env.KUBECONFIG;
  afterEach(() => {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  });

  it('reads inline CA data and token', () => {
    const ca = Buffer.from('-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n').toString('base64');
    const p = write('inline', config(`    server: https://127.0.0.1:6443/\n    certificate-authority-data: ${ca}`, '    token: abc'));
    expect(loadKubeconfig(p)).toEqual({ server: 'https://127.0.0.1:6443', ca: '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n', token: 'abc', namespace: 'team' });
  });

  it('reads CA and token files relative to the kubeconfig, honouring $KUBECONFIG', () => {
    write('ca.pem', 'PEM');
    write('tok', 'secret\n');
    const p = write('files', config('    server: https://h:1\n    certificate-authority: ca.pem\n    insecure-skip-tls-verify: true', '    tokenFile: tok'));
    process.env.KUBECONFIG = `${join(dir, 'does-not-exist')}:${p}`;
    expect(loadKubeconfig()).toEqual({ server: 'https://h:1', ca: 'PEM', token: 'secret', insecureSkipTlsVerify: true, namespace: 'team' });
  });

  it('names the file and the missing entry in errors', () => {
    const p = write('bad', config('    server: https://h:1', '    token: t').replace('current-context: main', 'current-context: other'));
    expect(() => loadKubeconfig(p)).toThrow(`kubeconfig ${p}: context "other" not found`);
    const missingCa = write('missing-ca', config('    server: https://h:1\n    certificate-authority: nope.pem', '    token: t'));
    expect(() => loadKubeconfig(missingCa)).toThrow(/missing-ca: cannot read certificate-authority .*nope\.pem/);
    expect(() => loadKubeconfig(join(dir, 'absent'))).toThrow(/absent: cannot read/);
  });
});
