/** Shared set-up of the store's integration tests: a real etcd, one unique key prefix per test. */
import { randomBytes } from 'node:crypto';
import type { KubeObject } from '@flotilla/api';
import { createLogger } from '@flotilla/observability';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import { deleteEtcdPrefix, startPrivateEtcd, type PrivateEtcd } from '@flotilla/e2e';
import { EtcdStorage, type EtcdStorageOptions } from '../src/index.js';

/** etcd endpoints from FLOTILLA_ETCD_ENDPOINTS (comma separated), default the local dev etcd. */
export const endpoints = (process.env.FLOTILLA_ETCD_ENDPOINTS ?? 'http://127.0.0.1:2379').split(',').map((s) => s.trim()).filter(Boolean);

/** A fresh key prefix no other test uses. */
export function uniquePrefix(): string {
  return `/flotilla-test-${randomBytes(6).toString('hex')}`;
}

/** Tracks stores and prefixes of one test and removes them afterwards, even on failure. */
export class Fixture {
  readonly prefix = uniquePrefix();
  readonly etcd: Etcd3;
  private readonly stores: EtcdStorage[] = [];

  /** On the shared test etcd, or on `hosts` (a test's private etcd, for compaction). */
  constructor(readonly hosts: string[] = endpoints) {
    this.etcd = new Etcd3({ hosts });
  }

  /** A store on this test's prefix. */
  store(options: Partial<EtcdStorageOptions> = {}): EtcdStorage {
    const s = new EtcdStorage({ endpoints: this.hosts, prefix: this.prefix, logger: createLogger('store-test', { level: 'warn' }), ...options });
    this.stores.push(s);
    return s;
  }

  /** Closes every store, deletes the prefix (in small chunks: see deleteEtcdPrefix), closes the raw client. */
  async cleanup(): Promise<void> {
    await Promise.allSettled(this.stores.map((s) => s.close()));
    await deleteEtcdPrefix(this.hosts, `${this.prefix}/`).catch(() => undefined);
    this.etcd.close();
  }
}

/** A pod roughly the size of a real one (~1.5 KB of JSON). */
export function pod(namespace: string, name: string, extra: { labels?: Record<string, string>; nodeName?: string } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      labels: { app: 'web', tier: 'frontend', ...extra.labels },
      annotations: { 'kubernetes.io/description': 'a pod of the store integration tests, about as big as a real one' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d8f9c', uid: '1f0c8a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f', controller: true }],
    },
    spec: {
      ...(extra.nodeName ? { nodeName: extra.nodeName } : {}),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      containers: [
        {
          name: 'web',
          image: 'flotilla/busybox:1.35',
          command: ['httpd', '-f', '-p', '8080'],
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'MODE', value: 'production' }, { name: 'LOG_LEVEL', value: 'info' }],
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
          readinessProbe: { httpGet: { path: '/healthz', port: 8080 }, periodSeconds: 5 },
          imagePullPolicy: 'IfNotPresent',
        },
      ],
    },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False' }] },
  };
}

/** Runs `fn` over `items` with at most `parallel` in flight. */
export async function mapLimit<T, R>(items: T[], parallel: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** Polls `check` until it returns true or the deadline passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Catches what a promise rejects with (or fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<{ code?: number; reason?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: number; reason?: string; message: string };
  }
  throw new Error('expected a rejection');
}

/** Percentile of a list of numbers. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * A Fixture on an etcd of the calling describe block's own, started in
 * beforeAll and removed in afterAll: for tests that compact the history.
 */
export function privateEtcdFixture(): () => Fixture {
  let etcd: PrivateEtcd | undefined;
  let fixture: Fixture | undefined;
  beforeAll(async () => {
    etcd = await startPrivateEtcd();
    fixture = new Fixture([etcd.endpoint]);
  });
  afterAll(async () => {
    await fixture?.cleanup();
    await etcd?.close();
  });
  return () => {
    if (!fixture) throw new Error('privateEtcdFixture() is used before its beforeAll ran');
    return fixture;
  };
}
