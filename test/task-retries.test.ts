/**
 * Retries and engine death end to end on a 2-engine cluster (hwm 1): a task
 * retried after a worker exit, an exception or its engine's SIGKILL (the
 * attempts name each failure); without retries, EngineError; what a dead
 * engine does to followers, to queued tasks and to a retried task queued
 * again; and an engine that joins later taking queued work at once.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { EngineError, ImpossibleDependency, RemoteError, WorkerExited } from '../index.js';
import type { EngineEvent } from '../index.js';
import { TestFiles, failure, pidGone, range, sharedCluster, tempRootForFile, waitFor, waitForGate, waitUnassigned } from './support/index.js';

const files = new TestFiles(tempRootForFile('task-retries'));

describe('retries and engine death (2 engines, hwm 1)', () => {
  const c = sharedCluster({ n: 2 }, 'retries');
  const events: EngineEvent[] = [];
  before(() => {
    c.rc().onEngine((e) => events.push(e));
  });

  /** Top up to two engines (tests kill some). */
  async function twoEngines(): Promise<[number, number]> {
    const rc = c.rc();
    if (rc.ids.length < 2) await c.cluster().addEngines(2 - rc.ids.length);
    await rc.waitForEngines(2, { timeoutMs: 30000 });
    const [a, b] = rc.ids;
    return [a!, b!];
  }

  async function kill(id: number): Promise<number> {
    const rc = c.rc();
    const pid = rc.engines.find((e) => e.id === id)?.pid;
    assert.ok(pid !== undefined, `engine ${id} is registered`);
    process.kill(pid, 'SIGKILL');
    return pid;
  }

  async function waitUnregistered(id: number, pid: number): Promise<void> {
    await waitFor(`engine ${id} unregistered`, () => events.some((e) => e.type === 'unregistered' && e.engine.id === id), { timeoutMs: 15000 });
    assert.ok(!c.rc().ids.includes(id));
    await waitFor(`pid ${pid} gone`, () => pidGone(pid), { timeoutMs: 10000 });
  }

  test('retries: 1 after process.exit() in the task: resolves on the retry, attempts name WorkerExited and the first engine', async () => {
    const rc = c.rc();
    await twoEngines();
    const lb = rc.loadBalancedView().withOptions({ retries: 1 });
    const exitOnce = (marker: string): string => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fs = require('node:fs') as typeof import('node:fs');
      if (!fs.existsSync(marker)) {
        fs.writeFileSync(marker, 'x');
        process.exit(3);
      }
      return 'ok';
    };
    const ar = lb.apply(exitOnce, files.file('marker'));
    assert.equal(await ar.get({ timeoutMs: 30000 }), 'ok');
    const m = ar.metadata;
    assert.equal(m.status, 'ok');
    assert.equal(m.attempts.length, 1, JSON.stringify(m.attempts));
    assert.equal(m.attempts[0]!.ename, 'WorkerExited');
    assert.ok(m.attempts[0]!.engineId !== null && rc.ids.includes(m.attempts[0]!.engineId));
    assert.notEqual(m.attempts[0]!.engineId, m.engineId, 'the retry ran on another engine');
    assert.equal(rc.ids.length, 2, 'a worker exit does not cost the engine');

    // without retries the same is an error naming WorkerExited, and the engine serves on
    const bare = rc.loadBalancedView().apply(exitOnce, files.file('marker'));
    const err = await failure(bare);
    assert.ok(err instanceof WorkerExited && err.ename === 'WorkerExited', String(err));
    assert.deepEqual(bare.metadata.attempts, []);
    assert.equal(await rc.directView(err.engineId!).apply(() => 'still serving'), 'still serving');
  });

  test('retries also cover an exception in user code; the attempts say so', async () => {
    const rc = c.rc();
    await twoEngines();
    const throwOnce = (marker: string): string => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fs = require('node:fs') as typeof import('node:fs');
      if (!fs.existsSync(marker)) {
        fs.writeFileSync(marker, 'x');
        throw new TypeError('first run fails');
      }
      return 'second run';
    };
    const ar = rc.loadBalancedView().withOptions({ retries: 2 }).apply(throwOnce, files.file('marker'));
    assert.equal(await ar, 'second run');
    assert.deepEqual(
      ar.metadata.attempts.map((a) => a.ename),
      ['TypeError'],
    );
    // retries run out: the last error is reported, with every attempt
    const always = rc
      .loadBalancedView()
      .withOptions({ retries: 1 })
      .apply(() => {
        throw new SyntaxError('always');
      });
    const err = await failure(always);
    assert.ok(err instanceof RemoteError && err.ename === 'SyntaxError', String(err));
    assert.equal(always.metadata.attempts.length, 1);
    assert.notEqual(always.metadata.attempts[0]!.engineId, always.metadata.engineId);
    // more retries than engines: each engine is tried once, then the task fails
    const many = rc
      .loadBalancedView()
      .withOptions({ retries: 5 })
      .apply(() => {
        throw new EvalError('everywhere');
      });
    const err2 = await failure(many);
    assert.ok(err2 instanceof RemoteError && err2.ename === 'EvalError', String(err2));
    const tried = [...many.metadata.attempts.map((a) => a.engineId), many.metadata.engineId];
    assert.deepEqual([...tried].sort(), [...rc.ids].sort(), `each engine once: ${JSON.stringify(many.metadata.attempts)}`);
  });

  test('retries: 1 and SIGKILL of the engine running a long task: the task completes on the other engine', async () => {
    const rc = c.rc();
    await twoEngines();
    const longOnce = async (marker: string): Promise<number> => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fs = require('node:fs') as typeof import('node:fs');
      if (!fs.existsSync(marker)) {
        fs.writeFileSync(marker, 'x');
        console.log(`long run on pid ${process.pid}`);
        await new Promise((r) => setTimeout(r, 60000));
      }
      return process.pid;
    };
    const ar = rc.loadBalancedView().withOptions({ retries: 1 }).apply(longOnce, files.file('marker'));
    const line = await waitFor('the long run to start', () => /long run on pid (\d+)/.exec(ar.stdout) ?? undefined, { timeoutMs: 30000 });
    const victimPid = Number(line[1]);
    const victim = rc.engines.find((e) => e.pid === victimPid);
    assert.ok(victim, `pid ${victimPid} is an engine`);
    const survivor = rc.engines.find((e) => e.id !== victim.id)!;
    await kill(victim.id);
    const pid = await ar.get({ timeoutMs: 10000 });
    assert.equal(pid, survivor.pid, 'the retry ran on the surviving engine');
    assert.equal(ar.metadata.engineId, survivor.id);
    assert.deepEqual(ar.metadata.attempts, [{ engineId: victim.id, ename: 'EngineError' }]);
    await waitUnregistered(victim.id, victimPid);
  });

  test('without retries, SIGKILL of the engine running a task gives EngineError within 10 s', async () => {
    const rc = c.rc();
    const [id] = await twoEngines();
    const ar = rc
      .loadBalancedView()
      .withOptions({ targets: [id] })
      .apply(waitForGate, files.file('gate-never-opened'));
    await waitFor('the task to start', () => ar.stdout.includes('gated task started'), { timeoutMs: 30000 });
    const pid = await kill(id);
    const err = await failure(ar, 10000);
    assert.ok(err instanceof EngineError, `EngineError expected within 10 s, got ${String(err)}`);
    assert.equal(err.engineId, id);
    assert.deepEqual(ar.metadata.attempts, []);
    await waitUnregistered(id, pid);
  });

  test('follow of a task whose engine died is ImpossibleDependency, whether submitted before or after the death', async () => {
    const rc = c.rc();
    const [doomed, other] = await twoEngines();
    const lb = rc.loadBalancedView();
    const ran = lb.withOptions({ targets: [doomed] }).apply(() => 'ran there');
    await ran;
    // a follower waiting for the busy engine when it dies, and one submitted afterwards
    const busy = lb.withOptions({ targets: [doomed] }).apply(waitForGate, files.file('gate-never-opened'));
    await waitFor('the engine busy', () => busy.stdout !== '', { timeoutMs: 30000 });
    const queuedFollower = lb.withOptions({ follow: ran }).apply(() => 'followed');
    await waitUnassigned(rc, 1);
    const pid = await kill(doomed);
    assert.ok((await failure(busy, 10000)) instanceof EngineError);
    const e1 = await failure(queuedFollower, 10000);
    assert.ok(e1 instanceof ImpossibleDependency, String(e1));
    await waitUnregistered(doomed, pid);
    const e2 = await failure(lb.withOptions({ follow: ran }).apply(() => 'followed'));
    assert.ok(e2 instanceof ImpossibleDependency, String(e2));
    // after (time, not place) on the same task is still fine
    assert.equal(await lb.withOptions({ after: ran }).apply(() => process.pid), rc.engines.find((e) => e.id === other)!.pid);
  });

  test('engine death: tasks queued in the controller go to the other engine; an engine that joins later takes queued work at once', async () => {
    const rc = c.rc();
    const [doomed, other] = await twoEngines();
    const lb = rc.loadBalancedView();
    const gate = files.file('gate');
    const g0 = lb.withOptions({ targets: [doomed] }).apply(waitForGate, files.file('gate-never-opened'));
    const g1 = lb.withOptions({ targets: [other] }).apply(waitForGate, gate);
    try {
      await waitFor('both engines busy', () => g0.stdout !== '' && g1.stdout !== '', { timeoutMs: 30000 });
      const queued = range(6).map(() => lb.apply(() => process.pid));
      await waitUnassigned(rc, 6);
      const pid = await kill(doomed);
      assert.ok((await failure(g0, 10000)) instanceof EngineError);
      await waitUnregistered(doomed, pid);
      assert.equal((await rc.queueStatus()).unassigned, 6, 'still queued, not failed');
      files.open(gate);
      const otherPid = rc.engines.find((e) => e.id === other)!.pid;
      assert.deepEqual(
        await Promise.all(queued.map((ar) => ar.get({ timeoutMs: 30000 }))),
        range(6).map(() => otherPid),
      );
    } finally {
      files.open(gate);
      await g1.wait(30000);
    }

    // the one engine left is busy; work queues; a new engine takes it without waiting for the busy one
    const gate2 = files.file('gate');
    const busy = lb.withOptions({ targets: [other] }).apply(waitForGate, gate2);
    try {
      await waitFor('the engine busy', () => busy.stdout !== '', { timeoutMs: 30000 });
      const queued = range(4).map((i) => lb.apply((x: number) => x * 10, i));
      await waitUnassigned(rc, 4);
      const [newPid] = await c.cluster().addEngines(1);
      const values = await Promise.all(queued.map((ar) => ar.get({ timeoutMs: 30000 })));
      assert.deepEqual(values, [0, 10, 20, 30]);
      assert.equal(busy.ready(), false, 'the queued work did not wait for the busy engine');
      const newId = rc.engines.find((e) => e.pid === newPid)?.id;
      assert.ok(newId !== undefined);
      assert.ok(
        queued.every((ar) => ar.metadata.engineId === newId),
        queued.map((ar) => ar.metadata.engineId).join(' '),
      );
    } finally {
      files.open(gate2);
      await busy.wait(30000);
    }
  });

  test('a retried task queued again behind a blocked task fails once when its last engine dies (stats stay consistent)', async () => {
    const rc = c.rc();
    const [e0, e1] = await twoEngines();
    const start = (await rc.stats()).tasks;
    assert.equal(start.pending, 0, 'nothing left over from earlier tests');
    const e0Done = (await rc.queueStatus()).engines[e0]!.completed;
    const lb = rc.loadBalancedView();
    const gate = files.file('gate-never-opened');
    // engine e1 busy; x waits for it at the head of the queue
    const busy = lb.withOptions({ targets: [e1] }).apply(waitForGate, gate);
    await waitFor('engine e1 busy', () => busy.stdout !== '', { timeoutMs: 30000 });
    const x = lb.withOptions({ targets: [e1] }).apply(() => 'x');
    // y is placed on e0 from behind x, fails there, and is queued again for e1 (its retry)
    const failOnce = (marker: string): string => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fs = require('node:fs') as typeof import('node:fs');
      if (!fs.existsSync(marker)) {
        fs.writeFileSync(marker, 'x');
        throw new Error('first run fails');
      }
      return 'y';
    };
    const y = lb.withOptions({ targets: [e0, e1], retries: 1 }).apply(failOnce, files.file('marker'));
    await waitFor(
      'y to fail on e0 and be queued again (for e1, behind x)',
      async () => {
        const q = await rc.queueStatus();
        return q.engines[e0]!.completed === e0Done + 1 && q.unassigned === 2;
      },
      { timeoutMs: 30000 },
    );
    const pid = await kill(e1);
    assert.ok((await failure(busy, 10000)) instanceof EngineError);
    const ex = await failure(x, 10000);
    assert.equal((ex as Error).name, 'NoEnginesRegistered', String(ex));
    const ey = await failure(y, 10000);
    assert.equal((ey as Error).name, 'NoEnginesRegistered', String(ey));
    await waitUnregistered(e1, pid);
    const t = (await rc.stats()).tasks;
    assert.equal(t.submitted, start.submitted + 3);
    assert.equal(t.completed, t.submitted, `each task completes once: ${JSON.stringify(t)}`);
    assert.equal(t.pending, 0, JSON.stringify(t));
    assert.equal((await rc.queueStatus()).unassigned, 0);
  });
});
