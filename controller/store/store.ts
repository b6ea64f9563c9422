/**
 * The TaskStore: where the hub keeps task records, finished tasks' replies
 * (for getResult) and outcomes (for dependencies). The controller takes one
 * through its options; the bounded in-memory store (memory.ts) is the first.
 */
import type { Outcome, TaskQuery, TaskRecord } from './record.js';

/** A finished task as stored: its record and its reply frames (from the delimiter on). */
export interface StoredTask {
  record: TaskRecord;
  /** undefined while the task is unfinished */
  reply: readonly Buffer[] | undefined;
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
  /** A task was submitted. */
  add(record: TaskRecord): void;
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
}
