/**
 * A routing snapshot as the controller process sends it to worker
 * processes (JSON over the cluster IPC channel): the Ingresses of ours,
 * each backend's resolved state, the TLS hosts and the TLS sections with
 * the Secrets they name. Workers rebuild the RouteTable from the
 * Ingresses (the table is a pure function of them) and swap it in, as the
 * single-process ingress does; only the controller process runs informers,
 * resolves backends and records Events.
 */
import type { Ingress } from '@flotilla/api';
import type { BackendState } from './backends.js';
import type { LiveBackend, Snapshot } from './proxy-server.js';
import { RouteTable } from './route-table.js';
import type { TlsSecret, TlsSection, TlsStore } from './tls-store.js';

/** A snapshot on the wire; `version` increases with every build. */
export interface WireSnapshot {
  version: number;
  /** The EndpointSlice resourceVersion the snapshot reflects (reading slices only). */
  sliceRevision?: string;
  ingresses: Ingress[];
  backends: Array<[string, BackendState]>;
  tlsHosts: string[];
  /** Sections without their Ingress object (workers record no Events). */
  tls: Array<Omit<TlsSection, 'ingress'>>;
  /** The Secrets the sections name, by `namespace/name`. */
  secrets: Array<[string, TlsSecret]>;
}

/** Rebuilds a Snapshot; round-robin cursors carry over from `prev` so a rebuild does not send a burst to the first endpoint. */
export function snapshotFromWire(w: WireSnapshot, prev: Snapshot | undefined): Snapshot {
  const table = new RouteTable(w.ingresses);
  const backends = new Map<string, LiveBackend>();
  for (const [key, state] of w.backends) backends.set(key, { state, next: prev?.backends.get(key)?.next ?? Math.floor(Math.random() * 1024) });
  return { table, backends, tlsHosts: new Set(w.tlsHosts) };
}

/** Replaces the TLS store's certificates from a wire snapshot. */
export function applyWireTls(w: WireSnapshot, tls: TlsStore): void {
  const secrets = new Map(w.secrets);
  tls.replace(
    w.tls.map((s) => ({ ...s, ingress: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: {} } })),
    (ns, name) => secrets.get(`${ns}/${name}`),
  );
}
