/**
 * The TaskStore: where the hub keeps task records, finished tasks' replies
 * (for getResult) and outcomes (for dependencies). The controller takes one
 * through its options: the bounded in-memory store (memory.ts, `--store none`)
 * or the durable SQLite store (sqlite.ts, the default), from which a
 * restarted controller takes up the tasks its predecessor left unfinished.
 */
import type { Outcome, TaskQuery, TaskRecord } from './record.js';

/** A finished task as stored: its record and its reply frames (from the delimiter on). */
export interface StoredTask {
  record: TaskRecord;
  /** undefined while the task is unfinished, or when its reply was not kept (see `replyNote`) */
  reply: readonly Buffer[] | undefined;
  /** why a finished task's reply is not here (larger than the store keeps, lost with a restart) */
  replyNote?: string;
}

/** What a request needs to be sent again after a restart: its frames and the submitting client's routing identity. */
export interface StoredRequest {
  /** signature, header, parent, metadata, content, buffers (the frames after the delimiter) */
  frames: readonly Buffer[];
  client: Buffer;
}

/** An unfinished task as a restarted controller finds it. */
export interface RestoredTask {
  record: TaskRecord;
  request: StoredRequest;
  /** false: the request's buffers were too large to store (its frames end at the content); its client sends it again */
  payloadKept: boolean;
}

export interface StoreCounts {
  /** tasks submitted since the store opened */
  submitted: number;
  /** tasks finished since the store opened */
  completed: number;
  /** records kept now (unfinished ones and the bounded finished ones) */
  records: number;
}

export interface TaskStore {
  /** 'memory', or the file a durable store writes */
  readonly where: string;
  /** A task was submitted (a durable store keeps its request until it finishes). */
  add(record: TaskRecord, request?: StoredRequest): void;
  /** A record changed (status, engine, attempts...). */
  update(record: TaskRecord): void;
  /** A task finished with this reply (frames from the delimiter on). */
  finish(record: TaskRecord, reply: readonly Buffer[]): void;
  get(msgId: string): StoredTask | undefined;
  /** A finished task's outcome, 'pending' for a known unfinished one, undefined if unknown. */
  outcome(msgId: string): Outcome | 'pending' | undefined;
  /** Records matching the query, oldest first. */
  query(q: TaskQuery): TaskRecord[];
  /** Remove finished records (all, or those named); unfinished ones stay. Returns how many went. */
  purge(msgIds: readonly string[] | 'all'): number;
  counts(): StoreCounts;
  /**
   * Write what changed since the last call. The controller calls it before
   * any message leaves (write-ahead): what an engine or client has been told,
   * the store has.
   */
  flush(): void;
  /** Unfinished tasks a previous controller left, oldest first (none for a store that forgets). */
  restore(): RestoredTask[];
  /** Small named values that outlive a controller (the engines it had). */
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  close(): void;
}
