/** Internal: what a view needs from its client. */
import type { ApplyContent } from '../protocol/index.js';
import type { TaskState } from './asyncresult.js';

export interface TaskRequest {
  content: ApplyContent;
  route: 'direct' | 'lb';
  targets: number[] | undefined;
  buffers: Buffer[];
  label?: string;
}

export interface Submitter {
  /** registered engine ids, ascending */
  ids(): number[];
  submit(req: TaskRequest): TaskState;
}
