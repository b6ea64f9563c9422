/**
 * The task lifecycle as one state machine: `transition()` is the only place a
 * task's status changes, and it refuses a move the lifecycle does not have.
 *
 *   submitted ─┬─> waiting ──> queued ──> running ─┬─> done
 *              ├──────────────> queued             ├─> failed
 *              ├──────────────────────> running    └─> retrying ──> queued
 *              └─> failed    (waiting, queued and retrying may also fail)
 *
 * submitted: received, not yet routed; waiting: on dependencies; queued: in
 * the scheduler; running: sent to an engine; retrying: a run failed and the
 * task will be queued again elsewhere; done and failed are final.
 */
import type { TaskRecord, TaskStatus } from './store/record.js';

const NEXT: Record<TaskStatus, readonly TaskStatus[]> = {
  submitted: ['waiting', 'queued', 'running', 'failed'],
  waiting: ['queued', 'failed'],
  queued: ['running', 'failed'],
  running: ['done', 'failed', 'retrying'],
  retrying: ['queued', 'failed'],
  done: [],
  failed: [],
};

/** A move the lifecycle does not have: a bug in the hub, never a user's doing. */
export class IllegalTransition extends Error {
  override name = 'IllegalTransition';
  constructor(
    readonly from: TaskStatus,
    readonly to: TaskStatus,
    msgId: string,
  ) {
    super(`task ${msgId} cannot go from ${from} to ${to}`);
  }
}

/** Can a task in `from` move to `to`? */
export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return NEXT[from].includes(to);
}

/** A final status: the task will not change again. */
export function isFinal(s: TaskStatus): boolean {
  return NEXT[s].length === 0;
}

/**
 * Move a task to `to`, stamping the times that go with it: `started` when it
 * runs, `completed` when it ends; a retry clears the engine and start time.
 * @throws IllegalTransition for a move the lifecycle does not have
 */
export function transition(r: TaskRecord, to: TaskStatus, now: number = Date.now()): void {
  if (!canTransition(r.status, to)) throw new IllegalTransition(r.status, to, r.msgId);
  r.status = to;
  switch (to) {
    case 'running':
      r.started = now;
      return;
    case 'retrying':
      r.engineId = null;
      r.started = null;
      return;
    case 'done':
    case 'failed':
      r.completed = now;
      return;
    default:
      return;
  }
}
