/**
 * Channels in the execution worker: the Channel a channel task's function
 * gets as its first argument (protocol/channel.ts), talking to the engine's
 * main thread through the worker's port. Messages for a channel whose task
 * has arrived but not started yet (the worker runs one task at a time) wait
 * here until it starts; those for channels that ended are dropped.
 *
 * Imported by the execution worker: no zod.
 */
import { ChannelClosed } from '../errors/channel.js';
import { ChannelEnd } from '../protocol/channel.js';
import type { ChannelErrorWire, ChannelWindow } from '../protocol/schemas/channels.js';
import { firstFrames, fromPosted, toPosted } from './channel-post.js';
import type { ChannelMessage, FromWorker, TaskError } from './messages.js';

/** The other side's close, as the function on the engine sees it: its receive rejects with ChannelClosed. */
function closedBy(e: ChannelErrorWire): Error {
  return new ChannelClosed(e.ename === 'ChannelClosed' ? e.evalue : `the client closed the channel with ${e.ename}: ${e.evalue}`);
}

/** Take the frames of data_put `id` (`bytes` of them) from the data inbox once they have arrived, or the error why not. */
export type TakeData = (id: string, bytes: number, cancelled: () => TaskError | undefined) => Promise<Buffer[] | TaskError>;

export class WorkerChannels {
  readonly #post: (m: FromWorker, transfer?: ArrayBuffer[]) => void;
  readonly #take: TakeData;
  readonly #open = new Map<string, ChannelEnd>();
  /** channel tasks that arrived and have not started: the messages that came for them meanwhile */
  readonly #early = new Map<string, ChannelMessage[]>();
  /** channels waiting for a batch at the data inbox: what comes after it waits its turn */
  readonly #waiting = new Map<string, Promise<void>>();

  constructor(post: (m: FromWorker, transfer?: ArrayBuffer[]) => void, take: TakeData) {
    this.#post = post;
    this.#take = take;
  }

  /** A channel task arrived: keep what comes for it until it starts. */
  expect(msgId: string): void {
    if (!this.#early.has(msgId)) this.#early.set(msgId, []);
  }

  /** A channel task starts: its Channel, with what arrived for it so far. */
  open(msgId: string, o: { window: ChannelWindow; engineId: number }): ChannelEnd {
    const post = (m: ChannelMessage, transfer?: ArrayBuffer[]): void => this.#post(m, transfer);
    const end = new ChannelEnd({
      engineId: o.engineId,
      window: o.window,
      errorOf: closedBy,
      settleOnClose: true,
      transport: {
        // a batch of values in one postMessage
        data: (seq, batch) => {
          const p = toPosted(batch, firstFrames(batch));
          post({ type: 'channel', msgId, op: 'data', seq, batch: p.batch }, p.transfer);
        },
        ack: (seq) => post({ type: 'channel', msgId, op: 'ack', seq }),
        close: (error) => post({ type: 'channel', msgId, op: 'close', ...(error ? { error } : {}) }),
      },
    });
    this.#open.set(msgId, end);
    const early = this.#early.get(msgId) ?? [];
    this.#early.delete(msgId);
    for (const m of early) this.#deliver(end, m);
    return end;
  }

  /** A task ended: its channel (if it had one) is closed and forgotten; the reply tells the client. */
  finish(msgId: string): void {
    this.#early.delete(msgId);
    const end = this.#open.get(msgId);
    if (!end) return;
    this.#open.delete(msgId);
    end.end(new ChannelClosed("the channel's function has ended"));
  }

  /** A message from the client, through the engine's main thread. */
  onMessage(m: ChannelMessage): void {
    const end = this.#open.get(m.msgId);
    if (end) {
      this.#deliver(end, m);
      return;
    }
    // for a channel that has not started: kept; for one that ended: dropped
    this.#early.get(m.msgId)?.push(m);
  }

  #deliver(end: ChannelEnd, m: ChannelMessage): void {
    const before = this.#waiting.get(m.msgId);
    if (before !== undefined || (m.op === 'data' && m.dataIn)) {
      // in order: after the batch the channel waits for
      const next = (before ?? Promise.resolve()).then(() => this.#deliverInTurn(end, m));
      this.#waiting.set(m.msgId, next);
      void next.then(() => {
        if (this.#waiting.get(m.msgId) === next) this.#waiting.delete(m.msgId);
      });
      return;
    }
    this.#deliverNow(end, m);
  }

  /** A message after the batch its channel waited for; a batch whose frames went to the data inbox is taken there (no copy), then delivered. */
  async #deliverInTurn(end: ChannelEnd, m: ChannelMessage): Promise<void> {
    if (m.op !== 'data' || !m.dataIn) {
      this.#deliverNow(end, m);
      return;
    }
    const stop = (): TaskError | undefined => (end.closed ? { ename: 'ChannelClosed', evalue: 'the channel closed', traceback: [] } : undefined);
    const got = await this.#take(`${m.msgId}/${m.seq}`, m.dataIn.bytes, stop);
    if (!Array.isArray(got)) {
      if (!end.closed) end.close(new Error(`${got.ename}: ${got.evalue}`));
      return;
    }
    const b = fromPosted(m.batch);
    end.onData(m.seq, { count: b.count, frames: b.frames, buffers: got });
  }

  #deliverNow(end: ChannelEnd, m: ChannelMessage): void {
    switch (m.op) {
      case 'data':
        end.onData(m.seq, fromPosted(m.batch));
        return;
      case 'ack':
        end.onAck(m.seq);
        return;
      case 'close':
        end.onClose(m.error);
        return;
    }
  }
}
