import { PROXY_LEASE_PREFIX, type KubeObject } from '@flotilla/api';
import { BOOTSTRAP_USER_PREFIX, BOOTSTRAPPERS_GROUP } from './bootstrap-token.js';
import type { NodeGraph } from './node-graph.js';
import type { Authorizer, Decision, RequestAttributes, UserInfo, Verb } from './types.js';

/** Cluster administrators: allowed everything (as in Kubernetes). */
export const MASTERS_GROUP = 'system:masters';
/** Every node agent's group; its user is `system:node:<nodeName>`. */
export const NODES_GROUP = 'system:nodes';
/** The user-name prefix of node identities. */
export const NODE_USER_PREFIX = 'system:node:';
/**
 * The control-plane components (scheduler, controller-manager, proxy,
 * ingress). They act on every kind of object across namespaces, so the
 * group is allowed everything, like system:masters; give its tokens only
 * to those processes.
 */
export const COMPONENTS_GROUP = 'system:flotilla-components';
/** The namespace of node heartbeat Leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

const CSR_GROUP = 'certificates.k8s.io';

const READ_VERBS: ReadonlySet<Verb> = new Set(['get', 'list', 'watch']);

/** `group/resource` pairs a node may read: what the agent needs to run its pods and register itself. */
const NODE_READABLE: ReadonlySet<string> = new Set([
  '/pods',
  '/services',
  '/endpoints',
  '/nodes',
  '/namespaces',
  '/events',
  'coordination.k8s.io/leases',
  'discovery.k8s.io/endpointslices',
]);

const ALLOW: Decision = { allowed: true };
const deny = (reason: string): Decision => ({ allowed: false, reason });

/** The node name of a node identity (user `system:node:<name>` in group system:nodes), else undefined. */
export function nodeNameOf(user: UserInfo): string | undefined {
  if (!user.groups.includes(NODES_GROUP) || !user.name.startsWith(NODE_USER_PREFIX)) return undefined;
  const name = user.name.slice(NODE_USER_PREFIX.length);
  return name === '' ? undefined : name;
}

/** `pods/status`, `nodes`, `leases.coordination.k8s.io`: how the resource reads in a reason. */
function what(attrs: RequestAttributes): string {
  const r = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  return attrs.group ? `${r}.${attrs.group}` : r;
}

function boundNode(obj: KubeObject | undefined): string | undefined {
  const spec = obj?.spec as { nodeName?: unknown } | undefined;
  return typeof spec?.nodeName === 'string' && spec.nodeName !== '' ? spec.nodeName : undefined;
}

/**
 * Flotilla's built-in authorization, after Kubernetes' Node authorizer and
 * NodeRestriction admission plus two fixed groups:
 * - system:masters and system:flotilla-components may do anything;
 * - a node (user `system:node:<n>`, group system:nodes) may read what its
 *   agent needs — Secrets and ConfigMaps only one by one (get), and only
 *   those the pods bound to it reference (the NodeGraph) —, write its own
 *   Node (and status) and its own Lease in
 *   kube-node-lease, update the status of and delete the pods bound to it,
 *   and write Events;
 * - everyone else is denied.
 * `authorize` decides from the request; `admit` adds the checks that need
 * the stored or submitted object (a create's name, a pod's spec.nodeName).
 */
export class DefaultAuthorizer implements Authorizer {
  /**
   * Without a graph no node may read a Secret or ConfigMap; without
   * `csrRequester` (who asked for a CSR, read from the store) nobody but
   * masters and components may read a CertificateSigningRequest.
   */
  constructor(private readonly options: { nodeGraph?: NodeGraph; csrRequester?: (name: string) => Promise<string | undefined> } = {}) {}

  authorize(attrs: RequestAttributes): Decision {
    const { user } = attrs;
    if (user.groups.includes(MASTERS_GROUP) || user.groups.includes(COMPONENTS_GROUP)) return ALLOW;
    const csr = csrAccess(attrs);
    if (csr) return csr === 'create' ? ALLOW : { ...deny(`user "${user.name}" may only read its own certificatesigningrequests`), ...(this.options.csrRequester ? { recheck: true } : {}) };
    const node = nodeNameOf(user);
    if (node === undefined) return deny(`user "${user.name}" is not in a group that grants access`);
    const ref = referencedRead(attrs);
    if (ref) {
      if (this.options.nodeGraph?.allows(node, ref.resource, ref.namespace, ref.name)) return ALLOW;
      return { ...noRelationship(node), ...(this.options.nodeGraph ? { recheck: true } : {}) };
    }
    return authorizeNode(node, attrs);
  }

  async recheck(attrs: RequestAttributes): Promise<Decision> {
    if (csrAccess(attrs) === 'get-own' && this.options.csrRequester) {
      const requester = await this.options.csrRequester(attrs.name!);
      return requester !== undefined && requester === attrs.user.name ? ALLOW : deny(`user "${attrs.user.name}" may only read its own certificatesigningrequests`);
    }
    const node = nodeNameOf(attrs.user);
    const ref = referencedRead(attrs);
    const graph = this.options.nodeGraph;
    if (node === undefined || !ref || !graph) return this.authorize(attrs);
    return (await graph.confirm(node, ref.resource, ref.namespace, ref.name)) ? ALLOW : noRelationship(node);
  }

  admit(attrs: RequestAttributes, oldObject: KubeObject | undefined, newObject: KubeObject | undefined): Decision {
    // Re-checked so that admit alone is never more permissive than authorize.
    const first = this.authorize(attrs);
    if (!first.allowed) return first;
    const node = nodeNameOf(attrs.user);
    const { user } = attrs;
    // A CSR's requester fields are stamped by the server from the caller (registry prepareForCreate).
    if (csrAccess(attrs) === 'create') return ALLOW;
    if (node === undefined || user.groups.includes(MASTERS_GROUP) || user.groups.includes(COMPONENTS_GROUP)) return ALLOW;
    return admitNode(node, attrs, oldObject, newObject);
  }
}

/** Whether the user may bootstrap a credential: a bootstrap token's user, or a node renewing its own. */
function mayRequestCredential(user: UserInfo): boolean {
  if (user.groups.includes(BOOTSTRAPPERS_GROUP) && user.name.startsWith(BOOTSTRAP_USER_PREFIX)) return true;
  return nodeNameOf(user) !== undefined;
}

/**
 * What a bootstrapper or node may do with CertificateSigningRequests
 * (Kubernetes' system:node-bootstrapper and self-node-client roles,
 * narrowed): create them, and get one by name once the store shows it is
 * theirs. Lists, watches, updates and deletes stay denied.
 */
function csrAccess(attrs: RequestAttributes): 'create' | 'get-own' | undefined {
  if (attrs.group !== CSR_GROUP || attrs.resource !== 'certificatesigningrequests' || attrs.subresource || !mayRequestCredential(attrs.user)) return undefined;
  if (attrs.verb === 'create') return 'create';
  if (attrs.verb === 'get' && attrs.name) return 'get-own';
  return undefined;
}

/** Kubernetes' node authorizer wording for an object no pod of the node references. */
const noRelationship = (node: string): Decision => deny(`no relationship found between node '${node}' and this object`);

/** A get of one Secret or ConfigMap (what the node graph decides), else undefined. Lists and watches stay denied. */
function referencedRead(attrs: RequestAttributes): { resource: 'secrets' | 'configmaps'; namespace: string; name: string } | undefined {
  const { verb, group, resource, subresource, namespace, name } = attrs;
  if (group !== '' || (resource !== 'secrets' && resource !== 'configmaps') || subresource) return undefined;
  if (verb !== 'get' || !namespace || !name) return undefined;
  return { resource, namespace, name };
}

/** The Leases a node writes: its heartbeat and its service proxy's (so the proxy can run on the node's own credential). */
function nodeLeaseNames(node: string): string[] {
  return [node, `${PROXY_LEASE_PREFIX}${node}`];
}

function authorizeNode(node: string, attrs: RequestAttributes): Decision {
  const { verb, group, resource, subresource, namespace, name } = attrs;
  const key = `${group}/${resource}`;
  const no = (why?: string) => deny(why ?? `node "${node}" cannot ${verb} ${what(attrs)}`);

  if (READ_VERBS.has(verb) && NODE_READABLE.has(key) && (subresource === undefined || subresource === 'status')) return ALLOW;

  if ((group === '' || group === 'events.k8s.io') && resource === 'events' && !subresource) {
    return verb === 'create' || verb === 'update' || verb === 'patch' ? ALLOW : no();
  }

  if (key === '/nodes' && (subresource === undefined || subresource === 'status')) {
    if (verb !== 'create' && verb !== 'update' && verb !== 'patch') return no();
    if (verb === 'create' && subresource) return no();
    // A create's name is only known from the body; admit checks it.
    if (name !== undefined && name !== node) return no(`node "${node}" cannot ${verb} ${what(attrs)} of node "${name}"`);
    if (name === undefined && verb !== 'create') return no();
    return ALLOW;
  }

  if (key === 'coordination.k8s.io/leases' && !subresource) {
    if (verb !== 'create' && verb !== 'update' && verb !== 'patch') return no();
    if (namespace !== NODE_LEASE_NAMESPACE) return no(`node "${node}" can only write leases in namespace "${NODE_LEASE_NAMESPACE}"`);
    if (name !== undefined && !nodeLeaseNames(node).includes(name)) return no(`node "${node}" cannot ${verb} lease "${name}"`);
    if (name === undefined && verb !== 'create') return no();
    return ALLOW;
  }

  if (key === '/pods') {
    // Which node a pod is bound to is only known from the stored object: admit decides.
    if (subresource === 'status' && (verb === 'update' || verb === 'patch') && name !== undefined) return ALLOW;
    if (!subresource && verb === 'delete' && name !== undefined) return ALLOW;
    return no();
  }

  return no();
}

function admitNode(node: string, attrs: RequestAttributes, oldObject: KubeObject | undefined, newObject: KubeObject | undefined): Decision {
  const { verb, group, resource, subresource } = attrs;
  const key = `${group}/${resource}`;

  if (key === '/nodes' || key === 'coordination.k8s.io/leases') {
    const kind = key === '/nodes' ? 'node' : 'lease';
    const names = kind === 'node' ? [node] : nodeLeaseNames(node);
    for (const obj of [oldObject, newObject]) {
      const objName = obj?.metadata?.name;
      if (objName !== undefined && !names.includes(objName)) return deny(`node "${node}" cannot ${verb} ${what(attrs)} of ${kind} "${objName}"`);
    }
    if (verb === 'create' && !names.includes(newObject?.metadata?.name ?? '')) {
      return deny(`node "${node}" can only create a ${kind} named "${node}"`);
    }
    return ALLOW;
  }

  if (key === '/pods') {
    const label = subresource ? `${resource}/${subresource}` : resource;
    // Without the stored pod its binding is unknown: deny rather than guess.
    if (oldObject === undefined) return deny(`node "${node}" cannot ${verb} ${label} of a pod it cannot see`);
    const bound = boundNode(oldObject);
    if (bound !== node) return deny(`node "${node}" cannot ${verb} ${label} of pod ${bound ? `bound to "${bound}"` : 'not bound to it'}`);
    // Status writes must not move the pod to another node (an absent nodeName is "unchanged").
    const moved = boundNode(newObject);
    if (moved !== undefined && moved !== node) {
      return deny(`node "${node}" cannot change spec.nodeName of pod bound to "${node}"`);
    }
    return ALLOW;
  }

  return ALLOW;
}
