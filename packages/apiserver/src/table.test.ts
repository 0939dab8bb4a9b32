import { describe, expect, it } from 'vitest';
import { RESOURCES } from '@flotilla/api';
import type { KubeObject } from '@flotilla/api';
import { age, formatLabelSelector, humanDuration, podSummary, toTable, wantsTable } from './table.js';

const NOW = Date.parse('2025-01-10T12:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
const info = (plural: string) => RESOURCES.find((r) => r.plural === plural)!;

/** Header (upper-cased like kubectl), the normal cells and the wide cells of one object. */
function table(plural: string, obj: Record<string, unknown>) {
  const t = toTable(info(plural), { kind: info(plural).kind, ...obj }, 'Metadata', NOW) as any;
  const defs = t.columnDefinitions as Array<{ name: string; priority: number }>;
  const cells = t.rows[0].cells as unknown[];
  return {
    header: defs.filter((d) => d.priority === 0).map((d) => d.name.toUpperCase()),
    wideHeader: defs.map((d) => d.name.toUpperCase()),
    cells: cells.filter((_, i) => defs[i]!.priority === 0),
    wide: cells,
    row: t.rows[0],
  };
}

const meta = (name: string, extra: Record<string, unknown> = {}) => ({ name, creationTimestamp: ago(300), ...extra });

describe('durations', () => {
  it('prints like apimachinery HumanDuration', () => {
    expect([45, 150, 300, 3600, 4 * 3600 + 1200, 30 * 3600, 3 * 86400 + 7200, 30 * 86400, 800 * 86400].map((s) => humanDuration(s * 1000))).toEqual([
      '45s', '2m30s', '5m', '60m', '4h20m', '30h', '3d2h', '30d', '2y70d',
    ]);
    expect(age(undefined)).toBe('<unknown>');
  });
});

describe('kubectl get columns', () => {
  it('nodes: NAME STATUS ROLES AGE VERSION + INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME', () => {
    const t = table('nodes', {
      metadata: meta('n1', { labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/role': 'worker' } }),
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '10.250.0.11' }],
        nodeInfo: { kubeletVersion: 'v1.32.0-flotilla', osImage: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', containerRuntimeVersion: 'docker://20.10.24' },
      },
    });
    expect(t.header).toEqual(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    expect(t.wideHeader.slice(5)).toEqual(['INTERNAL-IP', 'EXTERNAL-IP', 'OS-IMAGE', 'KERNEL-VERSION', 'CONTAINER-RUNTIME']);
    expect(t.wide).toEqual(['n1', 'Ready,SchedulingDisabled', 'control-plane,worker', '5m', 'v1.32.0-flotilla', '10.250.0.11', '<none>', 'Debian GNU/Linux 12', '6.1.0', 'docker://20.10.24']);
    expect(table('nodes', { metadata: meta('n2'), status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }).wide.slice(1, 3)).toEqual(['NotReady', '<none>']);
    expect(table('nodes', { metadata: meta('n3') }).wide.slice(5)).toEqual(['<none>', '<none>', '<unknown>', '<unknown>', '<unknown>']);
  });

  it('pods: NAME READY STATUS RESTARTS AGE + IP NODE NOMINATED NODE READINESS GATES', () => {
    const t = table('pods', {
      metadata: meta('web'),
      spec: { nodeName: 'n1', containers: [{ name: 'a' }, { name: 'b' }], readinessGates: [{ conditionType: 'x/ready' }] },
      status: {
        phase: 'Running',
        podIP: '10.244.1.5',
        conditions: [{ type: 'Ready', status: 'True' }, { type: 'x/ready', status: 'True' }],
        containerStatuses: [
          { name: 'a', ready: true, restartCount: 0, state: { running: {} } },
          { name: 'b', ready: true, restartCount: 2, state: { running: {} }, lastState: { terminated: { finishedAt: ago(90) } } },
        ],
      },
    });
    expect(t.header).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(t.wideHeader.slice(5)).toEqual(['IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    expect(t.wide).toEqual(['web', '2/2', 'Running', '2 (90s ago)', '5m', '10.244.1.5', 'n1', '<none>', '1/1']);
    expect(table('pods', { metadata: meta('p'), spec: { containers: [{ name: 'a' }] }, status: { phase: 'Pending' } }).wide).toEqual(['p', '0/1', 'Pending', '0', '5m', '<none>', '<none>', '<none>', '<none>']);
  });

  it('pods: STATUS as kubectl computes it', () => {
    const pod = (status: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      podSummary({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', ...extra }, spec: { containers: [{ name: 'c' }] }, status } as KubeObject, NOW).status;
    const cs = (state: Record<string, unknown>) => ({ phase: 'Running', containerStatuses: [{ name: 'c', ready: false, restartCount: 3, state }] });
    expect(pod(cs({ waiting: { reason: 'CrashLoopBackOff' } }))).toBe('CrashLoopBackOff');
    expect(pod({ phase: 'Pending', containerStatuses: [{ name: 'c', state: { waiting: { reason: 'ErrImagePull' } } }] })).toBe('ErrImagePull');
    expect(pod({ phase: 'Succeeded', containerStatuses: [{ name: 'c', state: { terminated: { reason: 'Completed', exitCode: 0 } } }] })).toBe('Completed');
    expect(pod({ phase: 'Failed', containerStatuses: [{ name: 'c', state: { terminated: { reason: 'Error', exitCode: 1 } } }] })).toBe('Error');
    expect(pod(cs({ terminated: { exitCode: 137 } }))).toBe('ExitCode:137');
    expect(pod(cs({ terminated: { exitCode: 0, signal: 9 } }))).toBe('Signal:9');
    expect(pod({ phase: 'Running' }, { deletionTimestamp: ago(1) })).toBe('Terminating');
    expect(pod({ phase: 'Succeeded' }, { deletionTimestamp: ago(1) })).toBe('Succeeded');
    expect(pod({ phase: 'Failed', reason: 'Evicted' })).toBe('Evicted');
    expect(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] })).toBe('SchedulingGated');
    const init = (initContainerStatuses: unknown[]) =>
      podSummary({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { initContainers: [{ name: 'i1' }, { name: 'i2' }], containers: [{ name: 'c' }] }, status: { phase: 'Pending', initContainerStatuses } } as KubeObject, NOW).status;
    expect(init([{ name: 'i1', state: { terminated: { exitCode: 0 } } }, { name: 'i2', state: { running: {} } }])).toBe('Init:1/2');
    expect(init([{ name: 'i1', state: { waiting: { reason: 'CrashLoopBackOff' } } }])).toBe('Init:CrashLoopBackOff');
    expect(init([{ name: 'i1', state: { terminated: { exitCode: 2 } } }])).toBe('Init:ExitCode:2');
    const finished = table('pods', { metadata: meta('done'), spec: { containers: [{ name: 'c' }] }, status: { phase: 'Succeeded' } });
    expect(finished.row.conditions).toEqual([{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
  });

  it('deployments and replicasets, with CONTAINERS IMAGES SELECTOR', () => {
    const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'a', image: 'img:1' }, { name: 'b', image: 'img:2' }] } };
    const selector = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }, { key: 'legacy', operator: 'DoesNotExist' }] };
    const d = table('deployments', { metadata: meta('web'), spec: { replicas: 3, selector, template }, status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 } });
    expect(d.header).toEqual(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
    expect(d.wideHeader.slice(5)).toEqual(['CONTAINERS', 'IMAGES', 'SELECTOR']);
    expect(d.wide).toEqual(['web', '2/3', 3, 2, '5m', 'a,b', 'img:1,img:2', 'app=web,!legacy,tier in (back,front)']);
    const r = table('replicasets', { metadata: meta('web-abc'), spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template }, status: { replicas: 3, readyReplicas: 1 } });
    expect(r.header).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
    expect(r.wide).toEqual(['web-abc', 3, 3, 1, '5m', 'a,b', 'img:1,img:2', 'app=web']);
    expect(formatLabelSelector({})).toBe('');
  });

  it('services: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE + SELECTOR', () => {
    const s = table('services', { metadata: meta('web'), spec: { type: 'NodePort', clusterIP: '10.96.1.2', clusterIPs: ['10.96.1.2'], selector: { tier: 'f', app: 'web' }, ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] } });
    expect(s.header).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
    expect(s.wide).toEqual(['web', 'NodePort', '10.96.1.2', '<none>', '80:30080/TCP,53/UDP', '5m', 'app=web,tier=f']);
    const h = table('services', { metadata: meta('h'), spec: { type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'], externalIPs: ['1.2.3.4'] } });
    expect(h.wide).toEqual(['h', 'ClusterIP', 'None', '1.2.3.4', '<none>', '5m', '<none>']);
  });

  it('endpoints: NAME ENDPOINTS AGE, three shown then "+ N more..."', () => {
    const e = table('endpoints', { metadata: meta('web'), subsets: [{ addresses: [{ ip: '10.244.1.2' }, { ip: '10.244.1.3' }], ports: [{ port: 8080 }, { port: 9090 }] }] });
    expect(e.header).toEqual(['NAME', 'ENDPOINTS', 'AGE']);
    expect(e.cells).toEqual(['web', '10.244.1.2:8080,10.244.1.3:8080,10.244.1.2:9090 + 1 more...', '5m']);
    expect(table('endpoints', { metadata: meta('none') }).cells[1]).toBe('<none>');
  });

  it('ingresses: NAME CLASS HOSTS ADDRESS PORTS AGE', () => {
    const i = table('ingresses', { metadata: meta('ing'), spec: { ingressClassName: 'flotilla', rules: [{ host: 'a.example' }, { host: 'b.example' }], tls: [{ hosts: ['a.example'] }] }, status: { loadBalancer: { ingress: [{ ip: '10.250.0.1' }] } } });
    expect(i.header).toEqual(['NAME', 'CLASS', 'HOSTS', 'ADDRESS', 'PORTS', 'AGE']);
    expect(i.cells).toEqual(['ing', 'flotilla', 'a.example,b.example', '10.250.0.1', '80, 443', '5m']);
    expect(table('ingresses', { metadata: meta('x'), spec: { rules: [{}] } }).cells).toEqual(['x', '<none>', '*', '', '80', '5m']);
  });

  it('ingressclasses: NAME CONTROLLER PARAMETERS AGE', () => {
    const c = table('ingressclasses', { metadata: meta('flotilla'), spec: { controller: 'flotilla.dev/ingress', parameters: { apiGroup: 'k8s.example.com', kind: 'IngressParameters', name: 'external-lb' } } });
    expect(c.header).toEqual(['NAME', 'CONTROLLER', 'PARAMETERS', 'AGE']);
    expect(c.cells).toEqual(['flotilla', 'flotilla.dev/ingress', 'IngressParameters.k8s.example.com/external-lb', '5m']);
    expect(table('ingressclasses', { metadata: meta('x'), spec: { controller: 'a.io/b' } }).cells).toEqual(['x', 'a.io/b', '<none>', '5m']);
  });

  it('events: LAST SEEN TYPE REASON OBJECT MESSAGE', () => {
    const e = table('events', {
      metadata: meta('web.1'),
      involvedObject: { kind: 'Pod', name: 'web', fieldPath: 'spec.containers{c}' },
      type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container\n',
      source: { component: 'kubelet', host: 'n1' }, firstTimestamp: ago(600), lastTimestamp: ago(30), count: 4,
    });
    expect(e.header).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE']);
    expect(e.cells).toEqual(['30s', 'Warning', 'BackOff', 'pod/web', 'Back-off restarting failed container']);
    expect(e.wideHeader).toEqual(['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'SUBOBJECT', 'SOURCE', 'MESSAGE', 'FIRST SEEN', 'COUNT', 'NAME']);
    expect(e.wide.slice(4)).toEqual(['spec.containers{c}', 'kubelet, n1', 'Back-off restarting failed container', '10m', 4, 'web.1']);
  });

  it('leases and namespaces', () => {
    const l = table('leases', { metadata: meta('n1'), spec: { holderIdentity: 'n1' } });
    expect([l.header, l.cells]).toEqual([['NAME', 'HOLDER', 'AGE'], ['n1', 'n1', '5m']]);
    const n = table('namespaces', { metadata: meta('default'), status: { phase: 'Active' } });
    expect([n.header, n.cells]).toEqual([['NAME', 'STATUS', 'AGE'], ['default', 'Active', '5m']]);
  });

  it('only answers Table for the meta.k8s.io Accept kubectl sends', () => {
    expect(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toBe(true);
    expect(wantsTable('application/json')).toBe(false);
  });
});

describe('workload tables', () => {
  it('DaemonSet: DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE', () => {
    const t = table('daemonsets', {
      metadata: meta('agent'),
      spec: { selector: { matchLabels: { app: 'a' } }, template: { spec: { nodeSelector: { disk: 'ssd' }, containers: [{ name: 'c', image: 'busybox' }] } } },
      status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, updatedNumberScheduled: 1, numberAvailable: 2, numberMisscheduled: 0 },
    });
    expect(t.header).toEqual(['NAME', 'DESIRED', 'CURRENT', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'NODE SELECTOR', 'AGE']);
    expect(t.cells).toEqual(['agent', 3, 3, 2, 1, 2, 'disk=ssd', '5m']);
    expect(t.wide.slice(-3)).toEqual(['c', 'busybox', 'app=a']);
  });

  it('Job: STATUS COMPLETIONS DURATION AGE, work queues as `n/1 of p`', () => {
    const done = table('jobs', {
      metadata: meta('pi'),
      spec: { completions: 3, parallelism: 2, template: { spec: { containers: [] } } },
      status: { succeeded: 3, startTime: ago(200), completionTime: ago(150), conditions: [{ type: 'Complete', status: 'True' }] },
    });
    expect(done.header).toEqual(['NAME', 'STATUS', 'COMPLETIONS', 'DURATION', 'AGE']);
    expect(done.cells).toEqual(['pi', 'Complete', '3/3', '50s', '5m']);
    const queue = table('jobs', { metadata: meta('q'), spec: { parallelism: 4, template: { spec: { containers: [] } } }, status: { succeeded: 1, startTime: ago(30) } });
    expect(queue.cells).toEqual(['q', 'Running', '1/1 of 4', '30s', '5m']);
  });

  it('CronJob: SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE', () => {
    const t = table('cronjobs', {
      metadata: meta('tick'),
      spec: { schedule: '*/1 * * * *', suspend: false, jobTemplate: { spec: { template: { spec: { containers: [] } } } } },
      status: { active: [{ name: 'tick-1' }], lastScheduleTime: ago(40) },
    });
    expect(t.header).toEqual(['NAME', 'SCHEDULE', 'TIMEZONE', 'SUSPEND', 'ACTIVE', 'LAST SCHEDULE', 'AGE']);
    expect(t.cells).toEqual(['tick', '*/1 * * * *', '<none>', 'False', 1, '40s', '5m']);
  });
});
