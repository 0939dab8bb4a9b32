import { describe, expect, it } from 'vitest';
import { RESOURCES } from '@flotilla/api';
import { openApiDocument, openApiV3Documents, openApiV3Index } from './openapi.js';

describe('OpenAPI v3', () => {
  it('has one document per served group version, each at a URL naming its hash', () => {
    const docs = openApiV3Documents(RESOURCES, 'v1.32.0');
    const index = openApiV3Index(docs) as { paths: Record<string, { serverRelativeURL: string }> };
    expect(Object.keys(index.paths)).toEqual(expect.arrayContaining(['api/v1', 'apis/apps/v1', 'apis/networking.k8s.io/v1']));
    expect(index.paths['apis/apps/v1']!.serverRelativeURL).toBe(`/openapi/v3/apis/apps/v1?hash=${docs.get('apis/apps/v1')!.hash}`);
  });

  it('describes every served kind with its group-version-kind, and advertises fieldValidation on PATCH', () => {
    for (const info of RESOURCES) {
      const doc = openApiDocument(RESOURCES, info.group, info.version, 'v') as any;
      const name = `io.k8s.api.${info.group === '' ? 'core' : info.group.split('.')[0]}.${info.version}.${info.kind}`;
      expect(doc.components.schemas[name]?.['x-kubernetes-group-version-kind'], name).toEqual([{ group: info.group, kind: info.kind, version: info.version }]);
      const base = `/${info.group ? `apis/${info.group}` : 'api'}/${info.version}${info.namespaced ? '/namespaces/{namespace}' : ''}/${info.plural}/{name}`;
      const patch = doc.paths[base]?.patch;
      expect(patch?.['x-kubernetes-group-version-kind'], base).toEqual({ group: info.group, kind: info.kind, version: info.version });
      expect(patch.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['fieldValidation', 'fieldManager', 'force']));
    }
  });

  it('carries list types, list-map keys and patch merge keys of the pod spec', () => {
    const doc = openApiDocument(RESOURCES, '', 'v1', 'v') as any;
    const spec = doc.components.schemas['io.k8s.api.core.v1.PodSpec'].properties;
    expect(spec.containers).toMatchObject({ type: 'array', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'], 'x-kubernetes-patch-merge-key': 'name', 'x-kubernetes-patch-strategy': 'merge' });
    expect(spec.containers.items.allOf[0].$ref).toBe('#/components/schemas/io.k8s.api.core.v1.Container');
    const container = doc.components.schemas['io.k8s.api.core.v1.Container'].properties;
    expect(container.ports).toMatchObject({ 'x-kubernetes-list-map-keys': ['containerPort', 'protocol'], 'x-kubernetes-patch-merge-key': 'containerPort' });
    expect(container.env['x-kubernetes-patch-merge-key']).toBe('name');
    expect(spec.nodeSelector['x-kubernetes-map-type']).toBe('atomic');
    expect(doc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'].properties.finalizers['x-kubernetes-list-type']).toBe('set');
    expect(typeof container.image.description).toBe('string');
  });
});

describe('OpenAPI v3 over HTTP', () => {
  it('serves the index and documents with ETags; a current hash is immutable, an old one redirects', async () => {
    const { startTestApiServer } = await import('./testing/index.js');
    const s = await startTestApiServer();
    try {
      const index = await s.request('GET', '/openapi/v3');
      expect(index.status).toBe(200);
      const url = index.body.paths['apis/apps/v1'].serverRelativeURL as string;
      const doc = await s.request('GET', url);
      expect(doc.status).toBe(200);
      expect(doc.headers['cache-control']).toBe('public, immutable');
      expect(doc.body.components.schemas['io.k8s.api.apps.v1.Deployment']).toBeTruthy();
      const again = await s.request('GET', '/openapi/v3/apis/apps/v1', undefined, { 'if-none-match': doc.headers.etag as string });
      expect(again.status).toBe(304);
      const old = await s.request('GET', '/openapi/v3/apis/apps/v1?hash=0123');
      expect(old.status).toBe(301);
      expect(old.headers.location).toBe(url);
      expect((await s.request('GET', '/openapi/v3/apis/nope/v1')).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});

describe('a kind without a field table', () => {
  it('still gets a document with standard metadata (explain works for it)', () => {
    const widget = { ...RESOURCES.find((r) => r.kind === 'Deployment')!, group: 'example.com', kind: 'Widget', listKind: 'WidgetList', plural: 'widgets', singular: 'widget' };
    const doc = openApiDocument([widget], 'example.com', 'v1', 'v') as any;
    const schema = doc.components.schemas['io.k8s.api.example.v1.Widget'];
    expect(schema['x-kubernetes-group-version-kind']).toEqual([{ group: 'example.com', kind: 'Widget', version: 'v1' }]);
    expect(schema.properties.metadata.allOf[0].$ref).toBe('#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta');
    expect(schema.properties.spec.type).toBe('object');
  });
});
