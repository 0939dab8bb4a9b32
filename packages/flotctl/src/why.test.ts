import type { Event, Pod } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { clusterStatus } from './commands/nodes.js';
import { explainPod, formatDiagnosis } from './why.js';

const base = (over: Partial<Pod> = {}): Pod => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name: 'web-1', namespace: 'default', uid: 'u1', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { nodeName: 'h1', containers: [{ name: 'app', image: 'flotilla/echo:1', readinessProbe: { httpGet: { path: '/healthz', port: 8080 } } }] },
  status: { phase: 'Running', podIP: '10.244.1.5', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'x', imageID: '', state: { running: {} } }] },
  ...over,
}) as Pod;

describe('flotctl why', () => {
  it('explains a pod no node has room for, from the scheduler\'s reasons', () => {
    const pod = base({ spec: { containers: [{ name: 'app', image: 'x' }] }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' }] } });
    const d = explainPod(pod, []);
    expect(d.state).toBe('pending');
    expect(formatDiagnosis(d)).toContain('0/3 nodes are available: 3 Insufficient cpu.');
    expect(formatDiagnosis(d)).toContain('no node has enough unreserved CPU');
  });

  it('explains a crash loop with the exit code and the last output', () => {
    const pod = base({
      status: {
        phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }],
        containerStatuses: [{ name: 'app', ready: false, restartCount: 4, image: 'x', imageID: '', state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 3, reason: 'Error', message: 'starting\nconfig file /etc/app.yaml not found\n' } } }],
      },
    });
    const text = formatDiagnosis(explainPod(pod, []));
    expect(text).toContain('crash-looping');
    expect(text).toContain('exited with code 3');
    expect(text).toContain('| config file /etc/app.yaml not found');
  });

  it('explains an unready pod by its failing probe', () => {
    const pod = base({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }], containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'x', imageID: '', state: { running: {} } }] } });
    const ev: Event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e' }, involvedObject: { uid: 'u1' }, reason: 'Unhealthy', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503', count: 7 };
    const text = formatDiagnosis(explainPod(pod, [ev]));
    expect(text).toContain('readiness probe (HTTP GET :8080/healthz) is failing');
    expect(text).toContain('statuscode: 503 (7 times)');
  });

  it('says a healthy pod is healthy', () => {
    expect(explainPod(base(), []).state).toBe('healthy');
  });

  it('status lists nodes with their pods and the pods that need attention', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const nodes = [{ apiVersion: 'v1', kind: 'Node', metadata: { name: 'h1' }, spec: { podCIDR: '10.244.1.0/24' }, status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }], addresses: [{ type: 'InternalIP', address: '10.250.0.11' }] } }];
    const sick = base({ metadata: { name: 'web-2', namespace: 'default', uid: 'u2' }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-01-01T00:08:00Z' }], containerStatuses: [{ name: 'app', ready: false, restartCount: 0, image: 'x', imageID: '', state: { running: {} } }] } });
    const text = clusterStatus(nodes as never, [base(), sick], [], now);
    expect(text).toMatch(/h1\s+Ready\s+10m\s+10\.250\.0\.11\s+10\.244\.1\.0\/24\s+2\s+1\/2/);
    expect(text).toContain('default/web-2: unready for 2m');
  });
});
