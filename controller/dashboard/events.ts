/**
 * Live updates for the dashboard's pages as Server-Sent Events: one snapshot
 * of the hub (controller/dashboard/monitor.ts) per period, batched for every
 * open page, each page getting only the task spans it has not had. Nothing
 * runs while no page is open.
 */
import type { ServerResponse } from 'node:http';
import type { Monitor, Snapshot } from './monitor.js';

interface Listener {
  res: ServerResponse;
  /** the seq of the next span it needs */
  from: number;
}

/** At most this many pages at once (each costs a snapshot slice per period). */
const MAX_LISTENERS = 64;
/** A new page gets the spans of this many recent tasks first. */
const BACKLOG = 1000;

export class EventStreams {
  readonly #monitor: Monitor;
  readonly #periodMs: number;
  readonly #listeners = new Set<Listener>();
  #timer: NodeJS.Timeout | undefined;

  constructor(monitor: Monitor, periodMs = 500) {
    this.#monitor = monitor;
    this.#periodMs = periodMs;
  }

  get size(): number {
    return this.#listeners.size;
  }

  /** Serve a page's event stream; false (nothing sent) when too many are open. */
  open(res: ServerResponse, headers: Record<string, string>): boolean {
    if (this.#listeners.size >= MAX_LISTENERS) return false;
    res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    // the browser reconnects after this long when the stream breaks
    res.write('retry: 2000\n\n');
    const l: Listener = { res, from: Math.max(0, this.#monitor.nextSeq - BACKLOG) };
    this.#listeners.add(l);
    res.on('close', () => {
      this.#listeners.delete(l);
      if (this.#listeners.size === 0) this.#stop();
    });
    this.#send(l, this.#monitor.snapshot(l.from));
    this.#timer ??= setInterval(() => this.#tick(), this.#periodMs);
    this.#timer.unref();
    return true;
  }

  #tick(): void {
    if (this.#listeners.size === 0) return;
    let from = Infinity;
    for (const l of this.#listeners) from = Math.min(from, l.from);
    const snap = this.#monitor.snapshot(from);
    for (const l of this.#listeners) this.#send(l, l.from === from ? snap : { ...snap, spans: snap.spans.filter((s) => s.seq >= l.from) });
  }

  #send(l: Listener, snap: Snapshot): void {
    // a page that does not keep up skips updates (its spans wait for the next one it takes)
    if (l.res.writableLength > 1024 * 1024) return;
    l.from = snap.nextSeq;
    l.res.write(`event: snapshot\ndata: ${JSON.stringify(snap)}\n\n`);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** End every stream (the server closes). */
  close(): void {
    this.#stop();
    for (const l of this.#listeners) l.res.end();
    this.#listeners.clear();
  }
}
