import { describe, expect, it } from 'vitest';
import type { Pod } from './core-types.js';
import { validatePod } from './validation.js';

const base = (): Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'default' },
  spec: { restartPolicy: 'Always', containers: [{ name: 'app', image: 'busybox' }] },
});

describe('securityContext, lifecycle and init container validation', () => {
  it('accepts a full, valid set', () => {
    const p = base();
    p.spec!.securityContext = { runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true, fsGroup: 2000, supplementalGroups: [3000], sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }], seccompProfile: { type: 'RuntimeDefault' } };
    p.spec!.shareProcessNamespace = true;
    p.spec!.initContainers = [{ name: 'init', image: 'busybox' }, { name: 'side', image: 'busybox', restartPolicy: 'Always', lifecycle: { preStop: { sleep: { seconds: 1 } } }, readinessProbe: { exec: { command: ['true'] } } }];
    p.spec!.containers[0]!.securityContext = { runAsUser: 1234, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] } };
    p.spec!.containers[0]!.lifecycle = { postStart: { exec: { command: ['true'] } }, preStop: { httpGet: { path: '/quit', port: 8080 } } };
    expect(validatePod(p)).toEqual([]);
  });

  it.each<[string, (p: Pod) => void, string]>([
    ['negative runAsUser', (p) => (p.spec!.containers[0]!.securityContext = { runAsUser: -1 }), 'spec.containers[0].securityContext.runAsUser'],
    ['pod runAsGroup too big', (p) => (p.spec!.securityContext = { runAsGroup: 2 ** 31 }), 'spec.securityContext.runAsGroup'],
    ['bad supplemental group', (p) => (p.spec!.securityContext = { supplementalGroups: [1, -2] }), 'spec.securityContext.supplementalGroups[1]'],
    ['bad sysctl name', (p) => (p.spec!.securityContext = { sysctls: [{ name: 'Net..x', value: '1' }] }), 'spec.securityContext.sysctls[0].name'],
    ['duplicate sysctl', (p) => (p.spec!.securityContext = { sysctls: [{ name: 'net.a', value: '1' }, { name: 'net.a', value: '2' }] }), 'spec.securityContext.sysctls[1].name'],
    ['net sysctl with hostNetwork', (p) => { p.spec!.hostNetwork = true; p.spec!.securityContext = { sysctls: [{ name: 'net.ipv4.tcp_syncookies', value: '1' }] }; }, 'spec.securityContext.sysctls[0].name'],
    ['privileged without escalation', (p) => (p.spec!.containers[0]!.securityContext = { privileged: true, allowPrivilegeEscalation: false }), 'spec.containers[0].securityContext'],
    ['SYS_ADMIN without escalation', (p) => (p.spec!.containers[0]!.securityContext = { allowPrivilegeEscalation: false, capabilities: { add: ['SYS_ADMIN'] } }), 'spec.containers[0].securityContext'],
    ['Localhost seccomp', (p) => (p.spec!.containers[0]!.securityContext = { seccompProfile: { type: 'Localhost', localhostProfile: 'x.json' } }), 'spec.containers[0].securityContext.seccompProfile.type'],
    ['Unmasked procMount', (p) => (p.spec!.containers[0]!.securityContext = { procMount: 'Unmasked' }), 'spec.containers[0].securityContext.procMount'],
    ['hostPID with shareProcessNamespace', (p) => { p.spec!.hostPID = true; p.spec!.shareProcessNamespace = true; }, 'spec.shareProcessNamespace'],
    ['restartPolicy on an app container', (p) => (p.spec!.containers[0]!.restartPolicy = 'Always'), 'spec.containers[0].restartPolicy'],
    ['init restartPolicy other than Always', (p) => (p.spec!.initContainers = [{ name: 'i', image: 'x', restartPolicy: 'Never' as never }]), 'spec.initContainers[0].restartPolicy'],
    ['lifecycle on a plain init container', (p) => (p.spec!.initContainers = [{ name: 'i', image: 'x', lifecycle: { postStart: { exec: { command: ['true'] } } } }]), 'spec.initContainers[0].lifecycle'],
    ['probe on a plain init container', (p) => (p.spec!.initContainers = [{ name: 'i', image: 'x', startupProbe: { exec: { command: ['true'] } } }]), 'spec.initContainers[0].startupProbe'],
    ['hook without handler', (p) => (p.spec!.containers[0]!.lifecycle = { preStop: {} }), 'spec.containers[0].lifecycle.preStop'],
    ['hook with two handlers', (p) => (p.spec!.containers[0]!.lifecycle = { preStop: { exec: { command: ['x'] }, sleep: { seconds: 1 } } }), 'spec.containers[0].lifecycle.preStop.sleep'],
    ['tcpSocket hook', (p) => (p.spec!.containers[0]!.lifecycle = { postStart: { tcpSocket: { port: 80 } } }), 'spec.containers[0].lifecycle.postStart.tcpSocket'],
    ['sleep longer than the grace period', (p) => (p.spec!.containers[0]!.lifecycle = { preStop: { sleep: { seconds: 31 } } }), 'spec.containers[0].lifecycle.preStop.sleep.seconds'],
    ['exec hook without command', (p) => (p.spec!.containers[0]!.lifecycle = { postStart: { exec: {} } }), 'spec.containers[0].lifecycle.postStart.exec.command'],
    ['hostUsers false', (p) => ((p.spec as unknown as Record<string, unknown>).hostUsers = false), 'spec.hostUsers'],
    ['runtimeClassName', (p) => ((p.spec as unknown as Record<string, unknown>).runtimeClassName = 'gvisor'), 'spec.runtimeClassName'],
    ['volumeDevices', (p) => ((p.spec!.containers[0] as unknown as Record<string, unknown>).volumeDevices = [{ name: 'v', devicePath: '/dev/xvda' }]), 'spec.containers[0].volumeDevices'],
  ])('%s is refused at its field path', (_name, mutate, field) => {
    const p = base();
    mutate(p);
    expect(validatePod(p).map((e) => e.field)).toContain(field);
  });
});
