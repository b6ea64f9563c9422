/** Internal: what a view needs from its client. */
import type { ApplyContent } from '../protocol/index.js';
import type { TaskState } from './asyncresult.js';
import type { WireOptions } from './options.js';

export interface TaskRequest {
  content: ApplyContent;
  route: 'direct' | 'lb';
  targets: number[] | undefined;
  buffers: Buffer[];
  options: WireOptions;
}

export interface Submitter {
  /** registered engine ids, ascending */
  ids(): number[];
  /** the controller starts engines when tasks wait (--adapt) */
  adaptive(): boolean;
  submit(req: TaskRequest): TaskState;
  /** one request the controller fans out: a task per target (direct route), in target order */
  broadcast(req: TaskRequest & { targets: number[] }): TaskState[];
  /** ask the controller to abort tasks; resolves with how many it stopped */
  abort(msgIds: string[]): Promise<number>;
}
