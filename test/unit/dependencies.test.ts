/**
 * Dependency evaluation (controller/dependencies.ts), without processes: when
 * `after` and `follow` dependencies wait, are met (and on which engines), or
 * can never be met.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluate } from '../../controller/dependencies.js';
import type { DepSpec, Outcome } from '../../controller/store/record.js';

function dep(ids: string[], o: Partial<Omit<DepSpec, 'ids'>> = {}): DepSpec {
  return { ids, all: o.all ?? true, success: o.success ?? true, failure: o.failure ?? false };
}

function outcomes(known: Record<string, Outcome | 'pending'>): (id: string) => Outcome | 'pending' | undefined {
  return (id) => known[id];
}

const ok = (engineId: number): Outcome => ({ ok: true, engineId });
const failed = (engineId: number | null): Outcome => ({ ok: false, engineId });

describe('dependencies: evaluate', () => {
  test('after all: waits while any is pending, met when all succeeded, impossible once one failed', () => {
    const d = dep(['a', 'b']);
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending', b: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: ok(1) }), false), { kind: 'met', engines: undefined });
    const st = evaluate(d, outcomes({ a: 'pending', b: failed(1) }), false);
    assert.equal(st.kind, 'impossible', 'a failure is final even while another is pending');
  });

  test('after any: met as soon as one succeeded, waits while none has, impossible when all failed', () => {
    const d = dep(['a', 'b', 'c'], { all: false });
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending', b: 'pending', c: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: failed(0), b: 'pending', c: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: failed(0), b: ok(1), c: 'pending' }), false), { kind: 'met', engines: undefined });
    assert.equal(evaluate(d, outcomes({ a: failed(0), b: failed(1), c: failed(0) }), false).kind, 'impossible');
  });

  test('success: false, failure: true: met only by a failure; a success makes it impossible', () => {
    const d = dep(['a'], { success: false, failure: true });
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: failed(0) }), false), { kind: 'met', engines: undefined });
    const st = evaluate(d, outcomes({ a: ok(0) }), false);
    assert.equal(st.kind, 'impossible');
    assert.match((st as { why: string }).why, /failed/);
  });

  test('success and failure both count: any finished outcome meets it', () => {
    const d = dep(['a', 'b'], { success: true, failure: true });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: failed(1) }), false), { kind: 'met', engines: undefined });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: 'pending' }), false), { kind: 'wait' });
  });

  test('follow all on one engine: waits while pending, then met with that engine', () => {
    const d = dep(['a', 'b']);
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending', b: 'pending' }), true), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(1), b: 'pending' }), true), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(1), b: ok(1) }), true), { kind: 'met', engines: [1] });
  });

  test('follow all over two engines is impossible as soon as the second engine is known (even with others pending)', () => {
    const d = dep(['a', 'b', 'c']);
    const st = evaluate(d, outcomes({ a: ok(0), b: ok(1), c: 'pending' }), true);
    assert.equal(st.kind, 'impossible');
    assert.match((st as { why: string }).why, /0 and 1/);
    assert.equal(evaluate(d, outcomes({ a: ok(0), b: ok(1), c: ok(0) }), true).kind, 'impossible');
  });

  test('follow of a task that never ran on an engine is impossible', () => {
    const d = dep(['a'], { success: true, failure: true });
    assert.equal(evaluate(d, outcomes({ a: failed(null) }), true).kind, 'impossible');
    assert.equal(evaluate(dep(['a'], { all: false, failure: true }), outcomes({ a: failed(null) }), true).kind, 'impossible');
  });

  test('follow any: met with the engines of the ones that succeeded', () => {
    const d = dep(['a', 'b', 'c'], { all: false });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(2), b: 'pending', c: 'pending' }), true), { kind: 'met', engines: [2] });
    const st = evaluate(d, outcomes({ a: ok(2), b: ok(0), c: failed(1) }), true);
    assert.equal(st.kind, 'met');
    assert.deepEqual([...(st as { engines: number[] }).engines].sort(), [0, 2]);
  });

  test('a location dependency on a failed task (default success only) is impossible', () => {
    assert.equal(evaluate(dep(['a']), outcomes({ a: failed(0) }), true).kind, 'impossible');
  });
});
