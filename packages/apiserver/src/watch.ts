/**
 * Watch streams: newline-delimited `{"type":…,"object":…}` events over a
 * chunked response, as Kubernetes serves them. Without a resourceVersion the
 * stream starts with ADDED for every current object (from one list) and
 * continues from that list's revision. A 410 from the store becomes one
 * ERROR event carrying the Status, then the stream ends.
 */
import type { ServerResponse } from 'node:http';
import { ApiError, badRequest, groupVersion, internalError } from '@flotilla/api';
import type { KubeObject, ResourceInfo } from '@flotilla/api';
import { encodedJson, encodedLines, type Storage, type StoreWatch } from '@flotilla/store';
import type { Logger } from '@flotilla/observability';
import { withType } from './rest-handlers.js';
import type { ResourcePath } from './request-info.js';
import { selectorIndex, selectorPredicate } from './selectors.js';
import { boolParam } from './query-params.js';
import { WatchWriter } from './watch-writer.js';
import { withoutManagedFields } from './omit-managed-fields.js';

/**
 * Watch events sent, by the group, version and kind of their objects, summed
 * over every watcher, the initial ADDED of sendInitialEvents included
 * (Kubernetes' apiserver_watch_events_total): one change seen by three
 * watchers counts three. Bookmarks and errors are not events.
 */
export const watchEventCounts = new Map<string, { group: string; version: string; kind: string; events: number }>();

/** Timing of watches; tests shorten them. */
export interface WatchTimings {
  /** Interval between BOOKMARK events when the client allows them. */
  bookmarkIntervalMs: number;
  /** Lower and upper bound of the default timeout (a random value between spreads reconnects). */
  minTimeoutSeconds: number;
  maxTimeoutSeconds: number;
}

/** Kubernetes-like defaults: bookmarks every 30 s (or FLOTILLA_WATCH_BOOKMARK_MS), timeouts of 30–60 min. */
export function defaultWatchTimings(): WatchTimings {
  const env = Number(process.env.FLOTILLA_WATCH_BOOKMARK_MS);
  return { bookmarkIntervalMs: Number.isFinite(env) && env > 0 ? env : 30_000, minTimeoutSeconds: 1800, maxTimeoutSeconds: 3600 };
}

// The JSON line of each shared (frozen) watch object, per event type and
// kind, so 1,000 watchers of one change cost one JSON.stringify, not 1,000:
// kept on the object (see encodedLines), or here for an object the store
// has no JSON of (a WeakMap of every watch object was rehashed for
// hundreds of ms at a time at 150,000 pods).
const unstoredLines = new WeakMap<object, Map<string, Buffer>>();

/** The counter of `info`'s watch events (made on first use): each watch looks it up once, not once per event. */
function eventCounter(info: ResourceInfo): { events: number } {
  const key = `${info.group}/${info.version}/${info.kind}`;
  let c = watchEventCounts.get(key);
  if (!c) watchEventCounts.set(key, (c = { group: info.group, version: info.version, kind: info.kind, events: 0 }));
  return c;
}

/** One event line: the object's stored JSON when the store has it (see encodedJson), else a serialisation of its own. */
function encodeLine(info: ResourceInfo, type: string, obj: KubeObject, omitManagedFields: boolean): Buffer {
  let json = encodedJson(obj);
  if (json === undefined) json = JSON.stringify(withType(info, obj));
  return Buffer.from(`{"type":${JSON.stringify(type)},"object":${omitManagedFields ? withoutManagedFields(json) : json}}\n`);
}

/**
 * The `{"type":…,"object":…}\n` line of a store event as bytes, encoded once
 * per frozen object (and once more without managedFields when a watcher
 * asks for that, see omit-managed-fields.ts).
 */
export function eventLine(info: ResourceInfo, type: string, obj: KubeObject, omitManagedFields = false): Buffer {
  if (!Object.isFrozen(obj)) return encodeLine(info, type, obj, omitManagedFields);
  let lines = encodedLines(obj) ?? unstoredLines.get(obj);
  if (!lines) unstoredLines.set(obj, (lines = new Map()));
  // From the stored JSON the line depends on the event type alone (the object carries its own type): no key to build per watcher.
  const variant = omitManagedFields ? `${type} -managedFields` : type;
  let line = lines.get(variant);
  if (line) return line;
  const k = encodedJson(obj) === undefined ? `${variant} ${info.group}/${info.version} ${info.kind}` : variant;
  line = lines.get(k);
  if (!line) lines.set(k, (line = encodeLine(info, type, obj, omitManagedFields)));
  return line;
}

/** One watch request. */
export interface WatchRequest {
  path: ResourcePath;
  info: ResourceInfo;
  query: Record<string, string | undefined>;
}



/** Validated watch parameters; throws 400 before any byte is sent. */
export function watchParams(req: WatchRequest, timings: WatchTimings) {
  const { query, info } = req;
  const predicate = selectorPredicate(info, query.labelSelector, query.fieldSelector);
  const rv = query.resourceVersion ?? '';
  if (rv !== '' && !/^\d{1,19}$/.test(rv)) throw badRequest(`invalid resourceVersion "${rv.slice(0, 50)}"`);
  let timeoutSeconds: number;
  if (query.timeoutSeconds !== undefined && query.timeoutSeconds !== '') {
    if (!/^\d{1,9}$/.test(query.timeoutSeconds)) throw badRequest('timeoutSeconds must be a non-negative integer');
    timeoutSeconds = Number(query.timeoutSeconds);
  } else {
    const { minTimeoutSeconds: lo, maxTimeoutSeconds: hi } = timings;
    timeoutSeconds = lo + Math.floor(Math.random() * Math.max(1, hi - lo));
  }
  const sendInitialEvents = boolParam(query, 'sendInitialEvents');
  const sendInitial = sendInitialEvents === undefined ? rv === '' || rv === '0' : sendInitialEvents;
  // Only alongside the predicate it is derived from.
  const index = predicate ? selectorIndex(info, query.fieldSelector) : undefined;
  return {
    predicate,
    index,
    rv,
    timeoutSeconds,
    sendInitial,
    bookmarks: boolParam(query, 'allowWatchBookmarks') === true,
    initialEnd: sendInitialEvents === true,
    omitManagedFields: boolParam(query, 'omitManagedFields') === true,
  };
}

/**
 * Streams a watch into a raw response until the client goes away, the
 * timeout passes, or `signal` aborts (server shutdown).
 */
export async function serveWatch(
  storage: Storage,
  req: WatchRequest,
  params: ReturnType<typeof watchParams>,
  res: ServerResponse,
  signal: AbortSignal,
  timings: WatchTimings,
  log: Logger,
  /** Rewrites each object before it is sent (e.g. into a Table for kubectl get -w); none sends the object itself. */
  render?: (obj: KubeObject) => unknown,
): Promise<void> {
  const { info, path } = req;
  const ac = new AbortController();
  const abort = () => ac.abort();
  signal.addEventListener('abort', abort, { once: true });
  res.on('close', abort);
  let timedOut = false;
  const timer =
    params.timeoutSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          abort();
        }, params.timeoutSeconds * 1000)
      : undefined;
  let lastRv = params.rv;
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let events: StoreWatch | undefined;
  // Set when an event was taken from the store but not written (the watch ended first).
  let dropped = false;

  // Lines queued in one turn of the event loop leave in one chunk (see watch-writer.ts).
  const writer = new WatchWriter(res, ac.signal);
  const counter = eventCounter(info);
  const write = (line: Buffer | object): Promise<void> | undefined => writer.write(Buffer.isBuffer(line) ? line : JSON.stringify(line) + '\n');
  // A bookmark carries how far the store has got for this watcher, not just its last event: a watch of a
  // quiet namespace would otherwise resume, minutes later, from a revision long out of the store's memory
  // (etcd then replays every change since, which cost etcd seconds of CPU at 150,000 pods).
  const progress = (): string => {
    const p = dropped ? undefined : events?.progress?.();
    return p !== undefined && Number(p) > Number(lastRv) ? p : lastRv;
  };
  const bookmark = (annotations?: Record<string, string>) =>
    write({ type: 'BOOKMARK', object: { kind: info.kind, apiVersion: groupVersion(info), metadata: { resourceVersion: progress(), ...(annotations ? { annotations } : {}) } } });

  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
  res.flushHeaders();
  try {
    let from = params.rv;
    if (params.sendInitial) {
      const list = await storage.list(info.plural, path.namespace, params.predicate ? { predicate: params.predicate } : {});
      for (const item of list.items) {
        counter.events++;
        const wait = write(render ? { type: 'ADDED', object: render(withType(info, item)) } : eventLine(info, 'ADDED', item, params.omitManagedFields));
        if (wait) await wait;
      }
      // A list without resourceVersion is "from now"; with one, keep the caller's starting point.
      if (from === '' || from === '0') from = list.resourceVersion;
      lastRv = list.resourceVersion;
      if (params.bookmarks && params.initialEnd) await bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else if (from === '' || from === '0') {
      from = await storage.currentRevision();
      lastRv = from;
    }
    if (params.bookmarks) bookmarkTimer = setInterval(() => void bookmark(), timings.bookmarkIntervalMs);
    if (ac.signal.aborted) return;
    events = storage.watch(info.plural, path.namespace, {
      resourceVersion: from,
      signal: ac.signal,
      ...(params.predicate ? { predicate: params.predicate } : {}),
      ...(params.predicate && params.index ? { index: params.index } : {}),
    });
    for await (const ev of events) {
      if (ac.signal.aborted) {
        dropped = true;
        break;
      }
      lastRv = ev.object.metadata.resourceVersion ?? lastRv;
      counter.events++;
      const obj = ev.object as KubeObject;
      // Awaited only when the client's socket is full: no promise per event otherwise.
      const wait = write(render ? { type: ev.type, object: render(withType(info, obj)) } : eventLine(info, ev.type, obj, params.omitManagedFields));
      if (wait) await wait;
    }
    // Kubernetes' watch cache, too, sends a bookmark as a watch times out: the client resumes from there.
    if (timedOut && params.bookmarks && !signal.aborted && !res.destroyed) void bookmark();
  } catch (err) {
    if (!ac.signal.aborted) {
      const status = err instanceof ApiError ? err.status : internalError('watch failed').status;
      if (!(err instanceof ApiError)) log.error({ err, resource: info.plural, namespace: path.namespace }, 'watch failed');
      await write({ type: 'ERROR', object: status });
    }
  } finally {
    if (timer) clearTimeout(timer);
    if (bookmarkTimer) clearInterval(bookmarkTimer);
    signal.removeEventListener('abort', abort);
    writer.flush();
    if (!res.writableEnded) res.end();
  }
}
