import type { KubeObject } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { applyPatch, LAST_APPLIED, threeWayMergePatch, withLastApplied } from './apply-patch.js';

const dep = (spec: Record<string, unknown>, labels?: Record<string, string>): KubeObject =>
  ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default', ...(labels ? { labels } : {}) }, spec }) as KubeObject;

/** What the server would hold after a create of `applied`, plus what others wrote. */
function live(applied: KubeObject, extra: Record<string, unknown> = {}): KubeObject {
  const stored = withLastApplied(applied) as KubeObject & { spec: Record<string, unknown> };
  return { ...stored, metadata: { ...stored.metadata, uid: 'u1', resourceVersion: '7' }, spec: { ...stored.spec, ...extra }, status: { replicas: 3 } } as KubeObject;
}

describe('client-side apply', () => {
  it('is unchanged when the same configuration is applied again', () => {
    const cfg = dep({ replicas: 3, template: { spec: { containers: [{ name: 'a', image: 'x' }] } } });
    expect(applyPatch(cfg, live(cfg))).toBeUndefined();
  });

  it('sets what changed and refreshes the annotation', () => {
    const old = dep({ replicas: 3, paused: false });
    const next = dep({ replicas: 5, paused: false });
    const patch = applyPatch(next, live(old))!;
    expect((patch.spec as Record<string, unknown>).replicas).toBe(5);
    expect(JSON.parse(((patch.metadata as Record<string, Record<string, string>>).annotations)[LAST_APPLIED]!)).toMatchObject({ spec: { replicas: 5 } });
  });

  it('removes what the previous configuration set and the new one dropped, and leaves fields others own', () => {
    const old = dep({ replicas: 3, paused: true }, { a: '1', b: '2' });
    const next = dep({ replicas: 3 }, { a: '1' });
    const patch = applyPatch(next, live(old, { revisionHistoryLimit: 4 }))!;
    expect(patch.spec).toEqual({ paused: null });
    expect((patch.metadata as Record<string, unknown>).labels).toEqual({ b: null });
    expect(JSON.stringify(patch)).not.toContain('revisionHistoryLimit');
  });

  it('compares lists with the last applied list, so server defaults inside items are no change', () => {
    const cfg = dep({ template: { spec: { containers: [{ name: 'a', image: 'x' }] } } });
    const defaulted = live(cfg) as KubeObject & { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    defaulted.spec.template.spec.containers[0]!.imagePullPolicy = 'IfNotPresent';
    expect(applyPatch(cfg, defaulted)).toBeUndefined();
    const changed = dep({ template: { spec: { containers: [{ name: 'a', image: 'y' }] } } });
    expect(applyPatch(changed, defaulted)!.spec).toEqual({ template: { spec: { containers: [{ name: 'a', image: 'y' }] } } });
  });

  it('replaces lists whole and treats a live object without annotation as owning nothing', () => {
    expect(threeWayMergePatch(undefined, { a: [1, 2] }, { a: [1], b: 1 })).toEqual({ a: [1, 2] });
    expect(threeWayMergePatch({ c: 1 }, { a: 1 }, { a: 1 })).toEqual({});
  });
});
