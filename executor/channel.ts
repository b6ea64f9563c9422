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
import type { ChannelMessage, FromWorker } from './messages.js';

/** The other side's close, as the function on the engine sees it: its receive rejects with ChannelClosed. */
function closedBy(e: ChannelErrorWire): Error {
  return new ChannelClosed(e.ename === 'ChannelClosed' ? e.evalue : `the client closed the channel with ${e.ename}: ${e.evalue}`);
}

export class WorkerChannels {
  readonly #post: (m: FromWorker, transfer?: ArrayBuffer[]) => void;
  readonly #open = new Map<string, ChannelEnd>();
  /** channel tasks that arrived and have not started: the messages that came for them meanwhile */
  readonly #early = new Map<string, ChannelMessage[]>();

  constructor(post: (m: FromWorker, transfer?: ArrayBuffer[]) => void) {
    this.#post = post;
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
