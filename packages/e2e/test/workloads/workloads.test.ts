/**
 * The workload kinds end to end on three hosts of scripts/hosts.sh (real
 * etcd, real Docker, every component a process): a typical application's
 * multi-document manifest — Deployment, Service, ConfigMap, Secret,
 * DaemonSet, Job, CronJob — applies unchanged with the real `kubectl`,
 * and each object behaves: one daemon pod per host (and one on a host
 * added later, gone with its Node), `kubectl rollout status ds`, a Job
 * completing 3 completions 2 at a time, a failing Job stopping at its
 * backoffLimit with BackoffLimitExceeded, a `*​/1 * * * *` CronJob with
 * `concurrencyPolicy: Forbid` starting one Job and no second while it runs,
 * `kubectl create job --from=cronjob/…`, the kubectl tables, and bad input
 * refused with a 422 naming the field while nothing else changes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CronJob, DaemonSet, Event, Job, Pod } from '@flotilla/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type TestCluster } from '../../src/cluster.js';
import { createHosts, removePodContainers, type Host, type HostCluster } from '../../src/hosts.js';
import { runKubectl } from '../../src/kubectl.js';
import { waitFor } from '../../src/wait-for.js';
import { createNamespace } from '../control-loops/helpers.js';

let hosts: HostCluster | undefined;
let cluster: TestCluster | undefined;
let ns = '';
let dir = '';

const agentSpec = (h: Host, i: number) => ({ name: `node-${i + 1}`, docker: { host: h.dockerHost, nodeIP: h.ip, netns: h.netns } });
const kubectl = (args: string[], input?: string) => runKubectl(cluster!.api.kubeconfigPath, ['-n', ns, ...args], { cacheDir: join(dir, 'cache'), ...(input ? { input } : {}) });

/** A shell loop that exits at once on SIGTERM (busybox sh as PID 1 would ignore it otherwise). */
const SLEEPER = "trap 'exit 0' TERM; while true; do sleep 1; done";

function manifest(): string {
  return `
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  GREETING: hello
  app.properties: |
    mode=test
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
type: Opaque
stringData:
  PASSWORD: s3cret
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: flotilla/echo:1
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef: {name: app-config}
        env:
        - name: PASSWORD
          valueFrom:
            secretKeyRef: {name: app-secret, key: PASSWORD}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
spec:
  selector:
    matchLabels: {app: node-agent}
  template:
    metadata:
      labels: {app: node-agent}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: agent
        image: flotilla/busybox:1
        command: ["sh", "-c", "${SLEEPER}"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: batch
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: flotilla/busybox:1
        command: ["sh", "-c", "sleep 2; echo done"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: doomed
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: work
        image: flotilla/busybox:1
        command: ["sh", "-c", "exit 3"]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "*/1 * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          terminationGracePeriodSeconds: 1
          containers:
          - name: tick
            image: flotilla/busybox:1
            command: ["sh", "-c", "${SLEEPER}"]
`;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-workloads-'));
  hosts = await createHosts(3, { prefix: 'wl' });
  cluster = await startCluster({
    apiserver: { bindAddress: hosts.gateway },
    clusterCIDR: hosts.podCIDR,
    nodes: hosts.hosts.map(agentSpec),
    agentArgs: ['--backoff-initial', '1s', '--backoff-max', '5s'],
  });
  ns = await createNamespace(cluster.client, 'workloads');
}, 240_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && cluster) console.error(`--- cluster logs after "${task.name}" failed\n${cluster.dumpLogs()}`);
});

afterAll(async () => {
  await cluster?.stop();
  await removePodContainers(hosts);
  await hosts?.delete();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

const api = <T extends { metadata: { name?: string } }>(kind: string) => cluster!.client.resource<T & import('@flotilla/api').KubeObject>(kind);
const podsOf = async (selector: string) => (await api<Pod>('pods').list(ns, { labelSelector: selector })).items.filter((p) => !p.metadata.deletionTimestamp);
const nodeOf = (p: Pod) => p.spec?.nodeName;

describe('workloads from one manifest', () => {
  let appliedAt = 0;

  it('applies a typical application manifest with the real kubectl, with no errors', async () => {
    const r = await kubectl(['apply', '-f', '-'], manifest());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    appliedAt = Date.now();
    for (const line of ['configmap/app-config created', 'secret/app-secret created', 'deployment.apps/web created', 'service/web created', 'daemonset.apps/node-agent created', 'job.batch/batch created', 'job.batch/doomed created', 'cronjob.batch/tick created']) {
      expect(r.stdout).toContain(line);
    }
    // Applying again changes nothing and is still clean (server-side defaults do not fight the manifest).
    const again = await kubectl(['apply', '-f', '-'], manifest());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('cronjob.batch/tick unchanged');
    expect(again.stdout).toContain('daemonset.apps/node-agent unchanged');
  });

  it('runs exactly one daemon pod per host; kubectl rollout status ds succeeds', async () => {
    const pods = await waitFor(async () => {
      const ps = (await podsOf('app=node-agent')).filter((p) => p.status?.phase === 'Running');
      return ps.length === 3 ? ps : undefined;
    }, { timeout: 90_000, message: 'three Running daemon pods' });
    expect(pods.map(nodeOf).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    const rollout = await kubectl(['rollout', 'status', 'ds/node-agent', '--timeout=60s']);
    expect(rollout.code, rollout.stderr).toBe(0);
    expect(rollout.stdout).toContain('daemon set "node-agent" successfully rolled out');
    const ds = await api<DaemonSet>('daemonsets').get(ns, 'node-agent');
    expect(ds.status).toMatchObject({ desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, updatedNumberScheduled: 3, numberAvailable: 3, numberMisscheduled: 0 });
  });

  it('completes the Job: 3 completions, never more than 2 pods at once', async () => {
    const job = await waitFor(async () => {
      const j = await api<Job>('jobs').get(ns, 'batch');
      return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') ? j : undefined;
    }, { timeout: 120_000, message: 'the batch Job Complete' });
    expect(job.status).toMatchObject({ succeeded: 3, active: 0, failed: 0 });
    expect(job.status?.completionTime).toBeDefined();
    const pods = await podsOf('batch.kubernetes.io/job-name=batch');
    expect(pods.filter((p) => p.status?.phase === 'Succeeded')).toHaveLength(3);
    // Finalizer-based tracking: every counted pod has its finalizer removed.
    expect(pods.every((p) => !(p.metadata.finalizers ?? []).includes('batch.kubernetes.io/job-tracking'))).toBe(true);
    // Parallelism 2: at no time did three pods run together (their containers' run intervals never overlap three deep).
    // The engine's start and finish times: a pod's startTime has whole seconds, and a pod started in the second its
    // predecessor finished looked as if it had started before that finish.
    const spans = pods.map((p) => {
      const t = p.status?.containerStatuses?.[0]?.state?.terminated;
      return [Date.parse(t?.startedAt ?? ''), Date.parse(t?.finishedAt ?? '')] as const;
    });
    for (const [a, b] of spans) expect(Number.isFinite(a) && Number.isFinite(b) && a <= b, `run interval ${a}..${b}`).toBe(true);
    for (const [s] of spans) expect(spans.filter(([a, b]) => a <= s && s < b).length).toBeLessThanOrEqual(2);
    const creates = (await api<Event>('events').list(ns)).items.filter((e) => e.involvedObject?.name === 'batch' && e.reason === 'SuccessfulCreate');
    expect(creates.length).toBeGreaterThanOrEqual(1);
  });

  it('stops the failing Job at its backoffLimit with BackoffLimitExceeded', async () => {
    const job = await waitFor(async () => {
      const j = await api<Job>('jobs').get(ns, 'doomed');
      return j.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True') ? j : undefined;
    }, { timeout: 120_000, message: 'the doomed Job Failed' });
    expect(job.status?.conditions?.find((c) => c.type === 'Failed')).toMatchObject({ reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' });
    // backoffLimit 1: the first failure is retried (after the 10 s back-off), the second ends it.
    expect(job.status?.failed).toBe(2);
    expect((await podsOf('batch.kubernetes.io/job-name=doomed')).length).toBe(2);
    const ev = await waitFor(async () => (await api<Event>('events').list(ns)).items.find((e) => e.involvedObject?.name === 'doomed' && e.reason === 'BackoffLimitExceeded'), { timeout: 20_000, message: 'the BackoffLimitExceeded event' });
    expect(ev.type).toBe('Warning');
  });

  it('the CronJob starts a Job on the minute, and with Forbid no second one while it runs', async () => {
    const first = await waitFor(async () => {
      const js = (await api<Job>('jobs').list(ns)).items.filter((j) => j.metadata.ownerReferences?.some((r) => r.kind === 'CronJob' && r.name === 'tick'));
      return js.length > 0 ? js : undefined;
    }, { timeout: 130_000, interval: 1_000, message: 'a Job of the CronJob' });
    expect(first).toHaveLength(1);
    const name = first[0]!.metadata.name!;
    // Named <cronjob>-<scheduled minutes since the epoch>, at a whole minute after the apply.
    const minutes = Number(name.slice('tick-'.length));
    expect(minutes * 60_000).toBeGreaterThan(appliedAt - 60_000);
    await waitFor(async () => ((await podsOf(`batch.kubernetes.io/job-name=${name}`)).some((p) => p.status?.phase === 'Running') ? true : undefined), { timeout: 60_000, message: 'the cron Job pod Running' });
    const cj = await api<CronJob>('cronjobs').get(ns, 'tick');
    expect(cj.status?.active?.map((r) => r.name)).toEqual([name]);
    expect(cj.status?.lastScheduleTime).toBe(new Date(minutes * 60_000).toISOString().replace(/\.\d+Z$/, 'Z'));
    // The next minute passes: Forbid keeps it at one Job, and says so.
    await waitFor(async () => ((await api<Event>('events').list(ns)).items.some((e) => e.involvedObject?.name === 'tick' && e.reason === 'JobAlreadyActive') ? true : undefined), { timeout: 80_000, interval: 1_000, message: 'JobAlreadyActive' });
    const jobs = (await api<Job>('jobs').list(ns)).items.filter((j) => j.metadata.ownerReferences?.some((r) => r.name === 'tick' && r.kind === 'CronJob'));
    expect(jobs.map((j) => j.metadata.name)).toEqual([name]);
  });

  it('kubectl create job --from=cronjob makes a Job marked manual and owned by the CronJob', async () => {
    const r = await kubectl(['create', 'job', 'tick-by-hand', '--from=cronjob/tick']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('job.batch/tick-by-hand created');
    const j = await api<Job>('jobs').get(ns, 'tick-by-hand');
    expect(j.metadata.annotations?.['cronjob.kubernetes.io/instantiate']).toBe('manual');
    expect(j.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'CronJob', name: 'tick' });
    expect(j.spec?.selector?.matchLabels?.['batch.kubernetes.io/controller-uid']).toBe(j.metadata.uid);
    await waitFor(async () => ((await podsOf('batch.kubernetes.io/job-name=tick-by-hand')).length === 1 ? true : undefined), { timeout: 30_000, message: 'the manual Job pod' });
  });

  it('kubectl get ds,job,cronjob prints the Kubernetes columns', async () => {
    const r = await kubectl(['get', 'ds,job,cronjob']);
    expect(r.code, r.stderr).toBe(0);
    const headers = r.stdout.split('\n').filter((l) => l.startsWith('NAME')).map((l) => l.split(/\s{2,}/).join('|'));
    expect(headers).toEqual([
      'NAME|DESIRED|CURRENT|READY|UP-TO-DATE|AVAILABLE|NODE SELECTOR|AGE',
      'NAME|STATUS|COMPLETIONS|DURATION|AGE',
      'NAME|SCHEDULE|TIMEZONE|SUSPEND|ACTIVE|LAST SCHEDULE|AGE',
    ]);
    expect(r.stdout).toMatch(/daemonset\.apps\/node-agent\s+3\s+3\s+3\s+3\s+3\s+<none>/);
    expect(r.stdout).toMatch(/job\.batch\/batch\s+Complete\s+3\/3/);
    expect(r.stdout).toMatch(/job\.batch\/doomed\s+Failed\s+0\/1/);
    expect(r.stdout).toMatch(/cronjob\.batch\/tick\s+\*\/1 \* \* \* \*\s+<none>\s+False\s+1\s+/);
  });

  it('refuses bad input with a 422 naming the field, and nothing else changes', async () => {
    const before = (await kubectl(['get', 'ds,job,cronjob', '-o', 'name'])).stdout;
    const badCron = await kubectl(['apply', '-f', '-'], `
apiVersion: batch/v1
kind: CronJob
metadata: {name: bad-cron}
spec:
  schedule: "61 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: flotilla/busybox:1}]
`);
    expect(badCron.code).not.toBe(0);
    expect(badCron.stderr).toContain('The CronJob "bad-cron" is invalid: spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61');
    const badDs = await kubectl(['apply', '-f', '-'], `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: bad-ds}
spec:
  selector:
    matchLabels: {app: one}
  template:
    metadata:
      labels: {app: two}
    spec:
      containers: [{name: c, image: flotilla/busybox:1}]
`);
    expect(badDs.code).not.toBe(0);
    expect(badDs.stderr).toContain('The DaemonSet "bad-ds" is invalid: spec.template.metadata.labels: Invalid value: ');
    expect(badDs.stderr).toContain('`selector` does not match template `labels`');
    const typo = await kubectl(['apply', '-f', '-'], `
apiVersion: batch/v1
kind: Job
metadata: {name: typo}
spec:
  completionz: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: flotilla/busybox:1}]
`);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain('unknown field "spec.completionz"');
    expect((await kubectl(['get', 'ds,job,cronjob', '-o', 'name'])).stdout).toBe(before);
    expect((await podsOf('app=node-agent')).length).toBe(3);
  });

  it('kubectl describe, create cronjob (a protobuf body) and delete job work on the new kinds; a deleted Job takes its pods', async () => {
    const d = await kubectl(['describe', 'ds/node-agent', 'job/batch', 'cronjob/tick']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('Desired Number of Nodes Scheduled: 3');
    expect(d.stdout).toContain('Pods Statuses:');
    expect(d.stdout).toContain('Schedule:');
    const c = await kubectl(['create', 'cronjob', 'made', '--image=flotilla/busybox:1', '--schedule=@hourly', '--', 'sh', '-c', 'true']);
    expect(c.code, c.stderr).toBe(0);
    const made = await api<CronJob>('cronjobs').get(ns, 'made');
    expect(made.spec).toMatchObject({ schedule: '@hourly', concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    const del = await kubectl(['delete', 'job/batch', 'cronjob/made']);
    expect(del.code, del.stderr).toBe(0);
    // The garbage collector deletes the pods; the Job controller lets go of their tracking finalizers.
    await waitFor(async () => ((await api<Pod>('pods').list(ns, { labelSelector: 'batch.kubernetes.io/job-name=batch' })).items.length === 0 ? true : undefined), { timeout: 60_000, message: 'the pods of the deleted Job gone' });
  });

  it('rolls a template change out over the daemon pods, one node at a time (maxUnavailable 1)', async () => {
    const set = await kubectl(['set', 'image', 'ds/node-agent', 'agent=flotilla/echo:1']);
    expect(set.code, set.stderr).toBe(0);
    const rollout = await kubectl(['rollout', 'status', 'ds/node-agent', '--timeout=100s'], undefined);
    expect(rollout.code, rollout.stderr).toBe(0);
    expect(rollout.stdout).toContain('daemon set "node-agent" successfully rolled out');
    const pods = (await podsOf('app=node-agent')).filter((p) => p.status?.phase === 'Running');
    expect(pods.map(nodeOf).sort()).toEqual(['node-1', 'node-2', 'node-3']);
    expect(pods.every((p) => p.spec?.containers[0]?.image === 'flotilla/echo:1')).toBe(true);
    // One at a time: every old pod's deletion came after the previous node's new pod was created.
    const evs = (await api<Event>('events').list(ns)).items.filter((e) => e.involvedObject?.name === 'node-agent' && e.reason === 'SuccessfulDelete');
    expect(evs).toHaveLength(3);
    // The templates are ControllerRevisions: kubectl rollout history and undo work.
    const hist = await kubectl(['rollout', 'history', 'ds/node-agent']);
    expect(hist.code, hist.stderr).toBe(0);
    expect(hist.stdout).toMatch(/REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>/);
    const undo = await kubectl(['rollout', 'undo', 'ds/node-agent']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain('daemonset.apps/node-agent rolled back');
    const back = await kubectl(['rollout', 'status', 'ds/node-agent', '--timeout=100s']);
    expect(back.code, back.stderr).toBe(0);
    const after = (await podsOf('app=node-agent')).filter((p) => p.status?.phase === 'Running');
    expect(after.map((p) => p.spec?.containers[0]?.image)).toEqual(['flotilla/busybox:1', 'flotilla/busybox:1', 'flotilla/busybox:1']);
  }, 240_000);

  it('puts a daemon pod on a host added later, and removes it when that Node goes', async () => {
    const h4 = await hosts!.addHost();
    await cluster!.addNode(agentSpec(h4, 3));
    const pods = await waitFor(async () => {
      const ps = (await podsOf('app=node-agent')).filter((p) => p.status?.phase === 'Running');
      return ps.length === 4 ? ps : undefined;
    }, { timeout: 90_000, message: 'a fourth daemon pod Running on node-4' });
    expect(pods.map(nodeOf).sort()).toEqual(['node-1', 'node-2', 'node-3', 'node-4']);
    await waitFor(async () => ((await api<DaemonSet>('daemonsets').get(ns, 'node-agent')).status?.numberReady === 4 ? true : undefined), { timeout: 30_000, message: 'numberReady 4' });

    await cluster!.kill('node-4');
    await api('nodes').delete(undefined, 'node-4');
    await waitFor(async () => ((await podsOf('app=node-agent')).every((p) => nodeOf(p) !== 'node-4') ? true : undefined), { timeout: 60_000, message: 'the daemon pod of node-4 deleted' });
    await waitFor(async () => ((await api<DaemonSet>('daemonsets').get(ns, 'node-agent')).status?.desiredNumberScheduled === 3 ? true : undefined), { timeout: 30_000, message: 'desiredNumberScheduled back to 3' });
  }, 300_000);
});
