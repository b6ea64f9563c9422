/**
 * The in-memory TaskStore (controller/store/memory.ts), without processes:
 * records and replies kept, finished ones bounded by count and by bytes (the
 * oldest finished culled first, unfinished ones never), purge, the outcome
 * index that outlives records, query filters and limit, and the counts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryTaskStore } from '../../controller/store/memory.js';
import type { TaskRecord } from '../../controller/store/record.js';
import { range, taskRecord } from '../support/index.js';

/** Add a running record named `id` (submitted at `submitted`), as the hub does on submission. */
function add(store: MemoryTaskStore, id: string, o: Partial<TaskRecord> = {}): TaskRecord {
  const r = taskRecord({ msgId: id, ...o });
  store.add(r);
  return r;
}

/** Finish a record (done, unless `status` says otherwise) with a reply of `bytes` bytes. */
function finish(
  store: MemoryTaskStore,
  r: TaskRecord,
  { bytes = 10, status = 'done' }: { bytes?: number; status?: 'done' | 'failed' } = {},
): Buffer[] {
  r.status = status;
  const reply = [Buffer.alloc(bytes, 1)];
  store.finish(r, reply);
  return reply;
}

/** Which of the ids the store still holds a record of. */
const kept = (store: MemoryTaskStore, ids: readonly string[]): string[] => ids.filter((id) => store.get(id) !== undefined);

const ids = (n: number, prefix = 't'): string[] => range(n).map((i) => `${prefix}${i}`);

describe('MemoryTaskStore', () => {
  test('defaults: 1024 finished records, 1 GiB of them, 200,000 outcomes', () => {
    assert.deepEqual(new MemoryTaskStore().limits, { maxRecords: 1024, maxBytes: 1024 ** 3, maxOutcomes: 200_000 });
    assert.deepEqual(new MemoryTaskStore({ maxRecords: 5 }).limits, { maxRecords: 5, maxBytes: 1024 ** 3, maxOutcomes: 200_000 });
  });

  test('a submitted task is kept unfinished (no reply, outcome pending); finishing it keeps its reply and outcome', () => {
    const store = new MemoryTaskStore();
    const r = add(store, 'a');
    assert.deepEqual(store.get('a'), { record: r, reply: undefined });
    assert.equal(store.get('a')!.record, r, 'the record is kept by reference');
    assert.equal(store.outcome('a'), 'pending');
    assert.equal(store.outcome('never-submitted'), undefined);
    assert.equal(store.get('never-submitted'), undefined);
    assert.deepEqual(store.counts(), { submitted: 1, completed: 0, records: 1 });

    const reply = finish(store, r);
    assert.deepEqual(store.get('a')?.reply, reply);
    assert.deepEqual(store.outcome('a'), { ok: true, engineId: 3 });
    assert.deepEqual(store.counts(), { submitted: 1, completed: 1, records: 1 });

    const f = add(store, 'f', { engineId: 1 });
    finish(store, f, { status: 'failed' });
    assert.deepEqual(store.outcome('f'), { ok: false, engineId: 1 });
    const never = add(store, 'never-ran', { engineId: null });
    finish(store, never, { status: 'failed' });
    assert.deepEqual(store.outcome('never-ran'), { ok: false, engineId: null });
  });

  test('a task finishes once: a second finish, or the finish of an unknown task, changes nothing', () => {
    const store = new MemoryTaskStore();
    const r = add(store, 'a');
    const first = finish(store, r);
    r.status = 'failed';
    store.finish(r, [Buffer.from('second')]);
    store.finish(taskRecord({ msgId: 'unknown' }), [Buffer.from('x')]);
    assert.deepEqual(store.get('a')?.reply, first);
    assert.deepEqual(store.outcome('a'), { ok: true, engineId: 3 });
    assert.equal(store.get('unknown'), undefined);
    assert.deepEqual(store.counts(), { submitted: 1, completed: 1, records: 1 });
  });

  test('reply frames that are views into a larger buffer are copied; whole buffers are kept as they are', () => {
    const store = new MemoryTaskStore();
    // a received batch: a buffer of its own (not from Node's shared pool of small buffers)
    const batch = Buffer.alloc(16);
    batch.write('0123456789abcdef');
    const view = batch.subarray(4, 8);
    const whole = Buffer.alloc(5, 'w');
    store.add(taskRecord({ msgId: 'a' }));
    store.finish(taskRecord({ msgId: 'a', status: 'done' }), [view, whole]);
    const [v, w] = store.get('a')!.reply!;
    assert.equal(w, whole);
    assert.notEqual(v, view);
    assert.equal(v!.toString(), '4567');
    assert.notEqual(v!.buffer, batch.buffer, 'the copy does not hold on to the batch');
    batch.fill(0);
    assert.equal(v!.toString(), '4567', 'later changes to the batch do not reach the stored reply');
  });

  test('bounded by count: of 8 finished records with maxRecords 3 the latest 3 to finish are kept; unfinished ones always stay', () => {
    const store = new MemoryTaskStore({ maxRecords: 3 });
    const open = ids(5, 'open');
    for (const id of open) add(store, id);
    const done = ids(8);
    const records = done.map((id) => add(store, id));
    // finished out of submission order: t7 first, then t0..t6
    finish(store, records[7]!);
    for (const r of records.slice(0, 7)) finish(store, r);
    assert.deepEqual(kept(store, done), ['t4', 't5', 't6']);
    assert.deepEqual(kept(store, open), open);
    assert.deepEqual(store.counts(), { submitted: 13, completed: 8, records: 8 });
    // the culled ones' outcomes are still known (for dependencies)
    for (const id of done) assert.deepEqual(store.outcome(id), { ok: true, engineId: 3 }, id);
  });

  test('bounded by bytes (reply frames plus stdout and stderr): the oldest finished go first, but the latest is always kept', () => {
    const store = new MemoryTaskStore({ maxBytes: 100 });
    const [a, b, c] = ['a', 'b', 'c'].map((id) => add(store, id));
    finish(store, a!, { bytes: 40 });
    finish(store, b!, { bytes: 40 });
    assert.deepEqual(kept(store, ['a', 'b']), ['a', 'b'], '80 bytes');
    c!.stdout = 'x'.repeat(15);
    c!.stderr = 'y'.repeat(10);
    finish(store, c!, { bytes: 1 });
    assert.deepEqual(kept(store, ['a', 'b', 'c']), ['b', 'c'], '106 bytes: a goes');
    // one record over the whole bound stays, alone
    const big = add(store, 'big');
    finish(store, big, { bytes: 1000 });
    assert.deepEqual(kept(store, ['a', 'b', 'c', 'big']), ['big']);
    const next = add(store, 'next');
    finish(store, next, { bytes: 1 });
    assert.deepEqual(kept(store, ['big', 'next']), ['next']);
  });

  test('purge removes finished records (all, or those named) and returns how many; unfinished and unknown ones are left', () => {
    const store = new MemoryTaskStore();
    for (const id of ids(4)) finish(store, add(store, id));
    add(store, 'running');
    assert.equal(store.purge(['t1', 'running', 'unknown', 't1']), 1);
    assert.deepEqual(kept(store, [...ids(4), 'running']), ['t0', 't2', 't3', 'running']);
    assert.equal(store.purge('all'), 3);
    assert.deepEqual(kept(store, [...ids(4), 'running']), ['running']);
    assert.equal(store.purge('all'), 0);
    assert.deepEqual(store.counts(), { submitted: 5, completed: 4, records: 1 });
    // a purged record's outcome outlives it
    assert.deepEqual(store.outcome('t1'), { ok: true, engineId: 3 });
    assert.equal(store.outcome('running'), 'pending');
  });

  test('purged records no longer count against the bound', () => {
    const store = new MemoryTaskStore({ maxRecords: 2, maxBytes: 25 });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => add(store, id));
    finish(store, a!);
    finish(store, b!);
    assert.equal(store.purge(['a']), 1);
    finish(store, c!);
    assert.deepEqual(kept(store, ['a', 'b', 'c']), ['b', 'c'], '2 records, 20 bytes: nothing culled');
    finish(store, d!);
    assert.deepEqual(kept(store, ['b', 'c', 'd']), ['c', 'd']);
  });

  test('the outcome index is bounded too, and outlives the records it outnumbers', () => {
    const store = new MemoryTaskStore({ maxRecords: 1, maxOutcomes: 2 });
    for (const id of ['a', 'b', 'c']) finish(store, add(store, id));
    assert.deepEqual(kept(store, ['a', 'b', 'c']), ['c']);
    assert.equal(store.outcome('a'), undefined, 'the oldest outcome is forgotten');
    assert.deepEqual(store.outcome('b'), { ok: true, engineId: 3 }, 'an outcome outlives its record');
    assert.deepEqual(store.outcome('c'), { ok: true, engineId: 3 });
  });

  describe('query', () => {
    /** five records: two clients, three engines, labels, statuses and submission times out of insertion order */
    function populated(): MemoryTaskStore {
      const store = new MemoryTaskStore();
      const spec: [string, Partial<TaskRecord>][] = [
        ['e', { submitted: 500, client: 'c2', engineId: 2, label: 'etl', status: 'queued' }],
        ['a', { submitted: 100, client: 'c1', engineId: 0, label: 'etl' }],
        ['c', { submitted: 300, client: 'c1', engineId: 1, label: null }],
        ['b', { submitted: 200, client: 'c2', engineId: 0, label: 'train' }],
        ['d', { submitted: 400, client: 'c1', engineId: 1, label: 'etl' }],
      ];
      for (const [id, o] of spec) add(store, id, o);
      const get = (id: string): TaskRecord => store.get(id)!.record;
      finish(store, get('a'));
      finish(store, get('b'), { status: 'failed' });
      finish(store, get('d'));
      return store;
    }
    const q = (store: MemoryTaskStore, query: Parameters<MemoryTaskStore['query']>[0]): string[] => store.query(query).map((r) => r.msgId);

    test('with no filter: every record, oldest submission first', () => {
      assert.deepEqual(q(populated(), {}), ['a', 'b', 'c', 'd', 'e']);
    });

    test('by status (one or several), engine, label and client', () => {
      const store = populated();
      assert.deepEqual(q(store, { status: 'done' }), ['a', 'd']);
      assert.deepEqual(q(store, { status: ['failed', 'queued'] }), ['b', 'e']);
      assert.deepEqual(q(store, { status: [] }), []);
      assert.deepEqual(q(store, { engineId: 1 }), ['c', 'd']);
      assert.deepEqual(q(store, { engineId: 9 }), []);
      assert.deepEqual(q(store, { label: 'etl' }), ['a', 'd', 'e']);
      assert.deepEqual(q(store, { client: 'c2' }), ['b', 'e']);
    });

    test('by submission time: since is inclusive, until exclusive', () => {
      const store = populated();
      assert.deepEqual(q(store, { since: 200 }), ['b', 'c', 'd', 'e']);
      assert.deepEqual(q(store, { until: 300 }), ['a', 'b']);
      assert.deepEqual(q(store, { since: 200, until: 400 }), ['b', 'c']);
      assert.deepEqual(q(store, { since: 300, until: 300 }), []);
    });

    test('filters combine; limit keeps the most recently submitted', () => {
      const store = populated();
      assert.deepEqual(q(store, { client: 'c1', label: 'etl' }), ['a', 'd']);
      assert.deepEqual(q(store, { client: 'c1', status: 'running', engineId: 1 }), ['c']);
      assert.deepEqual(q(store, { limit: 2 }), ['d', 'e']);
      assert.deepEqual(q(store, { label: 'etl', limit: 1 }), ['e']);
      assert.deepEqual(q(store, { limit: 10 }), ['a', 'b', 'c', 'd', 'e']);
      assert.deepEqual(q(store, { limit: 0 }), []);
    });

    test('purged and culled records are not found', () => {
      const store = populated();
      store.purge(['a']);
      assert.deepEqual(q(store, { label: 'etl' }), ['d', 'e']);
    });
  });
});
