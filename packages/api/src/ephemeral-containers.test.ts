import { describe, expect, it } from 'vitest';
import type { Pod } from './core-types.js';
import { defaultEphemeralContainers, validateEphemeralContainersUpdate } from './ephemeral-containers.js';
import { validatePod } from './validation.js';

const base = (): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'ns' },
  spec: { restartPolicy: 'Always', containers: [{ name: 'app', image: 'flotilla/busybox:1' }], initContainers: [{ name: 'init', image: 'flotilla/busybox:1' }] },
});
const withEph = (list: unknown[]): Pod => {
  const p = base();
  p.spec!.ephemeralContainers = list as never;
  return p;
};
const ok = { name: 'dbg', image: 'flotilla/busybox:1', targetContainerName: 'app', stdin: true, tty: true };

describe('validateEphemeralContainersUpdate', () => {
  it('accepts an addition, with kubectl debug\'s empty resources', () => {
    expect(validateEphemeralContainersUpdate(withEph([{ ...ok, resources: {} }]), base())).toEqual([]);
  });

  it.each([
    ['a name of a container', { ...ok, name: 'app' }, 'spec.ephemeralContainers[0].name', 'Duplicate value'],
    ['a name of an init container', { ...ok, name: 'init' }, 'spec.ephemeralContainers[0].name', 'Duplicate value'],
    ['ports', { ...ok, ports: [{ containerPort: 80 }] }, 'spec.ephemeralContainers[0].ports', 'cannot be set for an Ephemeral Container'],
    ['a liveness probe', { ...ok, livenessProbe: { exec: { command: ['true'] } } }, 'spec.ephemeralContainers[0].livenessProbe', 'Forbidden'],
    ['a startup probe', { ...ok, startupProbe: { exec: { command: ['true'] } } }, 'spec.ephemeralContainers[0].startupProbe', 'Forbidden'],
    ['resources', { ...ok, resources: { requests: { cpu: '1' } } }, 'spec.ephemeralContainers[0].resources', 'Forbidden'],
    ['lifecycle', { ...ok, lifecycle: { preStop: { exec: { command: ['true'] } } } }, 'spec.ephemeralContainers[0].lifecycle', 'Forbidden'],
    ['a missing target', { ...ok, targetContainerName: 'ghost' }, 'spec.ephemeralContainers[0].targetContainerName', 'Not found: "ghost"'],
    ['no image', { name: 'x' }, 'spec.ephemeralContainers[0].image', 'Required value'],
    ['a bad name', { ...ok, name: 'Not_OK' }, 'spec.ephemeralContainers[0].name', 'Invalid value'],
  ])('refuses %s', (_what, c, field, message) => {
    const errors = validateEphemeralContainersUpdate(withEph([c]), base());
    expect(errors.some((e) => e.field === field && e.message.includes(message)), JSON.stringify(errors)).toBe(true);
  });

  it('only additions: an existing one may not be removed or changed; two new ones may not share a name', () => {
    const old = withEph([ok]);
    expect(validateEphemeralContainersUpdate(withEph([ok, { ...ok, name: 'dbg2' }]), old)).toEqual([]);
    expect(validateEphemeralContainersUpdate(withEph([]), old)[0]?.message).toContain('existing ephemeral containers "dbg" may not be removed');
    expect(validateEphemeralContainersUpdate(withEph([{ ...ok, image: 'other:1' }]), old)[0]?.message).toContain('may not be changed');
    expect(validateEphemeralContainersUpdate(withEph([ok, { ...ok }]), base()).map((e) => e.type)).toContain('FieldValueDuplicate');
  });
});

describe('ephemeral containers and the pod itself', () => {
  it('cannot be set on create; cannot be changed by an update of the pod', () => {
    expect(validatePod(withEph([ok])).map((e) => e.field)).toContain('spec.ephemeralContainers');
    const old = base();
    expect(validatePod(withEph([ok]), old).some((e) => e.field === 'spec' && e.type === 'FieldValueForbidden')).toBe(true);
  });

  it('defaults the pull policy and termination message as for containers', () => {
    const p = withEph([{ name: 'a', image: 'flotilla/busybox:1' }, { name: 'b', image: 'busybox' }]);
    defaultEphemeralContainers(p);
    expect(p.spec!.ephemeralContainers!.map((c) => [c.imagePullPolicy, c.terminationMessagePolicy])).toEqual([['IfNotPresent', 'File'], ['Always', 'File']]);
  });
});
