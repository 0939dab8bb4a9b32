import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifests, readManifests } from './manifests.js';

const two = `apiVersion: v1
kind: ConfigMap
metadata:
  name: a
---
# a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
`;

describe('manifests', () => {
  it('reads every document with its line', () => {
    const objs = parseManifests(two, 'app.yaml');
    expect(objs.map((o) => [o.object.kind, o.document, o.line])).toEqual([['ConfigMap', 1, 1], ['Deployment', 2, 7]]);
  });

  it('flattens kind: List and skips empty documents', () => {
    const text = `---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: s}}\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n`;
    expect(parseManifests(text, 'x').map((o) => o.object.metadata.name)).toEqual(['s', 'p']);
  });

  it('names the file, document and line of a YAML error', () => {
    const bad = `${two}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n`;
    expect(() => parseManifests(bad, 'app.yaml')).toThrow(ManifestError);
    try {
      parseManifests(bad, 'app.yaml');
    } catch (err) {
      expect((err as Error).message).toMatch(/^app\.yaml: document 3 \(line 1[4-6]\): YAML: /);
    }
  });

  it('names what is missing', () => {
    expect(() => parseManifests('apiVersion: v1\nmetadata: {name: x}\n', 'f.yaml')).toThrow('f.yaml: document 1 (line 1): kind is not set');
    expect(() => parseManifests('kind: Pod\napiVersion: v1\nmetadata: {}\n', 'f.yaml')).toThrow('metadata.name is not set');
    expect(() => parseManifests('- a\n- b\n', 'f.yaml')).toThrow('not an object');
  });

  it('reads a directory in name order and stdin for -', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotctl-'));
    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: b}\n');
    writeFileSync(join(dir, 'a.yml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a}\n');
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    try {
      const objs = readManifests([dir, '-'], () => 'apiVersion: v1\nkind: Pod\nmetadata: {name: c}\n');
      expect(objs.map((o) => o.object.metadata.name)).toEqual(['a', 'b', 'c']);
      expect(objs[2]!.source).toBe('<stdin>');
      expect(() => readManifests([join(dir, 'missing.yaml')])).toThrow('does not exist');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
