/**
 * Channels on the client: `RemoteChannel`, the client's end of a channel to a
 * function running on one engine (`dv.channel(fn, ...args)`), and the
 * `ChannelTable` that routes the channel messages arriving on the client's
 * connection to their channel by the channel task's msg_id.
 *
 * A channel is a task: its reply ends it. The function returning closes the
 * channel cleanly (`waitClose()` resolves with its return value); its
 * exception, its engine's death or a lost connection end it with that error
 * (values already received are read first).
 */
import { ChannelClosed, RemoteError } from '../errors/index.js';
import { ChannelEnd, batchContent } from '../protocol/index.js';
import type { AnyMessage, Channel, ChannelErrorWire, ChannelMsg, ChannelWaitOptions, ChannelWindow, Endpoint } from '../protocol/index.js';
import type { TaskState } from './asyncresult.js';
import type { Connection } from './connection.js';

/**
 * The client's end of a channel: send values to the function, receive what
 * it sends, in order and exactly once.
 * @example
 * const ch = rc.directView(0).channel(async (ch, k: number) => {
 *   for await (const x of ch) await ch.send((x as number) * k);
 *   return 'done';
 * }, 2);
 * await ch.send(21);
 * console.log(await ch.receive()); // 42
 * ch.close();
 * console.log(await ch.waitClose()); // 'done'
 */
export class RemoteChannel<T = unknown, R = unknown> implements Channel<T> {
  readonly #end: ChannelEnd<T>;
  /** the msg_id of the channel's task (its record at the controller, `rc.getResult` after it ended) */
  readonly msgId: string;

  /** @internal */
  constructor(end: ChannelEnd<T>, msgId: string) {
    this.#end = end;
    this.msgId = msgId;
  }

  /** The engine the function runs on. */
  get engineId(): number {
    return this.#end.engineId;
  }

  /** No more sends: either side closed it, or the function ended (received values can still be read). */
  get closed(): boolean {
    return this.#end.closed;
  }

  /** Values sent to the function that it has not consumed yet, as far as this side has heard. */
  get unacknowledged(): number {
    return this.#end.unacknowledged;
  }

  /** Values received and not read yet. */
  get buffered(): number {
    return this.#end.buffered;
  }

  /**
   * Send a value to the function. Resolves when it is at most a window behind.
   * @throws ChannelClosed when the channel is closed
   */
  send(value: unknown): Promise<void> {
    return this.#end.send(value);
  }

  /**
   * The next value the function sent. Rejects with ChannelClosed when the
   * channel ended cleanly and everything was read, RemoteError when the
   * function threw, EngineError when its engine died, TimeoutError after `timeoutMs`.
   */
  receive(opts?: ChannelWaitOptions): Promise<T> {
    return this.#end.receive(opts);
  }

  /** Every value the function sends, until it closes the channel or returns; throws its error if it fails. */
  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return this.#end[Symbol.asyncIterator]();
  }

  /** Hand each value to `cb` as it arrives (buffered ones first); returns a function that stops it. */
  onReceive(cb: (value: T) => void): () => void {
    return this.#end.onReceive(cb);
  }

  /** Close the channel: the function's `receive` ends (with `error`: rejects with ChannelClosed naming it). */
  close(error?: Error): void {
    this.#end.close(error);
  }

  /**
   * Resolves with the function's return value once it has ended; rejects with
   * its error (RemoteError with the remote stack, EngineError...). After this
   * side closed the channel, a function that ended by the ChannelClosed its
   * receive raised resolves undefined.
   */
  waitClose(opts?: ChannelWaitOptions): Promise<R> {
    return this.#end.waitClose(opts) as Promise<R>;
  }
}

/** How long an ended channel waits for values still on their way over its stream link (then it ends anyway). */
const FIN_WAIT_MS = 10_000;

/** The error a close from the function's side carries, as the client raises it. */
function errorOf(e: ChannelErrorWire, engineId: number, msgId: string): Error {
  if (e.ename === 'ChannelClosed') return new ChannelClosed(`${e.evalue} [engine ${engineId}]`);
  return new RemoteError(e.ename, e.evalue, e.traceback, engineId, msgId);
}

/** Where a client's channels may go past the controller: its stream links to engines (client/data-links.ts). */
export interface StreamLinks {
  /** this client's routing id on every stream endpoint */
  readonly routingId: string;
  /** the stream link to the engine, when it is up */
  stream(engineId: number): Endpoint | undefined;
  /** send frames to the engine's data endpoint (false: not sent) */
  put(engineId: number, id: string, frames: Buffer[], bytes: number): boolean;
}

/** A batch of at least this many bytes goes to the engine's data endpoint (its worker takes it there, no copy). */
const DATA_IN_BYTES = 1024 * 1024;

/** What the client counts of channel messages that went over its stream links (past the controller). */
export interface DirectChannelStats {
  /** channel_data messages sent and received directly, and the values in them */
  data: number;
  values: number;
}

interface Entry {
  end: ChannelEnd;
  closedHere: boolean;
  engineId: number;
  /** the channel goes over the stream link (else through the controller) */
  direct: boolean;
  /** the function's end was announced: it sent this many values */
  fin: number | undefined;
  /** the task ended; the channel waits for the values on their way (fin), at most FIN_WAIT_MS */
  ended: { t: TaskState; timer: NodeJS.Timeout } | undefined;
}

/** The open channels of a client, by the msg_id of their task. */
export class ChannelTable {
  readonly #open = new Map<string, Entry>();
  readonly #direct: DirectChannelStats = { data: 0, values: 0 };

  constructor(
    private readonly conn: () => Connection,
    private readonly links: () => StreamLinks | undefined,
  ) {}

  /** Channel messages that went over stream links, both ways. */
  get directStats(): DirectChannelStats {
    return { ...this.#direct };
  }

  /** The routing id to open a channel to `engineId` with, when its stream link is up (its messages then go direct). */
  replyTo(engineId: number): string | undefined {
    const l = this.links();
    return l?.stream(engineId) !== undefined ? l.routingId : undefined;
  }

  /** A channel task was submitted: its client end, ended by the task's reply. `direct`: it was opened with replyTo. */
  open<T, R>(t: TaskState, engineId: number, window: ChannelWindow, direct = false): RemoteChannel<T, R> {
    const msgId = t.info.msgId;
    const entry = { closedHere: false, engineId, direct, fin: undefined, ended: undefined } as Omit<Entry, 'end'> & { end: ChannelEnd<T> };
    /** Send over the stream link while it is up (true), else through the controller. */
    const send = <K extends ChannelMsg['type']>(type: K, content: Extract<AnyMessage, { type: K }>['content'], buffers: Buffer[] = []): boolean => {
      const ep = entry.direct ? this.links()?.stream(engineId) : undefined;
      if (ep) {
        ep.send(undefined, type, content as never, { buffers });
        return true;
      }
      // the link went down: the rest goes through the controller (the engine puts values back in order)
      entry.direct = false;
      this.conn().send(type, content as never, { buffers });
      return false;
    };
    entry.end = new ChannelEnd<T>({
      engineId,
      window,
      errorOf: (e) => errorOf(e, engineId, msgId),
      transport: {
        data: (seq, batch) => {
          const bytes = batch.buffers.reduce((n, b) => n + b.byteLength, 0);
          const direct =
            bytes >= DATA_IN_BYTES && this.links()?.put(engineId, `${msgId}/${seq}`, batch.buffers, bytes) === true
              ? send('channel_data', { channel: msgId, seq, ...batchContent(batch), data_in: { frames: batch.buffers.length, bytes } })
              : send('channel_data', { channel: msgId, seq, ...batchContent(batch) }, batch.buffers);
          if (direct) this.#count(batch.count);
        },
        ack: (seq) => send('channel_ack', { channel: msgId, seq }),
        close: (error) => {
          entry.closedHere = true;
          send('channel_close', { channel: msgId, ...(error ? { error } : {}) });
        },
      },
    });
    this.#open.set(msgId, entry as Entry);
    t.listeners.push((done) => this.#taskEnded(msgId, done));
    return new RemoteChannel<T, R>(entry.end, msgId);
  }

  #count(values: number): void {
    this.#direct.data++;
    this.#direct.values += values;
  }

  /**
   * The channel's task ended. Over a stream link its last values may still
   * be on their way (the reply came through the controller): a function that
   * ran to its end announced how many it sent (fin), and the channel waits
   * for them; an engine that died or a task that never ran announces nothing.
   */
  #taskEnded(msgId: string, t: TaskState): void {
    const entry = this.#open.get(msgId);
    if (!entry) return;
    const ran = t.error === undefined || t.error instanceof RemoteError;
    if (entry.direct && ran && !this.#complete(entry)) {
      const timer = setTimeout(() => this.#ended(msgId, t), FIN_WAIT_MS);
      entry.ended = { t, timer };
      return;
    }
    this.#ended(msgId, t);
  }

  /** Every value the function sent has arrived. */
  #complete(entry: Entry): boolean {
    return entry.fin !== undefined && entry.end.received >= entry.fin;
  }

  /** The channel ends as its task did. */
  #ended(msgId: string, t: TaskState): void {
    const entry = this.#open.get(msgId);
    if (!entry) return;
    this.#open.delete(msgId);
    if (entry.ended) clearTimeout(entry.ended.timer);
    const { end, closedHere } = entry;
    const err = t.error;
    if (err === undefined) {
      end.end();
      end.settle({ value: t.value });
    } else if (closedHere && err instanceof RemoteError && err.ename === 'ChannelClosed') {
      // this side closed it, and the function ended by the ChannelClosed that raised there
      end.end();
      end.settle({ value: undefined });
    } else {
      end.end(err);
      end.settle({ error: err });
    }
  }

  /** A channel message from an engine (through the controller, or `direct` over its stream link). */
  onMessage(msg: ChannelMsg, direct = false): void {
    const entry = this.#open.get(msg.content.channel);
    if (!entry) return;
    const end = entry.end;
    switch (msg.type) {
      case 'channel_data':
        if (direct) this.#count(msg.content.count ?? 1);
        end.onData(msg.content.seq, { count: msg.content.count ?? 1, frames: msg.content.frames, buffers: msg.buffers });
        break;
      case 'channel_ack':
        end.onAck(msg.content.seq);
        return;
      case 'channel_close':
        if (msg.content.fin !== undefined) entry.fin = msg.content.fin;
        else end.onClose(msg.content.error);
        break;
    }
    if (entry.ended && this.#complete(entry)) this.#ended(msg.content.channel, entry.ended.t);
  }

  /** The client closes: every open channel is closed on its engine (the function's receive rejects with ChannelClosed). */
  closeAll(): void {
    const error = new ChannelClosed('the client closed its connection');
    for (const { end } of this.#open.values()) {
      try {
        end.close(error);
      } catch {
        // the connection is already closed: the controller closes the channel when it notices
      }
    }
  }
}
