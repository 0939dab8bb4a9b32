/**
 * An in-process apiserver over HTTPS on the real etcd (a unique key prefix
 * per file), and RestClients to it: what the integration tests run the
 * controllers against.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApiServer, DefaultAuthorizer, TokenAuthenticator, type ApiServer } from '@flotilla/apiserver';
import { ensureServingCerts } from '@flotilla/apiserver/tls';
import { RestClient } from '@flotilla/client';
import { deleteEtcdPrefix, etcdEndpoints } from '@flotilla/e2e';
import { createLogger } from '@flotilla/observability';
import { EtcdStorage } from '@flotilla/store';

/** A running apiserver and a way to make clients of it. */
export interface TestCluster {
  url: string;
  /** A fresh admin client (separate connection pool), e.g. one per controller-manager instance. */
  client(): RestClient;
  /** Stops the server, closes every client made, deletes the etcd prefix and temporary files. */
  stop(): Promise<void>;
}

/** Starts the apiserver in-process on 127.0.0.1 over a unique etcd prefix. */
export async function startCluster(name: string): Promise<TestCluster> {
  const endpoints = etcdEndpoints();
  const prefix = `/cm-it-${name}-${randomBytes(5).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-cm-it-'));
  const token = randomBytes(24).toString('base64url');
  const clients: RestClient[] = [];
  let storage: EtcdStorage | undefined;
  let server: ApiServer | undefined;
  const stop = async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    await storage?.close().catch(() => undefined);
    await deleteEtcdPrefix(endpoints, prefix).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const certs = await ensureServingCerts({ certDir: join(dir, 'certs'), hosts: ['127.0.0.1'], skipInterfaceAddresses: true });
    storage = new EtcdStorage({ endpoints, prefix, logger: createLogger('store', { level: 'silent' }) });
    server = createApiServer({
      storage,
      authenticator: new TokenAuthenticator([{ token, user: { name: 'admin', uid: 'admin', groups: ['system:masters'] } }]),
      authorizer: new DefaultAuthorizer(),
      logger: createLogger('apiserver', { level: 'silent' }),
      https: { key: certs.key, cert: certs.cert },
    });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const url = `https://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
    return {
      url,
      client() {
        const c = new RestClient({ server: url, ca: certs.ca, token });
        clients.push(c);
        return c;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
