/**
 * A small etcd watch multiplexer on the raw gRPC Watch stream. The etcd3
 * client's own watcher loses the compaction revision of a cancelled watch
 * and can crash on unexpected responses, and it resumes from the header
 * revision (which etcd may send ahead of the events during catch-up); this
 * one resumes each watch right after the last event it delivered.
 *
 * The stream itself is EtcdKv's (hand-written protobuf over node:http2),
 * or etcd3's grpc-js stream (`etcd3WatchOpener`), whose decoding cost the
 * apiserver ~19 us of CPU per create (every create arrives twice: on the
 * read cache's watch and on the resource's), against ~10 us for EtcdKv's.
 */
import type { Logger } from '@flotilla/observability';
import type { Etcd3, IWatchRequest, IWatchResponse } from 'etcd3';
import { EtcdCallError, GrpcStatus, type EtcdWatchHandlers, type EtcdWatchStream } from './etcd-kv.js';
import type { WatchEvent, WatchRequest as WatchRequestMessage, WatchResponse } from './etcd-proto.js';

/** Opens one bidirectional Watch stream to etcd (EtcdKv.openWatch, or etcd3's through etcd3WatchOpener). */
export type WatchOpener = (handlers: EtcdWatchHandlers) => Promise<EtcdWatchStream>;

/** etcd3's grpc-js Watch stream behind the WatchOpener interface (FLOTILLA_ETCD_WATCH=etcd3). */
export function etcd3WatchOpener(client: Etcd3): WatchOpener {
  return (handlers) =>
    client.watchClient.watch().then((stream) => {
      let ended = false;
      const end = (err: Error) => {
        if (ended) return;
        ended = true;
        handlers.onEnd(err instanceof EtcdCallError ? err : new EtcdCallError(GrpcStatus.UNAVAILABLE, err.message));
      };
      // etcd3's shapes are the ones etcd-proto.ts decodes (keepCase, longs and enums as strings, defaults).
      stream.on('data', (res: IWatchResponse) => {
        if (!ended) handlers.onResponse(res as unknown as WatchResponse);
      });
      stream.on('error', (err: Error) => end(err));
      stream.on('end', () => end(new Error('stream ended')));
      return {
        write: (req: WatchRequestMessage) => {
          if (!ended) stream.write(req as unknown as IWatchRequest);
        },
        cancel: () => {
          ended = true;
          stream.cancel?.();
        },
      };
    });
}

/** Callbacks of one watch. All are called synchronously from the stream's data handler. */
export interface WatchHandlers {
  /** etcd accepted the watch (called again after every reconnect). */
  onCreated?: () => void;
  /** A batch of events, in revision order. */
  onEvents: (events: WatchEvent[]) => void;
  /** etcd cancelled the watch: `compactRevision` > 0 when its start revision was compacted. The watch is over. */
  onCanceled: (compactRevision: number, reason: string) => void;
}

/** What to watch. */
export interface WatchRequest {
  key: Buffer;
  rangeEnd: Buffer;
  /** First revision to deliver. */
  startRevision: number;
  /** Ask for each change's previous value (default true); a consumer that never reads it saves half the bytes. */
  prevKv?: boolean;
}

interface Entry {
  req: WatchRequest;
  handlers: WatchHandlers;
  /** etcd's id on the current stream, once created. */
  id: string | null;
  /** Where to resume after a reconnect: right after the last delivered event. */
  nextRevision: number;
  cancelled: boolean;
}

/** One bidirectional etcd watch stream carrying many watches, reconnecting with back-off. */
export class WatchStream {
  private stream: EtcdWatchStream | undefined;
  private connecting = false;
  private closed = false;
  private generation = 0;
  private backoffMs = 100;
  private readonly entries = new Set<Entry>();
  private readonly byId = new Map<string, Entry>();
  /** Entries waiting to be created; the head has been sent and awaits its `created` response. */
  private queue: Entry[] = [];
  private awaitingCreate = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly open: WatchOpener,
    private readonly log: Logger,
  ) {}

  /** Starts a watch; returns a function that cancels it. */
  watch(req: WatchRequest, handlers: WatchHandlers): () => void {
    const entry: Entry = { req, handlers, id: null, nextRevision: req.startRevision, cancelled: false };
    this.entries.add(entry);
    this.enqueue(entry);
    return () => this.cancel(entry);
  }

  private cancel(entry: Entry): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    this.entries.delete(entry);
    if (entry.id !== null) {
      this.byId.delete(entry.id);
      this.write({ cancel_request: { watch_id: entry.id } });
    }
    // An entry still queued is skipped (or cancelled when its `created` arrives).
  }

  private write(req: WatchRequestMessage): void {
    try {
      this.stream?.write(req);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'etcd watch stream write failed');
    }
  }

  private enqueue(entry: Entry): void {
    this.queue.push(entry);
    if (this.stream) this.sendNextCreate();
    else this.connect();
  }

  // etcd does not promise to answer creates in order, so only one is in flight at a time.
  private sendNextCreate(): void {
    if (this.awaitingCreate || !this.stream) return;
    while (this.queue.length && this.queue[0]!.cancelled) this.queue.shift();
    const next = this.queue[0];
    if (!next) return;
    this.awaitingCreate = true;
    this.write({
      create_request: {
        key: next.req.key,
        range_end: next.req.rangeEnd,
        start_revision: next.nextRevision,
        prev_kv: next.req.prevKv !== false,
      },
    });
  }

  private connect(): void {
    if (this.connecting || this.stream || this.closed) return;
    this.connecting = true;
    const gen = ++this.generation;
    this.open({ onResponse: (res) => this.onResponse(res, gen), onEnd: (err) => this.onBroken(gen, err) })
      .then((stream) => {
        this.connecting = false;
        if (this.closed || gen !== this.generation) {
          stream.cancel();
          return;
        }
        this.stream = stream;
        this.sendNextCreate();
      })
      .catch((err: Error) => {
        this.connecting = false;
        this.onBroken(gen, err);
      });
  }

  private onBroken(gen: number, err: Error): void {
    if (gen !== this.generation) return;
    this.generation++;
    const stream = this.stream;
    this.stream = undefined;
    this.awaitingCreate = false;
    this.byId.clear();
    try {
      stream?.cancel();
    } catch {
      // already gone
    }
    if (this.closed) return;
    // Re-create every live watch from where it stopped, in their original order.
    this.queue = [...this.entries].filter((e) => !e.cancelled);
    for (const e of this.queue) e.id = null;
    if (this.queue.length === 0) return; // reconnect lazily on the next watch
    this.log.warn({ err: err.message, watches: this.queue.length, retryInMs: this.backoffMs }, 'etcd watch stream lost; reconnecting');
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 2000);
  }

  private onResponse(res: WatchResponse, gen: number): void {
    if (gen !== this.generation) return;
    try {
      if (res.created) {
        this.backoffMs = 100;
        const entry = this.queue.shift();
        this.awaitingCreate = false;
        if (entry) {
          if (res.canceled) {
            this.finishCanceled(entry, res);
          } else if (entry.cancelled) {
            this.write({ cancel_request: { watch_id: res.watch_id } });
          } else {
            entry.id = res.watch_id;
            this.byId.set(res.watch_id, entry);
            entry.handlers.onCreated?.();
          }
        }
        this.sendNextCreate();
        return;
      }
      const entry = this.byId.get(res.watch_id);
      if (!entry) return; // progress notifications (-1) and watches we cancelled
      if (res.canceled) {
        this.byId.delete(res.watch_id);
        this.finishCanceled(entry, res);
        return;
      }
      if (res.events.length) {
        entry.nextRevision = Number(res.events[res.events.length - 1]!.kv.mod_revision) + 1;
        entry.handlers.onEvents(res.events);
      }
    } catch (err) {
      // A handler bug must not take the shared stream (and every watch) down.
      this.log.error({ err: (err as Error).message }, 'etcd watch handler failed');
    }
  }

  private finishCanceled(entry: Entry, res: WatchResponse): void {
    this.entries.delete(entry);
    if (entry.cancelled) return;
    entry.cancelled = true;
    entry.handlers.onCanceled(Number(res.compact_revision || 0), res.cancel_reason || '');
  }

  /** Cancels every watch and the stream. */
  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.generation++;
    this.entries.clear();
    this.byId.clear();
    this.queue = [];
    try {
      this.stream?.cancel();
    } catch {
      // already gone
    }
    this.stream = undefined;
  }
}
