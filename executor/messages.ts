/** Messages between an execution worker's thread and its owner (an engine's main thread, or the local executor). */
import type { ApplyContent, ErrorContent } from '../protocol/index.js';

export interface TaskToWorker {
  type: 'task';
  msgId: string;
  content: ApplyContent;
  /** the serialized payload frames (for apply and map, the function source is their head) */
  frames: Uint8Array[];
}

/** The error a task ends with. */
export type TaskError = Pick<ErrorContent, 'ename' | 'evalue' | 'traceback' | 'detail'>;

/** Skip a task handed over earlier, ending it with `error`. */
export interface CancelToWorker {
  type: 'cancel';
  msgId: string;
  error: TaskError;
}

export type ToWorker = TaskToWorker | CancelToWorker;

/** A task ended: its serialized result, or its error. */
export type DoneFromWorker =
  | { type: 'done'; msgId: string; ok: true; frames: Uint8Array[]; started: string; completed: string }
  | { type: 'done'; msgId: string; ok: false; error: TaskError; started: string; completed: string };

export type FromWorker = { type: 'ready' } | { type: 'stream'; msgId: string | null; name: 'stdout' | 'stderr'; text: string } | DoneFromWorker;
