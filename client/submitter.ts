/** Internal: what a view needs from its client. */
import type { ApplyContent, ChannelWindow } from '../protocol/index.js';
import type { TaskState } from './asyncresult.js';
import type { RemoteChannel } from './channel.js';
import type { WireOptions } from './options.js';

export interface TaskRequest {
  content: ApplyContent;
  route: 'direct' | 'lb';
  targets: number[] | undefined;
  buffers: Buffer[];
  options: WireOptions;
  /** a channel: its window (its function gets a Channel first) */
  channel?: ChannelWindow & { reply_to?: string };
}

export interface Submitter {
  /** registered engine ids, ascending */
  ids(): number[];
  /** the controller starts engines when tasks wait (--adapt) */
  adaptive(): boolean;
  submit(req: TaskRequest): TaskState;
  /** one request the controller fans out: a task per target (direct route), in target order */
  broadcast(req: TaskRequest & { targets: number[] }): TaskState[];
  /** submit a channel task (`req.channel` set, one target) and return the client's end of its channel */
  channel<T, R>(req: TaskRequest & { channel: ChannelWindow }, engineId: number): RemoteChannel<T, R>;
  /** ask the controller to abort tasks; resolves with how many it stopped */
  abort(msgIds: string[]): Promise<number>;
}
