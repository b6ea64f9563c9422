/**
 * The task state machine (controller/lifecycle.ts), without processes: every
 * move the lifecycle has is allowed and every other one refused (with
 * IllegalTransition, the record untouched), the time stamps each move sets or
 * clears, and that a final status never changes again.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IllegalTransition, canTransition, isFinal, transition } from '../../controller/lifecycle.js';
import type { TaskRecord, TaskStatus } from '../../controller/store/record.js';
import { taskRecord } from '../support/index.js';

const STATUSES: readonly TaskStatus[] = ['submitted', 'waiting', 'queued', 'running', 'retrying', 'done', 'failed'];

/** The lifecycle as docs/architecture.md draws it: every allowed move, and no other. */
const ALLOWED = [
  'submitted -> waiting',
  'submitted -> queued',
  'submitted -> running',
  'submitted -> failed',
  'waiting -> queued',
  'waiting -> failed',
  'queued -> running',
  'queued -> failed',
  'running -> done',
  'running -> failed',
  'running -> retrying',
  'retrying -> queued',
  'retrying -> failed',
];

const moves = STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const));
const allowed = (from: TaskStatus, to: TaskStatus): boolean => ALLOWED.includes(`${from} -> ${to}`);
const allowedMoves = moves.filter(([from, to]) => allowed(from, to));
const refusedMoves = moves.filter(([from, to]) => !allowed(from, to));

/** A record in status `status`, as if it had been running on engine 3 since t=2000 (submitted at t=1000). */
const record = (status: TaskStatus, msgId = 'task-1'): TaskRecord => taskRecord({ status, msgId });

describe('the task lifecycle', () => {
  test('the moves: 13 allowed, the other 36 of the 49 pairs of statuses refused', () => {
    assert.equal(allowedMoves.length, 13);
    assert.equal(refusedMoves.length, 36);
    for (const [from, to] of allowedMoves) assert.equal(canTransition(from, to), true, `${from} -> ${to} is allowed`);
    for (const [from, to] of refusedMoves) assert.equal(canTransition(from, to), false, `${from} -> ${to} is refused`);
  });

  test('no status moves to itself', () => {
    for (const s of STATUSES) assert.equal(canTransition(s, s), false, s);
  });

  test('isFinal: done and failed only', () => {
    assert.deepEqual(
      STATUSES.filter((s) => isFinal(s)),
      ['done', 'failed'],
    );
  });

  test('every allowed move changes the status and stamps its times: running sets started, done and failed set completed, retrying clears engine and start', () => {
    const now = 5000;
    for (const [from, to] of allowedMoves) {
      const r = record(from);
      transition(r, to, now);
      const want = { ...record(from), status: to };
      if (to === 'running') want.started = now;
      if (to === 'retrying') {
        want.engineId = null;
        want.started = null;
      }
      if (to === 'done' || to === 'failed') want.completed = now;
      assert.deepEqual(r, want, `${from} -> ${to}`);
    }
  });

  test('without a time, transition stamps the current time', () => {
    const r = record('queued');
    const t0 = Date.now();
    transition(r, 'running');
    assert.ok(r.started !== null && r.started >= t0 && r.started <= Date.now(), `started ${r.started}`);
    transition(r, 'done');
    assert.ok(r.completed !== null && r.completed >= r.started && r.completed <= Date.now(), `completed ${r.completed}`);
  });

  test('every refused move throws IllegalTransition naming the task and both statuses, and leaves the record as it was', () => {
    for (const [from, to] of refusedMoves) {
      const r = record(from, `task-${from}-${to}`);
      assert.throws(
        () => transition(r, to, 5000),
        (e: unknown) => {
          assert.ok(e instanceof IllegalTransition, `${from} -> ${to}: IllegalTransition expected, got ${String(e)}`);
          assert.ok(e instanceof Error);
          assert.equal(e.name, 'IllegalTransition');
          assert.equal(e.from, from);
          assert.equal(e.to, to);
          assert.equal(e.message, `task task-${from}-${to} cannot go from ${from} to ${to}`);
          return true;
        },
      );
      assert.deepEqual(r, record(from, `task-${from}-${to}`), `${from} -> ${to}: the record is unchanged`);
    }
  });

  test('a final status never changes: every move from done or failed is refused', () => {
    for (const final of ['done', 'failed'] as const) {
      const r = record(final);
      r.completed = 4000;
      const before = structuredClone(r);
      for (const to of STATUSES) assert.throws(() => transition(r, to), IllegalTransition, `${final} -> ${to}`);
      assert.deepEqual(r, before);
    }
  });

  test('a task through retries: submitted, waiting, queued, running, retrying, queued, running, done', () => {
    const r = record('submitted');
    r.engineId = null;
    r.started = null;
    const steps: [TaskStatus, number][] = [
      ['waiting', 1100],
      ['queued', 1200],
      ['running', 1300],
      ['retrying', 1400],
      ['queued', 1500],
      ['running', 1600],
      ['done', 1700],
    ];
    const seen: [TaskStatus, number | null, number | null][] = [];
    for (const [to, at] of steps) {
      transition(r, to, at);
      seen.push([r.status, r.started, r.completed]);
    }
    assert.deepEqual(seen, [
      ['waiting', null, null],
      ['queued', null, null],
      ['running', 1300, null],
      ['retrying', null, null],
      ['queued', null, null],
      ['running', 1600, null],
      ['done', 1600, 1700],
    ]);
    assert.equal(isFinal(r.status), true);
  });
});
