/**
 * A task's record: what the hub knows of a task, as plain serializable data
 * (the runtime handles, timers and request frames, live in controller/task.ts).
 */

import type { TaskStatus } from '../../protocol/index.js';

export type { TaskStatus } from '../../protocol/index.js';

/** A dependency as the controller keeps it. */
export interface DepSpec {
  ids: string[];
  all: boolean;
  success: boolean;
  failure: boolean;
}

/** One run of a task that failed and was retried. */
export interface Attempt {
  engine_id: number | null;
  ename: string;
}

export interface TaskRecord {
  msgId: string;
  /** the submitting client's session id */
  client: string;
  route: 'direct' | 'lb';
  label: string | null;
  /** the map or parallel call it belongs to, when its client said (optional: records made before it existed lack it) */
  batch?: string | null;
  status: TaskStatus;
  /** the engine it runs or ran on (the last one, after retries) */
  engineId: number | null;
  /** epoch milliseconds */
  submitted: number;
  started: number | null;
  completed: number | null;
  /** higher runs first; FIFO among equals */
  priority: number;
  /** resubmissions left after an error or an engine death */
  retries: number;
  /** only these engines (load-balanced), or the one engine (direct) */
  targets: number[] | null;
  /** failed runs so far */
  attempts: Attempt[];
  after: DepSpec | null;
  follow: DepSpec | null;
  /** the error a failed task ended with */
  ename: string | null;
  /** what the task wrote (bounded copies; the client got every byte) */
  stdout: string;
  stderr: string;
}

/** What a finished task left behind for dependencies, kept longer than records. */
export interface Outcome {
  ok: boolean;
  engineId: number | null;
}

/** A selection of records (`rc.dbQuery`, `tscluster tasks`); every field narrows it. */
export interface TaskQuery {
  status?: TaskStatus | readonly TaskStatus[];
  engineId?: number;
  label?: string;
  client?: string;
  /** submitted at or after (epoch ms) */
  since?: number;
  /** submitted before (epoch ms) */
  until?: number;
  /** at most this many, the most recently submitted (default: all) */
  limit?: number;
}

/** Does a record match a query? */
export function matches(r: TaskRecord, q: TaskQuery): boolean {
  if (q.status !== undefined && (typeof q.status === 'string' ? r.status !== q.status : !q.status.includes(r.status))) return false;
  if (q.engineId !== undefined && r.engineId !== q.engineId) return false;
  if (q.label !== undefined && r.label !== q.label) return false;
  if (q.client !== undefined && r.client !== q.client) return false;
  if (q.since !== undefined && r.submitted < q.since) return false;
  if (q.until !== undefined && r.submitted >= q.until) return false;
  return true;
}
