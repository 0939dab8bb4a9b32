import { describe, expect, it } from 'vitest';
import type { KubeObject } from '@flotilla/api';
import { encodeStored, encodedJson, encodedLines, rememberJson, spliceRevision, spliceRevisionText } from './object-json.js';

const pod = (): KubeObject => ({ kind: 'Pod', spec: { containers: [{ name: 'c', image: 'i' }] }, apiVersion: 'v1', metadata: { name: 'p', namespace: 'd', resourceVersion: '9' } });

describe('one serialisation per object version', () => {
  it('stores apiVersion, kind and metadata first, without resourceVersion', () => {
    const text = encodeStored(pod());
    expect(text.startsWith('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"')).toBe(true);
    expect(JSON.parse(text)).toEqual({ ...pod(), metadata: { name: 'p', namespace: 'd' } });
  });

  it('splices the revision into the stored text: the same object as a fresh serialisation', () => {
    const text = encodeStored(pod());
    const json = spliceRevision(text, pod(), 42)!;
    expect(JSON.parse(json)).toEqual({ ...pod(), metadata: { ...pod().metadata, resourceVersion: '42' } });
    // Empty metadata: no dangling comma.
    const bare = encodeStored({ apiVersion: 'v1', kind: 'Pod', metadata: {} });
    expect(JSON.parse(spliceRevision(bare, { apiVersion: 'v1', kind: 'Pod' }, 3)!)).toEqual({ apiVersion: 'v1', kind: 'Pod', metadata: { resourceVersion: '3' } });
  });

  it('declines text it did not write (another key order, no apiVersion): the caller serialises afresh', () => {
    expect(spliceRevision(JSON.stringify({ metadata: { name: 'p' }, apiVersion: 'v1', kind: 'Pod' }), { apiVersion: 'v1', kind: 'Pod' }, 1)).toBeUndefined();
    expect(spliceRevision(encodeStored({ metadata: { name: 'p' } }), {}, 1)).toBeUndefined();
    // The kind of the object must be the one the text starts with.
    expect(spliceRevision(encodeStored(pod()), { apiVersion: 'v1', kind: 'Node' }, 1)).toBeUndefined();
  });

  it('splices the revision into stored text alone, as into text and object; declines what encodeStored did not write', () => {
    const text = encodeStored(pod());
    expect(spliceRevisionText(text, 42)).toBe(spliceRevision(text, pod(), 42));
    expect(JSON.parse(spliceRevisionText(encodeStored({ apiVersion: 'v1', kind: 'Pod', metadata: {} }), 3)!)).toEqual({ apiVersion: 'v1', kind: 'Pod', metadata: { resourceVersion: '3' } });
    expect(spliceRevisionText(JSON.stringify({ metadata: { name: 'p' }, apiVersion: 'v1', kind: 'Pod' }), 1)).toBeUndefined();
    expect(spliceRevisionText(encodeStored({ metadata: { name: 'p' } }), 1)).toBeUndefined();
    // A kind with an escaped quote is not the plain string the head is checked for: decoded instead.
    expect(spliceRevisionText(encodeStored({ apiVersion: 'v1', kind: 'P"od', metadata: {} }), 1)).toBeUndefined();
  });

  it('remembers the JSON per object, and no copy, serialisation or comparison of the object carries it', () => {
    const o = pod();
    expect(encodedJson(o)).toBeUndefined();
    const text = JSON.stringify(o);
    rememberJson(o, text);
    expect(encodedJson(o)).toBe(text);
    // A copy may be changed: it must be encoded afresh, so it has no JSON of its own.
    expect(encodedJson({ ...o })).toBeUndefined();
    expect(encodedJson(Object.assign({}, o))).toBeUndefined();
    expect(encodedJson(structuredClone(o))).toBeUndefined();
    expect(JSON.stringify(o)).toBe(text);
    expect(Object.keys(o)).toEqual(['kind', 'spec', 'apiVersion', 'metadata']);
    expect(o).toStrictEqual(pod());
    // Remembered again (a newer text for the same object): the newer one.
    rememberJson(o, '{}');
    expect(encodedJson(o)).toBe('{}');
  });

  it('keeps the lines built from a remembered object on it, frozen or not; none for an object without stored JSON', () => {
    expect(encodedLines(pod())).toBeUndefined();
    const o = Object.freeze(rememberJson(pod(), '{"kind":"Pod"}'));
    const lines = encodedLines(o)!;
    lines.set('ADDED', Buffer.from('line'));
    expect(encodedLines(o)).toBe(lines);
    expect(encodedJson(o)).toBe('{"kind":"Pod"}');
  });
});
