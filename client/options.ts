/** Per-task options and dependencies, as views carry them. */
import type { DependencyWire } from '../protocol/index.js';
import { AsyncResult } from './asyncresult.js';

/** Tasks named by msg_id or by their AsyncResult. */
export type TaskRef = string | AsyncResult<unknown, boolean>;

/**
 * A dependency on other tasks.
 * @example { ids: [ar1, ar2], all: false }                   // after any one of them succeeds
 * @example { ids: [ar], success: false, failure: true }      // only if ar failed
 */
export interface Dependency {
  ids: TaskRef | readonly TaskRef[];
  /** all of them (default) or any one */
  all?: boolean;
  /** a success counts (default true) */
  success?: boolean;
  /** a failure counts (default false) */
  failure?: boolean;
}

/** AsyncResults, msg ids, or a Dependency. */
export type DependencyLike = TaskRef | readonly TaskRef[] | Dependency;

/** Options of load-balanced tasks; `withOptions` merges them into a new view. */
export interface TaskOptions {
  /** resubmit on another engine after an error or an engine death, this many times (default 0) */
  retries?: number;
  /** fail with TaskTimeout this long after submission, queued or running (a running task is interrupted) */
  timeoutMs?: number;
  /** run after these tasks finish (time dependency) */
  after?: DependencyLike;
  /** run on the engine where these ran (location dependency) */
  follow?: DependencyLike;
  /** only these engines */
  targets?: number | number[];
  /** higher runs first; FIFO among equals (default 0) */
  priority?: number;
  /** a label kept in the controller's task record */
  label?: string;
}

/** Options of direct tasks. */
export type DirectTaskOptions = Pick<TaskOptions, 'timeoutMs' | 'label'>;

/** The metadata fields a task's options become on the wire. */
export interface WireOptions {
  retries?: number;
  timeout_ms?: number;
  after?: DependencyWire;
  follow?: DependencyWire;
  priority?: number;
  label?: string;
}

function refIds(ref: TaskRef | readonly TaskRef[]): string[] {
  const list: readonly TaskRef[] = Array.isArray(ref) ? ref : [ref as TaskRef];
  return list.flatMap((r) => (typeof r === 'string' ? [r] : [...r.msgIds]));
}

export function toDependency(d: DependencyLike): DependencyWire {
  const given: unknown = d;
  const isDep = typeof given === 'object' && given !== null && !(given instanceof AsyncResult) && !Array.isArray(given) && 'ids' in given;
  const dep: Dependency = isDep ? (d as Dependency) : { ids: d as TaskRef | readonly TaskRef[] };
  return { ids: refIds(dep.ids), all: dep.all ?? true, success: dep.success ?? true, failure: dep.failure ?? false };
}

function check(name: string, v: number | undefined, min: number, integer: boolean): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw new RangeError(`${name} must be ${integer ? 'a whole number' : 'a number'} >= ${min}, got ${String(v)}`);
  }
}

export function toWire(o: TaskOptions): WireOptions {
  check('retries', o.retries, 0, true);
  check('timeoutMs', o.timeoutMs, 1, false);
  check('priority', o.priority, -1e9, true);
  const w: WireOptions = {};
  if (o.retries !== undefined) w.retries = o.retries;
  if (o.timeoutMs !== undefined) w.timeout_ms = o.timeoutMs;
  if (o.after !== undefined) w.after = toDependency(o.after);
  if (o.follow !== undefined) w.follow = toDependency(o.follow);
  if (o.priority !== undefined) w.priority = o.priority;
  if (o.label !== undefined) w.label = o.label;
  return w;
}
