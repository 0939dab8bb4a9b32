/**
 * Which pods the periodic relist hands to the pod workers. The relist is the
 * backstop of the runtime's event stream; syncing every pod of the node on
 * every relist made the steady cost of a node grow with its pods (on a real
 * host with 40 pods, the Docker engine at rest spent 17-18 ms/s answering
 * those syncs, 7-8 ms/s with this selection). As the kubelet's PLEG does, a relist compares each
 * pod's containers with what the previous relist saw and syncs the pods that
 * changed; the others are synced once per `resyncIntervalMs` (the kubelet's
 * --sync-frequency, 1 min), spread over the relists so that they do not all
 * come due together. A clean sync tells what containers it ended with and
 * the pod version its own status write made, and the next relist compares
 * with those: a pod is not synced again at its next relist only because its
 * status write gave it a version no sync had seen (every pod, once, after it
 * started: at 1,000 hollow nodes a wave of 10,000 syncs that changed nothing
 * in the 30 s after a burst of pods), or because no relist had listed it.
 */
import type { Pod } from '@flotilla/api';
import { referencedSources } from './config-sources.js';
import type { ContainerInfo, RuntimeEvent } from './runtime/types.js';

/** The relist's memory of each pod: its containers at the last relist, and the pod version its last clean sync saw. */
export class RelistSelection {
  /** Per pod uid: its containers (id, state, exit code) as the previous relist listed them. */
  private readonly seen = new Map<string, string>();
  /** Per pod uid: the resourceVersion its last sync ended cleanly with (no error, no requeue pending). */
  private readonly settled = new Map<string, string>();
  /** Relists per full resync of a pod. */
  private readonly every: number;
  private tick = 0;

  constructor(relistIntervalMs: number, resyncIntervalMs: number) {
    this.every = Math.max(1, Math.round(resyncIntervalMs / Math.max(1, relistIntervalMs)));
  }

  /**
   * Records a sync's outcome: clean (no error, no requeue) for the pod
   * version it synced, or not. For a clean one, `containers` are the pod's
   * containers as the sync last listed them (given only when it left the
   * pod fully up: pod-sync.ts), and `writtenVersion` the version its status
   * write produced (the sync's own result, so settled too); the next relist
   * compares with both.
   */
  synced(pod: Pod, clean: boolean, containers?: readonly ContainerInfo[], writtenVersion?: string): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    const version = writtenVersion ?? pod.metadata.resourceVersion;
    if (!clean || !version) this.settled.delete(uid);
    // Not lowered by a sync of an older copy: the informer shows the version a status write made after the next sync.
    else if (!(Number(this.settled.get(uid)) > Number(version))) this.settled.set(uid, version);
    if (clean && containers) this.seen.set(uid, signatures(containers).get(uid) ?? '');
  }

  /**
   * Whether the pod's containers as last recorded (by a clean sync or a
   * relist) already show what `ev` reports: the container running after a
   * start, exited with its code after a death, OOM-killed, gone after a
   * destroy. Such an event asks for no sync: the one that saw it is done, or
   * the relist that saw it has queued one.
   */
  reflects(ev: RuntimeEvent): boolean {
    const sig = this.seen.get(ev.podUid);
    if (sig === undefined) return false;
    const mine = sig.split(',').find((line) => line.startsWith(`${ev.id}:`));
    if (ev.type === 'destroy') return mine === undefined;
    if (mine === undefined) return false;
    const { state, exitCode, oom } = lineFields(mine);
    if (ev.type === 'start') return state === 'running';
    if (ev.type === 'oom') return oom;
    return state === 'exited' && exitCode === String(ev.exitCode ?? '');
  }

  /**
   * The pods of this relist: those whose containers changed since the last
   * relist (or that it had not seen), whose current version no clean sync
   * has seen, that read ConfigMaps or Secrets (their files follow the
   * objects at every relist), and those whose full resync is due.
   */
  select(pods: readonly Pod[], containers: readonly ContainerInfo[]): Pod[] {
    this.tick++;
    const now = signatures(containers);
    const out: Pod[] = [];
    const present = new Set<string>();
    for (const pod of pods) {
      const uid = pod.metadata.uid ?? '';
      present.add(uid);
      const sig = now.get(uid) ?? '';
      const before = this.seen.get(uid);
      this.seen.set(uid, sig);
      if (
        before !== sig ||
        this.settled.get(uid) !== pod.metadata.resourceVersion ||
        readsConfig(pod) ||
        (spread(uid) + this.tick) % this.every === 0
      ) {
        out.push(pod);
      }
    }
    for (const uid of this.seen.keys()) if (!present.has(uid)) this.seen.delete(uid);
    for (const uid of this.settled.keys()) if (!present.has(uid)) this.settled.delete(uid);
    return out;
  }
}

/** One container as a signature holds it: `id:state:exitCode:oom` (lineFields reads it back). */
function lineOf(c: ContainerInfo): string {
  return `${c.id}:${c.state}:${c.exitCode ?? ''}:${c.oomKilled ? 1 : 0}`;
}

/** The fields of a lineOf line. */
function lineFields(line: string): { state: string; exitCode: string; oom: boolean } {
  const [, state = '', exitCode = '', oom] = line.split(':');
  return { state, exitCode, oom: oom === '1' };
}

/** Per pod uid, its containers as one comparable string. */
function signatures(containers: readonly ContainerInfo[]): Map<string, string> {
  const parts = new Map<string, string[]>();
  for (const c of containers) {
    const line = lineOf(c);
    const list = parts.get(c.podUid);
    if (list) list.push(line);
    else parts.set(c.podUid, [line]);
  }
  const out = new Map<string, string>();
  for (const [uid, lines] of parts) out.set(uid, lines.sort().join(','));
  return out;
}

/** Whether a pod's files or environment come from objects that may change without the pod changing. */
function readsConfig(pod: Pod): boolean {
  const refs = referencedSources(pod);
  return refs.configMaps.size > 0 || refs.secrets.size > 0 || (pod.spec?.volumes ?? []).some((v) => v.projected !== undefined);
}

/** A stable spread of pods over the relists of a resync period. */
function spread(uid: string): number {
  let h = 2166136261;
  for (let i = 0; i < uid.length; i++) h = Math.imul(h ^ uid.charCodeAt(i), 16777619);
  return h >>> 0;
}
