/**
 * A ready-made apiserver over MemoryStorage for tests: allow-all auth, a
 * silent logger, and JSON helpers around fastify's inject().
 */
import { createLogger } from '@flotilla/observability';
import type { KubeObject } from '@flotilla/api';
import { createApiServer, type ApiServer, type ApiServerOptions } from '../server.js';
import { allowAllAuthenticator, allowAllAuthorizer } from './auth-fakes.js';
import { MemoryStorage } from './memory-storage.js';

/** The answer of a test request: status code and parsed JSON body (or the text). */
export interface TestResponse {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Record<string, unknown>;
}

/** An apiserver over MemoryStorage plus helpers. */
export interface TestApiServer {
  app: ApiServer;
  storage: MemoryStorage;
  request(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

/** Builds a TestApiServer; options override the defaults (storage, auth, logger). */
export async function startTestApiServer(options: Partial<ApiServerOptions> = {}): Promise<TestApiServer> {
  const storage = (options.storage as MemoryStorage | undefined) ?? new MemoryStorage();
  const app = createApiServer({
    authenticator: allowAllAuthenticator,
    authorizer: allowAllAuthorizer,
    logger: createLogger('apiserver-test', { level: 'silent' }),
    ...options,
    storage,
  });
  await app.ready();
  return {
    app,
    storage,
    async request(method, url, body, headers = {}) {
      const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const hasType = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
      const res = await app.inject({
        method: method as 'GET',
        url,
        ...(payload !== undefined ? { payload } : {}),
        headers: { ...(payload !== undefined && !hasType ? { 'content-type': 'application/json' } : {}), ...headers },
      });
      let parsed: unknown = res.body;
      try {
        parsed = JSON.parse(res.body);
      } catch {
        // not JSON: keep the text
      }
      return { status: res.statusCode, body: parsed, headers: res.headers };
    },
    close: () => app.close(),
  };
}

/** A minimal valid Pod. */
export function testPod(name: string, extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'web' } },
    spec: { containers: [{ name: 'main', image: 'flotilla/busybox:latest' }] },
    ...extra,
  };
}

/** A minimal valid Deployment. */
export function testDeployment(name: string, replicas = 2): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image: 'flotilla/busybox:latest' }] } },
    },
  };
}
