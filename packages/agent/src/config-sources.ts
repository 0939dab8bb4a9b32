/**
 * The ConfigMaps and Secrets a pod reads (env `configMapKeyRef` /
 * `secretKeyRef`, `envFrom`, `configMap` / `secret` volumes), fetched by
 * name for one sync. The node authorizer lets an agent get exactly the
 * ones its pods reference, so they are read one by one, never listed.
 */
import { isReason, type ConfigMap, type Pod, type Secret } from '@flotilla/api';
import type { ApiClient } from '@flotilla/client';

/** Names a pod references, per kind. */
export interface SourceRefs {
  configMaps: Set<string>;
  secrets: Set<string>;
}

/** What a sync found: undefined for a name that does not exist. */
export interface PodConfigSources {
  configMaps: Map<string, ConfigMap | undefined>;
  secrets: Map<string, Secret | undefined>;
}

/** No sources: for pods that reference none. */
export const NO_SOURCES: PodConfigSources = { configMaps: new Map(), secrets: new Map() };

/** Every ConfigMap and Secret name a pod references (containers, init containers, volumes). */
export function referencedSources(pod: Pod): SourceRefs {
  const refs: SourceRefs = { configMaps: new Set(), secrets: new Set() };
  const spec = pod.spec;
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.configMapKeyRef?.name) refs.configMaps.add(e.valueFrom.configMapKeyRef.name);
      if (e.valueFrom?.secretKeyRef?.name) refs.secrets.add(e.valueFrom.secretKeyRef.name);
    }
    for (const f of c.envFrom ?? []) {
      if (f.configMapRef?.name) refs.configMaps.add(f.configMapRef.name);
      if (f.secretRef?.name) refs.secrets.add(f.secretRef.name);
    }
  }
  for (const v of spec?.volumes ?? []) {
    if (v.configMap?.name) refs.configMaps.add(v.configMap.name);
    if (v.secret?.secretName) refs.secrets.add(v.secret.secretName);
  }
  return refs;
}

/** Reads the referenced objects (in parallel); a 404 is recorded as undefined, other errors throw. */
export async function fetchSources(client: ApiClient, pod: Pod): Promise<PodConfigSources> {
  const refs = referencedSources(pod);
  if (refs.configMaps.size === 0 && refs.secrets.size === 0) return NO_SOURCES;
  const ns = pod.metadata.namespace ?? 'default';
  const cms = client.resource<ConfigMap>({ apiVersion: 'v1', kind: 'ConfigMap' });
  const secrets = client.resource<Secret>({ apiVersion: 'v1', kind: 'Secret' });
  const getOrUndefined = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (isReason(err, 'NotFound')) return undefined;
      throw err;
    }
  };
  const out: PodConfigSources = { configMaps: new Map(), secrets: new Map() };
  await Promise.all([
    ...[...refs.configMaps].map(async (n) => out.configMaps.set(n, await getOrUndefined(() => cms.get(ns, n)))),
    ...[...refs.secrets].map(async (n) => out.secrets.set(n, await getOrUndefined(() => secrets.get(ns, n)))),
  ]);
  return out;
}

/** The key → value (decoded bytes) of a ConfigMap (data and binaryData) or a Secret (data). */
export function sourceData(obj: ConfigMap | Secret, kind: 'ConfigMap' | 'Secret'): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (kind === 'ConfigMap') {
    const cm = obj as ConfigMap;
    for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
    for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  } else {
    for (const [k, v] of Object.entries((obj as Secret).data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  }
  return out;
}
