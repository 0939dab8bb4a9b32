/** `flotctl get`: Tables rendered by the apiserver, or the objects as YAML/JSON/names; `-w` follows changes. */
import type { KubeList, KubeObject, ResourceInfo } from '@flotilla/api';
import { queryString, resourcePath } from '@flotilla/client';
import { parseTargets, type Ctx } from '../context.js';
import { layout, outputFormat, printObjects, tableRows, type Table } from '../printer.js';

/** Options of get. */
export interface GetOptions {
  output?: string;
  selector?: string;
  fieldSelector?: string;
  allNamespaces?: boolean;
  watch?: boolean;
  signal?: AbortSignal;
}

/** The Accept header that asks for a Table (falling back to JSON, as kubectl sends it). */
export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

function ns(ctx: Ctx, info: ResourceInfo, all: boolean | undefined): string | undefined {
  if (!info.namespaced || all) return undefined;
  return ctx.namespace;
}

/** Runs get; returns the exit code. */
export async function get(ctx: Ctx, args: string[], opts: GetOptions): Promise<number> {
  const format = outputFormat(opts.output);
  const targets = parseTargets(args);
  const several = targets.length > 1;
  const blocks: string[] = [];
  let missing = 0;
  for (const { info, names } of targets) {
    const namespace = ns(ctx, info, opts.allNamespaces);
    const withNamespace = !!opts.allNamespaces && info.namespaced;
    const kindPrefix = several ? (info.group ? `${info.kind.toLowerCase()}.${info.group}` : info.kind.toLowerCase()) : undefined;
    if (format === 'table' || format === 'wide') {
      const tables: Table[] = [];
      if (names.length) {
        for (const name of names) {
          try {
            tables.push(await ctx.client.request<Table>({ method: 'GET', path: resourcePath(info, namespace ?? ctx.namespace, name), accept: TABLE_ACCEPT }));
          } catch (err) {
            ctx.err(`Error from server (${(err as { reason?: string }).reason ?? 'Error'}): ${(err as Error).message}`);
            missing += 1;
          }
        }
      } else {
        const q = queryString({ labelSelector: opts.selector, fieldSelector: opts.fieldSelector });
        tables.push(await ctx.client.request<Table>({ method: 'GET', path: resourcePath(info, namespace) + q, accept: TABLE_ACCEPT }));
      }
      const merged: Table = { columnDefinitions: tables[0]?.columnDefinitions ?? [], rows: tables.flatMap((t) => t.rows) };
      if (merged.rows.length === 0) {
        if (!names.length && !opts.watch) ctx.err(namespace ? `No resources found in ${namespace} namespace.` : 'No resources found');
        if (!opts.watch) continue;
      }
      if (merged.rows.length > 0) blocks.push(layout(tableRows(merged, { wide: format === 'wide', withNamespace, ...(kindPrefix ? { kindPrefix } : {}) })));
    } else {
      const objects: KubeObject[] = [];
      if (names.length) {
        for (const name of names) {
          try {
            objects.push(await ctx.client.resource(info).get(namespace ?? ctx.namespace, name));
          } catch (err) {
            ctx.err(`Error from server (${(err as { reason?: string }).reason ?? 'Error'}): ${(err as Error).message}`);
            missing += 1;
          }
        }
      } else {
        const list: KubeList<KubeObject> = await ctx.client.resource(info).list(namespace, { labelSelector: opts.selector, fieldSelector: opts.fieldSelector });
        for (const o of list.items) objects.push({ apiVersion: info.group ? `${info.group}/${info.version}` : info.version, kind: info.kind, ...o });
        if (objects.length === 0 && format !== 'name') {
          ctx.err(namespace ? `No resources found in ${namespace} namespace.` : 'No resources found');
          continue;
        }
      }
      if (objects.length) blocks.push(printObjects(info, objects, format, names.length === 1 && targets.length === 1));
    }
  }
  if (blocks.length) ctx.out(blocks.join('\n\n'));
  if (opts.watch) {
    const { info, names } = targets[0]!;
    await watchRows(ctx, info, ns(ctx, info, opts.allNamespaces), names, opts, format === 'wide');
  }
  return missing > 0 ? 1 : 0;
}

/** Prints one Table row per change until the signal aborts or the server ends the watch. */
async function watchRows(ctx: Ctx, info: ResourceInfo, namespace: string | undefined, names: string[], opts: GetOptions, wide: boolean): Promise<void> {
  const list = await ctx.client.resource(info).list(namespace, { labelSelector: opts.selector, fieldSelector: opts.fieldSelector, limit: 1 });
  const rows = new Map<string, string[]>();
  const header = !!opts.allNamespaces && info.namespaced;
  for await (const ev of ctx.client.resource(info).watch(namespace, {
    resourceVersion: list.metadata?.resourceVersion,
    labelSelector: opts.selector,
    fieldSelector: names.length === 1 ? `metadata.name=${names[0]}` : opts.fieldSelector,
    ...(opts.signal ? { signal: opts.signal } : {}),
  })) {
    if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') continue;
    const obj = ev.object as KubeObject;
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
    let row: string[] | undefined;
    if (ev.type === 'DELETED') row = rows.get(key);
    else {
      try {
        const t = await ctx.client.request<Table>({ method: 'GET', path: resourcePath(info, obj.metadata.namespace, obj.metadata.name), accept: TABLE_ACCEPT });
        row = tableRows(t, { wide, withNamespace: header, noHeader: true })[0];
      } catch {
        row = rows.get(key);
      }
    }
    if (!row) continue;
    if (ev.type === 'DELETED') rows.delete(key);
    else rows.set(key, row);
    ctx.out(layout([row]));
  }
}
