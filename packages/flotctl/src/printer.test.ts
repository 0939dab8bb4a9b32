import { describe, expect, it } from 'vitest';
import { layout, outputFormat, tableRows, type Table } from './printer.js';

const table: Table = {
  columnDefinitions: [{ name: 'Name', format: 'name' }, { name: 'Ready' }, { name: 'IP', priority: 1 }],
  rows: [{ cells: ['web-1', '1/1', '10.244.1.5'], object: { metadata: { namespace: 'default' } } }, { cells: ['a', '0/1', '10.244.2.9'], object: { metadata: { namespace: 'kube-system' } } }],
};

describe('printer', () => {
  it('lays out priority-0 columns, all with -o wide, a namespace column with -A', () => {
    expect(layout(tableRows(table))).toBe('NAME    READY\nweb-1   1/1\na       0/1');
    expect(layout(tableRows(table, { wide: true })).split('\n')[0]).toBe('NAME    READY   IP');
    expect(layout(tableRows(table, { withNamespace: true, kindPrefix: 'pod' })).split('\n')[1]).toBe('default       pod/web-1   1/1');
  });

  it('refuses an unknown output format by name', () => {
    expect(() => outputFormat('yml')).toThrow('"yml"');
  });
});
