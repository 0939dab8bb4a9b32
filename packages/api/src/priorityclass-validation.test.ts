import { describe, expect, it } from 'vitest';
import type { KubeObject } from './meta.js';
import { defaultPriorityClass, validatePriorityClass } from './priorityclass-validation.js';
import { findResource } from './registry.js';

const pc = (name: string, value: unknown, extra: Record<string, unknown> = {}) => ({ apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name }, value, ...extra }) as unknown as KubeObject;
const fields = (o: KubeObject, old?: KubeObject) => validatePriorityClass(o, old).map((e) => e.field);

describe('PriorityClass', () => {
  it('is served as scheduling.k8s.io/v1 priorityclasses (pc), cluster-scoped, with its own columns', () => {
    const info = findResource('scheduling.k8s.io', 'v1', 'priorityclasses')!;
    expect(info).toMatchObject({ kind: 'PriorityClass', namespaced: false, shortNames: ['pc'] });
    expect(info.table.columns.map((c) => c.name)).toEqual(['Name', 'Value', 'Global-Default', 'Age', 'PreemptionPolicy']);
  });

  it('defaults preemptionPolicy and accepts a user class up to 1e9', () => {
    const o = pc('high', 1_000_000_000);
    defaultPriorityClass(o);
    expect((o as unknown as { preemptionPolicy: string }).preemptionPolicy).toBe('PreemptLowerPriority');
    expect(validatePriorityClass(o)).toEqual([]);
  });

  it('refuses a missing or non-integer value, a user value above 1e9, an unknown policy, a made-up system- name', () => {
    expect(fields(pc('a', undefined))).toEqual(['value']);
    expect(fields(pc('a', 1.5))).toEqual(['value']);
    expect(fields(pc('a', 1_000_000_001))).toEqual(['value']);
    expect(fields(pc('a', 1, { preemptionPolicy: 'Sometimes' }))).toEqual(['preemptionPolicy']);
    expect(fields(pc('system-mine', 5))).toEqual(['metadata.name']);
    expect(fields(pc('system-node-critical', 2_000_001_000))).toEqual([]);
  });

  it('keeps value and preemptionPolicy immutable', () => {
    const old = pc('a', 10, { preemptionPolicy: 'Never' });
    expect(fields(pc('a', 11, { preemptionPolicy: 'Never' }), old)).toEqual(['value']);
    expect(fields(pc('a', 10, { preemptionPolicy: 'PreemptLowerPriority' }), old)).toEqual(['preemptionPolicy']);
    expect(fields(pc('a', 10, { preemptionPolicy: 'Never', description: 'changed' }), old)).toEqual([]);
  });
});
