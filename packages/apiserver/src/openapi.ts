/**
 * OpenAPI v3 documents of the served kinds, generated from the one field
 * table of each kind (known-fields in @flotilla/api) and the registry: the
 * index at `/openapi/v3` and one document per group version
 * (`/openapi/v3/apis/apps/v1`). kubectl 1.32 reads them for `explain`, for
 * the merge keys of its client-side apply patches, and to learn that the
 * server validates fields itself (the `fieldValidation` parameter of each
 * PATCH operation), so it does no client-side validation of its own.
 */
import { createHash } from 'node:crypto';
import { FIELD_META, GENERIC_OBJECT_SCHEMA, leafSchema, fieldSchemaFor, groupVersion, type FieldSchema, type LeafType, type ResourceInfo } from '@flotilla/api';

type Schema = Record<string, unknown>;

const META_V1 = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const TIME = `${META_V1}.Time`;

/** Components every document may reference besides the kinds' own structures. */
const BASE_COMPONENTS: Record<string, Schema> = {
  [QUANTITY]: { description: 'An amount of a resource: a number with an optional suffix (100m, 1Gi, 2).', type: 'string', 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
  [INT_OR_STRING]: { description: 'A number or a string (a port name, a percentage).', type: 'string', format: 'int-or-string', 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
  [TIME]: { description: 'A point in time, RFC 3339, UTC, to the second.', type: 'string', format: 'date-time' },
  [`${META_V1}.Patch`]: { description: 'A patch in one of the PATCH media types.', type: 'object' },
  [`${META_V1}.Status`]: {
    description: 'The outcome of an operation that returns no object, and every error.',
    type: 'object',
    properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, status: { type: 'string' }, message: { type: 'string' }, reason: { type: 'string' }, code: { type: 'integer', format: 'int32' }, details: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    'x-kubernetes-group-version-kind': [{ group: '', kind: 'Status', version: 'v1' }],
  },
  [`${META_V1}.ListMeta`]: {
    description: 'Metadata of a list: its resourceVersion and the token of the next page.',
    type: 'object',
    properties: { resourceVersion: { type: 'string' }, continue: { type: 'string' }, remainingItemCount: { type: 'integer', format: 'int64' } },
  },
};

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

/** A reference with the referring field's description, the way Kubernetes' v3 documents wrap them. */
function wrapRef(name: string, description: string | undefined, isObject: boolean): Schema {
  return { ...(description ? { description } : {}), ...(isObject ? { default: {} } : {}), allOf: [ref(name)] };
}

function leafOpenApi(type: LeafType, description: string | undefined): Schema {
  const d = description ? { description } : {};
  switch (type) {
    case 'string': return { ...d, type: 'string' };
    case 'integer': return { ...d, type: 'integer', format: 'int32' };
    case 'boolean': return { ...d, type: 'boolean' };
    case 'number': return { ...d, type: 'number', format: 'double' };
    case 'bytes': return { ...d, type: 'string', format: 'byte' };
    case 'quantity': return wrapRef(QUANTITY, description, false);
    case 'int-or-string': return wrapRef(INT_OR_STRING, description, false);
    case 'time': return wrapRef(TIME, description, false);
    case 'object': return { ...d, type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    case 'string-map': return { ...d, type: 'object', additionalProperties: { type: 'string', default: '' } };
    case 'quantity-map': return { ...d, type: 'object', additionalProperties: ref(QUANTITY) };
    case 'string-list': return { ...d, type: 'array', items: { type: 'string', default: '' }, 'x-kubernetes-list-type': 'atomic' };
    case 'object-list': return { ...d, type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }, 'x-kubernetes-list-type': 'atomic' };
  }
}

/** Builds schemas from field tables, collecting named structures as components. */
class SchemaBuilder {
  readonly components: Record<string, Schema> = {};

  /** The schema of one field (`name` types a `true` leaf through the common table). */
  field(name: string, node: FieldSchema | true | undefined, item = false): Schema {
    if (node === undefined) return {};
    if (node === true) {
      const common = leafSchema(name);
      return common ? this.field(name, common) : {};
    }
    const meta = node[FIELD_META] ?? {};
    if (meta.type) {
      const leaf = leafOpenApi(meta.type, meta.description);
      if (meta.atomic) leaf['x-kubernetes-map-type'] = 'atomic';
      return leaf;
    }
    const items = node['[]'];
    if (items !== undefined) {
      const out: Schema = { ...(meta.description ? { description: meta.description } : {}), type: 'array', items: this.field('', items, true) };
      if (meta.listMapKeys) out['x-kubernetes-list-map-keys'] = meta.listMapKeys;
      out['x-kubernetes-list-type'] = meta.listType ?? 'atomic';
      if (meta.patchMergeKey) out['x-kubernetes-patch-merge-key'] = meta.patchMergeKey;
      if (meta.patchStrategy) out['x-kubernetes-patch-strategy'] = meta.patchStrategy;
      return out;
    }
    const body = this.struct(node);
    if (!meta.name) return { ...(meta.description ? { description: meta.description } : {}), ...body };
    if (!this.components[meta.name]) {
      this.components[meta.name] = {}; // placeholder: a structure may (indirectly) contain itself
      this.components[meta.name] = { ...(meta.description ? { description: meta.description } : {}), ...body };
    }
    // The structure's description is the component's; explain prints it, so the reference does not repeat it.
    void item;
    return wrapRef(meta.name, undefined, true);
  }

  /** The object schema of a structure's fields. */
  struct(node: FieldSchema): Schema {
    const meta = node[FIELD_META] ?? {};
    const properties: Record<string, Schema> = {};
    for (const [k, v] of Object.entries(node)) if (k !== '[]') properties[k] = this.field(k, v);
    const out: Schema = { type: 'object', properties };
    if (meta.open) out['x-kubernetes-preserve-unknown-fields'] = true;
    if (meta.atomic) out['x-kubernetes-map-type'] = 'atomic';
    return out;
  }
}

/** `core`, `apps`, `networking` … : the package part of Kubernetes' component names. */
function groupPackage(group: string): string {
  return group === '' ? 'core' : group.split('.')[0]!;
}

/** The component name of a kind: `io.k8s.api.apps.v1.Deployment`. */
export function kindComponentName(info: Pick<ResourceInfo, 'group' | 'version' | 'kind'>): string {
  return `io.k8s.api.${groupPackage(info.group)}.${info.version}.${info.kind}`;
}

/** The document path of a group version: `api/v1`, `apis/apps/v1`. */
export function groupVersionPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}


const queryParam = (name: string, description: string, type = 'string'): Schema => ({ name, in: 'query', description, schema: { type }, uniqueItems: true });
const PARAMS = {
  dryRun: queryParam('dryRun', 'All: process the request fully but do not persist it.'),
  fieldManager: queryParam('fieldManager', 'Name of the actor making the change, recorded in managedFields. Required for apply.'),
  fieldValidation: queryParam('fieldValidation', 'Ignore, Warn or Strict: what to do with unknown or duplicate fields.'),
  force: queryParam('force', 'Apply only: take ownership of fields another manager owns.', 'boolean'),
  pretty: queryParam('pretty', 'Indent the output.'),
  labelSelector: queryParam('labelSelector', 'Only objects whose labels match.'),
  fieldSelector: queryParam('fieldSelector', 'Only objects whose fields match.'),
  watch: queryParam('watch', 'Stream changes instead of returning a list.', 'boolean'),
  limit: queryParam('limit', 'Largest number of items in one page.', 'integer'),
  continue: queryParam('continue', 'Token of the next page.'),
  resourceVersion: queryParam('resourceVersion', 'Version the answer must be at least as new as.'),
};
const pathParam = (name: string, description: string): Schema => ({ name, in: 'path', required: true, description, schema: { type: 'string' }, uniqueItems: true });

function operation(info: ResourceInfo, action: string, verb: string, params: Schema[], body: Schema | undefined, response: Schema, bodyTypes = ['application/json', 'application/yaml']): Schema {
  const gvk = { group: info.group, kind: info.kind, version: info.version };
  const content = (schema: Schema, types: string[]) => Object.fromEntries(types.map((t) => [t, { schema }]));
  const opId = `${verb}${info.namespaced && action !== 'list-all' ? 'Namespaced' : ''}${info.kind}`;
  return {
    description: `${verb} ${info.kind}`,
    operationId: opId,
    tags: [groupVersion(info)],
    parameters: params,
    ...(body ? { requestBody: { required: true, content: content(body, bodyTypes) } } : {}),
    responses: { '200': { description: 'OK', content: content(response, ['application/json', 'application/yaml']) }, '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
  };
}

/** The paths of one resource: its collection and its objects, with the operations kubectl looks for. */
function resourcePaths(info: ResourceInfo): Record<string, Schema> {
  const prefix = `/${groupVersionPath(info.group, info.version)}`;
  const base = info.namespaced ? `${prefix}/namespaces/{namespace}/${info.plural}` : `${prefix}/${info.plural}`;
  const kind = ref(kindComponentName(info));
  const list = ref(kindComponentName({ ...info, kind: info.listKind }));
  const nsParam = info.namespaced ? [pathParam('namespace', 'The namespace of the objects.')] : [];
  const patchTypes = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
  return {
    [base]: {
      parameters: [...nsParam, PARAMS.pretty],
      get: operation(info, 'list', 'list', [PARAMS.labelSelector, PARAMS.fieldSelector, PARAMS.limit, PARAMS.continue, PARAMS.resourceVersion, PARAMS.watch], undefined, list),
      post: operation(info, 'post', 'create', [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation], kind, kind),
      delete: operation(info, 'deletecollection', 'deletecollection', [PARAMS.dryRun, PARAMS.labelSelector, PARAMS.fieldSelector], undefined, ref(`${META_V1}.Status`)),
    },
    [`${base}/{name}`]: {
      parameters: [pathParam('name', `The name of the ${info.kind}.`), ...nsParam, PARAMS.pretty],
      get: operation(info, 'get', 'read', [], undefined, kind),
      put: operation(info, 'put', 'replace', [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation], kind, kind),
      patch: operation(info, 'patch', 'patch', [PARAMS.dryRun, PARAMS.fieldManager, PARAMS.fieldValidation, PARAMS.force], ref(`${META_V1}.Patch`), kind, patchTypes),
      delete: operation(info, 'delete', 'delete', [PARAMS.dryRun], undefined, ref(`${META_V1}.Status`)),
    },
  };
}

/** The OpenAPI v3 document of one group version. */
export function openApiDocument(resources: readonly ResourceInfo[], group: string, version: string, serverVersion: string): Schema {
  const b = new SchemaBuilder();
  let paths: Record<string, Schema> = {};
  for (const info of resources) {
    if (info.group !== group || info.version !== version) continue;
    const table = fieldSchemaFor(info) ?? GENERIC_OBJECT_SCHEMA;
    const name = kindComponentName(info);
    const schema: Schema = { ...(table[FIELD_META]?.description ? { description: table[FIELD_META]!.description } : {}), ...b.struct(table) };
    schema['x-kubernetes-group-version-kind'] = [{ group: info.group, kind: info.kind, version: info.version }];
    b.components[name] = schema;
    b.components[kindComponentName({ ...info, kind: info.listKind })] = {
      description: `A list of ${info.kind} objects.`,
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { type: 'string', description: 'Versioned schema of this representation.' },
        kind: { type: 'string', description: 'Kind of the list.' },
        metadata: wrapRef(`${META_V1}.ListMeta`, 'Metadata of the list.', true),
        items: { type: 'array', description: `The ${info.kind} objects.`, items: wrapRef(name, undefined, true) },
      },
      'x-kubernetes-group-version-kind': [{ group: info.group, kind: info.listKind, version: info.version }],
    };
    paths = { ...paths, ...resourcePaths(info) };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Flotilla', version: serverVersion },
    paths,
    components: { schemas: { ...BASE_COMPONENTS, ...b.components } },
  };
}

/** One served document: its JSON text and the hash kubectl caches it by. */
export interface OpenApiDoc {
  json: string;
  hash: string;
}

/** Every group version's document (built once: the kinds are fixed for a server's life), by path (`apis/apps/v1`). */
export function openApiV3Documents(resources: readonly ResourceInfo[], serverVersion: string): Map<string, OpenApiDoc> {
  const out = new Map<string, OpenApiDoc>();
  const gvs = new Map<string, { group: string; version: string }>();
  for (const r of resources) gvs.set(groupVersionPath(r.group, r.version), { group: r.group, version: r.version });
  for (const [path, gv] of gvs) {
    const json = JSON.stringify(openApiDocument(resources, gv.group, gv.version, serverVersion));
    out.set(path, { json, hash: createHash('sha512').update(json).digest('hex').toUpperCase() });
  }
  return out;
}

/** The `/openapi/v3` index: each group version's document by path, at a URL that names its hash. */
export function openApiV3Index(docs: Map<string, OpenApiDoc>): Schema {
  const paths: Record<string, Schema> = {};
  for (const [path, doc] of [...docs].sort(([a], [b]) => a.localeCompare(b))) paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${doc.hash}` };
  return { paths };
}
