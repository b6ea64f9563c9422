/**
 * The controller's shared-object store (controller/shared/), without
 * processes: queues (order, maxsize waits, timeouts, close and drain,
 * delete), dicts (atomic setIfAbsent and increment, increment of a value that
 * is not a number), events, locks (handed on in order, released when their
 * owner is gone), kinds per name, and byte limits (refused before anything
 * changes, freed on delete).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SharedStore } from '../../controller/shared/store.js';
import type { Requester, SharedResult, StoredValue } from '../../controller/shared/types.js';
import type { SharedRequest } from '../../protocol/schemas/shared.js';

const LIMITS = { maxBytes: 1024 * 1024, objectMaxBytes: 64 * 1024 };

/** A call to the store; `answers` fills as it is answered (once, or the test fails). */
class Call {
  readonly answers: SharedResult[] = [];
  constructor(store: SharedStore, req: SharedRequest, values: StoredValue[] = [], owner = 'client:a', msgId = 'm') {
    const r: Requester = { owner, msgId, reply: (a) => this.answers.push(a) };
    store.handle(req, values, r);
  }

  get answered(): boolean {
    assert.ok(this.answers.length <= 1, `answered more than once: ${JSON.stringify(this.answers)}`);
    return this.answers.length === 1;
  }

  get answer(): SharedResult {
    assert.equal(this.answers.length, 1, 'answered once');
    return this.answers[0]!;
  }

  /** the error name it was answered with */
  get ename(): string | undefined {
    const a = this.answer;
    return a.ok ? undefined : a.ename;
  }

  get result(): boolean | number | null | undefined {
    const a = this.answer;
    assert.ok(a.ok, `expected ok, got ${JSON.stringify(a)}`);
    return a.result;
  }

  get values(): StoredValue[] | undefined {
    const a = this.answer;
    assert.ok(a.ok, `expected ok, got ${JSON.stringify(a)}`);
    return a.values;
  }
}

const frames = (text: string): Buffer[] => [Buffer.from(text)];
const put = (s: SharedStore, name: string, v: StoredValue, o: { maxsize?: number; timeout?: number | null; owner?: string } = {}): Call =>
  new Call(
    s,
    { op: 'queue_put', name, timeout_ms: o.timeout === undefined ? null : o.timeout, value: 0, ...(o.maxsize ? { maxsize: o.maxsize } : {}) },
    [v],
    o.owner,
  );
const get = (s: SharedStore, name: string, o: { timeout?: number | null; nowait?: boolean; owner?: string; msgId?: string } = {}): Call =>
  new Call(s, { op: 'queue_get', name, timeout_ms: o.timeout === undefined ? null : o.timeout, nowait: o.nowait ?? false }, [], o.owner, o.msgId);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('shared queues', () => {
  test('values come out in order; a get on an empty queue waits for the next put', () => {
    const s = new SharedStore(LIMITS);
    put(s, 'q', 1);
    put(s, 'q', frames('two'));
    assert.deepEqual(get(s, 'q').values, [1]);
    assert.deepEqual(get(s, 'q').values, [frames('two')]);
    const waiting = get(s, 'q');
    assert.equal(waiting.answered, false);
    put(s, 'q', 3);
    assert.deepEqual(waiting.values, [3]);
    assert.equal(new Call(s, { op: 'queue_size', name: 'q' }).result, 0);
  });

  test('getNowait on an empty queue is QueueEmpty; a get with a timeout ends with SharedTimeout', async () => {
    const s = new SharedStore(LIMITS);
    assert.equal(get(s, 'q', { nowait: true }).ename, 'QueueEmpty');
    assert.equal(get(s, 'q', { timeout: 0 }).ename, 'SharedTimeout');
    const g = get(s, 'q', { timeout: 30 });
    assert.equal(g.answered, false);
    await sleep(80);
    assert.equal(g.ename, 'SharedTimeout');
    // the timed-out get took nothing: the next value goes to the next get
    put(s, 'q', 7);
    assert.deepEqual(get(s, 'q').values, [7]);
  });

  test('a put on a full queue waits until a get makes room, or times out', async () => {
    const s = new SharedStore(LIMITS);
    assert.ok(put(s, 'q', 1, { maxsize: 1 }).answer.ok);
    const p = put(s, 'q', 2, { maxsize: 1 });
    assert.equal(p.answered, false);
    assert.deepEqual(get(s, 'q').values, [1]);
    assert.ok(p.answer.ok, 'the waiting put went in once a place came free');
    assert.equal(put(s, 'q', 3, { timeout: 0 }).ename, 'SharedTimeout');
    const late = put(s, 'q', 4, { timeout: 20 });
    await sleep(60);
    assert.equal(late.ename, 'SharedTimeout');
    assert.deepEqual(get(s, 'q').values, [2]);
    assert.equal(new Call(s, { op: 'queue_size', name: 'q' }).result, 0, 'timed-out puts added nothing');
    assert.equal(put(s, 'q', 5, { maxsize: 3 }).ename, 'SharedObjectError', 'another maxsize for the same queue is refused');
  });

  test('close: puts are refused, gets drain what is left, then fail with QueueClosed (also those waiting)', () => {
    const s = new SharedStore(LIMITS);
    put(s, 'q', 1);
    new Call(s, { op: 'queue_close', name: 'q' });
    assert.equal(put(s, 'q', 2).ename, 'QueueClosed');
    assert.deepEqual(get(s, 'q').values, [1]);
    assert.equal(get(s, 'q').ename, 'QueueClosed');
    const s2 = new SharedStore(LIMITS);
    const waiting = [get(s2, 'q'), get(s2, 'q')];
    new Call(s2, { op: 'queue_close', name: 'q' });
    assert.deepEqual(
      waiting.map((w) => w.ename),
      ['QueueClosed', 'QueueClosed'],
    );
  });

  test('a gone owner and a cancelled request lose their waits: the next value goes to someone who listens', () => {
    const s = new SharedStore(LIMITS);
    const gone = get(s, 'q', { owner: 'client:gone' });
    const cancelled = get(s, 'q', { owner: 'engine:1', msgId: 'x' });
    const live = get(s, 'q', { owner: 'client:b' });
    s.ownerGone('client:gone');
    s.cancel('engine:1', ['x']);
    put(s, 'q', 9);
    assert.equal(gone.answered, false);
    assert.equal(cancelled.answered, false);
    assert.deepEqual(live.values, [9]);
  });
});

describe('shared dicts', () => {
  test('get, set, has, delete, keys, entries, size, update', () => {
    const s = new SharedStore(LIMITS);
    const d = (req: Record<string, unknown>, values: StoredValue[] = []): Call => new Call(s, { name: 'd', ...req } as SharedRequest, values);
    assert.deepEqual(d({ op: 'dict_get', key: 'a' }).values, []);
    d({ op: 'dict_set', key: 'a', value: 0 }, [frames('A')]);
    d({ op: 'dict_update', keys: ['b', 'c'], values: [0, 0] }, [2, 3]);
    assert.deepEqual(d({ op: 'dict_get', key: 'a' }).values, [frames('A')]);
    assert.equal(d({ op: 'dict_has', key: 'b' }).result, true);
    assert.equal(d({ op: 'dict_size' }).result, 3);
    assert.deepEqual(d({ op: 'dict_keys' }).answer, { ok: true, keys: ['a', 'b', 'c'] });
    assert.equal(d({ op: 'dict_delete', key: 'b' }).result, true);
    assert.equal(d({ op: 'dict_delete', key: 'b' }).result, false);
    assert.deepEqual(d({ op: 'dict_entries' }).answer, { ok: true, keys: ['a', 'c'], values: [frames('A'), 3] });
  });

  test('setIfAbsent sets once and answers the value held; increment adds to numbers and refuses other values', () => {
    const s = new SharedStore(LIMITS);
    const first = new Call(s, { op: 'dict_set_if_absent', name: 'd', key: 'k', value: 0 }, [frames('first')]);
    const second = new Call(s, { op: 'dict_set_if_absent', name: 'd', key: 'k', value: 0 }, [frames('second')]);
    assert.deepEqual(first.answer, { ok: true, result: true, values: [frames('first')] });
    assert.deepEqual(second.answer, { ok: true, result: false, values: [frames('first')] });
    for (let i = 0; i < 100; i++) new Call(s, { op: 'dict_increment', name: 'd', key: 'n', by: 1 });
    assert.equal(new Call(s, { op: 'dict_increment', name: 'd', key: 'n', by: 0.5 }).result, 100.5);
    const bad = new Call(s, { op: 'dict_increment', name: 'd', key: 'k', by: 1 });
    assert.equal(bad.ename, 'SharedObjectError');
    assert.match((bad.answer as { evalue: string }).evalue, /not a number/);
  });
});

describe('shared events and locks', () => {
  test('an event wakes every waiter when set; a wait on a clear event times out with false', async () => {
    const s = new SharedStore(LIMITS);
    const waits = [new Call(s, { op: 'event_wait', name: 'e', timeout_ms: null }), new Call(s, { op: 'event_wait', name: 'e', timeout_ms: null })];
    const short = new Call(s, { op: 'event_wait', name: 'e', timeout_ms: 20 });
    await sleep(60);
    assert.equal(short.result, false);
    assert.equal(new Call(s, { op: 'event_is_set', name: 'e' }).result, false);
    new Call(s, { op: 'event_set', name: 'e' });
    assert.deepEqual(
      waits.map((w) => w.result),
      [true, true],
    );
    assert.equal(new Call(s, { op: 'event_wait', name: 'e', timeout_ms: 0 }).result, true);
    new Call(s, { op: 'event_clear', name: 'e' });
    assert.equal(new Call(s, { op: 'event_is_set', name: 'e' }).result, false);
  });

  test('a lock is held by one owner at a time, handed on in order, and released when its holder is gone', () => {
    const s = new SharedStore(LIMITS);
    const acquire = (owner: string, timeout: number | null = null): Call =>
      new Call(s, { op: 'lock_acquire', name: 'l', timeout_ms: timeout }, [], owner);
    assert.equal(acquire('client:a').result, true);
    assert.equal(acquire('client:b', 0).result, false);
    const b = acquire('client:b');
    const c = acquire('engine:3');
    assert.equal(b.answered, false);
    assert.equal(new Call(s, { op: 'lock_release', name: 'l' }, [], 'client:b').ename, 'SharedObjectError', 'only the holder releases');
    new Call(s, { op: 'lock_release', name: 'l' }, [], 'client:a');
    assert.equal(b.result, true);
    assert.equal(c.answered, false);
    s.ownerGone('client:b');
    assert.equal(c.result, true, 'the holder left: the next waiter holds it');
  });
});

describe('names and bytes', () => {
  test('a name holds one kind of object', () => {
    const s = new SharedStore(LIMITS);
    put(s, 'x', 1);
    const c = new Call(s, { op: 'dict_get', name: 'x', key: 'k' });
    assert.equal(c.ename, 'SharedObjectError');
    assert.match((c.answer as { evalue: string }).evalue, /'x' is a shared queue, not a dict/);
  });

  test('a value past the per-object or the total limit is refused, naming the setting; delete frees the bytes', () => {
    const s = new SharedStore({ maxBytes: 100_000, objectMaxBytes: 60_000 });
    const big = put(s, 'q', [Buffer.alloc(70_000)]);
    assert.equal(big.ename, 'SharedLimitExceeded');
    assert.match((big.answer as { evalue: string }).evalue, /sharedObjectMaxBytes/);
    assert.ok(put(s, 'q', [Buffer.alloc(50_000)]).answer.ok);
    const total = new Call(s, { op: 'dict_set', name: 'd', key: 'k', value: 0 }, [[Buffer.alloc(55_000)]]);
    assert.equal(total.ename, 'SharedLimitExceeded');
    assert.equal((total.answer as { setting?: string }).setting, 'sharedMaxBytes');
    assert.deepEqual(new Call(s, { op: 'dict_size', name: 'd' }).result, 0, 'a refused set stores nothing');
    const before = s.stats.bytes;
    assert.ok(before > 50_000);
    assert.equal(new Call(s, { op: 'destroy', name: 'q', kind: 'queue' }).result, true);
    assert.ok(s.stats.bytes < before - 50_000, `bytes freed: ${s.stats.bytes}`);
    assert.ok(new Call(s, { op: 'dict_set', name: 'd', key: 'k', value: 0 }, [[Buffer.alloc(55_000)]]).answer.ok, 'fits once freed');
    assert.equal(new Call(s, { op: 'destroy', name: 'd', kind: 'lock' }).ename, 'SharedObjectError', 'delete checks the kind');
  });

  test('deleting a queue fails its waiters', () => {
    const s = new SharedStore(LIMITS);
    const g = get(s, 'q');
    new Call(s, { op: 'destroy', name: 'q', kind: 'queue' });
    assert.equal(g.ename, 'SharedObjectError');
    assert.deepEqual(s.stats, { objects: 0, bytes: 0 });
  });
});
