/**
 * The columns `kubectl get` shows for each kind (server-side printing, as
 * Kubernetes' printers): each registry entry names its set in `table`, the
 * apiserver's table.ts turns them into meta.k8s.io Tables.
 */
import type { KubeObject } from './meta.js';

/** One column of a kind's Table: its definition and how to compute a row's cell. */
export interface TableColumn {
  name: string;
  type: string;
  format?: string;
  description: string;
  /** 0: always shown; 1: with `-o wide`. */
  priority: number;
  cell: (o: KubeObject, now: number) => unknown;
}

/** How a kind is printed as a Table. */
export interface TablePrinter {
  columns: readonly TableColumn[];
  /** Row conditions (a finished pod's Completed), as Kubernetes' printers set. */
  rowConditions?(o: KubeObject): { conditions?: Array<Record<string, string>> };
}

/** A duration as kubectl prints it (apimachinery's HumanDuration): `45s`, `5m3s`, `3h20m`, `2d4h`, `1y30d`. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

/** Time since a timestamp as kubectl prints it; `<unknown>` when missing. */
export function age(ts: string | undefined | null, now = Date.now()): string {
  if (!ts) return '<unknown>';
  const t = Date.parse(ts);
  if (!Number.isFinite(t)) return '<unknown>';
  return humanDuration(now - t);
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const get = (o: unknown, path: string): any => // eslint-disable-line @typescript-eslint/no-explicit-any
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown) => (typeof v === 'string' ? v : '');
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : []);

/** `a=b,c=d` sorted by key, `<none>` when empty (labels.FormatLabels). */
export function formatLabels(labels: unknown): string {
  if (!labels || typeof labels !== 'object') return '<none>';
  const s = Object.keys(labels).sort().map((k) => `${k}=${String((labels as Record<string, unknown>)[k])}`).join(',');
  return s || '<none>';
}

/** A LabelSelector as a selector string (`app=web,tier in (a,b),!legacy`), sorted by key like labels.Selector.String(). */
export function formatLabelSelector(sel: unknown): string {
  if (!sel || typeof sel !== 'object') return '';
  const parts: Array<[string, string]> = [];
  for (const [k, v] of Object.entries((sel as Obj).matchLabels ?? {})) parts.push([k, `${k}=${String(v)}`]);
  for (const e of list((sel as Obj).matchExpressions)) {
    const key = str(e.key);
    const values = (Array.isArray(e.values) ? e.values.map(String) : []).sort().join(',');
    if (e.operator === 'In') parts.push([key, `${key} in (${values})`]);
    else if (e.operator === 'NotIn') parts.push([key, `${key} notin (${values})`]);
    else if (e.operator === 'Exists') parts.push([key, key]);
    else if (e.operator === 'DoesNotExist') parts.push([key, `!${key}`]);
  }
  return parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((p) => p[1]).join(',');
}

/** The STATUS, READY and RESTARTS of a pod, computed as kubectl's printPod does. */
export function podSummary(o: KubeObject, now = Date.now()): { ready: string; status: string; restarts: string } {
  const spec = (o.spec ?? {}) as Obj;
  const status = (o.status ?? {}) as Obj;
  const containers = list(spec.containers);
  const initSpecs = list(spec.initContainers);
  const restartable = (name: unknown) => initSpecs.some((c) => c.name === name && c.restartPolicy === 'Always');
  const total = containers.length + initSpecs.filter((c) => c.restartPolicy === 'Always').length;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = 0;
  let lastSidecarRestart = 0;
  let reason: string = str(status.reason) || str(status.phase);
  for (const c of list(status.conditions)) if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  const finished = (c: Obj) => {
    const t = Date.parse(str(get(c, 'lastState.terminated.finishedAt')));
    return Number.isFinite(t) ? t : 0;
  };

  let initializing = false;
  const initStatuses = list(status.initContainerStatuses);
  for (const [i, c] of initStatuses.entries()) {
    restarts += num(c.restartCount);
    lastRestart = Math.max(lastRestart, finished(c));
    const sidecar = restartable(c.name);
    if (sidecar) {
      sidecarRestarts += num(c.restartCount);
      lastSidecarRestart = Math.max(lastSidecarRestart, finished(c));
    }
    const term = get(c, 'state.terminated') as Obj | undefined;
    const wait = get(c, 'state.waiting') as Obj | undefined;
    if (term && num(term.exitCode) === 0) continue;
    if (sidecar && c.started === true) {
      if (c.ready) ready++;
      continue;
    }
    if (term) reason = term.reason ? `Init:${term.reason}` : term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${num(term.exitCode)}`;
    else if (wait && wait.reason && wait.reason !== 'PodInitializing') reason = `Init:${wait.reason}`;
    else reason = `Init:${i}/${initSpecs.length}`;
    initializing = true;
    break;
  }
  const initialized = list(status.conditions).some((c) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initialized) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = list(status.containerStatuses);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i]!;
      restarts += num(c.restartCount);
      lastRestart = Math.max(lastRestart, finished(c));
      const wait = get(c, 'state.waiting') as Obj | undefined;
      const term = get(c, 'state.terminated') as Obj | undefined;
      if (wait?.reason) reason = wait.reason;
      else if (term?.reason) reason = term.reason;
      else if (term) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${num(term.exitCode)}`;
      else if (c.ready && get(c, 'state.running')) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      reason = list(status.conditions).some((c) => c.type === 'Ready' && c.status === 'True') ? 'Running' : 'NotReady';
    }
  }
  const phase = str(status.phase);
  if (o.metadata.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (o.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  const restartText = restarts !== 0 && lastRestart > 0 ? `${restarts} (${humanDuration(now - lastRestart)} ago)` : String(restarts);
  return { ready: `${ready}/${total}`, status: reason, restarts: restartText };
}

/** The first address of a type on a node, `<none>` when it has none. */
function nodeAddress(o: KubeObject, type: string): string {
  return str(list(get(o, 'status.addresses')).find((a) => a.type === type)?.address) || '<none>';
}

/** Roles from `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, like kubectl. */
function nodeRoles(o: KubeObject): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const r = k.slice('node-role.kubernetes.io/'.length);
      if (r) roles.add(r);
    } else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return [...roles].sort().join(',') || '<none>';
}

function nodeStatus(o: KubeObject): string {
  const out: string[] = [];
  const readyCond = list(get(o, 'status.conditions')).find((c) => c.type === 'Ready');
  if (readyCond) out.push(readyCond.status === 'True' ? 'Ready' : 'NotReady');
  if (out.length === 0) out.push('Unknown');
  if (get(o, 'spec.unschedulable') === true) out.push('SchedulingDisabled');
  return out.join(',');
}

/** `80/TCP,443:30443/TCP`. */
function servicePorts(o: KubeObject): string {
  const s = list(get(o, 'spec.ports'))
    .map((p) => (num(p.nodePort) > 0 ? `${num(p.port)}:${num(p.nodePort)}/${str(p.protocol) || 'TCP'}` : `${num(p.port)}/${str(p.protocol) || 'TCP'}`))
    .join(',');
  return s || '<none>';
}

function serviceExternalIP(o: KubeObject): string {
  const spec = (o.spec ?? {}) as Obj;
  const external = Array.isArray(spec.externalIPs) ? spec.externalIPs.map(String) : [];
  switch (spec.type) {
    case 'ExternalName':
      return str(spec.externalName);
    case 'LoadBalancer': {
      const lb = list(get(o, 'status.loadBalancer.ingress')).map((i) => str(i.ip) || str(i.hostname)).filter(Boolean);
      const all = [...lb, ...external];
      return all.length ? all.join(',') : '<pending>';
    }
    default:
      return external.length ? external.join(',') : '<none>';
  }
}

/** `80,443`, `<unset>` for a nil port, `<none>` without ports (kubectl's formatDiscoveryPorts). */
function slicePorts(o: KubeObject): string {
  const ports = list((o as Obj).ports);
  if (ports.length === 0) return '<none>';
  const shown = ports.slice(0, 3).map((p) => (p.port === undefined || p.port === null ? '<unset>' : str(p.port)));
  return ports.length > 3 ? `${shown.join(',')} + ${ports.length - 3} more...` : shown.join(',');
}

/** The first three addresses, then `+ N more...` (kubectl's formatDiscoveryEndpoints). */
function sliceEndpoints(o: KubeObject): string {
  const all = list((o as Obj).endpoints).flatMap((ep) => (Array.isArray(ep.addresses) ? ep.addresses.map(str) : []));
  if (all.length === 0) return '<unset>';
  return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
}

/** `10.244.1.5:8080,10.244.2.3:8080 + 2 more...` (kubectl's formatEndpoints). */
function endpointsText(o: KubeObject): string {
  const subsets = list((o as Obj).subsets);
  if (subsets.length === 0) return '<none>';
  const out: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  const host = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);
  for (const ss of subsets) {
    const addresses = list(ss.addresses);
    const ports = list(ss.ports);
    if (ports.length === 0) {
      count += addresses.length;
      for (const a of addresses) {
        if (out.length === max) {
          more = true;
          break;
        }
        out.push(str(a.ip));
      }
    } else {
      for (const p of ports) {
        count += addresses.length;
        for (const a of addresses) {
          if (out.length === max) {
            more = true;
            break;
          }
          out.push(`${host(str(a.ip))}:${num(p.port)}`);
        }
      }
    }
  }
  const text = out.join(',');
  return more ? `${text} + ${count - max} more...` : text;
}

function ingressHosts(o: KubeObject): string {
  const rules = list(get(o, 'spec.rules'));
  const out: string[] = [];
  let more = false;
  for (const r of rules) {
    if (out.length === 3) more = true;
    if (!more && str(r.host)) out.push(str(r.host));
  }
  if (out.length === 0) return '*';
  return more ? `${out.join(',')} + ${rules.length - 3} more...` : out.join(',');
}

/** Event times: lastTimestamp, else firstTimestamp, else eventTime; series override both. */
function eventTimes(o: KubeObject, now: number): { first: string; last: string; count: number } {
  const e = o as Obj;
  const first = e.firstTimestamp ? age(e.firstTimestamp, now) : age(e.eventTime, now);
  let last = e.lastTimestamp ? age(e.lastTimestamp, now) : first;
  let count = num(e.count);
  if (e.series && typeof e.series === 'object') {
    last = age(e.series.lastObservedTime, now);
    count = num(e.series.count);
  } else if (count === 0) count = 1;
  return { first, last, count };
}

const col = (name: string, cell: TableColumn['cell'], extra: Partial<TableColumn> = {}): TableColumn => ({ name, type: 'string', description: '', priority: 0, cell, ...extra });
const wide = (name: string, cell: TableColumn['cell'], extra: Partial<TableColumn> = {}): TableColumn => col(name, cell, { priority: 1, ...extra });

const name: TableColumn = col('Name', (o) => o.metadata.name ?? '', { format: 'name', description: 'Name must be unique within a namespace.' });
const ageCol: TableColumn = col('Age', (o, now) => age(o.metadata.creationTimestamp, now), { description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' });

const keyCount = (v: unknown) => (v && typeof v === 'object' ? Object.keys(v).length : 0);
const containerNames = (o: KubeObject) => list(get(o, 'spec.template.spec.containers')).map((c) => str(c.name)).join(',');
const containerImages = (o: KubeObject) => list(get(o, 'spec.template.spec.containers')).map((c) => str(c.image)).join(',');

/** kubectl's PARAMETERS cell of an IngressClass: `Kind.group/name`, or `<none>`. */
function ingressClassParameters(o: KubeObject): string {
  const p = get(o, 'spec.parameters') as Obj | undefined;
  if (!p || typeof p !== 'object') return '<none>';
  const group = str(p.apiGroup);
  return `${str(p.kind)}${group ? `.${group}` : ''}/${str(p.name)}`;
}

const hasCondition = (o: KubeObject, type: string) => list(get(o, 'status.conditions')).some((c) => c.type === type && c.status === 'True');

/** A Job's STATUS as kubectl 1.32 prints it. */
function jobStatus(o: KubeObject): string {
  if (hasCondition(o, 'Complete')) return 'Complete';
  if (hasCondition(o, 'Failed')) return 'Failed';
  if (o.metadata.deletionTimestamp) return 'Terminating';
  if (hasCondition(o, 'Suspended')) return 'Suspended';
  if (hasCondition(o, 'FailureTarget')) return 'FailureTarget';
  if (hasCondition(o, 'SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

/** `succeeded/completions`, or for a work queue (no completions) `succeeded/1 of parallelism`. */
function jobCompletions(o: KubeObject): string {
  const succeeded = num(get(o, 'status.succeeded'));
  const completions = get(o, 'spec.completions');
  if (typeof completions === 'number') return `${succeeded}/${completions}`;
  const parallelism = num(get(o, 'spec.parallelism'));
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

/** From start to completion, or to now while running; empty before the Job started. */
function jobDuration(o: KubeObject, now: number): string {
  const start = Date.parse(str(get(o, 'status.startTime')));
  if (Number.isNaN(start)) return '';
  const end = Date.parse(str(get(o, 'status.completionTime')));
  return humanDuration((Number.isNaN(end) ? now : end) - start);
}

/** Finished pods carry a Completed row condition, as Kubernetes' printer sets. */
export function podRowConditions(o: KubeObject): { conditions?: Array<Record<string, string>> } {
  const phase = get(o, 'status.phase');
  if (phase === 'Succeeded') return { conditions: [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }] };
  if (phase === 'Failed') return { conditions: [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }] };
  return {};
}


/** Name and age: the columns of a kind without its own. */
export const DEFAULT_TABLE: TablePrinter = { columns: [name, ageCol] };

/** The Table of each kind that has its own columns, by plural (registry entries reference theirs). */
export const TABLES = {
  pods: { columns: [
    name,
    col('Ready', (o, now) => podSummary(o, now).ready, { description: 'The aggregate readiness state of this pod for accepting traffic.' }),
    col('Status', (o, now) => podSummary(o, now).status, { description: 'The aggregate status of the containers in this pod.' }),
    col('Restarts', (o, now) => podSummary(o, now).restarts, { description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.' }),
    ageCol,
    wide('IP', (o) => str(get(o, 'status.podIPs.0.ip')) || str(get(o, 'status.podIP')) || '<none>', { description: 'IP address allocated to the pod.' }),
    wide('Node', (o) => str(get(o, 'spec.nodeName')) || '<none>', { description: 'Name of the node the pod is bound to.' }),
    wide('Nominated Node', (o) => str(get(o, 'status.nominatedNodeName')) || '<none>', { description: 'Name of the node where the pod is nominated to run.' }),
    wide('Readiness Gates', (o) => {
      const gates = list(get(o, 'spec.readinessGates'));
      if (gates.length === 0) return '<none>';
      const conds = list(get(o, 'status.conditions'));
      const ok = gates.filter((g) => conds.find((c) => c.type === g.conditionType)?.status === 'True').length;
      return `${ok}/${gates.length}`;
    }, { description: 'Pod readiness gates.' }),
  ], rowConditions: podRowConditions },
  deployments: { columns: [
    name,
    col('Ready', (o) => `${num(get(o, 'status.readyReplicas'))}/${num(get(o, 'spec.replicas'))}`, { description: 'Number of the pod with ready state' }),
    col('Up-to-date', (o) => num(get(o, 'status.updatedReplicas')), { type: 'integer', description: 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.' }),
    col('Available', (o) => num(get(o, 'status.availableReplicas')), { type: 'integer', description: 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.' }),
    ageCol,
    wide('Containers', containerNames, { description: 'Names of each container in the template.' }),
    wide('Images', containerImages, { description: 'Images referenced by each container in the template.' }),
    wide('Selector', (o) => formatLabelSelector(get(o, 'spec.selector')), { description: 'Label selector for pods.' }),
  ] },
  replicasets: { columns: [
    name,
    col('Desired', (o) => num(get(o, 'spec.replicas')), { type: 'integer', description: 'Number of desired pods.' }),
    col('Current', (o) => num(get(o, 'status.replicas')), { type: 'integer', description: 'Number of actually running pods.' }),
    col('Ready', (o) => num(get(o, 'status.readyReplicas')), { type: 'integer', description: 'Number of pods that are ready.' }),
    ageCol,
    wide('Containers', containerNames, { description: 'Names of each container in the template.' }),
    wide('Images', containerImages, { description: 'Images referenced by each container in the template.' }),
    wide('Selector', (o) => formatLabelSelector(get(o, 'spec.selector')), { description: 'Label selector for pods.' }),
  ] },
  daemonsets: { columns: [
    name,
    col('Desired', (o) => num(get(o, 'status.desiredNumberScheduled')), { type: 'integer', description: 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).' }),
    col('Current', (o) => num(get(o, 'status.currentNumberScheduled')), { type: 'integer', description: 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.' }),
    col('Ready', (o) => num(get(o, 'status.numberReady')), { type: 'integer', description: 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.' }),
    col('Up-to-date', (o) => num(get(o, 'status.updatedNumberScheduled')), { type: 'integer', description: 'The total number of nodes that are running updated daemon pod' }),
    col('Available', (o) => num(get(o, 'status.numberAvailable')), { type: 'integer', description: 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)' }),
    col('Node Selector', (o) => formatLabels(get(o, 'spec.template.spec.nodeSelector')), { description: "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node." }),
    ageCol,
    wide('Containers', containerNames, { description: 'Names of each container in the template.' }),
    wide('Images', containerImages, { description: 'Images referenced by each container in the template.' }),
    wide('Selector', (o) => formatLabelSelector(get(o, 'spec.selector')), { description: 'A label query over pods that are managed by the daemon set.' }),
  ] },
  controllerrevisions: { columns: [
    name,
    col('Controller', (o) => {
      const ref = list(get(o, 'metadata.ownerReferences')).find((r) => r.controller === true);
      if (!ref) return '<none>';
      const gv = str(ref.apiVersion);
      const group = gv.includes('/') ? gv.split('/')[0] : '';
      return `${str(ref.kind).toLowerCase()}${group ? `.${group}` : ''}/${str(ref.name)}`;
    }, { description: 'Controller of the object' }),
    col('Revision', (o) => num(get(o, 'revision')), { type: 'integer', description: 'Revision indicates the revision of the state represented by Data.' }),
    ageCol,
  ] },
  jobs: { columns: [
    name,
    col('Status', jobStatus, { description: 'Status of the job.' }),
    col('Completions', jobCompletions, { description: 'The desired number of successfully finished pods the job should be run with.' }),
    col('Duration', jobDuration, { description: 'Time required to complete the job.' }),
    ageCol,
    wide('Containers', containerNames, { description: 'Names of each container in the template.' }),
    wide('Images', containerImages, { description: 'Images referenced by each container in the template.' }),
    wide('Selector', (o) => formatLabelSelector(get(o, 'spec.selector')), { description: 'A label query over pods that should match the pod count.' }),
  ] },
  cronjobs: { columns: [
    name,
    col('Schedule', (o) => str(get(o, 'spec.schedule')), { description: 'The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.' }),
    col('Timezone', (o) => str(get(o, 'spec.timeZone')) || '<none>', { description: 'The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones.' }),
    col('Suspend', (o) => (get(o, 'spec.suspend') === undefined ? '<unset>' : get(o, 'spec.suspend') === true ? 'True' : 'False'), { type: 'boolean', description: 'This flag tells the controller to suspend subsequent executions.' }),
    col('Active', (o) => list(get(o, 'status.active')).length, { type: 'integer', description: 'A list of pointers to currently running jobs.' }),
    col('Last Schedule', (o, now) => (get(o, 'status.lastScheduleTime') ? age(str(get(o, 'status.lastScheduleTime')), now) : '<none>'), { description: 'Information when was the last time the job was successfully scheduled.' }),
    ageCol,
    wide('Containers', (o) => list(get(o, 'spec.jobTemplate.spec.template.spec.containers')).map((c) => str(c.name)).join(','), { description: 'Names of each container in the template.' }),
    wide('Images', (o) => list(get(o, 'spec.jobTemplate.spec.template.spec.containers')).map((c) => str(c.image)).join(','), { description: 'Images referenced by each container in the template.' }),
    wide('Selector', (o) => formatLabelSelector(get(o, 'spec.jobTemplate.spec.selector')), { description: 'A label query over pods that should match the pod count.' }),
  ] },
  nodes: { columns: [
    name,
    col('Status', nodeStatus, { description: 'The status of the node' }),
    col('Roles', nodeRoles, { description: 'The roles of the node' }),
    ageCol,
    col('Version', (o) => str(get(o, 'status.nodeInfo.kubeletVersion')), { description: 'Kubelet Version reported by the node.' }),
    wide('Internal-IP', (o) => nodeAddress(o, 'InternalIP'), { description: 'List of addresses reachable to the node.' }),
    wide('External-IP', (o) => nodeAddress(o, 'ExternalIP'), { description: 'List of addresses reachable to the node.' }),
    wide('OS-Image', (o) => str(get(o, 'status.nodeInfo.osImage')) || '<unknown>', { description: 'OS Image reported by the node from /etc/os-release.' }),
    wide('Kernel-Version', (o) => str(get(o, 'status.nodeInfo.kernelVersion')) || '<unknown>', { description: "Kernel Version reported by the node from 'uname -r'." }),
    wide('Container-Runtime', (o) => str(get(o, 'status.nodeInfo.containerRuntimeVersion')) || '<unknown>', { description: 'Container Runtime Version reported by the node through runtime remote API.' }),
  ] },
  namespaces: { columns: [name, col('Status', (o) => str(get(o, 'status.phase')), { description: 'The status of the namespace' }), ageCol] },
  services: { columns: [
    name,
    col('Type', (o) => str(get(o, 'spec.type')), { description: 'The type of the service.' }),
    col('Cluster-IP', (o) => str(get(o, 'spec.clusterIPs.0')) || str(get(o, 'spec.clusterIP')) || '<none>', { description: 'The IP address of the service.' }),
    col('External-IP', serviceExternalIP, { description: 'The external IP addresses of the service.' }),
    col('Port(s)', servicePorts, { description: 'The ports exposed by the service.' }),
    ageCol,
    wide('Selector', (o) => formatLabels(get(o, 'spec.selector')), { description: 'Route service traffic to pods with label keys and values matching this selector.' }),
  ] },
  endpoints: { columns: [name, col('Endpoints', endpointsText, { description: 'Endpoints of the service.' }), ageCol] },
  endpointslices: { columns: [
    name,
    col('AddressType', (o) => str((o as Obj).addressType), { description: 'Type of address carried by this EndpointSlice.' }),
    col('Ports', slicePorts, { description: 'Ports allowed by this EndpointSlice.' }),
    col('Endpoints', sliceEndpoints, { description: 'Endpoints included in this EndpointSlice.' }),
    ageCol,
  ] },
  ingresses: { columns: [
    name,
    col('Class', (o) => str(get(o, 'spec.ingressClassName')) || '<none>', { description: 'The name of the IngressClass resource.' }),
    col('Hosts', ingressHosts, { description: 'Hosts that incoming requests are matched against.' }),
    col('Address', (o) => list(get(o, 'status.loadBalancer.ingress')).map((i) => str(i.ip) || str(i.hostname)).filter(Boolean).join(','), { description: 'Address is a list containing ingress points for the load-balancer.' }),
    col('Ports', (o) => (list(get(o, 'spec.tls')).length ? '80, 443' : '80'), { description: 'Ports of TLS configurations that open.' }),
    ageCol,
  ] },
  ingressclasses: { columns: [
    name,
    col('Controller', (o) => str(get(o, 'spec.controller')), { description: 'Controller that implements this class.' }),
    col('Parameters', ingressClassParameters, { description: 'A reference to a resource with additional parameters.' }),
    ageCol,
  ] },
  events: { columns: [
    col('Last Seen', (o, now) => eventTimes(o, now).last, { description: 'The time at which the most recent occurrence of this event was recorded.' }),
    col('Type', (o) => str((o as Obj).type), { description: 'Type of this event (Normal, Warning).' }),
    col('Reason', (o) => str((o as Obj).reason), { description: 'Why the action was taken.' }),
    col('Object', (o) => {
      const io = ((o as Obj).involvedObject ?? {}) as Obj;
      return str(io.name) ? `${str(io.kind).toLowerCase()}/${str(io.name)}` : str(io.kind).toLowerCase();
    }, { description: 'The object that this event is about.' }),
    wide('Subobject', (o) => str(get(o, 'involvedObject.fieldPath')), { description: 'The part of the object this event is about.' }),
    wide('Source', (o) => {
      const e = o as Obj;
      const component = str(get(e, 'source.component')) || str(e.reportingComponent) || str(e.reportingController);
      const instance = str(get(e, 'source.host')) || str(e.reportingInstance);
      return instance ? `${component}, ${instance}` : component;
    }, { description: 'The component reporting this event.' }),
    col('Message', (o) => str((o as Obj).message).trim(), { description: 'A human-readable description of the status of this operation.' }),
    wide('First Seen', (o, now) => eventTimes(o, now).first, { description: 'The time at which the event was first recorded.' }),
    wide('Count', (o, now) => eventTimes(o, now).count, { description: 'The number of times this event has occurred.' }),
    wide('Name', (o) => o.metadata.name ?? '', { format: 'name', description: 'Name must be unique within a namespace.' }),
  ] },
  configmaps: { columns: [
    name,
    col('Data', (o) => keyCount(get(o, 'data')) + keyCount(get(o, 'binaryData')), { type: 'integer', description: 'Data contains the configuration data.' }),
    ageCol,
  ] },
  secrets: { columns: [
    name,
    col('Type', (o) => str(get(o, 'type')), { description: 'Used to facilitate programmatic handling of secret data.' }),
    col('Data', (o) => keyCount(get(o, 'data')), { type: 'integer', description: 'Data contains the secret data.' }),
    ageCol,
  ] },
  leases: { columns: [name, col('Holder', (o) => str(get(o, 'spec.holderIdentity')), { description: 'The holder of the lease.' }), ageCol] },
  priorityclasses: { columns: [
    name,
    col('Value', (o) => num(get(o, 'value')), { type: 'integer', description: 'The integer value of this priority class.' }),
    col('Global-Default', (o) => get(o, 'globalDefault') === true, { type: 'boolean', description: 'Whether pods without a priorityClassName get this class.' }),
    ageCol,
    col('PreemptionPolicy', (o) => str(get(o, 'preemptionPolicy')), { description: 'Whether pods of this class may preempt lower-priority pods.' }),
  ] },
} satisfies Record<string, TablePrinter>;
