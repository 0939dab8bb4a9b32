import { findResource, type KubeObject } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { eventLine } from './watch.js';

const pods = findResource('', 'v1', 'pods')!;

describe('eventLine', () => {
  it('encodes a shared (frozen) watch object once per event type and sends the same bytes to every watcher', () => {
    const obj = Object.freeze({ metadata: Object.freeze({ name: 'a', namespace: 'default', resourceVersion: '7' }) }) as KubeObject;
    const first = eventLine(pods, 'MODIFIED', obj);
    expect(eventLine(pods, 'MODIFIED', obj)).toBe(first);
    expect(JSON.parse(first.toString())).toEqual({ type: 'MODIFIED', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'default', resourceVersion: '7' } } });
    expect(first.toString().endsWith('}\n')).toBe(true);
    expect(JSON.parse(eventLine(pods, 'DELETED', obj).toString()).type).toBe('DELETED');
  });

  it('encodes a mutable object afresh each time, so a later change is never hidden', () => {
    const obj = { metadata: { name: 'a', resourceVersion: '1' } } as KubeObject;
    expect(JSON.parse(eventLine(pods, 'ADDED', obj).toString()).object.metadata.resourceVersion).toBe('1');
    obj.metadata.resourceVersion = '2';
    expect(JSON.parse(eventLine(pods, 'ADDED', obj).toString()).object.metadata.resourceVersion).toBe('2');
  });
});
