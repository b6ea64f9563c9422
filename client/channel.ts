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
import type { AnyMessage, Channel, ChannelErrorWire, ChannelWaitOptions, ChannelWindow } from '../protocol/index.js';
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

type ChannelMsg = Extract<AnyMessage, { type: 'channel_data' | 'channel_ack' | 'channel_close' }>;

/** The error a close from the function's side carries, as the client raises it. */
function errorOf(e: ChannelErrorWire, engineId: number, msgId: string): Error {
  if (e.ename === 'ChannelClosed') return new ChannelClosed(`${e.evalue} [engine ${engineId}]`);
  return new RemoteError(e.ename, e.evalue, e.traceback, engineId, msgId);
}

/** The open channels of a client, by the msg_id of their task. */
export class ChannelTable {
  readonly #open = new Map<string, { end: ChannelEnd; closedHere: boolean }>();

  constructor(private readonly conn: () => Connection) {}

  /** A channel task was submitted: its client end, ended by the task's reply. */
  open<T, R>(t: TaskState, engineId: number, window: ChannelWindow): RemoteChannel<T, R> {
    const msgId = t.info.msgId;
    const entry = { end: undefined as unknown as ChannelEnd<T>, closedHere: false };
    entry.end = new ChannelEnd<T>({
      engineId,
      window,
      errorOf: (e) => errorOf(e, engineId, msgId),
      transport: {
        data: (seq, batch) => this.conn().send('channel_data', { channel: msgId, seq, ...batchContent(batch) }, { buffers: batch.buffers }),
        ack: (seq) => this.conn().send('channel_ack', { channel: msgId, seq }),
        close: (error) => {
          entry.closedHere = true;
          this.conn().send('channel_close', { channel: msgId, ...(error ? { error } : {}) });
        },
      },
    });
    this.#open.set(msgId, entry as { end: ChannelEnd; closedHere: boolean });
    t.listeners.push((done) => this.#ended(msgId, done));
    return new RemoteChannel<T, R>(entry.end, msgId);
  }

  /** The channel's task ended: so does the channel. */
  #ended(msgId: string, t: TaskState): void {
    const entry = this.#open.get(msgId);
    if (!entry) return;
    this.#open.delete(msgId);
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

  /** A channel message from an engine. */
  onMessage(msg: ChannelMsg): void {
    const end = this.#open.get(msg.content.channel)?.end;
    if (!end) return;
    switch (msg.type) {
      case 'channel_data':
        end.onData(msg.content.seq, { count: msg.content.count ?? 1, frames: msg.content.frames, buffers: msg.buffers });
        return;
      case 'channel_ack':
        end.onAck(msg.content.seq);
        return;
      case 'channel_close':
        end.onClose(msg.content.error);
        return;
    }
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
