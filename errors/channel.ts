/** Errors of channels (client/channel.ts, executor/channel.ts). */
import { TsclusterError } from './base.js';

/**
 * A channel is closed: a `send` after either side closed it, or a `receive`
 * on a side that closed it (or whose other side went away: its client
 * disconnected). A channel the other side closed cleanly ends its `for await`
 * instead of raising this.
 */
export class ChannelClosed extends TsclusterError {
  override name = 'ChannelClosed';
}
