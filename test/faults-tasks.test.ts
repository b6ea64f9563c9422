/**
 * Tasks that misbehave, on one engine whose execution worker has a 256 MB
 * heap: a task that calls process.exit(), exhausts memory, throws a non-Error
 * or returns what cannot travel fails with a clear error, and the engine
 * stays registered and serves the next task.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { RemoteError, SerializationError, WorkerExited } from '../index.js';
import type { Client, EngineEvent, EngineInfo } from '../index.js';
import { failure, rejection, sharedCluster, tempRootForFile } from './support/index.js';

tempRootForFile('faults-tasks');

describe('tasks that misbehave (engines with a 256 MB heap)', () => {
  const c = sharedCluster({ n: 1, profile: 'smallheap' }, '', { env: { TSCLUSTER_NODE_ARGS: '--max-old-space-size=256' } });
  let rc: Client;
  let engine: EngineInfo;
  const events: EngineEvent[] = [];

  before(() => {
    rc = c.rc();
    engine = rc.engines[0]!;
    rc.onEngine((e) => events.push(e));
  });

  /** The engine is still registered (same id, same pid) and serves the next task. */
  async function assertEngineServes(what: string): Promise<void> {
    assert.deepEqual(
      rc.engines.map((e) => [e.id, e.pid]),
      [[engine.id, engine.pid]],
      `${what}: the same engine stays registered`,
    );
    assert.deepEqual(events, [], `${what}: no engine event`);
    assert.equal(
      await rc
        .directView(engine.id)
        .apply(() => process.pid)
        .get({ timeoutMs: 30000 }),
      engine.pid,
      `${what}: it serves the next task`,
    );
    assert.deepEqual(await rc.loadBalancedView().map((x: number) => x * 2, [1, 2, 3]), [2, 4, 6]);
    assert.equal((await rc.stats()).engines, 1);
  }

  test("the execution worker's heap is limited", async () => {
    const limit = await rc.directView(engine.id).apply(() => {
      // runs in the engine's namespace, which provides require
      const req = (globalThis as unknown as { require: (id: string) => { getHeapStatistics(): { heap_size_limit: number } } }).require;
      return req('node:v8').getHeapStatistics().heap_size_limit;
    });
    assert.ok(limit < 512 * 1024 * 1024, `worker heap limit ${Math.round(limit / 1048576)} MB (TSCLUSTER_NODE_ARGS=--max-old-space-size=256)`);
  });

  test('a task that calls process.exit() fails with a clear error; the engine stays', async () => {
    const err = await rejection(rc.directView(engine.id).apply(() => process.exit(3)));
    assert.ok(err instanceof WorkerExited, String(err));
    assert.equal(err.ename, 'WorkerExited');
    assert.match(err.message, /process\.exit\(3\)/);
    assert.match(err.message, /stays registered/);
    await assertEngineServes('after process.exit()');
  });

  test('a task that exhausts memory fails with a clear error; the engine stays', async () => {
    const err = await failure(
      rc.directView(engine.id).apply(() => {
        const hold: number[][] = [];
        for (;;) hold.push(new Array<number>(1e6).fill(1.5));
      }),
      120000,
    );
    assert.ok(err instanceof WorkerExited, String(err));
    assert.equal(err.ename, 'WorkerExited');
    assert.match(err.message, /out of memory/);
    await assertEngineServes('after running out of memory');
  });

  test('a task that throws a non-Error value fails with an error showing the value; the engine stays', async () => {
    const err = await rejection(
      rc.directView(engine.id).apply(() => {
        throw { code: 42 };
      }),
    );
    assert.ok(err instanceof RemoteError, String(err));
    assert.match(err.message, /code: 42/);
    assert.match(err.message, /non-Error/);
    await assertEngineServes('after a thrown non-Error');
  });

  test('a task that returns a value that cannot travel fails with SerializationError naming where it sits; the engine stays', async () => {
    const fn = await rejection(rc.directView(engine.id).apply(() => ({ ok: 1, callback: () => 1 })));
    assert.ok(fn instanceof SerializationError, String(fn));
    assert.equal(fn.path, 'result.callback');
    assert.equal(fn.typeName, 'function');
    const weak = await rejection(rc.directView(engine.id).apply(() => [1, new WeakMap<object, number>()]));
    assert.ok(weak instanceof SerializationError, String(weak));
    assert.equal(weak.path, 'result[1]');
    assert.equal(weak.typeName, 'WeakMap');
    assert.match(weak.message, /result\[1\]/);
    await assertEngineServes('after unserializable results');
  });
});
