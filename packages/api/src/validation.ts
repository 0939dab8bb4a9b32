/**
 * Validation of every kind, with Kubernetes' rules and wording. Each
 * validator returns every problem at once, each with the path of the
 * offending field (`spec.template.spec.containers[0].image`), so a 422
 * tells the user everything that is wrong in one go. Validators expect
 * defaults to have been applied first, as the apiserver does.
 */
import type { Deployment, ReplicaSet, RollingUpdateDeployment } from './apps-types.js';
import type { Lease } from './coordination-types.js';
import type { EndpointSlice } from './discovery-types.js';
import type {
  Container,
  Endpoints,
  Event,
  Namespace,
  Node,
  NodeSelectorRequirement,
  Pod,
  PodSpec,
  PodTemplateSpec,
  Probe,
  ResourceList,
  Service,
  Toleration,
} from './core-types.js';
import { SUPPORTED_VOLUME_SOURCES } from './defaults.js';
import type { FieldError } from './errors.js';
import { canonicalJson, deepCopy } from './helpers.js';
import { isIP } from 'node:net';
import type { KubeObject, LabelSelector, ObjectMeta } from './meta.js';
import {
  isDns1035Label,
  isDns1123Label,
  isConfigMapKey,
  isDns1123Subdomain,
  isEnvVarName,
  isQualifiedName,
  isValidIp,
  isValidLabelValue,
  isValidPortName,
  TOTAL_ANNOTATION_SIZE_LIMIT,
} from './names.js';
import type { Ingress, IngressBackend } from './networking-types.js';
import { isValidQuantity, parseQuantity } from './quantity.js';
import { labelSelectorFromObject } from './selectors.js';
import { validateContainerLifecycle, validateContainerSecurityContext, validatePodSecurity, validateUnsupported } from './security-validation.js';

/** How Kubernetes prints a value inside an error message. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Collects field errors with Kubernetes' message prefixes. */
export class FieldErrors {
  readonly list: FieldError[] = [];

  /** `Required value` (+ detail). */
  required(field: string, detail?: string): void {
    this.list.push({ type: 'FieldValueRequired', field, message: detail ? `Required value: ${detail}` : 'Required value' });
  }

  /** `Invalid value: "x": why`. */
  invalid(field: string, value: unknown, detail: string): void {
    this.list.push({ type: 'FieldValueInvalid', field, message: `Invalid value: ${show(value)}: ${detail}` });
  }

  /** `Unsupported value: "x": supported values: "a", "b"`. */
  notSupported(field: string, value: unknown, supported: readonly string[]): void {
    const list = supported.map((s) => JSON.stringify(s)).join(', ');
    this.list.push({ type: 'FieldValueNotSupported', field, message: `Unsupported value: ${show(value)}: supported values: ${list}` });
  }

  /** `Duplicate value: "x"`. */
  duplicate(field: string, value: unknown): void {
    this.list.push({ type: 'FieldValueDuplicate', field, message: `Duplicate value: ${show(value)}` });
  }

  /** `Forbidden: why`. */
  forbidden(field: string, detail: string): void {
    this.list.push({ type: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` });
  }

  /** `Not found: "x"`. */
  notFound(field: string, value: unknown): void {
    this.list.push({ type: 'FieldValueNotFound', field, message: `Not found: ${show(value)}` });
  }

  /** `Too long: …`. */
  tooLong(field: string, detail: string): void {
    this.list.push({ type: 'FieldValueTooLong', field, message: `Too long: ${detail}` });
  }

  /** Adds one Invalid per message of a syntax check. */
  each(field: string, value: unknown, messages: string[]): void {
    for (const m of messages) this.invalid(field, value, m);
  }
}

/** A function that checks a name and returns its problems. */
export type NameValidator = (name: string) => string[];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- input is untrusted JSON; fields are checked one by one
const isObj = (x: unknown): x is Record<string, any> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x);
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;
const IMMUTABLE = 'field is immutable';

function nonNegativeInt(e: FieldErrors, field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (!isInt(value)) e.invalid(field, value, 'must be an integer');
  else if (value < 0) e.invalid(field, value, 'must be greater than or equal to 0');
}

function portNumber(e: FieldErrors, field: string, value: unknown): void {
  if (!isInt(value) || value < 1 || value > 65535) e.invalid(field, value, 'must be between 1 and 65535, inclusive');
}

function intOrPortName(e: FieldErrors, field: string, value: unknown): void {
  if (typeof value === 'number') portNumber(e, field, value);
  else if (typeof value === 'string') {
    if (value === '') e.required(field);
    else e.each(field, value, isValidPortName(value));
  } else if (value === undefined) e.required(field);
  else e.invalid(field, value, 'must be a port number or name');
}

function protocol(e: FieldErrors, field: string, value: unknown, required = false): void {
  if (value === undefined) {
    if (required) e.required(field);
    return;
  }
  if (!(PROTOCOLS as readonly unknown[]).includes(value)) e.notSupported(field, value, PROTOCOLS);
}

// ------------------------------------------------------------------ metadata

/** Validates labels: qualified-name keys and label values. */
export function validateLabels(e: FieldErrors, labels: unknown, field: string): void {
  if (labels === undefined || labels === null) return;
  if (!isObj(labels)) return e.invalid(field, labels, 'must be a map of string keys to string values');
  for (const [k, v] of Object.entries(labels)) {
    e.each(field, k, isQualifiedName(k));
    if (typeof v !== 'string') e.invalid(`${field}[${k}]`, v, 'must be a string');
    else e.each(field, v, isValidLabelValue(v));
  }
}

function validateAnnotations(e: FieldErrors, annotations: unknown, field: string): void {
  if (annotations === undefined || annotations === null) return;
  if (!isObj(annotations)) return e.invalid(field, annotations, 'must be a map of string keys to string values');
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    e.each(field, k, isQualifiedName(k.toLowerCase()));
    if (typeof v !== 'string') e.invalid(`${field}[${k}]`, v, 'must be a string');
    size += Buffer.byteLength(k) + Buffer.byteLength(typeof v === 'string' ? v : '');
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) e.tooLong(field, `must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes`);
}

// generateName is a prefix: a trailing '-' is fine because a suffix follows it.
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name;
}

/**
 * Validates ObjectMeta: name (or generateName) by the kind's rule,
 * namespace presence, labels, annotations, ownerReferences.
 */
export function validateObjectMeta(e: FieldErrors, meta: ObjectMeta | undefined, namespaced: boolean, nameFn: NameValidator, path = 'metadata'): void {
  if (!isObj(meta)) {
    e.required(path);
    return;
  }
  if (meta.generateName !== undefined && meta.generateName !== '') {
    if (typeof meta.generateName !== 'string') e.invalid(`${path}.generateName`, meta.generateName, 'must be a string');
    else e.each(`${path}.generateName`, meta.generateName, nameFn(maskTrailingDash(meta.generateName)));
  }
  if (meta.name === undefined || meta.name === '') {
    if (!meta.generateName) e.required(`${path}.name`, 'name or generateName is required');
  } else if (typeof meta.name !== 'string') {
    e.invalid(`${path}.name`, meta.name, 'must be a string');
  } else {
    e.each(`${path}.name`, meta.name, nameFn(meta.name));
  }
  if (namespaced) {
    if (!meta.namespace) e.required(`${path}.namespace`);
    else if (typeof meta.namespace !== 'string') e.invalid(`${path}.namespace`, meta.namespace, 'must be a string');
    else e.each(`${path}.namespace`, meta.namespace, isDns1123Label(meta.namespace));
  } else if (meta.namespace) {
    e.forbidden(`${path}.namespace`, 'not allowed on this type');
  }
  validateLabels(e, meta.labels, `${path}.labels`);
  validateAnnotations(e, meta.annotations, `${path}.annotations`);
  if (meta.ownerReferences !== undefined) {
    if (!Array.isArray(meta.ownerReferences)) e.invalid(`${path}.ownerReferences`, meta.ownerReferences, 'must be a list');
    else {
      let controllers = 0;
      meta.ownerReferences.forEach((r, i) => {
        const p = `${path}.ownerReferences[${i}]`;
        if (!isObj(r)) return e.invalid(p, r, 'must be an object');
        for (const f of ['apiVersion', 'kind', 'name', 'uid'] as const) if (!r[f]) e.required(`${p}.${f}`);
        if (r.controller === true) controllers++;
      });
      if (controllers > 1) e.invalid(`${path}.ownerReferences`, meta.ownerReferences, 'Only one reference can have Controller set to true');
    }
  }
  if (meta.finalizers !== undefined) {
    if (!Array.isArray(meta.finalizers)) e.invalid(`${path}.finalizers`, meta.finalizers, 'must be a list');
    else meta.finalizers.forEach((f, i) => { if (typeof f !== 'string') e.invalid(`${path}.finalizers[${i}]`, f, 'must be a string'); else e.each(`${path}.finalizers[${i}]`, f, isQualifiedName(f)); });
  }
}

/** Validates the metadata of an update: name, namespace and uid never change. */
export function validateObjectMetaUpdate(e: FieldErrors, meta: ObjectMeta, old: ObjectMeta, path = 'metadata'): void {
  if (!isObj(meta) || !isObj(old)) return;
  if ((meta.name ?? '') !== (old.name ?? '')) e.invalid(`${path}.name`, meta.name, IMMUTABLE);
  if ((meta.namespace ?? '') !== (old.namespace ?? '')) e.invalid(`${path}.namespace`, meta.namespace, IMMUTABLE);
  if (meta.uid !== undefined && old.uid !== undefined && meta.uid !== old.uid) e.invalid(`${path}.uid`, meta.uid, IMMUTABLE);
  if (meta.creationTimestamp !== undefined && old.creationTimestamp !== undefined && meta.creationTimestamp !== old.creationTimestamp) {
    e.invalid(`${path}.creationTimestamp`, meta.creationTimestamp, IMMUTABLE);
  }
}

// ----------------------------------------------------------------- pod spec

const STANDARD_RESOURCES = ['cpu', 'memory', 'ephemeral-storage', 'pods', 'storage'];

function validateResourceList(e: FieldErrors, list: unknown, field: string): Map<string, number> {
  const parsed = new Map<string, number>();
  if (list === undefined || list === null) return parsed;
  if (!isObj(list)) {
    e.invalid(field, list, 'must be a map of resource names to quantities');
    return parsed;
  }
  for (const [name, q] of Object.entries(list)) {
    const p = `${field}[${name}]`;
    if (!name.includes('/') && !STANDARD_RESOURCES.includes(name) && !name.startsWith('hugepages-')) {
      e.invalid(p, name, 'must be a standard resource type or fully qualified');
      continue;
    }
    if (name.includes('/')) e.each(p, name, isQualifiedName(name));
    if (!isValidQuantity(q)) {
      e.invalid(p, q, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
      continue;
    }
    const v = parseQuantity(q as string);
    if (v < 0) e.invalid(p, q, 'must be greater than or equal to 0');
    else parsed.set(name, v);
  }
  return parsed;
}

function validateResources(e: FieldErrors, r: unknown, field: string): void {
  if (r === undefined || r === null) return;
  if (!isObj(r)) return e.invalid(field, r, 'must be an object');
  const limits = validateResourceList(e, r.limits, `${field}.limits`);
  const requests = validateResourceList(e, r.requests, `${field}.requests`);
  for (const [name, req] of requests) {
    const lim = limits.get(name);
    if (lim !== undefined && req > lim) {
      e.invalid(`${field}.requests[${name}]`, (r.requests as ResourceList)[name], `must be less than or equal to ${name} limit of ${String((r.limits as ResourceList)[name])}`);
    }
  }
}

function validateProbe(e: FieldErrors, probe: Probe | undefined, field: string, mustSucceedOnce: boolean): void {
  if (probe === undefined || probe === null) return;
  if (!isObj(probe)) return e.invalid(field, probe, 'must be an object');
  const handlers = (['exec', 'httpGet', 'tcpSocket', 'grpc'] as const).filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (handlers.length === 0) e.required(field, 'must specify a handler type');
  else if (handlers.length > 1) e.forbidden(`${field}.${handlers[1]}`, 'may not specify more than 1 handler type');
  if (probe.httpGet) {
    intOrPortName(e, `${field}.httpGet.port`, probe.httpGet.port);
    if (probe.httpGet.scheme !== undefined && !['HTTP', 'HTTPS'].includes(probe.httpGet.scheme)) e.notSupported(`${field}.httpGet.scheme`, probe.httpGet.scheme, ['HTTP', 'HTTPS']);
  }
  if (probe.tcpSocket) intOrPortName(e, `${field}.tcpSocket.port`, probe.tcpSocket.port);
  if (probe.exec && (!Array.isArray(probe.exec.command) || probe.exec.command.length === 0)) e.required(`${field}.exec.command`);
  if (probe.grpc) portNumber(e, `${field}.grpc.port`, probe.grpc.port);
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    nonNegativeInt(e, `${field}.${f}`, probe[f]);
  }
  for (const f of ['timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'] as const) {
    if (isInt(probe[f]) && probe[f]! < 1) e.invalid(`${field}.${f}`, probe[f], 'must be greater than or equal to 1');
  }
  if (mustSucceedOnce && probe.successThreshold !== undefined && probe.successThreshold !== 1) e.invalid(`${field}.successThreshold`, probe.successThreshold, 'must be 1');
}

const FIELD_REF_PATHS = [
  'metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.labels', 'metadata.annotations',
  'spec.nodeName', 'spec.serviceAccountName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs',
];

function validateEnv(e: FieldErrors, env: unknown, field: string): void {
  if (env === undefined || env === null) return;
  if (!Array.isArray(env)) return e.invalid(field, env, 'must be a list');
  env.forEach((v, i) => {
    const p = `${field}[${i}]`;
    if (!isObj(v)) return e.invalid(p, v, 'must be an object');
    if (!v.name) e.required(`${p}.name`);
    else if (typeof v.name !== 'string') e.invalid(`${p}.name`, v.name, 'must be a string');
    else e.each(`${p}.name`, v.name, isEnvVarName(v.name));
    if (v.value !== undefined && typeof v.value !== 'string') e.invalid(`${p}.value`, v.value, 'must be a string');
    if (v.valueFrom !== undefined) {
      const vf = v.valueFrom;
      if (!isObj(vf)) return e.invalid(`${p}.valueFrom`, vf, 'must be an object');
      if (v.value) e.invalid(`${p}.valueFrom`, '', 'may not be specified when `value` is not empty');
      const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter((s) => vf[s] !== undefined);
      if (sources.length === 0) e.invalid(`${p}.valueFrom`, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`');
      else if (sources.length > 1) e.invalid(`${p}.valueFrom`, '', 'may not have more than one field specified at a time');
      for (const ref of ['configMapKeyRef', 'secretKeyRef'] as const) {
        const r = vf[ref];
        if (r === undefined) continue;
        const rp = `${p}.valueFrom.${ref}`;
        if (!isObj(r)) {
          e.invalid(rp, r, 'must be an object');
          continue;
        }
        if (!r.name) e.required(`${rp}.name`);
        else if (typeof r.name !== 'string') e.invalid(`${rp}.name`, r.name, 'must be a string');
        if (!r.key) e.required(`${rp}.key`);
        else if (typeof r.key !== 'string') e.invalid(`${rp}.key`, r.key, 'must be a string');
        else e.each(`${rp}.key`, r.key, isConfigMapKey(r.key));
        if (r.optional !== undefined && r.optional !== null && typeof r.optional !== 'boolean') e.invalid(`${rp}.optional`, r.optional, 'must be a boolean');
      }
      if (isObj(vf.fieldRef)) {
        const fp = vf.fieldRef.fieldPath;
        if (!fp) e.required(`${p}.valueFrom.fieldRef.fieldPath`);
        else if (typeof fp !== 'string' || !(FIELD_REF_PATHS.includes(fp) || /^metadata\.(labels|annotations)\['[^']+'\]$/.test(fp))) {
          e.notSupported(`${p}.valueFrom.fieldRef.fieldPath`, fp, FIELD_REF_PATHS);
        }
      }
    }
  });
}

/** `envFrom`: each entry one of configMapRef / secretRef with a name, and an optional prefix that is a valid env var name. */
function validateEnvFrom(e: FieldErrors, envFrom: unknown, field: string): void {
  if (envFrom === undefined || envFrom === null) return;
  if (!Array.isArray(envFrom)) return e.invalid(field, envFrom, 'must be a list');
  envFrom.forEach((v, i) => {
    const p = `${field}[${i}]`;
    if (!isObj(v)) return e.invalid(p, v, 'must be an object');
    if (v.prefix !== undefined && v.prefix !== '') {
      if (typeof v.prefix !== 'string') e.invalid(`${p}.prefix`, v.prefix, 'must be a string');
      else e.each(`${p}.prefix`, v.prefix, isEnvVarName(v.prefix));
    }
    const refs = (['configMapRef', 'secretRef'] as const).filter((r) => v[r] !== undefined && v[r] !== null);
    if (refs.length === 0) e.invalid(p, '', 'must specify one of: `configMapRef` or `secretRef`');
    else if (refs.length > 1) e.invalid(p, '', 'may not have more than one field specified at a time');
    for (const r of refs) {
      const ref = v[r];
      if (!isObj(ref)) {
        e.invalid(`${p}.${r}`, ref, 'must be an object');
        continue;
      }
      if (!ref.name) e.required(`${p}.${r}.name`);
      else if (typeof ref.name !== 'string') e.invalid(`${p}.${r}.name`, ref.name, 'must be a string');
      else e.each(`${p}.${r}.name`, ref.name, isDns1123Subdomain(ref.name));
      if (ref.optional !== undefined && ref.optional !== null && typeof ref.optional !== 'boolean') e.invalid(`${p}.${r}.optional`, ref.optional, 'must be a boolean');
    }
  });
}

/** File mode bits of a projected key: 0 to 0777. */
function fileMode(e: FieldErrors, field: string, mode: unknown): void {
  if (mode === undefined || mode === null) return;
  if (!isInt(mode) || mode < 0 || mode > 0o777) e.invalid(field, mode, 'must be a number between 0 and 0777 (octal), both inclusive');
}

/** A configMap or secret volume source: the object's name, items (key, relative path without '..', mode), defaultMode, optional. */
function validateProjectedSource(e: FieldErrors, src: unknown, p: string, nameField: 'name' | 'secretName'): void {
  if (!isObj(src)) return e.invalid(p, src, 'must be an object');
  const name = src[nameField];
  if (!name) e.required(`${p}.${nameField}`);
  else if (typeof name !== 'string') e.invalid(`${p}.${nameField}`, name, 'must be a string');
  else e.each(`${p}.${nameField}`, name, isDns1123Subdomain(name));
  fileMode(e, `${p}.defaultMode`, src.defaultMode);
  if (src.optional !== undefined && src.optional !== null && typeof src.optional !== 'boolean') e.invalid(`${p}.optional`, src.optional, 'must be a boolean');
  if (src.items === undefined || src.items === null) return;
  if (!Array.isArray(src.items)) return e.invalid(`${p}.items`, src.items, 'must be a list');
  const paths = new Set<string>();
  src.items.forEach((it: unknown, i: number) => {
    const ip = `${p}.items[${i}]`;
    if (!isObj(it)) return e.invalid(ip, it, 'must be an object');
    if (!it.key) e.required(`${ip}.key`);
    else if (typeof it.key !== 'string') e.invalid(`${ip}.key`, it.key, 'must be a string');
    else e.each(`${ip}.key`, it.key, isConfigMapKey(it.key));
    if (!it.path) e.required(`${ip}.path`);
    else if (typeof it.path !== 'string') e.invalid(`${ip}.path`, it.path, 'must be a string');
    else if (it.path.startsWith('/')) e.invalid(`${ip}.path`, it.path, 'must be a relative path');
    else if (it.path.split('/').includes('..')) e.invalid(`${ip}.path`, it.path, "must not contain '..'");
    else if (it.path.startsWith('..')) e.invalid(`${ip}.path`, it.path, "must not start with '..'");
    else {
      if (paths.has(it.path)) e.duplicate(`${ip}.path`, it.path);
      paths.add(it.path);
    }
    fileMode(e, `${ip}.mode`, it.mode);
  });
}

function validateContainers(
  e: FieldErrors,
  containers: unknown,
  field: string,
  volumes: Set<string>,
  names: Set<string>,
  hostPorts: Set<string>,
  portNames: Set<string>,
  hostNetwork: boolean,
  init: boolean,
): void {
  if (!Array.isArray(containers)) {
    e.invalid(field, containers, 'must be a list');
    return;
  }
  containers.forEach((c: Container, i) => {
    const p = `${field}[${i}]`;
    if (!isObj(c)) return e.invalid(p, c, 'must be an object');
    if (!c.name) e.required(`${p}.name`);
    else if (typeof c.name !== 'string') e.invalid(`${p}.name`, c.name, 'must be a string');
    else {
      e.each(`${p}.name`, c.name, isDns1123Label(c.name));
      if (names.has(c.name)) e.duplicate(`${p}.name`, c.name);
      names.add(c.name);
    }
    if (!c.image || (typeof c.image === 'string' && c.image.trim() === '')) e.required(`${p}.image`);
    else if (typeof c.image !== 'string') e.invalid(`${p}.image`, c.image, 'must be a string');
    else if (c.image !== c.image.trim()) e.invalid(`${p}.image`, c.image, 'must not have leading or trailing whitespace');
    if (c.imagePullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy)) {
      e.notSupported(`${p}.imagePullPolicy`, c.imagePullPolicy, ['Always', 'IfNotPresent', 'Never']);
    }
    for (const f of ['command', 'args'] as const) {
      if (c[f] !== undefined && (!Array.isArray(c[f]) || !c[f]!.every((x) => typeof x === 'string'))) e.invalid(`${p}.${f}`, c[f], 'must be a list of strings');
    }
    if (c.terminationMessagePolicy !== undefined && !['File', 'FallbackToLogsOnError'].includes(c.terminationMessagePolicy)) {
      e.notSupported(`${p}.terminationMessagePolicy`, c.terminationMessagePolicy, ['File', 'FallbackToLogsOnError']);
    }
    if (c.ports !== undefined) {
      if (!Array.isArray(c.ports)) e.invalid(`${p}.ports`, c.ports, 'must be a list');
      else c.ports.forEach((port, j) => {
        const pp = `${p}.ports[${j}]`;
        if (!isObj(port)) return e.invalid(pp, port, 'must be an object');
        if (port.containerPort === undefined) e.required(`${pp}.containerPort`);
        else portNumber(e, `${pp}.containerPort`, port.containerPort);
        if (port.hostPort !== undefined && port.hostPort !== 0) {
          portNumber(e, `${pp}.hostPort`, port.hostPort);
          const key = `${port.hostIP ?? ''}/${port.hostPort}/${port.protocol ?? 'TCP'}`;
          if (hostPorts.has(key)) e.duplicate(`${pp}.hostPort`, `${port.hostPort}/${port.protocol ?? 'TCP'}`);
          hostPorts.add(key);
        }
        if (hostNetwork && port.hostPort !== undefined && port.hostPort !== port.containerPort) {
          e.invalid(`${pp}.hostPort`, port.hostPort, 'must match `containerPort` when `hostNetwork` is true');
        }
        protocol(e, `${pp}.protocol`, port.protocol);
        if (port.name !== undefined) {
          if (typeof port.name !== 'string') e.invalid(`${pp}.name`, port.name, 'must be a string');
          else {
            e.each(`${pp}.name`, port.name, isValidPortName(port.name));
            if (portNames.has(port.name)) e.duplicate(`${pp}.name`, port.name);
            portNames.add(port.name);
          }
        }
      });
    }
    validateEnv(e, c.env, `${p}.env`);
    validateEnvFrom(e, c.envFrom, `${p}.envFrom`);
    validateResources(e, c.resources, `${p}.resources`);
    if (c.volumeMounts !== undefined) {
      if (!Array.isArray(c.volumeMounts)) e.invalid(`${p}.volumeMounts`, c.volumeMounts, 'must be a list');
      else {
        const paths = new Set<string>();
        c.volumeMounts.forEach((m, j) => {
          const mp = `${p}.volumeMounts[${j}]`;
          if (!isObj(m)) return e.invalid(mp, m, 'must be an object');
          if (!m.name) e.required(`${mp}.name`);
          else if (!volumes.has(m.name)) e.notFound(`${mp}.name`, m.name);
          if (!m.mountPath) e.required(`${mp}.mountPath`);
          else if (typeof m.mountPath !== 'string') e.invalid(`${mp}.mountPath`, m.mountPath, 'must be a string');
          else {
            if (paths.has(m.mountPath)) e.invalid(`${mp}.mountPath`, m.mountPath, 'must be unique');
            paths.add(m.mountPath);
          }
          if (m.subPath !== undefined && (typeof m.subPath !== 'string' || m.subPath.startsWith('/') || m.subPath.split('/').includes('..'))) {
            e.invalid(`${mp}.subPath`, m.subPath, "must be a relative path without '..'");
          }
        });
      }
    }
    // Init containers run to completion: only regular containers and sidecars are probed.
    if (init && c.restartPolicy !== 'Always') {
      for (const f of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        if (c[f] !== undefined) e.forbidden(`${p}.${f}`, 'may not be set for init containers');
      }
    } else {
      validateProbe(e, c.livenessProbe, `${p}.livenessProbe`, true);
      validateProbe(e, c.readinessProbe, `${p}.readinessProbe`, false);
      validateProbe(e, c.startupProbe, `${p}.startupProbe`, true);
    }
  });
}

function validateVolumes(e: FieldErrors, volumes: unknown, field: string): Set<string> {
  const names = new Set<string>();
  if (volumes === undefined || volumes === null) return names;
  if (!Array.isArray(volumes)) {
    e.invalid(field, volumes, 'must be a list');
    return names;
  }
  volumes.forEach((v, i) => {
    const p = `${field}[${i}]`;
    if (!isObj(v)) return e.invalid(p, v, 'must be an object');
    if (!v.name) e.required(`${p}.name`);
    else if (typeof v.name !== 'string') e.invalid(`${p}.name`, v.name, 'must be a string');
    else {
      e.each(`${p}.name`, v.name, isDns1123Label(v.name));
      if (names.has(v.name)) e.duplicate(`${p}.name`, v.name);
      names.add(v.name);
    }
    const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] !== undefined && v[k] !== null);
    if (sources.length === 0) e.required(p, 'must specify a volume type');
    else if (sources.length > 1) e.forbidden(`${p}.${sources[1]}`, 'may not specify more than 1 volume type');
    for (const s of sources) {
      if (!(SUPPORTED_VOLUME_SOURCES as readonly string[]).includes(s)) e.notSupported(`${p}.${s}`, s, SUPPORTED_VOLUME_SOURCES);
    }
    if (v.emptyDir !== undefined && v.emptyDir !== null) {
      const ed = v.emptyDir;
      if (!isObj(ed)) e.invalid(`${p}.emptyDir`, ed, 'must be an object');
      else {
        if (ed.medium !== undefined && ed.medium !== '' && ed.medium !== 'Memory') e.notSupported(`${p}.emptyDir.medium`, ed.medium, ['', 'Memory']);
        if (ed.sizeLimit !== undefined && !isValidQuantity(ed.sizeLimit)) e.invalid(`${p}.emptyDir.sizeLimit`, ed.sizeLimit, 'must be a valid quantity');
      }
    }
    if (v.configMap !== undefined && v.configMap !== null) validateProjectedSource(e, v.configMap, `${p}.configMap`, 'name');
    if (v.secret !== undefined && v.secret !== null) validateProjectedSource(e, v.secret, `${p}.secret`, 'secretName');
    if (v.hostPath !== undefined && v.hostPath !== null) {
      const hp = v.hostPath;
      if (!isObj(hp)) e.invalid(`${p}.hostPath`, hp, 'must be an object');
      else {
        if (!hp.path) e.required(`${p}.hostPath.path`);
        else if (typeof hp.path !== 'string' || !hp.path.startsWith('/')) e.invalid(`${p}.hostPath.path`, hp.path, 'must be an absolute path');
        const types = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'];
        if (hp.type !== undefined && !types.includes(hp.type as string)) e.notSupported(`${p}.hostPath.type`, hp.type, types);
      }
    }
  });
  return names;
}

function validateNodeSelectorRequirement(e: FieldErrors, r: NodeSelectorRequirement, p: string): void {
  if (!isObj(r)) return e.invalid(p, r, 'must be an object');
  if (!r.key) e.required(`${p}.key`);
  else e.each(`${p}.key`, r.key, isQualifiedName(r.key));
  const values = r.values ?? [];
  switch (r.operator) {
    case 'In':
    case 'NotIn':
      if (values.length === 0) e.required(`${p}.values`, 'must be specified when `operator` is \'In\' or \'NotIn\'');
      break;
    case 'Exists':
    case 'DoesNotExist':
      if (values.length > 0) e.forbidden(`${p}.values`, 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'');
      break;
    case 'Gt':
    case 'Lt':
      if (values.length !== 1 || !/^-?\d+$/.test(values[0] ?? '')) e.required(`${p}.values`, 'must be specified single value when `operator` is \'Lt\' or \'Gt\'');
      break;
    default:
      e.notSupported(`${p}.operator`, r.operator, ['DoesNotExist', 'Exists', 'Gt', 'In', 'Lt', 'NotIn']);
  }
}

function validateAffinity(e: FieldErrors, affinity: unknown, field: string): void {
  if (affinity === undefined || affinity === null) return;
  if (!isObj(affinity)) return e.invalid(field, affinity, 'must be an object');
  const na = affinity.nodeAffinity;
  if (na === undefined || na === null) return;
  if (!isObj(na)) return e.invalid(`${field}.nodeAffinity`, na, 'must be an object');
  const req = na.requiredDuringSchedulingIgnoredDuringExecution;
  const rp = `${field}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`;
  if (req !== undefined && req !== null) {
    if (!isObj(req)) e.invalid(rp, req, 'must be an object');
    else if (!Array.isArray(req.nodeSelectorTerms) || req.nodeSelectorTerms.length === 0) e.required(`${rp}.nodeSelectorTerms`, 'must have at least one node selector term');
    else req.nodeSelectorTerms.forEach((t: Record<string, unknown>, i: number) => {
      const tp = `${rp}.nodeSelectorTerms[${i}]`;
      if (!isObj(t)) return e.invalid(tp, t, 'must be an object');
      for (const f of ['matchExpressions', 'matchFields'] as const) {
        const list = t[f];
        if (list === undefined) continue;
        if (!Array.isArray(list)) e.invalid(`${tp}.${f}`, list, 'must be a list');
        else list.forEach((r: NodeSelectorRequirement, j: number) => validateNodeSelectorRequirement(e, r, `${tp}.${f}[${j}]`));
      }
    });
  }
  const pref = na.preferredDuringSchedulingIgnoredDuringExecution;
  const pp = `${field}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution`;
  if (pref !== undefined && pref !== null) {
    if (!Array.isArray(pref)) e.invalid(pp, pref, 'must be a list');
    else pref.forEach((t: Record<string, unknown>, i: number) => {
      if (!isObj(t)) return e.invalid(`${pp}[${i}]`, t, 'must be an object');
      if (!isInt(t.weight) || t.weight < 1 || t.weight > 100) e.invalid(`${pp}[${i}].weight`, t.weight, 'must be in the range 1-100');
      const exprs = isObj(t.preference) ? t.preference.matchExpressions : undefined;
      if (Array.isArray(exprs)) exprs.forEach((r: NodeSelectorRequirement, j: number) => validateNodeSelectorRequirement(e, r, `${pp}[${i}].preference.matchExpressions[${j}]`));
    });
  }
}

function validateTolerations(e: FieldErrors, tolerations: unknown, field: string): void {
  if (tolerations === undefined || tolerations === null) return;
  if (!Array.isArray(tolerations)) return e.invalid(field, tolerations, 'must be a list');
  tolerations.forEach((t: Toleration, i) => {
    const p = `${field}[${i}]`;
    if (!isObj(t)) return e.invalid(p, t, 'must be an object');
    if (t.key) e.each(`${p}.key`, t.key, isQualifiedName(t.key));
    if (!t.key && t.operator !== 'Exists') e.invalid(`${p}.operator`, t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"');
    if (t.operator !== undefined && t.operator !== 'Exists' && t.operator !== 'Equal') e.notSupported(`${p}.operator`, t.operator, ['Equal', 'Exists']);
    if (t.operator === 'Exists' && t.value) e.invalid(`${p}.operator`, t.operator, 'value must be empty when `operator` is \'Exists\'');
    if (t.value) e.each(`${p}.value`, t.value, isValidLabelValue(t.value));
    const effects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
    if (t.effect !== undefined && t.effect !== '' && !effects.includes(t.effect)) e.notSupported(`${p}.effect`, t.effect, effects);
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') e.invalid(`${p}.effect`, t.effect ?? '', 'effect must be \'NoExecute\' when `tolerationSeconds` is set');
  });
}

/** dnsConfig as Kubernetes checks it: required with dnsPolicy None, at most 3 nameservers (IPs) and 32 search paths. */
function validateDnsConfig(e: FieldErrors, spec: PodSpec, path: string): void {
  const c = spec.dnsConfig;
  const p = `${path}.dnsConfig`;
  if (spec.dnsPolicy === 'None' && !isObj(c)) {
    e.required(p, 'must provide `dnsConfig` when `dnsPolicy` is None');
    return;
  }
  if (c === undefined) return;
  if (!isObj(c)) {
    e.invalid(p, c, 'must be an object');
    return;
  }
  const servers = c.nameservers ?? [];
  if (!Array.isArray(servers)) e.invalid(`${p}.nameservers`, servers, 'must be a list of IP addresses');
  else {
    if (spec.dnsPolicy === 'None' && servers.length === 0) e.required(`${p}.nameservers`, 'must provide at least one DNS nameserver when `dnsPolicy` is None');
    if (servers.length > 3) e.invalid(`${p}.nameservers`, servers, 'must not have more than 3 nameservers');
    servers.forEach((s, i) => {
      if (typeof s !== 'string' || isIP(s) === 0) e.invalid(`${p}.nameservers[${i}]`, s, 'must be valid IP address');
    });
  }
  const searches = c.searches ?? [];
  if (!Array.isArray(searches)) e.invalid(`${p}.searches`, searches, 'must be a list of domains');
  else {
    if (searches.length > 32) e.invalid(`${p}.searches`, searches, 'must not have more than 32 search paths');
    if (searches.join(' ').length > 2048) e.invalid(`${p}.searches`, searches, 'must not have more than 2048 characters (including spaces) in the search list');
    searches.forEach((s, i) => {
      if (typeof s !== 'string') e.invalid(`${p}.searches[${i}]`, s, 'must be a string');
      else e.each(`${p}.searches[${i}]`, s, isDns1123Subdomain(s.replace(/\.$/, '')));
    });
  }
  const options = c.options ?? [];
  if (!Array.isArray(options)) e.invalid(`${p}.options`, options, 'must be a list');
  else options.forEach((o, i) => {
    if (!isObj(o) || typeof o.name !== 'string' || o.name === '') e.required(`${p}.options[${i}].name`, 'Option.Name must not be empty');
  });
}

/** Validates a PodSpec at `path` (`spec`, or `spec.template.spec` for controllers). */
export function validatePodSpec(e: FieldErrors, spec: PodSpec | undefined, path: string): void {
  if (!isObj(spec)) {
    e.required(path);
    return;
  }
  const volumes = validateVolumes(e, spec.volumes, `${path}.volumes`);
  const names = new Set<string>();
  const hostPorts = new Set<string>();
  const portNames = new Set<string>();
  const hostNetwork = spec.hostNetwork === true;
  if (spec.containers === undefined || (Array.isArray(spec.containers) && spec.containers.length === 0)) e.required(`${path}.containers`);
  else validateContainers(e, spec.containers, `${path}.containers`, volumes, names, hostPorts, portNames, hostNetwork, false);
  if (spec.initContainers !== undefined) validateContainers(e, spec.initContainers, `${path}.initContainers`, volumes, names, hostPorts, portNames, hostNetwork, true);
  const grace = isInt(spec.terminationGracePeriodSeconds) ? spec.terminationGracePeriodSeconds : 30;
  for (const [list, field, init] of [[spec.containers, 'containers', false], [spec.initContainers, 'initContainers', true]] as const) {
    if (!Array.isArray(list)) continue;
    list.forEach((c: Container, i) => {
      if (!isObj(c)) return;
      validateContainerSecurityContext(e, c.securityContext, `${path}.${field}[${i}].securityContext`);
      validateContainerLifecycle(e, c, `${path}.${field}[${i}]`, init, grace);
    });
  }
  validatePodSecurity(e, spec, path);
  validateUnsupported(e, spec, path);
  const restart = ['Always', 'OnFailure', 'Never'];
  if (spec.restartPolicy === undefined) e.required(`${path}.restartPolicy`);
  else if (!restart.includes(spec.restartPolicy)) e.notSupported(`${path}.restartPolicy`, spec.restartPolicy, restart);
  const dns = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
  if (spec.dnsPolicy !== undefined && !dns.includes(spec.dnsPolicy)) e.notSupported(`${path}.dnsPolicy`, spec.dnsPolicy, dns);
  validateDnsConfig(e, spec, path);
  nonNegativeInt(e, `${path}.terminationGracePeriodSeconds`, spec.terminationGracePeriodSeconds);
  if (spec.activeDeadlineSeconds !== undefined && (!isInt(spec.activeDeadlineSeconds) || spec.activeDeadlineSeconds < 1)) {
    e.invalid(`${path}.activeDeadlineSeconds`, spec.activeDeadlineSeconds, 'must be between 1 and 2147483647, inclusive');
  }
  if (spec.nodeName !== undefined && spec.nodeName !== '') e.each(`${path}.nodeName`, spec.nodeName, isDns1123Subdomain(String(spec.nodeName)));
  if (spec.schedulerName !== undefined) e.each(`${path}.schedulerName`, spec.schedulerName, isDns1123Subdomain(String(spec.schedulerName)));
  if (spec.hostNetwork !== undefined && typeof spec.hostNetwork !== 'boolean') e.invalid(`${path}.hostNetwork`, spec.hostNetwork, 'must be a boolean');
  validateLabels(e, spec.nodeSelector, `${path}.nodeSelector`);
  validateAffinity(e, spec.affinity, `${path}.affinity`);
  validateTolerations(e, spec.tolerations, `${path}.tolerations`);
  validateTopologySpread(e, spec.topologySpreadConstraints, `${path}.topologySpreadConstraints`);
}

/** topologySpreadConstraints as Kubernetes checks the fields the scheduler reads: maxSkew > 0, a topologyKey, a known whenUnsatisfiable, a valid selector, no duplicate key and mode. */
function validateTopologySpread(e: FieldErrors, list: unknown, field: string): void {
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) return e.invalid(field, list, 'must be a list');
  const seen = new Set<string>();
  list.forEach((c: Record<string, unknown>, i) => {
    const p = `${field}[${i}]`;
    if (!isObj(c)) return e.invalid(p, c, 'must be an object');
    if (typeof c.maxSkew !== 'number' || !Number.isInteger(c.maxSkew) || c.maxSkew <= 0) e.invalid(`${p}.maxSkew`, c.maxSkew, 'must be greater than zero');
    if (typeof c.topologyKey !== 'string' || c.topologyKey === '') e.required(`${p}.topologyKey`, 'can not be empty');
    else e.each(`${p}.topologyKey`, c.topologyKey, isQualifiedName(c.topologyKey));
    const modes = ['DoNotSchedule', 'ScheduleAnyway'];
    if (!modes.includes(c.whenUnsatisfiable as string)) e.notSupported(`${p}.whenUnsatisfiable`, c.whenUnsatisfiable, modes);
    if (c.labelSelector !== undefined && c.labelSelector !== null) {
      try {
        labelSelectorFromObject(c.labelSelector as LabelSelector);
      } catch (err) {
        e.invalid(`${p}.labelSelector`, c.labelSelector, err instanceof Error ? err.message : String(err));
      }
    }
    const pair = `${String(c.topologyKey)}/${String(c.whenUnsatisfiable)}`;
    if (seen.has(pair)) e.duplicate(`${p}`, `{${String(c.topologyKey)}, ${String(c.whenUnsatisfiable)}}`);
    seen.add(pair);
  });
}

/** Validates a Pod (create, or update when `old` is given). */
export function validatePod(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const pod = obj as Pod;
  validateObjectMeta(e, pod.metadata, true, isDns1123Subdomain);
  // The stored spec itself (a /status write carries it over by reference) was judged when it was
  // written; as Kubernetes' status update, it is not validated again (~1.5 % of a busy apiserver).
  const sameSpec = old !== undefined && pod.spec === (old as Pod).spec;
  if (!sameSpec) validatePodSpec(e, pod.spec, 'spec');
  if (old) {
    validateObjectMetaUpdate(e, pod.metadata, old.metadata);
    if (!sameSpec) validatePodSpecUpdate(e, pod.spec, (old as Pod).spec);
  } else if (isObj(pod.spec) && pod.spec.ephemeralContainers !== undefined && pod.spec.ephemeralContainers !== null) {
    // Only the pods/ephemeralcontainers subresource adds them, to a pod that exists.
    e.forbidden('spec.ephemeralContainers', 'cannot be set on create');
  }
  return e.list;
}

/**
 * A pod's spec is immutable except images, activeDeadlineSeconds and
 * additions to tolerations; nodeName may go from unset to set so the
 * binding path can reuse this check.
 */
function validatePodSpecUpdate(e: FieldErrors, spec: PodSpec | undefined, old: PodSpec | undefined): void {
  if (!isObj(spec) || !isObj(old)) return;
  const mutable = deepCopy(spec);
  const sameLength = (a: unknown, b: unknown) => Array.isArray(a) && Array.isArray(b) && a.length === b.length;
  if (sameLength(mutable.containers, old.containers)) mutable.containers.forEach((c, i) => { if (isObj(c)) c.image = old.containers[i]!.image; });
  if (sameLength(mutable.initContainers, old.initContainers)) mutable.initContainers!.forEach((c, i) => { if (isObj(c)) c.image = old.initContainers![i]!.image; });
  mutable.activeDeadlineSeconds = old.activeDeadlineSeconds;
  if (!old.nodeName) mutable.nodeName = old.nodeName;
  const oldTol = old.tolerations ?? [];
  const newTol = Array.isArray(mutable.tolerations) ? mutable.tolerations : [];
  const kept = oldTol.every((t) => newTol.some((n) => canonicalJson(n) === canonicalJson(t)));
  if (kept) mutable.tolerations = old.tolerations;
  if (canonicalJson(mutable) !== canonicalJson(old)) {
    e.forbidden('spec', 'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)');
  }
  if (spec.activeDeadlineSeconds === undefined && old.activeDeadlineSeconds !== undefined) {
    e.invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value');
  }
}

// --------------------------------------------------------------- controllers

function validateSelectorAndTemplate(e: FieldErrors, selector: LabelSelector | undefined, template: PodTemplateSpec | undefined, kindWord: string): void {
  let matches: ((labels: Record<string, string>) => boolean) | undefined;
  if (selector === undefined || selector === null) {
    e.required('spec.selector');
  } else if (!isObj(selector)) {
    e.invalid('spec.selector', selector, 'must be an object');
  } else {
    try {
      const sel = labelSelectorFromObject(selector);
      if (sel.empty) e.invalid('spec.selector', selector, `empty selector is invalid for ${kindWord}`);
      else matches = (l) => sel.matches(l);
    } catch (err) {
      e.invalid('spec.selector', selector, err instanceof Error ? err.message : String(err));
    }
    if (isObj(selector.matchLabels)) validateLabels(e, selector.matchLabels, 'spec.selector.matchLabels');
  }
  if (!isObj(template)) {
    e.required('spec.template');
    return;
  }
  if (template.metadata !== undefined) {
    if (!isObj(template.metadata)) e.invalid('spec.template.metadata', template.metadata, 'must be an object');
    else {
      validateLabels(e, template.metadata.labels, 'spec.template.metadata.labels');
      validateAnnotations(e, template.metadata.annotations, 'spec.template.metadata.annotations');
    }
  }
  const labels = isObj(template.metadata?.labels) ? template.metadata!.labels : {};
  if (matches && !matches(labels)) e.invalid('spec.template.metadata.labels', labels, '`selector` does not match template `labels`');
  validatePodSpec(e, template.spec, 'spec.template.spec');
  if (isObj(template.spec) && template.spec.restartPolicy !== undefined && template.spec.restartPolicy !== 'Always') {
    e.notSupported('spec.template.spec.restartPolicy', template.spec.restartPolicy, ['Always']);
  }
  if (isObj(template.spec) && template.spec.activeDeadlineSeconds !== undefined) {
    e.forbidden('spec.template.spec.activeDeadlineSeconds', 'activeDeadlineSeconds in ReplicaSet is not Supported');
  }
}

function validateReplicas(e: FieldErrors, replicas: unknown, field = 'spec.replicas'): void {
  if (replicas === undefined) return;
  nonNegativeInt(e, field, replicas);
}

function validateSelectorUpdate(e: FieldErrors, sel: unknown, oldSel: unknown): void {
  if (oldSel !== undefined && canonicalJson(sel) !== canonicalJson(oldSel)) e.invalid('spec.selector', sel, IMMUTABLE);
}

/** Validates a ReplicaSet. */
export function validateReplicaSet(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const rs = obj as ReplicaSet;
  validateObjectMeta(e, rs.metadata, true, isDns1123Subdomain);
  if (!isObj(rs.spec)) e.required('spec');
  else {
    validateReplicas(e, rs.spec.replicas);
    nonNegativeInt(e, 'spec.minReadySeconds', rs.spec.minReadySeconds);
    validateSelectorAndTemplate(e, rs.spec.selector, rs.spec.template, 'replicaset');
  }
  if (old) {
    validateObjectMetaUpdate(e, rs.metadata, old.metadata);
    validateSelectorUpdate(e, rs.spec?.selector, (old as ReplicaSet).spec?.selector);
  }
  return e.list;
}

function intOrPercent(e: FieldErrors, field: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) e.invalid(field, value, 'must be an integer');
    else if (value < 0) e.invalid(field, value, 'must be greater than or equal to 0');
    else return value;
    return undefined;
  }
  if (typeof value === 'string') {
    const m = /^(\d+)%$/.exec(value);
    if (!m) e.invalid(field, value, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
    else return Number(m[1]);
    return undefined;
  }
  e.invalid(field, value, 'must be an integer or percentage (e.g. 5 or 25%)');
  return undefined;
}

function validateRollingUpdate(e: FieldErrors, ru: RollingUpdateDeployment, p: string): void {
  const unavailable = intOrPercent(e, `${p}.maxUnavailable`, ru.maxUnavailable);
  const surge = intOrPercent(e, `${p}.maxSurge`, ru.maxSurge);
  if (typeof ru.maxUnavailable === 'string' && unavailable !== undefined && unavailable > 100) e.invalid(`${p}.maxUnavailable`, ru.maxUnavailable, 'must not be greater than 100%');
  if (unavailable === 0 && surge === 0) e.invalid(`${p}.maxUnavailable`, ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0');
}

/** Validates a Deployment. */
export function validateDeployment(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const d = obj as Deployment;
  validateObjectMeta(e, d.metadata, true, isDns1123Subdomain);
  const spec = d.spec;
  if (!isObj(spec)) e.required('spec');
  else {
    validateReplicas(e, spec.replicas);
    validateSelectorAndTemplate(e, spec.selector, spec.template, 'deployment');
    const st = spec.strategy;
    if (st !== undefined) {
      if (!isObj(st)) e.invalid('spec.strategy', st, 'must be an object');
      else {
        const types = ['Recreate', 'RollingUpdate'];
        if (st.type === undefined) e.required('spec.strategy.type');
        else if (!types.includes(st.type)) e.notSupported('spec.strategy.type', st.type, types);
        if (st.type === 'Recreate' && st.rollingUpdate !== undefined && st.rollingUpdate !== null) {
          e.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'");
        }
        if (st.type === 'RollingUpdate') {
          if (!isObj(st.rollingUpdate)) e.required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil');
          else validateRollingUpdate(e, st.rollingUpdate, 'spec.strategy.rollingUpdate');
        }
      }
    }
    nonNegativeInt(e, 'spec.minReadySeconds', spec.minReadySeconds);
    nonNegativeInt(e, 'spec.revisionHistoryLimit', spec.revisionHistoryLimit);
    if (spec.paused !== undefined && typeof spec.paused !== 'boolean') e.invalid('spec.paused', spec.paused, 'must be a boolean');
    if (spec.progressDeadlineSeconds !== undefined) {
      nonNegativeInt(e, 'spec.progressDeadlineSeconds', spec.progressDeadlineSeconds);
      if (isInt(spec.progressDeadlineSeconds) && spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
        e.invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds');
      }
    }
  }
  if (old) {
    validateObjectMetaUpdate(e, d.metadata, old.metadata);
    validateSelectorUpdate(e, d.spec?.selector, (old as Deployment).spec?.selector);
  }
  return e.list;
}

// ------------------------------------------------------------------ services

/** Service types Flotilla implements (ExternalName is not served; LoadBalancer publishes node addresses, see the service-lb controller). */
export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;
/** The NodePort range, as in Kubernetes' default. */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

/** Validates a Service. */
export function validateService(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const svc = obj as Service;
  validateObjectMeta(e, svc.metadata, true, isDns1035Label);
  const spec = svc.spec;
  if (!isObj(spec)) e.required('spec');
  else {
    const type = spec.type;
    if (type === undefined) e.required('spec.type');
    else if (!(SERVICE_TYPES as readonly string[]).includes(type)) e.notSupported('spec.type', type, SERVICE_TYPES);
    const headless = spec.clusterIP === 'None';
    if (spec.ports === undefined || (Array.isArray(spec.ports) && spec.ports.length === 0)) {
      if (!headless) e.required('spec.ports');
    } else if (!Array.isArray(spec.ports)) e.invalid('spec.ports', spec.ports, 'must be a list');
    else {
      const names = new Set<string>();
      const ports = new Set<string>();
      const nodePorts = new Set<string>();
      spec.ports.forEach((p, i) => {
        const pp = `spec.ports[${i}]`;
        if (!isObj(p)) return e.invalid(pp, p, 'must be an object');
        if (p.name === undefined || p.name === '') {
          if (spec.ports!.length > 1) e.required(`${pp}.name`);
        } else if (typeof p.name !== 'string') e.invalid(`${pp}.name`, p.name, 'must be a string');
        else {
          e.each(`${pp}.name`, p.name, isDns1123Label(p.name));
          if (names.has(p.name)) e.duplicate(`${pp}.name`, p.name);
          names.add(p.name);
        }
        if (p.port === undefined) e.required(`${pp}.port`);
        else portNumber(e, `${pp}.port`, p.port);
        protocol(e, `${pp}.protocol`, p.protocol, true);
        const key = `${p.port}/${p.protocol ?? 'TCP'}`;
        if (ports.has(key)) e.duplicate(pp, { port: p.port, protocol: p.protocol ?? 'TCP' });
        ports.add(key);
        if (p.targetPort !== undefined) intOrPortName(e, `${pp}.targetPort`, p.targetPort);
        if (p.nodePort !== undefined && p.nodePort !== 0) {
          if (type === 'ClusterIP') e.forbidden(`${pp}.nodePort`, "may not be used when `type` is 'ClusterIP'");
          else if (!isInt(p.nodePort) || p.nodePort < NODE_PORT_RANGE.min || p.nodePort > NODE_PORT_RANGE.max) {
            e.invalid(`${pp}.nodePort`, p.nodePort, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`);
          } else {
            const nk = `${p.nodePort}/${p.protocol ?? 'TCP'}`;
            if (nodePorts.has(nk)) e.duplicate(`${pp}.nodePort`, p.nodePort);
            nodePorts.add(nk);
          }
        }
      });
    }
    validateLabels(e, spec.selector, 'spec.selector');
    if (spec.clusterIP !== undefined && spec.clusterIP !== '' && spec.clusterIP !== 'None') {
      e.each('spec.clusterIP', spec.clusterIP, isValidIp(String(spec.clusterIP)));
    }
    if (spec.clusterIPs !== undefined) {
      if (!Array.isArray(spec.clusterIPs)) e.invalid('spec.clusterIPs', spec.clusterIPs, 'must be a list');
      else {
        if (spec.clusterIP && spec.clusterIPs.length > 0 && spec.clusterIPs[0] !== spec.clusterIP) {
          e.invalid('spec.clusterIPs', spec.clusterIPs, 'first value must match `clusterIP`');
        }
        spec.clusterIPs.forEach((ip, i) => { if (ip !== 'None') e.each(`spec.clusterIPs[${i}]`, ip, isValidIp(String(ip))); });
      }
    }
    if (headless && (type === 'NodePort' || type === 'LoadBalancer')) e.invalid('spec.clusterIP', 'None', `may not be set to 'None' for ${type} services`);
    if (spec.externalIPs !== undefined) {
      if (!Array.isArray(spec.externalIPs)) e.invalid('spec.externalIPs', spec.externalIPs, 'must be a list');
      else spec.externalIPs.forEach((ip, i) => e.each(`spec.externalIPs[${i}]`, ip, isValidIp(String(ip))));
    }
    if (spec.loadBalancerClass !== undefined && type !== 'LoadBalancer') e.forbidden('spec.loadBalancerClass', 'may only be used when `type` is \'LoadBalancer\'');
    if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None' && spec.sessionAffinity !== 'ClientIP') {
      e.notSupported('spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None']);
    }
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (t !== undefined && (!isInt(t) || t < 1 || t > 86400)) e.invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, 'must be greater than 0 and less than 86400');
    for (const f of ['externalTrafficPolicy', 'internalTrafficPolicy'] as const) {
      if (spec[f] !== undefined && spec[f] !== 'Cluster' && spec[f] !== 'Local') e.notSupported(`spec.${f}`, spec[f], ['Cluster', 'Local']);
    }
  }
  if (old) {
    validateObjectMetaUpdate(e, svc.metadata, old.metadata);
    const oldIp = (old as Service).spec?.clusterIP;
    const newIp = spec?.clusterIP;
    // An empty clusterIP in an update means "keep it" (see carryOverServiceAllocations).
    if (oldIp && newIp && newIp !== oldIp) e.invalid('spec.clusterIP', newIp, IMMUTABLE);
  }
  return e.list;
}

/**
 * Copies the allocated clusterIP(s) and nodePorts of the stored Service into
 * an update that left them out, as the Kubernetes apiserver does, so a
 * plain PUT of the original manifest does not count as a change.
 */
export function carryOverServiceAllocations(svc: Service, old: Service): void {
  if (!svc.spec || !old.spec) return;
  if (!svc.spec.clusterIP && old.spec.clusterIP) svc.spec.clusterIP = old.spec.clusterIP;
  if ((!svc.spec.clusterIPs || svc.spec.clusterIPs.length === 0) && old.spec.clusterIPs) svc.spec.clusterIPs = [...old.spec.clusterIPs];
  if (svc.spec.type === 'NodePort' && old.spec.type === 'NodePort') {
    for (const p of svc.spec.ports ?? []) {
      if (p.nodePort) continue;
      const prev = (old.spec.ports ?? []).find((o) => o.port === p.port && (o.protocol ?? 'TCP') === (p.protocol ?? 'TCP'));
      if (prev?.nodePort) p.nodePort = prev.nodePort;
    }
  }
}

/** Validates an Endpoints object. */
export function validateEndpoints(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const ep = obj as Endpoints;
  validateObjectMeta(e, ep.metadata, true, isDns1123Subdomain);
  if (ep.subsets !== undefined) {
    if (!Array.isArray(ep.subsets)) e.invalid('subsets', ep.subsets, 'must be a list');
    else ep.subsets.forEach((s, i) => {
      const sp = `subsets[${i}]`;
      if (!isObj(s)) return e.invalid(sp, s, 'must be an object');
      for (const f of ['addresses', 'notReadyAddresses'] as const) {
        const list = s[f];
        if (list === undefined) continue;
        if (!Array.isArray(list)) { e.invalid(`${sp}.${f}`, list, 'must be a list'); continue; }
        list.forEach((a, j) => {
          const ap = `${sp}.${f}[${j}]`;
          if (!isObj(a)) return e.invalid(ap, a, 'must be an object');
          if (!a.ip) e.required(`${ap}.ip`);
          else e.each(`${ap}.ip`, a.ip, isValidIp(String(a.ip)));
          if (a.nodeName) e.each(`${ap}.nodeName`, a.nodeName, isDns1123Subdomain(String(a.nodeName)));
        });
      }
      if (s.ports !== undefined) {
        if (!Array.isArray(s.ports)) return e.invalid(`${sp}.ports`, s.ports, 'must be a list');
        const names = new Set<string>();
        s.ports.forEach((p, j) => {
          const pp = `${sp}.ports[${j}]`;
          if (!isObj(p)) return e.invalid(pp, p, 'must be an object');
          if (p.name) {
            e.each(`${pp}.name`, p.name, isDns1123Label(String(p.name)));
            if (names.has(p.name)) e.duplicate(`${pp}.name`, p.name);
            names.add(p.name);
          } else if (s.ports!.length > 1) e.required(`${pp}.name`);
          portNumber(e, `${pp}.port`, p.port);
          protocol(e, `${pp}.protocol`, p.protocol, true);
        });
      }
    });
  }
  if (old) validateObjectMetaUpdate(e, ep.metadata, old.metadata);
  return e.list;
}

// ------------------------------------------------------------------ ingress

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];

function validateHost(e: FieldErrors, field: string, host: unknown): void {
  if (typeof host !== 'string') return e.invalid(field, host, 'must be a string');
  if (isValidIp(host).length === 0) return e.invalid(field, host, 'must be a DNS name, not an IP address');
  const name = host.startsWith('*.') ? host.slice(2) : host;
  e.each(field, host, isDns1123Subdomain(name));
}

function validateBackend(e: FieldErrors, b: IngressBackend | undefined, p: string): void {
  if (!isObj(b)) return e.required(p);
  const hasService = b.service !== undefined && b.service !== null;
  const hasResource = b.resource !== undefined && b.resource !== null;
  if (hasService && hasResource) e.invalid(p, '', 'cannot set both resource and service backends');
  else if (!hasService && !hasResource) e.invalid(p, '', 'resource or service backend is required');
  if (hasService) {
    const s = b.service!;
    if (!isObj(s)) return e.invalid(`${p}.service`, s, 'must be an object');
    if (!s.name) e.required(`${p}.service.name`);
    else e.each(`${p}.service.name`, s.name, isDns1035Label(String(s.name)));
    const port = s.port;
    if (!isObj(port)) e.required(`${p}.service.port`);
    else {
      const hasName = port.name !== undefined && port.name !== '';
      const hasNumber = port.number !== undefined && port.number !== 0;
      if (hasName && hasNumber) e.invalid(`${p}.service.port`, port, 'cannot set both port name & port number');
      else if (hasName) e.each(`${p}.service.port.name`, port.name, isValidPortName(String(port.name)));
      else if (hasNumber) portNumber(e, `${p}.service.port.number`, port.number);
      else e.invalid(`${p}.service.port`, port, 'port name or number is required');
    }
  }
  if (hasResource) {
    const r = b.resource!;
    if (!isObj(r) || !r.kind || !r.name) e.required(`${p}.resource`, 'kind and name are required');
  }
}

/** Validates a networking.k8s.io/v1 Ingress. */
export function validateIngress(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const ing = obj as Ingress;
  validateObjectMeta(e, ing.metadata, true, isDns1123Subdomain);
  const spec = ing.spec;
  if (!isObj(spec)) e.required('spec');
  else {
    const hasRules = Array.isArray(spec.rules) && spec.rules.length > 0;
    if (!spec.defaultBackend && !hasRules) e.invalid('spec', '', 'either `defaultBackend` or `rules` must be specified');
    if (spec.defaultBackend !== undefined) validateBackend(e, spec.defaultBackend, 'spec.defaultBackend');
    if (spec.ingressClassName !== undefined) e.each('spec.ingressClassName', spec.ingressClassName, isDns1123Subdomain(String(spec.ingressClassName)));
    if (spec.rules !== undefined && !Array.isArray(spec.rules)) e.invalid('spec.rules', spec.rules, 'must be a list');
    else (spec.rules ?? []).forEach((r, i) => {
      const rp = `spec.rules[${i}]`;
      if (!isObj(r)) return e.invalid(rp, r, 'must be an object');
      if (r.host !== undefined && r.host !== '') validateHost(e, `${rp}.host`, r.host);
      if (r.http === undefined || r.http === null) return;
      if (!isObj(r.http) || !Array.isArray(r.http.paths) || r.http.paths.length === 0) return e.required(`${rp}.http.paths`);
      r.http.paths.forEach((p, j) => {
        const pp = `${rp}.http.paths[${j}]`;
        if (!isObj(p)) return e.invalid(pp, p, 'must be an object');
        if (p.pathType === undefined) e.required(`${pp}.pathType`, 'pathType must be specified');
        else if (!PATH_TYPES.includes(p.pathType)) e.notSupported(`${pp}.pathType`, p.pathType, PATH_TYPES);
        if (p.path !== undefined && typeof p.path !== 'string') e.invalid(`${pp}.path`, p.path, 'must be a string');
        else if (p.pathType === 'Exact' || p.pathType === 'Prefix') {
          if (!p.path || !p.path.startsWith('/')) e.invalid(`${pp}.path`, p.path ?? '', 'must be an absolute path');
          else if (p.path.includes('//')) e.invalid(`${pp}.path`, p.path, "must not contain '//'");
        } else if (p.path && !p.path.startsWith('/')) e.invalid(`${pp}.path`, p.path, 'must be an absolute path');
        validateBackend(e, p.backend, `${pp}.backend`);
      });
    });
    if (spec.tls !== undefined) {
      if (!Array.isArray(spec.tls)) e.invalid('spec.tls', spec.tls, 'must be a list');
      else spec.tls.forEach((t, i) => {
        if (!isObj(t)) return e.invalid(`spec.tls[${i}]`, t, 'must be an object');
        (t.hosts ?? []).forEach((h, j) => validateHost(e, `spec.tls[${i}].hosts[${j}]`, h));
        if (t.secretName) e.each(`spec.tls[${i}].secretName`, t.secretName, isDns1123Subdomain(String(t.secretName)));
      });
    }
  }
  if (old) validateObjectMetaUpdate(e, ing.metadata, old.metadata);
  return e.list;
}

// ------------------------------------------------------ namespace, node, …

/** Validates a Namespace (names are DNS-1123 labels). */
export function validateNamespace(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const ns = obj as Namespace;
  validateObjectMeta(e, ns.metadata, false, isDns1123Label);
  const phase = ns.status?.phase;
  if (phase !== undefined && phase !== 'Active' && phase !== 'Terminating') e.notSupported('status.phase', phase, ['Active', 'Terminating']);
  if (old) validateObjectMetaUpdate(e, ns.metadata, old.metadata);
  return e.list;
}

function isCidr(s: string): boolean {
  const [ip, bits, extra] = s.split('/');
  if (extra !== undefined || !ip || bits === undefined || !/^\d+$/.test(bits)) return false;
  const max = ip.includes(':') ? 128 : 32;
  return isValidIp(ip).length === 0 && Number(bits) <= max;
}

/** Validates a Node. */
export function validateNode(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const node = obj as Node;
  validateObjectMeta(e, node.metadata, false, isDns1123Subdomain);
  const spec = node.spec;
  if (spec !== undefined) {
    if (!isObj(spec)) e.invalid('spec', spec, 'must be an object');
    else {
      if (spec.podCIDR && !isCidr(String(spec.podCIDR))) e.invalid('spec.podCIDR', spec.podCIDR, 'must be a valid CIDR, (e.g. 10.244.1.0/24)');
      (Array.isArray(spec.podCIDRs) ? spec.podCIDRs : []).forEach((c, i) => { if (!isCidr(String(c))) e.invalid(`spec.podCIDRs[${i}]`, c, 'must be a valid CIDR, (e.g. 10.244.1.0/24)'); });
      if (spec.unschedulable !== undefined && typeof spec.unschedulable !== 'boolean') e.invalid('spec.unschedulable', spec.unschedulable, 'must be a boolean');
      if (spec.taints !== undefined) {
        if (!Array.isArray(spec.taints)) e.invalid('spec.taints', spec.taints, 'must be a list');
        else {
          const seen = new Set<string>();
          spec.taints.forEach((t, i) => {
            const p = `spec.taints[${i}]`;
            if (!isObj(t)) return e.invalid(p, t, 'must be an object');
            if (!t.key) e.required(`${p}.key`);
            else e.each(`${p}.key`, t.key, isQualifiedName(t.key));
            if (t.value) e.each(`${p}.value`, t.value, isValidLabelValue(t.value));
            const effects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];
            if (!t.effect) e.required(`${p}.effect`);
            else if (!effects.includes(t.effect)) e.notSupported(`${p}.effect`, t.effect, effects);
            const k = `${t.key}:${t.effect}`;
            if (seen.has(k)) e.duplicate(p, { key: t.key, effect: t.effect });
            seen.add(k);
          });
        }
      }
    }
  }
  for (const f of ['capacity', 'allocatable'] as const) validateResourceList(e, node.status?.[f], `status.${f}`);
  if (old) {
    validateObjectMetaUpdate(e, node.metadata, old.metadata);
    const oldCidr = (old as Node).spec?.podCIDR;
    if (oldCidr && spec?.podCIDR !== oldCidr) e.forbidden('spec.podCIDR', 'node updates may not change podCIDR except from "" to valid');
  }
  return e.list;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Validates a core/v1 Event. */
export function validateEvent(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const ev = obj as Event;
  validateObjectMeta(e, ev.metadata, true, isDns1123Subdomain);
  const io = ev.involvedObject;
  if (!isObj(io)) e.required('involvedObject');
  else {
    if (!io.kind) e.required('involvedObject.kind');
    if (!io.name) e.required('involvedObject.name');
    if (io.namespace && ev.metadata?.namespace && io.namespace !== ev.metadata.namespace) {
      e.invalid('involvedObject.namespace', io.namespace, 'does not match event.namespace');
    }
  }
  if (ev.type !== undefined && ev.type !== 'Normal' && ev.type !== 'Warning') e.notSupported('type', ev.type, ['Normal', 'Warning']);
  if (ev.reason !== undefined && String(ev.reason).length > 128) e.tooLong('reason', 'may not be more than 128 bytes');
  nonNegativeInt(e, 'count', ev.count);
  for (const f of ['firstTimestamp', 'lastTimestamp'] as const) {
    if (ev[f] !== undefined && ev[f] !== null && !RFC3339.test(String(ev[f]))) e.invalid(f, ev[f], 'must be an RFC 3339 timestamp');
  }
  if (old) {
    validateObjectMetaUpdate(e, ev.metadata, old.metadata);
    if (canonicalJson((old as Event).involvedObject) !== canonicalJson(io)) e.invalid('involvedObject', io, IMMUTABLE);
  }
  return e.list;
}

/** Validates a coordination.k8s.io/v1 Lease. */
export function validateLease(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const lease = obj as Lease;
  validateObjectMeta(e, lease.metadata, true, isDns1123Subdomain);
  const spec = lease.spec;
  if (spec !== undefined) {
    if (!isObj(spec)) e.invalid('spec', spec, 'must be an object');
    else {
      if (spec.holderIdentity !== undefined && spec.holderIdentity !== null && typeof spec.holderIdentity !== 'string') e.invalid('spec.holderIdentity', spec.holderIdentity, 'must be a string');
      if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds !== null && (!isInt(spec.leaseDurationSeconds) || spec.leaseDurationSeconds <= 0)) {
        e.invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0');
      }
      nonNegativeInt(e, 'spec.leaseTransitions', spec.leaseTransitions ?? undefined);
      for (const f of ['acquireTime', 'renewTime'] as const) {
        if (spec[f] !== undefined && spec[f] !== null && !RFC3339.test(String(spec[f]))) e.invalid(`spec.${f}`, spec[f], 'must be an RFC 3339 timestamp');
      }
    }
  }
  if (old) validateObjectMetaUpdate(e, lease.metadata, old.metadata);
  return e.list;
}

// ------------------------------------------------------------ endpointslice

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'] as const;
/** Kubernetes' limits: 1,000 endpoints and 100 ports per slice, 100 addresses per endpoint. */
const MAX_SLICE_ENDPOINTS = 1000;
const MAX_SLICE_PORTS = 100;
const MAX_ENDPOINT_ADDRESSES = 100;

function validateSliceAddress(e: FieldErrors, field: string, addressType: string, a: unknown): void {
  if (typeof a !== 'string') return e.invalid(field, a, 'must be a string');
  if (addressType === 'FQDN') return e.each(field, a, isDns1123Subdomain(a));
  const problems = isValidIp(a);
  if (problems.length) return e.each(field, a, problems);
  if ((addressType === 'IPv4') === a.includes(':')) e.invalid(field, a, `must be an ${addressType} address`);
}

/** Validates a discovery.k8s.io/v1 EndpointSlice. */
export function validateEndpointSlice(obj: KubeObject, old?: KubeObject): FieldError[] {
  const e = new FieldErrors();
  const slice = obj as EndpointSlice;
  validateObjectMeta(e, slice.metadata, true, isDns1123Subdomain);
  const addressType = slice.addressType;
  if (addressType === undefined || (addressType as unknown) === '') e.required('addressType');
  else if (!(ADDRESS_TYPES as readonly unknown[]).includes(addressType)) e.notSupported('addressType', addressType, ADDRESS_TYPES);
  if (old && addressType !== (old as EndpointSlice).addressType) e.invalid('addressType', addressType, IMMUTABLE);
  const endpoints = slice.endpoints;
  if (endpoints === undefined || endpoints === null) e.required('endpoints');
  else if (!Array.isArray(endpoints)) e.invalid('endpoints', endpoints, 'must be a list');
  else {
    if (endpoints.length > MAX_SLICE_ENDPOINTS) e.tooLong('endpoints', `must have at most ${MAX_SLICE_ENDPOINTS} items`);
    endpoints.forEach((ep, i) => {
      const p = `endpoints[${i}]`;
      if (!isObj(ep)) return e.invalid(p, ep, 'must be an object');
      if (!Array.isArray(ep.addresses) || ep.addresses.length === 0) e.required(`${p}.addresses`, 'must contain at least 1 address');
      else if (ep.addresses.length > MAX_ENDPOINT_ADDRESSES) e.tooLong(`${p}.addresses`, `must have at most ${MAX_ENDPOINT_ADDRESSES} items`);
      else ep.addresses.forEach((a: unknown, j: number) => validateSliceAddress(e, `${p}.addresses[${j}]`, String(addressType), a));
      if (ep.conditions !== undefined && ep.conditions !== null) {
        if (!isObj(ep.conditions)) e.invalid(`${p}.conditions`, ep.conditions, 'must be an object');
        else for (const c of ['ready', 'serving', 'terminating'] as const) {
          const v = ep.conditions[c];
          if (v !== undefined && v !== null && typeof v !== 'boolean') e.invalid(`${p}.conditions.${c}`, v, 'must be a boolean');
        }
      }
      if (ep.hostname !== undefined && ep.hostname !== null) e.each(`${p}.hostname`, ep.hostname, isDns1123Label(String(ep.hostname)));
      if (ep.nodeName !== undefined && ep.nodeName !== null) e.each(`${p}.nodeName`, ep.nodeName, isDns1123Subdomain(String(ep.nodeName)));
    });
  }
  if (slice.ports !== undefined && slice.ports !== null) {
    if (!Array.isArray(slice.ports)) e.invalid('ports', slice.ports, 'must be a list');
    else {
      if (slice.ports.length > MAX_SLICE_PORTS) e.tooLong('ports', `must have at most ${MAX_SLICE_PORTS} items`);
      const names = new Set<string>();
      slice.ports.forEach((port, i) => {
        const p = `ports[${i}]`;
        if (!isObj(port)) return e.invalid(p, port, 'must be an object');
        const name = port.name ?? '';
        if (name !== '') e.each(`${p}.name`, name, isDns1123Label(String(name)));
        if (names.has(name)) e.duplicate(`${p}.name`, name);
        names.add(name);
        // A nil port means "all ports" in Kubernetes; a set one must be valid.
        if (port.port !== undefined && port.port !== null) portNumber(e, `${p}.port`, port.port);
        protocol(e, `${p}.protocol`, port.protocol, true);
      });
    }
  }
  if (old) validateObjectMetaUpdate(e, slice.metadata, old.metadata);
  return e.list;
}
