import { describe, expect, it } from 'vitest';
import { isReason, resourceForKind, type KubeObject } from '@flotilla/api';
import { applyConfiguration, conflictError } from './apply.js';
import { decodeManagers, printPath } from './managed-fields.js';

const info = resourceForKind('apps/v1', 'Deployment')!;

const config = (spec: Record<string, unknown>, labels: Record<string, string> = { app: 'web' }): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'd', labels }, spec,
});
const containers = (...cs: Array<Record<string, unknown>>) => ({ template: { spec: { containers: cs } } });

const apply = (live: KubeObject | undefined, cfg: KubeObject, manager: string, force = false) => applyConfiguration({ info, live, config: cfg, manager, force });
const owners = (obj: KubeObject) => Object.fromEntries(decodeManagers(obj).map((m) => [m.manager, [...m.set].map(printPath).sort()]));

describe('applyConfiguration', () => {
  it('creates with the applied field set as the manager\'s', () => {
    const obj = apply(undefined, config({ replicas: 2 }), 'a');
    expect(obj.spec).toEqual({ replicas: 2 });
    expect(obj.metadata.managedFields).toMatchObject([{ manager: 'a', operation: 'Apply', apiVersion: 'apps/v1', fieldsType: 'FieldsV1' }]);
    expect(owners(obj).a).toEqual(['.metadata.labels.app', '.spec.replicas']);
  });

  it('shares a field applied with the same value, and refuses a different one with a conflict naming the owner', () => {
    const a = apply(undefined, config({ replicas: 2 }), 'a');
    const shared = apply(a, config({ replicas: 2 }), 'b');
    expect(owners(shared).b).toContain('.spec.replicas');
    expect(owners(shared).a).toContain('.spec.replicas');
    let err: unknown;
    try {
      apply(a, config({ replicas: 5 }), 'b');
    } catch (e) {
      err = e;
    }
    expect(isReason(err, 'Conflict')).toBe(true);
    const status = (err as { status: { message: string; details: { causes: unknown[] } } }).status;
    expect(status.message).toBe('Apply failed with 1 conflict: conflict with "a": .spec.replicas');
    expect(status.details.causes).toEqual([{ reason: 'FieldManagerConflict', message: 'conflict with "a"', field: '.spec.replicas' }]);
  });

  it('force takes ownership from the other manager', () => {
    const a = apply(undefined, config({ replicas: 2 }), 'a');
    const forced = apply(a, config({ replicas: 5 }), 'b', true);
    expect(forced.spec).toEqual({ replicas: 5 });
    expect(owners(forced).a).toEqual(['.metadata.labels.app']);
    expect(owners(forced).b).toContain('.spec.replicas');
  });

  it('removes what the manager applied before and omits now, unless another manager owns it', () => {
    const a = apply(undefined, config({ replicas: 2, minReadySeconds: 5 }, { app: 'web', tier: 'x' }), 'a');
    const pruned = apply(a, config({ replicas: 2 }), 'a');
    expect(pruned.spec).toEqual({ replicas: 2 });
    expect(pruned.metadata.labels).toEqual({ app: 'web' });
    const co = apply(a, config({ minReadySeconds: 5 }, {}), 'b');
    const kept = apply(co, config({ replicas: 2 }), 'a');
    expect(kept.spec).toEqual({ replicas: 2, minReadySeconds: 5 });
  });

  it('merges list-map items by key and removes only the manager\'s own items', () => {
    const a = apply(undefined, config(containers({ name: 'web', image: 'x' }, { name: 'side', image: 's' })), 'a');
    const b = apply(a, config(containers({ name: 'web', image: 'x' }, { name: 'extra', image: 'e' })), 'b');
    const names = (o: KubeObject) => ((o.spec as any).template.spec.containers as Array<{ name: string }>).map((c) => c.name);
    expect(names(b)).toEqual(['web', 'side', 'extra']);
    const aDrops = apply(b, config(containers({ name: 'web', image: 'x' })), 'a');
    expect(names(aDrops)).toEqual(['web', 'extra']);
    const conflict = (() => {
      try {
        apply(b, config(containers({ name: 'web', image: 'y' })), 'c');
      } catch (e) {
        return (e as { status: { message: string } }).status.message;
      }
      return '';
    })();
    expect(conflict).toBe('Apply failed with 2 conflicts: conflicts with "a":\n- .spec.template.spec.containers[name="web"].image\nconflicts with "b":\n- .spec.template.spec.containers[name="web"].image');
  });

  it('names an updater with its version in a conflict', () => {
    const err = conflictError([{ manager: { manager: 'kubectl-edit', operation: 'Update', apiVersion: 'apps/v1', set: new Set() }, path: 'f:spec\nf:replicas' }]);
    expect(err.status.message).toBe('Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas');
  });
});

describe('kubectl moving from client-side to server-side apply', () => {
  it('lets the kubectl manager take over what its last-applied annotation holds, and keeps that annotation current', () => {
    const lastApplied = JSON.stringify(config({ replicas: 2 }));
    const live: KubeObject = { ...config({ replicas: 2 }), metadata: { name: 'web', namespace: 'd', labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': lastApplied } } };
    live.metadata.managedFields = [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:kubectl.kubernetes.io/last-applied-configuration': {} }, 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:replicas': {} } } }];
    expect(() => apply(live, config({ replicas: 4 }), 'other')).toThrow(/conflict with "kubectl-client-side-apply" using apps\/v1: .spec.replicas/);
    const out = apply(live, config({ replicas: 4 }), 'kubectl');
    expect(out.spec).toEqual({ replicas: 4 });
    expect(JSON.parse(out.metadata.annotations!['kubectl.kubernetes.io/last-applied-configuration']!).spec).toEqual({ replicas: 4 });
  });
});
