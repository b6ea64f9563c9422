/** `rc.dbQuery()`: the controller's task records, as ipyparallel's db_query gives them. */
import type { ContentOf, TaskRecordWire } from '../protocol/index.js';
import { checkInt, checkOptionKeys, show } from './validate.js';

import { TASK_STATUSES as STATUSES } from '../protocol/index.js';
import type { TaskStatus } from '../protocol/index.js';

export type { TaskStatus } from '../protocol/index.js';

/** Which records (every field narrows the selection). */
export interface TaskQuery {
  status?: TaskStatus | readonly TaskStatus[];
  engineId?: number;
  label?: string;
  /** a client's id (`rc.id`) */
  client?: string;
  /** submitted at or after */
  since?: Date | number;
  /** submitted before */
  until?: Date | number;
  /** at most this many, the most recently submitted */
  limit?: number;
}

/** One task's record. */
export interface TaskRecordInfo {
  msgId: string;
  /** the id of the client that submitted it */
  client: string;
  route: 'direct' | 'lb';
  label: string | null;
  status: TaskStatus;
  engineId: number | null;
  submitted: Date;
  started: Date | null;
  completed: Date | null;
  priority: number;
  /** earlier failed runs of a retried task */
  attempts: { engineId: number | null; ename: string }[];
  /** the error a failed task ended with */
  ename: string | null;
}

function text(what: string, v: unknown): string {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string, got ${show(v)}`);
  return v;
}

function time(what: string, v: unknown): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw new TypeError(`${what} must be a Date or epoch milliseconds, got ${show(v)}`);
}

/** A query checked and in its wire form. */
export function toQueryRequest(q: TaskQuery): ContentOf<'query_request'> {
  const o = checkOptionKeys('dbQuery', q, ['status', 'engineId', 'label', 'client', 'since', 'until', 'limit']);
  const out: ContentOf<'query_request'> = {};
  if (o.status !== undefined) {
    const list: unknown[] = Array.isArray(o.status) ? o.status : [o.status];
    out.status = list.map((s) => {
      if (!(STATUSES as readonly unknown[]).includes(s)) throw new TypeError(`dbQuery: status must be one of ${STATUSES.join(', ')}, got ${show(s)}`);
      return s as TaskStatus;
    });
  }
  if (o.engineId !== undefined) out.engine_id = checkInt('dbQuery: engineId', o.engineId, 0, Number.MAX_SAFE_INTEGER);
  if (o.label !== undefined) out.label = text('dbQuery: label', o.label);
  if (o.client !== undefined) out.client = text('dbQuery: client', o.client);
  if (o.since !== undefined) out.since = time('dbQuery: since', o.since);
  if (o.until !== undefined) out.until = time('dbQuery: until', o.until);
  if (o.limit !== undefined) out.limit = checkInt('dbQuery: limit', o.limit, 1, 1_000_000);
  return out;
}

export function fromWire(r: TaskRecordWire): TaskRecordInfo {
  const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
  return {
    msgId: r.msg_id,
    client: r.client,
    route: r.route,
    label: r.label,
    status: r.status,
    engineId: r.engine_id,
    submitted: new Date(r.submitted),
    started: date(r.started),
    completed: date(r.completed),
    priority: r.priority,
    attempts: r.attempts.map((a) => ({ engineId: a.engine_id, ename: a.ename })),
    ename: r.ename,
  };
}
