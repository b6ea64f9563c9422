/**
 * Results as the hub records them, and the errors a result can end with, on
 * one 3-engine cluster: getResult from a second client (finished, failed,
 * still running, unknown), purgeResults, the bound on finished records, and
 * the error classes (SerializationError naming type and path, RemoteError,
 * CompositeError).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, CompositeError, RemoteError, SerializationError, TaskError, TimeoutError } from '../index.js';
import type { AsyncResult } from '../index.js';
import { TestFiles, gated, range, sharedCluster, tempRootForFile, waitFor, waitIdle } from './support/index.js';

const files = new TestFiles(tempRootForFile('results-records'));

describe('result records and errors on a 3-engine cluster', () => {
  // the SQLite store (the default) bounded as the in-memory one is by default
  const c = sharedCluster({ n: 3, maxRecords: 1024 }, '', { beforeStop: () => files.openAll() });
  let rc: Client;
  before(() => (rc = c.rc()));

  describe('hub records', () => {
    let rc2: Client | undefined;

    before(async () => {
      rc2 = await Client.connect({ timeoutMs: 10000 });
    });

    after(async () => {
      await rc2?.close();
    });

    test("getResult from a second client: value, stdout and the engine of another client's task", async () => {
      const ar = rc.loadBalancedView().apply((x: number) => {
        console.log(`working on ${x}`);
        console.error('a warning');
        return { x, pid: process.pid };
      }, 5);
      const v = await ar;
      const other = rc2!.getResult(ar.msgIds[0]!);
      assert.deepEqual(await other.get({ timeoutMs: 10000 }), v);
      assert.equal(other.stdout, 'working on 5\n');
      assert.equal(other.stderr, 'a warning\n');
      assert.equal(other.metadata.engineId, ar.metadata.engineId);
      assert.equal(other.metadata.status, 'ok');
      assert.equal(other.metadata.msgId, ar.msgIds[0]);
      // the hub's submission time (when the controller received the task), not this client's clock
      const sub = other.metadata.submitted.getTime();
      assert.ok(Math.abs(sub - ar.metadata.submitted.getTime()) < 2000, 'about the original submission time');
      assert.ok(other.metadata.completed instanceof Date);
      assert.ok(sub <= other.metadata.completed.getTime());

      // several at once, in the order asked; also this client's own finished tasks.
      // The record of a map task is its chunk: an array of that chunk's results.
      const more = rc.loadBalancedView().map((x: number) => x * 2, [1, 2, 3]);
      await more;
      assert.deepEqual(await rc2!.getResult([...more.msgIds].reverse()), [[6], [4], [2]]);
      assert.deepEqual(await rc.getResult(more.msgIds[1]!), [4]);
    });

    test("a failed task's record rejects getResult with the same error", async () => {
      const ar = rc.loadBalancedView().apply(() => {
        throw new URIError('recorded failure');
      });
      const err = await ar.then(
        () => assert.fail('expected a failure'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError);
      await assert.rejects(rc2!.getResult(ar.msgIds[0]!), (e: unknown) => {
        assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
        assert.equal(e.ename, 'URIError');
        assert.equal(e.evalue, 'recorded failure');
        assert.equal(e.engineId, err.engineId);
        assert.equal(e.msgId, ar.msgIds[0]);
        return true;
      });
    });

    test("a still-running task's result arrives when it finishes", async () => {
      const g = files.file();
      const ar = rc.loadBalancedView().apply(async (gate: string) => {
        console.log('started');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const fs = require('node:fs') as typeof import('node:fs');
        while (!fs.existsSync(gate)) await new Promise((r) => setTimeout(r, 10));
        return 'finished later';
      }, g);
      await waitFor('the task started', () => ar.stdout.includes('started'), { timeoutMs: 30000 });
      const other = rc2!.getResult(ar.msgIds[0]!);
      assert.equal(await other.wait(300), false, 'not ready while the task runs');
      await assert.rejects(other.get({ timeoutMs: 50 }), (e: unknown) => e instanceof TimeoutError);
      files.open(g);
      assert.equal(await other.get({ timeoutMs: 30000 }), 'finished later');
      assert.equal(other.stdout, 'started\n');
      assert.equal(other.metadata.engineId, (await ar, ar.metadata.engineId));
    });

    test('an unknown msg id rejects', async () => {
      await assert.rejects(
        rc2!.getResult('00000000-0000-4000-8000-000000000000').get({ timeoutMs: 10000 }),
        /no record of task 00000000-0000-4000-8000-000000000000/,
      );
      // one unknown among known ones fails that one only
      const ok = rc.loadBalancedView().apply(() => 'known');
      await ok;
      const both = rc2!.getResult([ok.msgIds[0]!, 'not-a-task']);
      await assert.rejects(both.get({ timeoutMs: 10000 }), (e: unknown) => e instanceof CompositeError && e.errors.length === 1 && e.total === 2);
      assert.deepEqual(
        both.metadata.map((m) => m.status),
        ['ok', 'error'],
      );
    });

    test('after purgeResults("all") a finished result is gone; a pending one still answers', async () => {
      const done = rc.loadBalancedView().apply(() => 'soon purged');
      await done;
      assert.equal(await rc2!.getResult(done.msgIds[0]!), 'soon purged');
      const g = files.file();
      const pending = rc.loadBalancedView().apply(gated, { gate: g, v: 'kept' });
      await waitFor('the gated task running', async () => Object.values((await rc.queueStatus()).engines).some((e) => e.running === 1), {
        timeoutMs: 30000,
      });
      const purged = await rc.purgeResults('all');
      assert.ok(purged >= 1, `purged ${purged}`);
      await assert.rejects(rc2!.getResult(done.msgIds[0]!).get({ timeoutMs: 10000 }), /no record of task/);
      const later = rc2!.getResult(pending.msgIds[0]!);
      files.open(g);
      assert.equal(await later.get({ timeoutMs: 30000 }), 'kept');
      assert.equal(await pending, 'kept');

      // purge by ids
      const a = rc.loadBalancedView().apply(() => 'a');
      const b = rc.loadBalancedView().apply(() => 'b');
      await Promise.all([a, b]);
      assert.equal(await rc.purgeResults([a.msgIds[0]!]), 1);
      await assert.rejects(rc2!.getResult(a.msgIds[0]!).get({ timeoutMs: 10000 }), /no record/);
      assert.equal(await rc2!.getResult(b.msgIds[0]!).get({ timeoutMs: 10000 }), 'b');
    });

    test('the record store is bounded: of 1,101 finished tasks the latest 1024 (to 1034) are kept, the oldest are gone', async () => {
      await waitIdle(rc);
      await rc.purgeResults('all');
      const lb = rc.loadBalancedView();
      const oldest = lb.apply(() => 'oldest');
      await oldest;
      const map = lb.map((x: number) => x, range(1100));
      assert.equal(map.msgIds.length, 1100);
      assert.deepEqual(await map, range(1100));
      await assert.rejects(rc2!.getResult(oldest.msgIds[0]!).get({ timeoutMs: 10000 }), /no record of task/);
      // the most recent are there
      const recent = map.msgIds.slice(-10);
      assert.deepEqual(
        await rc2!.getResult(recent).get({ timeoutMs: 10000 }),
        range(1100)
          .slice(-10)
          .map((x) => [x]),
      );
      // the bound (--max-records 1024) is kept: the SQLite store culls in batches once 1% over (10 here)
      const all = rc2!.getResult([oldest.msgIds[0]!, ...map.msgIds]);
      await all.wait(30000);
      assert.equal(all.ready(), true);
      const kept = all.metadata.filter((m) => m.status === 'ok').length;
      assert.ok(kept >= 1024 && kept <= 1034, `records kept: ${kept}`);
      // the ones kept are the latest to finish: everything from the end back is there
      assert.equal(all.metadata.at(-1)!.status, 'ok');
      assert.equal(all.metadata[0]!.status, 'error');
    });
  });

  describe('errors', () => {
    test('returning a function gives SerializationError naming the type and the path', async () => {
      const lb = rc.loadBalancedView();
      await assert.rejects(
        lb.apply(() => ({ list: [1, () => 2] })),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError, `SerializationError expected, got ${String(e)}`);
          assert.equal(e.typeName, 'function');
          assert.equal(e.path, 'result.list[1]');
          assert.match(e.message, /result\.list\[1\]/);
          assert.match(e.message, /function/);
          return true;
        },
      );
      await assert.rejects(
        lb.apply(() => new Map([['k', () => 1]])),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'function' && e.path === 'result.get("k")',
      );
      await assert.rejects(
        lb.apply(() => function named() {}),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'function' && e.path === 'result',
      );
    });

    test('returning a socket gives SerializationError naming Socket and the path', async () => {
      const lb = rc.loadBalancedView();
      await assert.rejects(
        lb.apply(() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const net = require('node:net') as typeof import('node:net');
          const s = net.createConnection({ port: 1, host: '127.0.0.1' });
          s.on('error', () => undefined);
          return { deep: { conn: s } };
        }),
        (e: unknown) => {
          assert.ok(e instanceof SerializationError, `SerializationError expected, got ${String(e)}`);
          assert.equal(e.typeName, 'Socket');
          assert.equal(e.path, 'result.deep.conn');
          assert.match(e.message, /Socket/);
          return true;
        },
      );
      await assert.rejects(
        lb.apply(() => {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const net = require('node:net') as typeof import('node:net');
          return new net.Socket();
        }),
        (e: unknown) => e instanceof SerializationError && e.typeName === 'Socket' && e.path === 'result',
      );
      // on every engine of a direct view: a CompositeError of SerializationErrors
      await assert.rejects(
        rc.directView().apply(() => () => 1),
        (e: unknown) => {
          assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
          assert.equal(e.errors.length, 3);
          for (const x of e.errors) assert.ok(x instanceof SerializationError && x.typeName === 'function' && x.path === 'result', String(x));
          return true;
        },
      );
      assert.equal(await lb.apply(() => 'still serving'), 'still serving');
    });

    test('RemoteError fields: ename, evalue, traceback, engineId, msgId; a TaskError', async () => {
      const ar = rc.loadBalancedView().apply(function failingTask(n: number) {
        class BudgetError extends Error {
          override name = 'BudgetError';
        }
        throw new BudgetError(`over budget by ${n}`);
      }, 3);
      const e = await ar.then(
        () => assert.fail('expected a failure'),
        (x: unknown) => x,
      );
      assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
      assert.ok(e instanceof TaskError);
      assert.equal(e.name, 'RemoteError');
      assert.equal(e.ename, 'BudgetError');
      assert.equal(e.evalue, 'over budget by 3');
      assert.equal(e.msgId, ar.msgIds[0]);
      assert.equal(e.engineId, ar.metadata.engineId);
      assert.ok(e.engineId !== null && rc.ids.includes(e.engineId));
      assert.equal(e.message, `BudgetError: over budget by 3 [engine ${e.engineId}]`);
      assert.ok(e.traceback.length >= 2, `traceback ${JSON.stringify(e.traceback)}`);
      assert.match(e.traceback[0] ?? '', /BudgetError: over budget by 3/);
      assert.match(e.remoteStack, /failingTask/);
      assert.equal(e.remoteStack, e.traceback.join('\n'));
      assert.match(e.stack ?? '', /remote stack \(engine \d+\)/);
      assert.equal(ar.metadata.status, 'error');
      assert.equal(ar.successful(), false);
    });

    test('CompositeError from a multi-engine failure holds each RemoteError', async () => {
      const dv = rc.directView();
      const failOn = rc.engines.slice(0, 2).map((e) => e.pid);
      const ar = dv.apply((bad: number[]) => {
        if (bad.includes(process.pid)) throw new Error(`failed on ${process.pid}`);
        return 'fine';
      }, failOn);
      await assert.rejects(ar, (e: unknown) => {
        assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
        assert.equal(e.name, 'CompositeError');
        assert.equal(e.total, 3);
        assert.equal(e.errors.length, 2);
        assert.match(e.message, /^2 of 3 tasks failed/);
        const ids = e.errors.map((x) => (x instanceof RemoteError ? x.engineId : null));
        assert.deepEqual(ids, rc.ids.slice(0, 2));
        for (const [i, x] of e.errors.entries()) {
          assert.ok(x instanceof RemoteError);
          assert.equal(x.evalue, `failed on ${failOn[i]}`);
          assert.ok(e.message.includes(x.message), 'the message lists each failure');
        }
        return true;
      });
      assert.deepEqual(
        ar.metadata.map((m) => m.status),
        ['error', 'error', 'ok'],
      );
      // a direct map with one failing block
      await assert.rejects(
        dv.map((x: number) => {
          if (x >= 6) throw new RangeError(`item ${x}`);
          return x;
        }, range(9)),
        (e: unknown) => e instanceof CompositeError && e.errors.length === 1 && e.total === 3 && (e.errors[0] as RemoteError).ename === 'RangeError',
      );
    });
  });

  test('no task is left behind', async () => {
    await waitIdle(rc);
    const ar: AsyncResult<number[]> = rc.directView(rc.ids[0]!).apply(() => [1]);
    assert.deepEqual(await ar, [1]);
  });
});
