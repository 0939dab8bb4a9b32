/** `flotctl apply -f FILE|DIR|-` and `flotctl delete`: create, patch or delete what manifests declare. */
import { isReason, resourceForKind, type KubeObject } from '@flotilla/api';
import { objectName, parseTargets, UsageError, type Ctx } from '../context.js';
import { applyPatch, withLastApplied } from '../apply-patch.js';
import { readManifests, type ManifestObject } from '../manifests.js';

/** Options of apply. */
export interface ApplyOptions {
  filename: string[];
  dryRun?: boolean;
  stdin?: () => string;
}

function located(m: ManifestObject): string {
  return `${m.source}: document ${m.document} (line ${m.line})`;
}

/**
 * Applies every object in order; each prints `created`, `configured` or
 * `unchanged`. An object the server refuses is reported with where it was
 * read from and the others still go; the exit code says whether all went.
 */
export async function apply(ctx: Ctx, opts: ApplyOptions): Promise<number> {
  if (!opts.filename.length) throw new UsageError('must specify -f (a file, a directory or - for standard input)');
  const objects = readManifests(opts.filename, opts.stdin);
  let failed = 0;
  const dry = opts.dryRun ? ' (dry run)' : '';
  for (const m of objects) {
    const obj = m.object;
    const info = resourceForKind(obj.apiVersion ?? '', obj.kind ?? '');
    if (!info) {
      ctx.err(`error: ${located(m)}: no matches for kind "${obj.kind}" in version "${obj.apiVersion}"`);
      failed += 1;
      continue;
    }
    const namespace = info.namespaced ? (obj.metadata.namespace ?? ctx.namespace) : undefined;
    if (info.namespaced && obj.metadata.namespace && ctx.namespaceExplicit && obj.metadata.namespace !== ctx.namespace) {
      ctx.err(`error: ${located(m)}: the namespace from the provided object "${obj.metadata.namespace}" does not match the namespace "${ctx.namespace}". You must pass '--namespace=${obj.metadata.namespace}' to perform this operation.`);
      failed += 1;
      continue;
    }
    const desired: KubeObject = { ...obj, metadata: { ...obj.metadata, ...(namespace ? { namespace } : {}) } };
    const rc = ctx.client.resource(info);
    const name = desired.metadata.name ?? desired.metadata.generateName ?? '';
    try {
      let live: KubeObject | undefined;
      if (desired.metadata.name) {
        try {
          live = await rc.get(namespace, desired.metadata.name);
        } catch (err) {
          if (!isReason(err, 'NotFound')) throw err;
        }
      }
      if (!live) {
        const created = opts.dryRun ? desired : await rc.create(withLastApplied(desired));
        ctx.out(`${objectName(info, created.metadata.name ?? name)} created${dry}`);
        continue;
      }
      const patch = applyPatch(desired, live);
      if (!patch) {
        ctx.out(`${objectName(info, name)} unchanged${dry}`);
        continue;
      }
      if (!opts.dryRun) await rc.patch(namespace, name, patch, 'merge');
      ctx.out(`${objectName(info, name)} configured${dry}`);
    } catch (err) {
      ctx.err(`error: ${located(m)}: ${objectName(info, name)}: ${(err as Error).message}`);
      failed += 1;
    }
  }
  return failed > 0 ? 1 : 0;
}

/** Options of delete. */
export interface DeleteCmdOptions {
  filename: string[];
  selector?: string;
  all?: boolean;
  wait?: boolean;
  ignoreNotFound?: boolean;
  gracePeriod?: number;
  cascade?: string;
  stdin?: () => string;
}

/** Deletes named objects, everything a manifest names, or what a selector matches; waits until they are gone (kubectl's default). */
export async function del(ctx: Ctx, args: string[], opts: DeleteCmdOptions): Promise<number> {
  const items: Array<{ info: ReturnType<typeof parseTargets>[number]['info']; namespace: string | undefined; name: string }> = [];
  if (opts.filename.length) {
    for (const m of readManifests(opts.filename, opts.stdin)) {
      const info = resourceForKind(m.object.apiVersion ?? '', m.object.kind ?? '');
      if (!info) throw new UsageError(`${located(m)}: no matches for kind "${m.object.kind}" in version "${m.object.apiVersion}"`);
      items.push({ info, namespace: info.namespaced ? (m.object.metadata.namespace ?? ctx.namespace) : undefined, name: m.object.metadata.name ?? '' });
    }
  } else {
    for (const { info, names } of parseTargets(args)) {
      const namespace = info.namespaced ? ctx.namespace : undefined;
      if (names.length) for (const name of names) items.push({ info, namespace, name });
      else if (opts.selector || opts.all) {
        const list = await ctx.client.resource(info).list(namespace, { labelSelector: opts.selector });
        for (const o of list.items) items.push({ info, namespace, name: o.metadata.name ?? '' });
      } else throw new UsageError('resource(s) were provided, but no name was specified (use --all or -l to delete many)');
    }
  }
  if (!items.length) {
    ctx.err('No resources found');
    return 0;
  }
  const propagation = opts.cascade === 'orphan' ? 'Orphan' : opts.cascade === 'foreground' ? 'Foreground' : 'Background';
  let failed = 0;
  const deleted: typeof items = [];
  for (const it of items) {
    try {
      await ctx.client.resource(it.info).delete(it.namespace, it.name, {
        propagationPolicy: propagation,
        ...(opts.gracePeriod !== undefined && opts.gracePeriod >= 0 ? { gracePeriodSeconds: opts.gracePeriod } : {}),
      });
      ctx.out(`${objectName(it.info, it.name)} deleted`);
      deleted.push(it);
    } catch (err) {
      if (isReason(err, 'NotFound') && opts.ignoreNotFound) continue;
      ctx.err(`Error from server (${(err as { reason?: string }).reason ?? 'Error'}): ${(err as Error).message}`);
      failed += 1;
    }
  }
  if (opts.wait !== false) {
    for (const it of deleted) {
      for (;;) {
        try {
          await ctx.client.resource(it.info).get(it.namespace, it.name);
        } catch (err) {
          if (isReason(err, 'NotFound')) break;
          throw err;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
  return failed > 0 ? 1 : 0;
}
