/**
 * The durable TaskStore (controller/store/sqlite.ts) on real SQLite files:
 * writes wait for flush and then survive a reopen (a restarted controller's
 * view), unfinished tasks come back with their requests, finished ones are
 * bounded by count and bytes on disk, large replies stay in memory only (and
 * the record says so), large request payloads are not written (the restored
 * request says so), queries and purges read the file, and a file that is
 * not a store fails at open naming the file and `--store none`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { decodeFrames, encodeFrames, openSqliteStore } from '../../controller/store/sqlite.js';
import type { SqliteTaskStore } from '../../controller/store/sqlite.js';
import type { TaskRecord } from '../../controller/store/record.js';
import { range, taskRecord } from '../support/index.js';

const dir = mkdtempSync(join(tmpdir(), 'tscluster-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `s${n++}.sqlite`);

function add(store: SqliteTaskStore, id: string, o: Partial<TaskRecord> = {}): TaskRecord {
  const r = taskRecord({ msgId: id, ...o });
  store.add(r, {
    frames: [Buffer.from('sig'), Buffer.from(`{"msg_id":"${id}"}`), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}')],
    client: Buffer.from('client-a'),
  });
  return r;
}

function finish(store: SqliteTaskStore, r: TaskRecord, bytes = 10): Buffer[] {
  r.status = 'done';
  const reply = [Buffer.alloc(bytes, 7)];
  store.finish(r, reply);
  return reply;
}

describe('SqliteTaskStore', () => {
  test('frames encode and decode; a damaged blob is refused', () => {
    const frames = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 3)];
    assert.deepEqual(decodeFrames(encodeFrames(frames)), frames);
    assert.throws(() => decodeFrames(encodeFrames(frames).subarray(0, 20)), /damaged/);
  });

  test('what was flushed survives a reopen; what was not is not there', () => {
    const path = file();
    const s = openSqliteStore(path);
    const a = add(s, 'a');
    a.status = 'running';
    a.engineId = 2;
    s.update(a);
    const b = add(s, 'b');
    finish(s, b, 20);
    s.flush();
    add(s, 'never-flushed');
    // no close: a killed controller does not close its store
    const s2 = openSqliteStore(path);
    const restored = s2.restore();
    assert.deepEqual(
      restored.map((t) => [t.record.msgId, t.record.status, t.record.engineId]),
      [['a', 'running', 2]],
    );
    assert.equal(restored[0]!.request.client.toString(), 'client-a');
    assert.equal(restored[0]!.request.frames[1]!.toString(), '{"msg_id":"a"}');
    assert.deepEqual(s2.get('b')?.reply, [Buffer.alloc(20, 7)]);
    assert.deepEqual(s2.outcome('b'), { ok: true, engineId: 3 });
    assert.equal(s2.outcome('a'), 'pending');
    assert.equal(s2.get('never-flushed'), undefined);
    s.close();
    s2.close();
  });

  test('bounded by count: of 30 finished records with maxRecords 10 the latest 10 stay; unfinished ones always', () => {
    const s = openSqliteStore(file(), { maxRecords: 10 });
    const open = add(s, 'open');
    const recs = range(30).map((i) => add(s, `t${i}`));
    for (const r of recs) {
      finish(s, r);
      s.flush();
    }
    const kept = recs.filter((r) => s.get(r.msgId) !== undefined).map((r) => r.msgId);
    assert.deepEqual(
      kept,
      range(10).map((i) => `t${i + 20}`),
    );
    assert.equal(s.get('open')?.record.msgId, open.msgId);
    assert.equal(s.counts().records, 11);
    s.close();
  });

  test('bounded by bytes; a reply over resultMaxBytes stays in memory only, and its record says so after a reopen', () => {
    const path = file();
    const s = openSqliteStore(path, { maxBytes: 1000, resultMaxBytes: 500 });
    const recs = range(5).map((i) => add(s, `r${i}`));
    for (const r of recs) finish(s, r, 300);
    const big = add(s, 'big');
    const reply = finish(s, big, 600);
    s.flush();
    // 5 x 300 on disk > 1000: the oldest go until 1000 or less is left
    assert.deepEqual(
      recs.filter((r) => s.get(r.msgId) !== undefined).map((r) => r.msgId),
      ['r2', 'r3', 'r4'],
    );
    assert.deepEqual(s.get('big')?.reply, reply, 'in memory');
    const s2 = openSqliteStore(path);
    const after = s2.get('big');
    assert.equal(after?.reply, undefined);
    assert.match(after?.replyNote ?? '', /larger than the store keeps/);
    s.close();
    s2.close();
  });

  test('a request whose buffers are over requestMaxBytes is written without them; a smaller one whole', () => {
    const path = file();
    const s = openSqliteStore(path, { requestMaxBytes: 1000 });
    const head = (id: string): Buffer[] => [
      Buffer.from('sig'),
      Buffer.from(`{"msg_id":"${id}"}`),
      Buffer.from('{}'),
      Buffer.from('{}'),
      Buffer.from('{}'),
    ];
    const client = Buffer.from('client-a');
    s.add(taskRecord({ msgId: 'small' }), { frames: [...head('small'), Buffer.alloc(600, 1), Buffer.alloc(400, 2)], client });
    s.add(taskRecord({ msgId: 'large' }), { frames: [...head('large'), Buffer.alloc(600, 1), Buffer.alloc(401, 2)], client });
    s.flush();
    const before = statSync(path + '-wal').size;
    s.add(taskRecord({ msgId: 'huge' }), { frames: [...head('huge'), Buffer.alloc(8 * 1024 * 1024, 3)], client });
    s.flush();
    assert.ok(statSync(path + '-wal').size - before < 1024 * 1024, 'the 8 MB payload did not reach the file');
    const restored = new Map(
      openSqliteStore(path)
        .restore()
        .map((t) => [t.record.msgId, t]),
    );
    assert.equal(restored.get('small')?.payloadKept, true);
    assert.deepEqual(restored.get('small')?.request.frames.slice(5), [Buffer.alloc(600, 1), Buffer.alloc(400, 2)]);
    for (const id of ['large', 'huge']) {
      assert.equal(restored.get(id)?.payloadKept, false, id);
      assert.deepEqual(restored.get(id)?.request.frames, head(id), `${id}: the frames up to the content`);
    }
  });

  test('a file from before payload_kept opens, and its requests count as whole', () => {
    const path = file();
    const s = openSqliteStore(path);
    add(s, 'old');
    s.close();
    const db = new Database(path);
    db.exec('ALTER TABLE tasks DROP COLUMN payload_kept');
    db.close();
    const restored = openSqliteStore(path).restore();
    assert.deepEqual(
      restored.map((t) => [t.record.msgId, t.payloadKept]),
      [['old', true]],
    );
  });

  test('disk stays bounded after 200,000 tasks (maxRecords 1,000, culled once 1% over)', () => {
    const path = file();
    const s = openSqliteStore(path, { maxRecords: 1000 });
    for (let i = 0; i < 200_000; i++) {
      const r = add(s, `d${i}`);
      finish(s, r, 100);
      if (i % 100 === 99) s.flush();
    }
    s.flush();
    // culled in batches once 1% over the bound
    const records = s.counts().records;
    assert.ok(records >= 1000 && records <= 1010, `${records} records`);
    const bytes = statSync(path).size + statSync(`${path}-wal`).size;
    assert.ok(bytes < 80 * 1024 * 1024, `store and WAL: ${bytes} bytes`);
    s.close();
  });

  test('query filters by status, engine, label, time; purge removes finished ones only', () => {
    const s = openSqliteStore(file());
    const a = add(s, 'a', { label: 'x', engineId: 1, submitted: 100 });
    add(s, 'b', { label: 'y', engineId: 2, submitted: 200, status: 'queued' });
    finish(s, a);
    assert.deepEqual(
      s.query({ label: 'x' }).map((r) => r.msgId),
      ['a'],
    );
    assert.deepEqual(
      s.query({ status: 'queued' }).map((r) => r.msgId),
      ['b'],
    );
    assert.deepEqual(
      s.query({ since: 150 }).map((r) => r.msgId),
      ['b'],
    );
    assert.deepEqual(
      s.query({ limit: 1 }).map((r) => r.msgId),
      ['b'],
    );
    assert.equal(s.purge('all'), 1);
    assert.deepEqual(
      s.query({}).map((r) => r.msgId),
      ['b'],
    );
    s.close();
  });

  test('a file that is not a store fails at open, naming the file and --store none', () => {
    const path = file();
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    assert.throws(
      () => openSqliteStore(path),
      (e: Error) => e.message.includes(path) && e.message.includes('--store none'),
    );
  });

  test('meta values survive a reopen', () => {
    const path = file();
    const s = openSqliteStore(path);
    s.setMeta('engines', '[1,2]');
    assert.equal(openSqliteStore(path).getMeta('engines'), '[1,2]');
    s.close();
  });
});
