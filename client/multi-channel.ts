/**
 * A channel to each engine of a view (`dv.channel(fn)` on several engines):
 * send to all, receive from all as values arrive (execnet's multi-channel
 * and receive queue).
 */
import type { ChannelWaitOptions } from '../protocol/index.js';
import type { RemoteChannel } from './channel.js';

/** One value of a MultiChannel's receive queue and the channel it came on. */
export interface ChannelItem<T, R> {
  channel: RemoteChannel<T, R>;
  value: T;
}

/**
 * One channel per engine, each to its own run of the function.
 * @example
 * const mc = rc.directView().channel(async (ch) => { await ch.send(process.pid); });
 * for await (const { channel, value } of mc.receiveQueue()) console.log(channel.engineId, value);
 * console.log(await mc.waitClose());
 */
export class MultiChannel<T = unknown, R = unknown> {
  /** the channels, in the view's target order */
  readonly channels: readonly RemoteChannel<T, R>[];

  /** @internal */
  constructor(channels: readonly RemoteChannel<T, R>[]) {
    this.channels = Object.freeze([...channels]);
  }

  /** Every channel is closed. */
  get closed(): boolean {
    return this.channels.every((c) => c.closed);
  }

  /**
   * Send a value to every engine. Resolves when every receiver is within its window.
   * @throws ChannelClosed when one of the channels is closed (nothing is sent then)
   */
  send(value: unknown): Promise<void> {
    const open = this.channels.find((c) => c.closed);
    if (open) return open.send(value); // throws ChannelClosed, naming that channel's end
    return Promise.all(this.channels.map((c) => c.send(value))).then(() => undefined);
  }

  /**
   * The values of every channel as they arrive, each with its channel; ends
   * when every channel has ended cleanly, throws the error of one that failed.
   * Values are taken from a channel only as the loop asks for them (one ahead
   * per channel), so flow control holds.
   */
  async *receiveQueue(): AsyncGenerator<ChannelItem<T, R>, undefined, undefined> {
    type Got = { ch: RemoteChannel<T, R>; it: AsyncIterator<T, undefined> } & ({ r: IteratorResult<T, undefined> } | { e: unknown });
    const ready: Got[] = [];
    let wake: (() => void) | undefined;
    const pull = (ch: RemoteChannel<T, R>, it: AsyncIterator<T, undefined>): void => {
      const arrive = (g: Got): void => {
        ready.push(g);
        wake?.();
      };
      it.next().then(
        (r) => arrive({ ch, it, r }),
        (e: unknown) => arrive({ ch, it, e }),
      );
    };
    for (const ch of this.channels) pull(ch, ch[Symbol.asyncIterator]());
    let active = this.channels.length;
    while (active > 0) {
      if (ready.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      const g = ready.shift()!;
      if ('e' in g) throw g.e;
      if (g.r.done) {
        active--;
        continue;
      }
      pull(g.ch, g.it);
      yield { channel: g.ch, value: g.r.value };
    }
    return undefined;
  }

  /** Close every channel. */
  close(error?: Error): void {
    for (const c of this.channels) c.close(error);
  }

  /** Resolves with every function's return value (in target order) once all have ended; rejects with the first error. */
  waitClose(opts?: ChannelWaitOptions): Promise<R[]> {
    return Promise.all(this.channels.map((c) => c.waitClose(opts)));
  }
}
