/**
 * One end of a channel, the same on both sides (client/channel.ts on the
 * client, executor/channel.ts in the engine's execution worker): values in
 * order, exactly once, with credit-based flow control. The owner gives it a
 * transport (its socket, or the worker's port) and feeds it what arrives.
 *
 * Flow control: every value a side sends counts against its window until the
 * receiving side acknowledges it; the receiver acknowledges what its code has
 * consumed (receive, `for await`, onReceive), not what arrived, in batches of
 * a quarter window. A `send` resolves once fewer than a window of values
 * (and of bytes) are unconsumed, so an awaiting producer never has more than
 * a window in flight, and its consumer never holds more than a window.
 *
 * Batching: the values sent in one tick leave together, as one batch
 * (protocol/channel-batch.ts BatchSender): a send queues its value and the
 * batch goes once the microtask queue has gone a few rounds without a new
 * send, or at once when it is full (never more than a window). A single send
 * thus leaves before the next macrotask, with no timer. Values count against
 * the window when sent, not when their batch leaves.
 *
 * Imported by the execution worker: no zod here (types only from the schemas).
 */
import { ChannelClosed } from '../errors/channel.js';
import { TimeoutError } from '../errors/client.js';
import { Fifo } from '../util/fifo.js';
import { setLongTimeout } from '../util/timers.js';
import type { Timer } from '../util/timers.js';
import type { ChannelErrorWire, ChannelWindow } from './schemas/channels.js';
import { BatchSender, splitBatch } from './channel-batch.js';
import type { ValueBatch } from './channel-batch.js';
import { deserialize, serialize } from './serialize.js';

/** Batches kept while an earlier one is on its way (the sender's window bounds them first). */
const MAX_LATER = 100_000;

/** The default window: 1,000 values or 64 MB, whichever is reached first. */
export const DEFAULT_WINDOW: Readonly<ChannelWindow> = Object.freeze({ items: 1000, bytes: 64 * 1024 * 1024 });

export interface ChannelWaitOptions {
  /** reject with TimeoutError after this long (default Infinity: wait as long as it takes) */
  timeoutMs?: number;
}

/**
 * A channel between a client and a function running on an engine; the same
 * interface on both sides. Values travel by structured clone (as arguments
 * do; large typed arrays as frames of their own).
 * @example
 * const ch = rc.directView(0).channel(async (ch) => { for await (const x of ch) await ch.send(x * 2); });
 * await ch.send(21); console.log(await ch.receive()); // 42
 */
export interface Channel<T = unknown> extends AsyncIterable<T> {
  /** the engine the function runs on */
  readonly engineId: number;
  /** no more sends: this side or the other closed it (values already received can still be read) */
  readonly closed: boolean;
  /** values this side sent that the other side's code has not consumed yet, as far as this side has heard */
  readonly unacknowledged: number;
  /** values received and not read yet */
  readonly buffered: number;
  /**
   * Send a value (it leaves with the others sent in the same tick, before
   * the next macrotask). Resolves when fewer than a window of
   * values are unconsumed by the other side (await it, and a fast producer
   * waits for a slow consumer).
   * @throws ChannelClosed (synchronously) when the channel is closed
   */
  send(value: unknown): Promise<void>;
  /**
   * The next value. Rejects with ChannelClosed once the channel is closed and
   * every value is read, with the other side's error when it failed
   * (RemoteError, EngineError on the client), or with TimeoutError.
   */
  receive(opts?: ChannelWaitOptions): Promise<T>;
  /** Hand every value to `cb` as it arrives (buffered ones first) instead of `receive`; returns a function that stops it. */
  onReceive(cb: (value: T) => void): () => void;
  /** Close this side; the other side's `receive` ends (`for await` stops; with `error`, it rejects with it). */
  close(error?: Error): void;
  /** Resolves when the channel has ended: on the client, with the function's return value. */
  waitClose(opts?: ChannelWaitOptions): Promise<unknown>;
}

/** What an end sends through: its owner's socket or port. */
export interface ChannelTransport {
  /** values `seq`, `seq + 1`... (`batch.count` of them) */
  data(seq: number, batch: ValueBatch): void;
  ack(seq: number): void;
  close(error: ChannelErrorWire | undefined): void;
}

export interface ChannelEndOptions {
  engineId: number;
  window: ChannelWindow;
  transport: ChannelTransport;
  /** the error the other side's close carries, as this side raises it */
  errorOf: (e: ChannelErrorWire) => Error;
  /** the channel has ended once either side closed it (the engine's side; the client's ends with its task) */
  settleOnClose?: boolean;
}

interface Waiter<T> {
  resolve: (r: IteratorResult<T, undefined>) => void;
  reject: (e: Error) => void;
  timer: Timer | undefined;
}

/** An error as it travels in a channel_close. */
export function toWireError(e: Error): ChannelErrorWire {
  return { ename: e.name || 'Error', evalue: e.message, traceback: (e.stack ?? '').split('\n').slice(0, 200) };
}

export class ChannelEnd<T = unknown> implements Channel<T> {
  readonly engineId: number;
  readonly #o: ChannelEndOptions;
  readonly #ackItems: number;
  readonly #ackBytes: number;
  // ---- sending
  #sent = 0;
  /** bytes of each value sent and not yet acknowledged, oldest first */
  readonly #unacked = new Fifo<number>();
  #unackedBytes = 0;
  #acked = 0;
  /** sends waiting for room in the window */
  readonly #credits = new Fifo<() => void>();
  /** values sent by this side's code that have not left yet */
  readonly #batch: BatchSender;
  // ---- receiving
  #received = 0;
  #consumed = 0;
  #ackedOut = 0;
  #bytesSinceAck = 0;
  readonly #inbox = new Fifo<Buffer[]>();
  /** batches that arrived ahead of their turn, by their first seq */
  readonly #later = new Map<number, ValueBatch>();
  readonly #waiters = new Fifo<Waiter<T>>();
  #callback: ((value: T) => void) | undefined;
  // ---- the end
  #closed = false;
  /** why nothing more arrives: undefined while open; `clean` for a clean close by the other side */
  #end: Error | 'clean' | undefined;
  #settle!: { resolve: (v: unknown) => void; reject: (e: Error) => void };
  readonly #ended: Promise<unknown>;
  #settled = false;

  constructor(o: ChannelEndOptions) {
    this.#o = o;
    this.engineId = o.engineId;
    this.#ackItems = Math.max(1, Math.floor(o.window.items / 4));
    this.#ackBytes = Math.max(1, Math.floor(o.window.bytes / 4));
    this.#batch = new BatchSender(
      o.window,
      (seq, batch) => o.transport.data(seq, batch),
      (e) => this.end(e),
    );
    this.#ended = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    // waitClose hands the rejection on; nobody waiting for it is no unhandled rejection
    this.#ended.catch(() => undefined);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Values sent and not yet consumed by the other side. */
  get unacknowledged(): number {
    return this.#unacked.length;
  }

  /** Values received and not yet read. */
  get buffered(): number {
    return this.#inbox.length;
  }

  send(value: unknown): Promise<void> {
    if (this.#closed) throw new ChannelClosed(this.#closedWhy());
    const frames = serialize(value, 'value');
    const bytes = frames.reduce((n, f) => n + f.byteLength, 0);
    this.#batch.add(++this.#sent, frames, bytes);
    this.#unacked.push(bytes);
    this.#unackedBytes += bytes;
    if (this.#roomy()) return Promise.resolve();
    return new Promise((resolve) => this.#credits.push(resolve));
  }

  receive(opts: ChannelWaitOptions = {}): Promise<T> {
    return this.#take(opts).then((r) => {
      if (r.done) throw new ChannelClosed('the other side closed the channel');
      return r.value;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return { next: () => this.#take({}) };
  }

  onReceive(cb: (value: T) => void): () => void {
    if (typeof cb !== 'function') throw new TypeError('onReceive takes a function');
    if (this.#waiters.length > 0) throw new TypeError('onReceive: a receive() is waiting on this channel');
    this.#callback = cb;
    while (this.#callback === cb && this.#inbox.length > 0) this.#deliver(this.#inbox.shift()!);
    return () => {
      if (this.#callback === cb) this.#callback = undefined;
    };
  }

  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.flush();
    this.#o.transport.close(error === undefined ? undefined : toWireError(error));
    this.#inbox.clear();
    this.#end = new ChannelClosed('this side closed the channel');
    this.#endWith(this.#end);
    while (this.#credits.length > 0) this.#credits.shift()!();
    if (this.#o.settleOnClose) this.settle({ value: undefined });
  }

  waitClose(opts: ChannelWaitOptions = {}): Promise<unknown> {
    const ms = opts.timeoutMs ?? Infinity;
    if (this.#settled || ms === Infinity) return this.#ended;
    return new Promise((resolve, reject) => {
      const t = setLongTimeout(() => reject(new TimeoutError(`the channel did not close within ${ms} ms`)), ms);
      this.#ended.then(resolve, reject).finally(() => t.clear());
    });
  }

  // ------------------------------------------------------------------ for the owner

  /** Values arrived: `seq` is the first one's. */
  onData(seq: number, batch: ValueBatch): void {
    if (this.#end !== undefined) return;
    if (seq > this.#received + 1) {
      // ahead of a batch still on its way (it took the other path): kept until that one arrives
      if (this.#later.size < MAX_LATER) this.#later.set(seq, batch);
      return;
    }
    this.#take1(seq, batch);
    for (let b = this.#later.get(this.#received + 1); b !== undefined; b = this.#later.get(this.#received + 1)) {
      const at = this.#received + 1;
      this.#later.delete(at);
      this.#take1(at, b);
    }
  }

  /** The highest seq received with every one before it. */
  get received(): number {
    return this.#received;
  }

  #take1(seq: number, batch: ValueBatch): void {
    const values = splitBatch(batch);
    if (values === undefined) return;
    for (let i = 0; i < values.length; i++) {
      // a value this side has is skipped (seq counts from 1 in each direction)
      if (seq + i <= this.#received) continue;
      if (this.#end !== undefined || seq + i !== this.#received + 1) return;
      this.#received = seq + i;
      const frames = values[i]!;
      if (this.#callback) this.#deliver(frames);
      else {
        const w = this.#waiters.shift();
        if (w) this.#hand(w, frames);
        else this.#inbox.push(frames);
      }
    }
  }

  /** The values sent and not gone yet leave now (the owner calls it before it reports the channel's end). */
  flush(): void {
    this.#batch.flush();
  }

  /** The other side consumed the values up to `seq`. */
  onAck(seq: number): void {
    while (this.#acked < seq && this.#unacked.length > 0) {
      this.#unackedBytes -= this.#unacked.shift()!;
      this.#acked++;
    }
    while (this.#credits.length > 0 && this.#roomy()) this.#credits.shift()!();
  }

  /** The other side closed the channel (with an error, or cleanly). */
  onClose(error: ChannelErrorWire | undefined): void {
    this.end(error === undefined ? undefined : this.#o.errorOf(error));
  }

  /** Nothing more arrives or may be sent: the values received can still be read, then reads fail with `error` (none: end cleanly). */
  end(error?: Error): void {
    this.#closed = true;
    // values not gone yet have nobody to read them
    this.#batch.drop();
    if (this.#end !== undefined) return;
    this.#end = error ?? 'clean';
    if (this.#inbox.length === 0) this.#endWith(this.#end);
    while (this.#credits.length > 0) this.#credits.shift()!();
    if (this.#o.settleOnClose) this.settle({ value: undefined });
  }

  /** The channel's end is known: waitClose resolves with `r.value` or rejects with `r.error`. */
  settle(r: { value: unknown } | { error: Error }): void {
    if (this.#settled) return;
    this.#settled = true;
    if ('error' in r) this.#settle.reject(r.error);
    else this.#settle.resolve(r.value);
  }

  // ------------------------------------------------------------------ inside

  /** Fewer values (and bytes) than a window are unconsumed: so with awaited sends at most a window is ever in flight. */
  #roomy(): boolean {
    return this.#unacked.length < this.#o.window.items && this.#unackedBytes < this.#o.window.bytes;
  }

  #closedWhy(): string {
    if (this.#end instanceof Error) return `the channel is closed: ${this.#end.message}`;
    return this.#end === 'clean' ? 'the other side closed the channel' : 'the channel is closed';
  }

  #take(opts: ChannelWaitOptions): Promise<IteratorResult<T, undefined>> {
    if (this.#callback) return Promise.reject(new TypeError('receive: this channel hands its values to an onReceive callback'));
    const frames = this.#inbox.shift();
    if (frames) {
      if (this.#inbox.length === 0 && this.#end !== undefined) this.#endWith(this.#end);
      return Promise.resolve({ done: false, value: this.#consume(frames) });
    }
    if (this.#end !== undefined) return this.#ending(this.#end);
    if (this.#closed) return Promise.reject(new ChannelClosed(this.#closedWhy()));
    return new Promise((resolve, reject) => {
      const ms = opts.timeoutMs ?? Infinity;
      const w: Waiter<T> = { resolve, reject, timer: undefined };
      if (ms !== Infinity) {
        w.timer = setLongTimeout(() => {
          this.#removeWaiter(w);
          reject(new TimeoutError(`no value arrived on the channel within ${ms} ms`));
        }, ms);
      }
      this.#waiters.push(w);
    });
  }

  #removeWaiter(w: Waiter<T>): void {
    const rest = [...this.#waiters].filter((x) => x !== w);
    this.#waiters.clear();
    for (const x of rest) this.#waiters.push(x);
  }

  #ending(end: Error | 'clean'): Promise<IteratorResult<T, undefined>> {
    return end === 'clean' ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(end);
  }

  /** Settle every waiting receive with the end. */
  #endWith(end: Error | 'clean'): void {
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) {
      w.timer?.clear();
      if (end === 'clean') w.resolve({ done: true, value: undefined });
      else w.reject(end);
    }
  }

  #hand(w: Waiter<T>, frames: Buffer[]): void {
    w.timer?.clear();
    try {
      w.resolve({ done: false, value: this.#consume(frames) });
    } catch (e) {
      w.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  #deliver(frames: Buffer[]): void {
    try {
      this.#callback?.(this.#consume(frames));
    } catch (e) {
      // an exception in the callback ends the channel, as one in the channel's function does
      this.close(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** A value read by this side's code: count it (acknowledging a batch) and deserialize it. */
  #consume(frames: Buffer[]): T {
    this.#consumed++;
    this.#bytesSinceAck += frames.reduce((n, f) => n + f.byteLength, 0);
    if (!this.#closed && (this.#consumed - this.#ackedOut >= this.#ackItems || this.#bytesSinceAck >= this.#ackBytes)) {
      this.#ackedOut = this.#consumed;
      this.#bytesSinceAck = 0;
      this.#o.transport.ack(this.#consumed);
    }
    return deserialize(frames) as T;
  }
}
