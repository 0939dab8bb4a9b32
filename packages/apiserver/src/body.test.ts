import { describe, expect, it } from 'vitest';
import { ApiError } from '@flotilla/api';
import { decodeObjectBody, decodePatchBody, flowNestingDepth, MAX_BODY_NESTING } from './body.js';

describe('flowNestingDepth', () => {
  it.each([
    ['{"a": {"b": [1, 2]}}', 3],
    ['{"a": "[[[[ {{{{"}', 1],
    ["a: '[[[['\nb: [1]", 1],
    ['a: 1 # [[[[[\nb: {c: [2]}', 2],
    ['{"a": "\\"[[["}', 1],
    ['plain: text', 0],
  ])('%j has depth %i', (body, depth) => {
    expect(flowNestingDepth(body)).toBe(depth);
  });
});

describe('decodeObjectBody', () => {
  it('rejects deeply nested YAML with a 400 before the parser sees it', () => {
    const deep = `${'['.repeat(1000)}${']'.repeat(1000)}`;
    let err: unknown;
    try {
      decodeObjectBody(deep, 'application/yaml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(400);
    expect((err as ApiError).message).toContain(`more than ${MAX_BODY_NESTING} levels`);
  });

  it('rejects deeply nested JSON patches too', () => {
    expect(() => decodePatchBody(`${'{"a":'.repeat(200)}1${'}'.repeat(200)}`)).toThrow(ApiError);
  });

  it('accepts an ordinary manifest', () => {
    const body = 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\nspec:\n  containers: [{name: app, image: "busybox:1"}]\n';
    expect(decodeObjectBody(body, 'application/yaml')).toMatchObject({ kind: 'Pod', metadata: { name: 'web' } });
  });
});

describe('duplicateFields', () => {
  it('names keys repeated in one object of a JSON or YAML body, at any depth', async () => {
    const { duplicateFields } = await import('./body.js');
    expect(duplicateFields('{"spec":{"replicas":1,"replicas":2,"template":{"spec":{"containers":[{"name":"a","name":"b"}]}}}}', 'application/json')).toEqual(['spec.replicas', 'spec.template.spec.containers[0].name']);
    expect(duplicateFields('metadata:\n  name: a\n  name: b\n', 'application/yaml')).toEqual(['metadata.name']);
    expect(duplicateFields('{"a":1,"b":{"a":2}}', 'application/json')).toEqual([]);
    expect(duplicateFields('', 'application/json')).toEqual([]);
    expect(duplicateFields('{not json', 'application/json')).toEqual([]);
  });
});
