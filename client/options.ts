/** Per-task options and dependencies, as views carry them. */
import { randomUUID } from 'node:crypto';
import type { DependencyWire } from '../protocol/index.js';
import { AsyncResult } from './asyncresult.js';
import { checkInt, checkMs, checkOptionKeys, checkTargets, show } from './validate.js';

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
  /**
   * keep the task queued when this client disconnects, for a later `getResult`
   * (default false: a disconnected client's queued tasks are cancelled; running ones finish)
   */
  retainOnDisconnect?: boolean;
}

/** Options of direct tasks. */
export type DirectTaskOptions = Pick<TaskOptions, 'timeoutMs' | 'label' | 'retainOnDisconnect'>;

/** The option names of each kind of view. */
export const LB_OPTIONS = ['retries', 'timeoutMs', 'after', 'follow', 'targets', 'priority', 'label', 'retainOnDisconnect'] as const;
export const DIRECT_OPTIONS = ['timeoutMs', 'label', 'retainOnDisconnect'] as const;

/** The metadata fields a task's options become on the wire. */
export interface WireOptions {
  retries?: number;
  timeout_ms?: number;
  after?: DependencyWire;
  follow?: DependencyWire;
  priority?: number;
  label?: string;
  retain?: boolean;
  /** the tasks of one map or parallel call share it (see `batched`) */
  batch?: string;
}

/** Options with a fresh batch id: the tasks of one map share it, so the dashboard shows their progress together. */
export function batched(w: WireOptions): WireOptions {
  return { ...w, batch: randomUUID() };
}

function refIds(what: string, ref: unknown): string[] {
  const list: unknown[] = Array.isArray(ref) ? ref : [ref];
  return list.flatMap((r, i) => {
    if (typeof r === 'string' && r !== '') return [r];
    if (r instanceof AsyncResult) return [...r.msgIds];
    throw new TypeError(`${what}${Array.isArray(ref) ? `[${i}]` : ''} must be an AsyncResult or a msg id (a string), got ${show(r)}`);
  });
}

/** A dependency in its wire form; throws naming `what` when it is not one. */
export function toDependency(what: string, d: unknown): DependencyWire {
  if (d === null || d === undefined || (typeof d !== 'string' && typeof d !== 'object')) {
    throw new TypeError(`${what} must be AsyncResults, msg ids, or { ids, all?, success?, failure? }, got ${show(d)}`);
  }
  const isDep = typeof d === 'object' && !(d instanceof AsyncResult) && !Array.isArray(d);
  if (!isDep) return { ids: refIds(what, d), all: true, success: true, failure: false };
  const dep = checkOptionKeys(what, d, ['ids', 'all', 'success', 'failure']);
  for (const k of ['all', 'success', 'failure']) {
    if (dep[k] !== undefined && typeof dep[k] !== 'boolean') throw new TypeError(`${what}.${k} must be true or false, got ${show(dep[k])}`);
  }
  const flag = (k: string, dflt: boolean): boolean => (dep[k] as boolean | undefined) ?? dflt;
  return { ids: refIds(`${what}.ids`, dep.ids), all: flag('all', true), success: flag('success', true), failure: flag('failure', false) };
}

/**
 * Check a view's options (throwing at once on a bad one, naming it) and turn them into task metadata.
 * @param known the options this kind of view takes
 */
export function toWire(o: TaskOptions, known: readonly string[] = LB_OPTIONS): WireOptions {
  const given = checkOptionKeys('options', o, known);
  const w: WireOptions = {};
  if (given.retries !== undefined) w.retries = checkInt('retries', given.retries, 0, 1000);
  if (given.timeoutMs !== undefined) {
    const ms = checkMs('timeoutMs', given.timeoutMs);
    if (ms !== Infinity) w.timeout_ms = ms;
  }
  if (given.after !== undefined) w.after = toDependency('after', given.after);
  if (given.follow !== undefined) w.follow = toDependency('follow', given.follow);
  if (given.priority !== undefined) w.priority = checkInt('priority', given.priority, -1e9, 1e9);
  if (given.targets !== undefined) checkTargets('targets', given.targets);
  if (given.label !== undefined) {
    if (typeof given.label !== 'string' || given.label.length > 1000)
      throw new TypeError(`label must be a string of at most 1000 characters, got ${show(given.label)}`);
    w.label = given.label;
  }
  if (given.retainOnDisconnect !== undefined) {
    if (typeof given.retainOnDisconnect !== 'boolean')
      throw new TypeError(`retainOnDisconnect must be true or false, got ${show(given.retainOnDisconnect)}`);
    if (given.retainOnDisconnect) w.retain = true;
  }
  return w;
}
