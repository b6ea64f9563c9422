/** Messages between an engine's main thread and its execution worker. */
import type { ApplyContent, ErrorContent } from '../protocol/index.js';

export interface TaskToWorker {
  type: 'task';
  msgId: string;
  content: ApplyContent;
  /** the serialized payload frames (for apply and map, the function source is their head) */
  frames: Uint8Array[];
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'stream'; msgId: string | null; name: 'stdout' | 'stderr'; text: string }
  | { type: 'done'; msgId: string; ok: true; frames: Uint8Array[]; started: string; completed: string }
  | {
      type: 'done';
      msgId: string;
      ok: false;
      error: Pick<ErrorContent, 'ename' | 'evalue' | 'traceback' | 'detail'>;
      started: string;
      completed: string;
    };
