import { describe, expect, it } from 'vitest';
import { freePort } from './free-port.js';
import { kubeconfig } from './kubeconfig.js';

describe('kubeconfig', () => {
  it('is a v1 Config whose current context joins the cluster and the user', () => {
    const doc = kubeconfig({ server: 'https://127.0.0.1:6443', caPem: 'PEM', token: 't0ken', namespace: 'ns1' }) as any;
    expect(doc).toMatchObject({ apiVersion: 'v1', kind: 'Config', 'current-context': 'admin@flotilla' });
    expect(doc.clusters[0].cluster).toEqual({ server: 'https://127.0.0.1:6443', 'certificate-authority-data': Buffer.from('PEM').toString('base64') });
    expect(doc.users[0]).toEqual({ name: 'admin', user: { token: 't0ken' } });
    expect(doc.contexts[0].context).toEqual({ cluster: 'flotilla', user: 'admin', namespace: 'ns1' });
  });
});

describe('freePort', () => {
  it('returns distinct usable ports', async () => {
    const [a, b] = await Promise.all([freePort(), freePort()]);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  });
});
