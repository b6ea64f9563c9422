/** Messages between an execution worker's thread and its owner (an engine's main thread, or the local executor). */
import type { ApplyContent, ChannelErrorWire, ChannelWindow, ErrorContent } from '../protocol/index.js';
import type { PostedBatch } from './channel-post.js';
import type { SharedReply, SharedRequest } from '../protocol/schemas/shared.js';

export interface TaskToWorker {
  type: 'task';
  msgId: string;
  content: ApplyContent;
  /** the serialized payload frames (for apply and map, the function source is their head) */
  frames: Uint8Array[];
  /** the frames come through the worker's data inbox instead (a data_put with this msg_id): how many and their bytes */
  dataIn?: { frames: number; bytes: number };
  /** a large result goes straight to the client's data link with this routing id, when it is connected here */
  dataOutTo?: string;
  /** the task is a channel: its function gets a Channel first (executor/channel.ts) */
  channel?: { window: ChannelWindow; engineId: number };
}

/** The error a task ends with. */
export type TaskError = Pick<ErrorContent, 'ename' | 'evalue' | 'traceback' | 'detail'>;

/** Skip a task handed over earlier, ending it with `error`. */
export interface CancelToWorker {
  type: 'cancel';
  msgId: string;
  error: TaskError;
}

/**
 * The answer to a shared-object call of remote code (SharedFromWorker): the
 * controller's shared_reply and its value frames, or why there is none (the
 * engine could not ask: `error`).
 */
export type SharedToWorker =
  | { type: 'shared-reply'; id: number; content: SharedReply; frames: Uint8Array[] }
  | { type: 'shared-reply'; id: number; error: { ename: string; evalue: string } };

/** Remote code calls a shared object (the global `tscluster`): the engine asks the controller. */
export interface SharedFromWorker {
  type: 'shared';
  /** the thread's number for the call, echoed in the answer */
  id: number;
  req: SharedRequest;
  /** the value frames */
  frames: Uint8Array[];
  /** how long the controller may hold it, ms (null: no limit) */
  waitMs: number | null;
}
/** What a channel message carries: values (a batch, the first one's seq), credit, or the close of a side. */
export type ChannelOp =
  | { op: 'data'; seq: number; batch: PostedBatch; dataIn?: { bytes: number } }
  | { op: 'ack'; seq: number }
  | { op: 'close'; error?: ChannelErrorWire | undefined };

/** A message of the channel of task `msgId`, between the engine's main thread and the worker, either way. */
export type ChannelMessage = { type: 'channel'; msgId: string } & ChannelOp;

export type ToWorker = TaskToWorker | CancelToWorker | SharedToWorker | ChannelMessage;

/** A task ended: its serialized result, or its error. */
export type DoneFromWorker =
  | { type: 'done'; msgId: string; ok: true; frames: Uint8Array[]; started: string; completed: string; dataOut?: { frames: number } }
  | { type: 'done'; msgId: string; ok: false; error: TaskError; started: string; completed: string };

export type FromWorker =
  /** the thread takes tasks; with a data inbox, its URL (or why it has none) */
  | { type: 'ready'; dataUrl?: string; dataError?: string }
  /** a message on the data inbox was dropped (for the engine log) */
  | { type: 'data-drop'; why: string }
  | { type: 'stream'; msgId: string | null; name: 'stdout' | 'stderr'; text: string }
  | SharedFromWorker
  | DoneFromWorker
  | ChannelMessage;
