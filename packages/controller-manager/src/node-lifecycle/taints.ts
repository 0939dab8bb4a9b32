/**
 * Pure taint and toleration rules of the node lifecycle controller, as in
 * Kubernetes' NoExecute taint manager.
 */
import type { Node, Taint, Toleration } from '@flotilla/api';

/** Taint key of a node whose agent stopped heartbeating (Ready=Unknown). */
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
/** Taint key of a node whose agent reports Ready=False. */
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';

/** True when `toleration` tolerates `taint` (Kubernetes' ToleratesTaint). */
export function toleratesTaint(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  if (toleration.key && toleration.key !== taint.key) return false;
  const op = toleration.operator ?? 'Equal';
  if (op === 'Exists') return true;
  // Equal with an empty key is not allowed by validation; it matches nothing here.
  if (!toleration.key) return false;
  return (toleration.value ?? '') === (taint.value ?? '');
}

/** The NoExecute taints of a node. */
export function noExecuteTaints(node: Node | undefined): Taint[] {
  return (node?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
}

/** True when the node carries a taint with this key and effect. */
export function hasTaint(node: Node | undefined, key: string, effect: Taint['effect']): boolean {
  return (node?.spec?.taints ?? []).some((t) => t.key === key && t.effect === effect);
}

/**
 * How long a pod may stay on a node with these NoExecute taints, in ms:
 * 0 = evict now (a taint it does not tolerate), undefined = forever (every
 * taint tolerated without tolerationSeconds). A pod without any toleration
 * for `unreachable` / `not-ready` gets `defaultSeconds` for them, which is
 * what Kubernetes' DefaultTolerationSeconds admission adds to every pod.
 */
export function evictionDelayMs(tolerations: readonly Toleration[] | undefined, taints: readonly Taint[], defaultSeconds: Record<string, number>): number | undefined {
  let min: number | undefined;
  const consider = (seconds: number | undefined) => {
    if (seconds === undefined) return;
    const ms = Math.max(0, seconds) * 1000;
    min = min === undefined ? ms : Math.min(min, ms);
  };
  for (const taint of taints) {
    const matching = (tolerations ?? []).filter((t) => toleratesTaint(t, taint));
    if (matching.length === 0) {
      const dflt = defaultSeconds[taint.key];
      if (dflt === undefined) return 0;
      consider(dflt);
      continue;
    }
    // Several tolerations of one taint: the most patient one holds (none with a limit = forever).
    if (matching.some((t) => t.tolerationSeconds === undefined || t.tolerationSeconds === null)) continue;
    consider(Math.max(...matching.map((t) => t.tolerationSeconds!)));
  }
  return min;
}

/** `taints` with those of `key` removed and `wanted` (same key) added, keeping existing timeAdded. */
export function withTaints(current: readonly Taint[] | undefined, remove: readonly string[], wanted: readonly Taint[]): Taint[] {
  const list = (current ?? []).filter((t) => !remove.includes(t.key) || wanted.some((w) => w.key === t.key && w.effect === t.effect));
  for (const w of wanted) if (!list.some((t) => t.key === w.key && t.effect === w.effect)) list.push(w);
  return list;
}
