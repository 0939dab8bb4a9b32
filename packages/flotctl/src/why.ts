/**
 * `flotctl why pod/x`: what kubectl leaves the user to piece together from
 * `describe` — why a pod is Pending, crash-looping, unready or failed —
 * said in plain words from the pod's status, its conditions (the
 * scheduler's per-node reasons) and its Events.
 */
import type { ContainerStatus, Event, Pod } from '@flotilla/api';

/** The diagnosis of one pod: a one-line verdict and the evidence. */
export interface Diagnosis {
  /** `healthy`, `pending`, `crash-looping`, `unready`, `failed`, `terminating`, `waiting`, `succeeded`. */
  state: string;
  summary: string;
  details: string[];
}

const cond = (p: Pod, type: string) => p.status?.conditions?.find((c) => c.type === type);

function lastEvents(events: Event[], reasons: string[], n = 3): Event[] {
  return events
    .filter((e) => reasons.includes(e.reason ?? ''))
    .sort((a, b) => (b.lastTimestamp ?? b.eventTime ?? '').localeCompare(a.lastTimestamp ?? a.eventTime ?? ''))
    .slice(0, n);
}

function lastOutput(message: string | undefined): string[] {
  if (!message) return [];
  const lines = message.trimEnd().split('\n');
  return ['its last output was:', ...lines.slice(-5).map((l) => `  | ${l}`)];
}

function exitText(code: number, reason?: string, signal?: number): string {
  if (reason === 'OOMKilled') return `was killed for using more memory than its limit (OOMKilled, exit code ${code})`;
  if (code > 128 && code < 160) return `was killed by signal ${signal ?? code - 128} (exit code ${code})`;
  return `exited with code ${code}${reason && reason !== 'Error' && reason !== 'Completed' ? ` (${reason})` : ''}`;
}

function crashLoop(cs: ContainerStatus): string[] {
  const t = cs.lastState?.terminated ?? cs.state?.terminated;
  const out = [`container "${cs.name}" has restarted ${cs.restartCount} time(s) and is waiting before the next start (back-off).`];
  if (t) {
    out.push(`last time it ${exitText(t.exitCode, t.reason, t.signal)}${t.finishedAt ? ` at ${t.finishedAt}` : ''}.`);
    out.push(...lastOutput(t.message));
  }
  return out;
}

/** Explains one pod's state from the pod and the Events about it. */
export function explainPod(pod: Pod, events: Event[]): Diagnosis {
  const name = pod.metadata.name ?? '';
  const phase = pod.status?.phase ?? 'Pending';
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];

  if (pod.metadata.deletionTimestamp) {
    return { state: 'terminating', summary: `pod ${name} is being deleted (since ${pod.metadata.deletionTimestamp}, grace ${pod.metadata.deletionGracePeriodSeconds ?? 30}s).`, details: [] };
  }
  if (!pod.spec?.nodeName) {
    const sched = cond(pod, 'PodScheduled');
    const details: string[] = [];
    if (sched?.message) details.push(`the scheduler says: ${sched.message}`);
    for (const e of lastEvents(events, ['FailedScheduling'], 1)) if (e.message && e.message !== sched?.message) details.push(`last scheduling attempt: ${e.message}`);
    const m = sched?.message ?? '';
    if (/Insufficient cpu|cpu wants/i.test(m)) details.push('no node has enough unreserved CPU for its requests: lower spec.containers[*].resources.requests.cpu, free capacity, or add a node.');
    if (/Insufficient memory|memory wants/i.test(m)) details.push('no node has enough unreserved memory for its requests: lower the memory requests, free capacity, or add a node.');
    if (/didn't match|nodeSelector .* not matched/i.test(m)) details.push("its nodeSelector or affinity matches no node's labels.");
    if (/taint/i.test(m)) details.push('the nodes carry taints the pod does not tolerate.');
    if (/host port .* in use/i.test(m)) details.push('the hostPort it asks for is taken on every node.');
    if (/not ready/i.test(m)) details.push('some nodes are not Ready.');
    if (!details.length) details.push('the scheduler has not placed it yet (is a scheduler running?).');
    return { state: 'pending', summary: `pod ${name} is Pending: it is not scheduled on any node.`, details };
  }
  if (phase === 'Succeeded') return { state: 'succeeded', summary: `pod ${name} ran to completion.`, details: [] };
  if (phase === 'Failed') {
    const details: string[] = [];
    if (pod.status?.reason || pod.status?.message) details.push(`${pod.status?.reason ?? ''}${pod.status?.message ? `: ${pod.status.message}` : ''}`);
    for (const cs of statuses) {
      const t = cs.state?.terminated;
      if (t && t.exitCode !== 0) details.push(`container "${cs.name}" ${exitText(t.exitCode, t.reason, t.signal)}.`, ...lastOutput(t.message));
    }
    return { state: 'failed', summary: `pod ${name} has failed and will not be restarted (restartPolicy ${pod.spec?.restartPolicy ?? 'Always'}).`, details };
  }
  const looping = statuses.filter((cs) => cs.state?.waiting?.reason === 'CrashLoopBackOff');
  if (looping.length) {
    return { state: 'crash-looping', summary: `pod ${name} is crash-looping on node ${pod.spec.nodeName}.`, details: looping.flatMap(crashLoop) };
  }
  const waiting = statuses.filter((cs) => cs.state?.waiting);
  if (waiting.length) {
    const details = waiting.map((cs) => `container "${cs.name}" is waiting: ${cs.state!.waiting!.reason ?? 'unknown reason'}${cs.state!.waiting!.message ? ` — ${cs.state!.waiting!.message}` : ''}`);
    for (const e of lastEvents(events, ['Failed', 'FailedMount', 'FailedCreatePodSandBox', 'ErrImagePull', 'BackOff'])) details.push(`event ${e.reason}: ${e.message ?? ''}`);
    return { state: 'waiting', summary: `pod ${name} is not running yet on node ${pod.spec.nodeName}.`, details };
  }
  const ready = cond(pod, 'Ready');
  if (ready?.status !== 'True') {
    const details: string[] = [];
    const unready = (pod.status?.containerStatuses ?? []).filter((cs) => !cs.ready);
    for (const cs of unready) {
      const c = pod.spec.containers.find((x) => x.name === cs.name);
      const probe = c?.readinessProbe;
      const how = probe?.httpGet ? `HTTP GET :${probe.httpGet.port}${probe.httpGet.path ?? '/'}` : probe?.tcpSocket ? `TCP :${probe.tcpSocket.port}` : probe?.exec ? `exec ${JSON.stringify(probe.exec.command)}` : undefined;
      details.push(`container "${cs.name}" is not ready${how ? `: its readiness probe (${how}) is failing` : ''}.`);
    }
    for (const e of lastEvents(events, ['Unhealthy'])) details.push(`probe: ${e.message ?? ''}${e.count && e.count > 1 ? ` (${e.count} times)` : ''}`);
    if (!details.length && ready?.message) details.push(ready.message);
    details.push('an unready pod gets no traffic from its Services.');
    return { state: 'unready', summary: `pod ${name} runs on node ${pod.spec.nodeName} but is not Ready.`, details };
  }
  const restarts = statuses.reduce((n, cs) => n + cs.restartCount, 0);
  const details = restarts ? statuses.filter((cs) => cs.restartCount > 0).flatMap((cs) => {
    const t = cs.lastState?.terminated;
    return [`container "${cs.name}" restarted ${cs.restartCount} time(s)${t ? `; last time it ${exitText(t.exitCode, t.reason, t.signal)}` : ''}.`];
  }) : [];
  return { state: 'healthy', summary: `pod ${name} is Running and Ready on node ${pod.spec.nodeName}${pod.status?.podIP ? ` (${pod.status.podIP})` : ''}.`, details };
}

/** The diagnosis as printed text. */
export function formatDiagnosis(d: Diagnosis): string {
  return [d.summary, ...d.details.map((l) => (l.startsWith('  |') ? `  ${l}` : `  - ${l}`))].join('\n');
}
