/**
 * How the client reports failures, against one real cluster of 2 engines:
 * remote exceptions (RemoteError with the remote stack, CompositeError from a
 * multi-engine apply or a map), process.exit() in a task (WorkerExited), a
 * result waited on too briefly (TimeoutError), too few engines, and a closed
 * client (ConnectionLost).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import { Client, CompositeError, ConnectionLost, RemoteError, TimeoutError, WorkerExited } from '../index.js';
import type { EngineEvent } from '../index.js';
import { TestFiles, gated, range, sharedCluster, tempRootForFile, waitFor } from './support/index.js';

const files = new TestFiles(tempRootForFile('client-failures'));

describe('client failures on a 2-engine cluster', () => {
  const c = sharedCluster({ n: 2 });
  let rc: Client;
  before(() => (rc = c.rc()));

  describe('remote errors', () => {
    test('a remote exception rejects with RemoteError carrying ename, evalue, engineId and the remote stack', async () => {
      function failingTask(x: number): number {
        if (x > 0) {
          throw new TypeError(`bad input: ${x}`);
        }
        return x;
      }
      // the line of the throw inside the shipped source (what the engine compiles)
      const src = failingTask.toString().split('\n');
      const throwLine = src.findIndex((l) => l.includes('throw new TypeError')) + 1;
      assert.ok(throwLine > 0);

      const ar = rc.loadBalancedView().apply(failingTask, 42);
      const err = await ar.then(
        () => assert.fail('the task should have failed'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof RemoteError, `RemoteError expected, got ${String(err)}`);
      assert.equal(err.ename, 'TypeError');
      assert.equal(err.evalue, 'bad input: 42');
      assert.ok(err.engineId !== null && rc.ids.includes(err.engineId), `engineId ${err.engineId} is not a registered engine`);
      assert.equal(err.msgId, ar.msgIds[0]);
      assert.ok(err.traceback.length > 0, 'a remote traceback');
      assert.match(err.remoteStack, /TypeError: bad input: 42/);
      assert.match(
        err.remoteStack,
        new RegExp(`at failingTask \\(.*\\[remote\\]:${throwLine}:\\d+\\)`),
        `the throw location (line ${throwLine}) in:\n${err.remoteStack}`,
      );
      assert.equal(ar.ready(), true);
      assert.equal(ar.successful(), false);
      assert.equal(ar.metadata.status, 'error');
    });

    test('throwing a non-Error value rejects with a RemoteError that shows the value', async () => {
      const lb = rc.loadBalancedView();
      await assert.rejects(
        lb.apply(() => {
          throw 'a plain string';
        }),
        (e: unknown) => {
          assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
          assert.ok(e.ename.length > 0);
          assert.match(e.evalue, /a plain string/);
          assert.ok(e.engineId !== null && rc.ids.includes(e.engineId));
          return true;
        },
      );
      await assert.rejects(
        lb.apply(() => {
          throw 1234;
        }),
        (e: unknown) => e instanceof RemoteError && /1234/.test(e.evalue),
      );
    });

    test('a multi-engine apply that fails everywhere rejects with CompositeError holding each RemoteError', async () => {
      await assert.rejects(
        rc.directView().apply(() => {
          throw new RangeError('every engine fails');
        }),
        (e: unknown) => {
          assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
          assert.equal(e.errors.length, 2);
          assert.equal(e.total, 2);
          for (const x of e.errors) {
            assert.ok(x instanceof RemoteError);
            assert.equal(x.ename, 'RangeError');
            assert.equal(x.evalue, 'every engine fails');
          }
          assert.deepEqual(new Set(e.errors.map((x) => (x instanceof RemoteError ? x.engineId : null))), new Set(rc.ids));
          return true;
        },
      );
    });

    test('a multi-engine apply that fails on one engine rejects with CompositeError of that one failure', async () => {
      const victim = rc.engines[1]!;
      await assert.rejects(
        rc.directView().apply((pid: number) => {
          if (process.pid === pid) throw new Error('only here');
          return 'fine';
        }, victim.pid),
        (e: unknown) => {
          assert.ok(e instanceof CompositeError, `CompositeError expected, got ${String(e)}`);
          assert.equal(e.errors.length, 1);
          assert.equal(e.total, 2);
          const x = e.errors[0];
          assert.ok(x instanceof RemoteError);
          assert.equal(x.engineId, victim.id);
          assert.equal(x.evalue, 'only here');
          return true;
        },
      );
    });

    test('a failing map item rejects the map', async () => {
      await assert.rejects(
        rc.loadBalancedView().map((x: number) => {
          if (x === 3) throw new Error(`item ${x} failed`);
          return x;
        }, range(5)),
        (e: unknown) => {
          const errors = e instanceof CompositeError ? e.errors : [e];
          assert.equal(errors.length, 1);
          assert.ok(errors[0] instanceof RemoteError);
          assert.equal(errors[0].evalue, 'item 3 failed');
          return true;
        },
      );
    });

    test('process.exit() in a task rejects with WorkerExited; the engine stays registered and serves the next task', async () => {
      const target = rc.engines[0]!;
      const events: EngineEvent[] = [];
      const off = rc.onEngine((e) => events.push(e));
      try {
        const dv = rc.directView(target.id);
        await assert.rejects(
          dv.apply(() => process.exit(3)),
          (e: unknown) => {
            assert.ok(e instanceof WorkerExited, `WorkerExited expected, got ${String(e)}`);
            assert.equal(e.ename, 'WorkerExited');
            assert.equal(e.engineId, target.id);
            return true;
          },
        );
        assert.ok(rc.ids.includes(target.id), 'still registered');
        assert.equal(await dv.apply(() => 'next task'), 'next task');
        assert.equal(await dv.apply(() => process.pid), target.pid, 'the same engine process');
        assert.deepEqual(
          events.filter((e) => e.type === 'unregistered'),
          [],
        );
      } finally {
        off();
      }
    });
  });

  test('get({ timeoutMs }) rejects with TimeoutError for a slow task, which still completes later', async () => {
    const g = files.file();
    const ar = rc.loadBalancedView().apply(gated, { gate: g, v: 'released' });
    await assert.rejects(ar.get({ timeoutMs: 200 }), (e: unknown) => e instanceof TimeoutError);
    assert.equal(await ar.wait(100), false);
    assert.equal(ar.ready(), false);
    assert.throws(() => ar.successful(), /not ready/);
    assert.equal(existsSync(g), false);
    files.open(g);
    assert.equal(await ar.get({ timeoutMs: 30000 }), 'released');
    assert.equal(ar.ready(), true);
    assert.equal(ar.successful(), true);
    assert.equal(await ar.wait(0), true);
  });

  test('waitForEngines rejects with TimeoutError when too few engines register', async () => {
    await assert.rejects(rc.waitForEngines(5, { timeoutMs: 200 }), (e: unknown) => e instanceof TimeoutError);
    assert.deepEqual(await rc.waitForEngines(2), rc.ids);
  });

  test('closing a client rejects its pending results with ConnectionLost', async () => {
    const other = await Client.connect({ timeoutMs: 10000 });
    const g = files.file();
    const ar = other.loadBalancedView().apply(gated, { gate: g, v: 'released' });
    await waitFor('the gated task running', async () => {
      const s = await rc.queueStatus();
      return Object.values(s.engines).some((e) => e.running === 1);
    });
    await other.close();
    await assert.rejects(ar.get({ timeoutMs: 5000 }), (e: unknown) => e instanceof ConnectionLost);
    await assert.rejects(
      async () => other.loadBalancedView().apply(() => 1),
      (e: unknown) => e instanceof ConnectionLost,
    );
    files.open(g);
    // the engine finishes the orphaned task and serves again
    await waitFor('both engines idle', async () => {
      const s = await rc.queueStatus();
      return Object.values(s.engines).every((e) => e.running === 0 && e.queued === 0);
    });
    assert.deepEqual(await rc.directView().apply(() => 'ok'), ['ok', 'ok']);
  });
});
