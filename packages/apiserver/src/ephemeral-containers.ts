/**
 * `pods/{name}/ephemeralcontainers` (what `kubectl debug` writes): GET
 * answers the Pod; PUT (a Pod) and PATCH (kubectl 1.32 sends a strategic
 * merge patch of `spec.ephemeralContainers`) change nothing but that list,
 * as Kubernetes' ephemeralContainersStrategy: every other field of the body
 * is ignored, existing ephemeral containers may not change, and the rules
 * of `validateEphemeralContainersUpdate` apply. The agent of the pod's node
 * starts the new ones.
 */
import { ApiError, badRequest, conflict, defaultEphemeralContainers, invalid, validateEphemeralContainersUpdate, type KubeObject, type Pod } from '@flotilla/api';
import type { Storage } from '@flotilla/store';
import type { Authorizer } from './auth/types.js';
import { decodeObjectBody, decodePatchBody, patchTypeOf } from './body.js';
import { applyPatch } from './patch.js';
import { withType, type RestRequest, type RestResponse } from './rest-handlers.js';

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Serves GET, PUT and PATCH of the ephemeralcontainers subresource of one pod. */
export async function serveEphemeralContainers(storage: Storage, authorizer: Authorizer, req: RestRequest, method: string): Promise<RestResponse> {
  const { info, path } = req;
  const name = path.name!;
  if (method === 'GET' || method === 'HEAD') return { code: 200, body: withType(info, await storage.get('pods', path.namespace, name)) };
  if (method !== 'PUT' && method !== 'PATCH') throw badRequest(`pods/ephemeralcontainers supports GET, PUT and PATCH, not ${method}`);
  const dryRun = req.query.dryRun === 'All';
  if (req.query.dryRun !== undefined && req.query.dryRun !== '' && !dryRun) throw badRequest(`dryRun: Unsupported value: "${req.query.dryRun}": supported values: "All"`);
  const body = method === 'PUT' ? decodeObjectBody(req.body, req.contentType)! : undefined;
  const patch = method === 'PATCH' ? decodePatchBody(req.body) : undefined;
  const type = method === 'PATCH' ? patchTypeOf(req.contentType) : undefined;

  /** The pod to store: `cur` with only the ephemeral containers of the request. */
  const build = (cur: KubeObject): Pod => {
    const desired = (body ?? applyPatch(type!, withType(info, cur), patch)) as Pod;
    if (typeof desired !== 'object' || desired === null || Array.isArray(desired)) throw badRequest('the patched document is not an object');
    if (desired.kind !== undefined && desired.kind !== 'Pod') throw badRequest(`the body must be a Pod, not ${String(desired.kind)}`);
    const md = (desired.metadata ?? {}) as Pod['metadata'];
    if (md.name !== undefined && md.name !== name) throw badRequest(`the name of the object (${md.name}) does not match the name on the URL (${name})`);
    if (md.namespace !== undefined && md.namespace !== path.namespace) {
      throw badRequest(`the namespace of the provided object (${md.namespace}) does not match the namespace sent on the request (${path.namespace})`);
    }
    // A resourceVersion the client sent (a PUT, or a patch that sets it) is a precondition.
    const wanted = method === 'PUT' ? md.resourceVersion : md.resourceVersion !== cur.metadata.resourceVersion ? md.resourceVersion : undefined;
    if (wanted && wanted !== cur.metadata.resourceVersion) {
      throw conflict('pods', name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const next = clone(cur) as Pod;
    const list = (desired.spec as Pod['spec'] | undefined)?.ephemeralContainers;
    next.spec = { ...next.spec!, ...(list === undefined || list === null ? {} : { ephemeralContainers: list }) };
    if (list === undefined || list === null) delete next.spec.ephemeralContainers;
    defaultEphemeralContainers(next);
    const errors = validateEphemeralContainersUpdate(next, cur as Pod);
    if (errors.length) throw invalid('Pod', name, errors);
    const d = authorizer.admit(req.attrs, cur, next);
    if (!d.allowed) throw new ApiError('Forbidden', `pods/ephemeralcontainers "${name}" is forbidden: User "${req.attrs.user.name}" cannot ${req.attrs.verb} this object${d.reason ? `: ${d.reason}` : ''}`);
    return next;
  };

  if (dryRun) return { code: 200, body: withType(info, build(await storage.get('pods', path.namespace, name))) };
  const updated = await storage.guaranteedUpdate('pods', path.namespace, name, (cur) => build(cur));
  return { code: 200, body: withType(info, updated) };
}
