/**
 * Timeouts and abort end to end: on a 2-engine cluster (hwm 1), a queued or a
 * running task that times out (TaskTimeout, the engine serves on with a fresh
 * namespace, no retry), ar.abort() of a queued or running task and rc.abort()
 * of all of a client's tasks (TaskAborted); on a 1-engine cluster with hwm 0,
 * abort and timeout of a task queued on the engine itself, behind a busy one.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Client, TaskAborted, TaskTimeout } from '../index.js';
import {
  TestFiles,
  failure,
  occupy,
  sharedCluster,
  sleep,
  spin,
  tempRootForFile,
  assertNeverRan,
  touch,
  waitFor,
  waitForGate,
  waitUnassigned,
} from './support/index.js';

/** A name pushed into engine namespaces by a test. */
declare const pushedMarker: string;

const files = new TestFiles(tempRootForFile('task-timeouts-abort'));

describe('timeouts and abort (2 engines, hwm 1)', () => {
  const c = sharedCluster({ n: 2 }, 'control');

  test('a queued task times out with TaskTimeout without ever running', async () => {
    const rc = c.rc();
    const busy = await occupy(rc, rc.ids, files);
    const marker = files.file('marker');
    try {
      const ar = rc.loadBalancedView().withOptions({ timeoutMs: 500 }).apply(touch, marker);
      const err = await failure(ar, 10000);
      assert.ok(err instanceof TaskTimeout, String(err));
      assert.equal(err.engineId, null, 'it never reached an engine');
      assert.match(err.evalue, /500 ms/);
      assert.equal(
        busy.ars.some((a) => a.ready()),
        false,
        'it timed out while queued',
      );
      assert.equal((await rc.queueStatus()).unassigned, 0, 'and left the queue');
    } finally {
      await busy.release();
    }
    await assertNeverRan(rc, [marker], 'the timed-out task never ran');
  });

  test('a running while (true) {} with timeoutMs 500 fails with TaskTimeout; the engine keeps serving with a fresh namespace', async () => {
    const rc = c.rc();
    const [id, other] = rc.ids as [number, number];
    const enginePid = rc.engines.find((e) => e.id === id)!.pid;
    await rc.directView().push({ pushedMarker: 'kept' });
    const ar = rc
      .loadBalancedView()
      .withOptions({ targets: [id], timeoutMs: 500 })
      .apply(spin);
    const err = await failure(ar, 10000);
    assert.ok(err instanceof TaskTimeout, String(err));
    assert.equal(err.engineId, id);
    assert.ok(ar.stdout.includes('spinning'), 'it was running when it timed out');
    assert.ok(rc.ids.includes(id), 'the engine stays registered');
    assert.equal(await rc.directView(id).apply(() => process.pid), enginePid, 'the same engine process serves the next task');
    assert.equal(
      await rc
        .loadBalancedView()
        .withOptions({ targets: [id] })
        .apply((x: number) => x + 1, 41),
      42,
    );
    // its namespace is reset; the other engine's is not
    assert.equal(await rc.directView(id).apply(() => typeof pushedMarker), 'undefined');
    assert.equal(await rc.directView(other).apply(() => pushedMarker), 'kept');
    assert.equal((await rc.stats()).engines, 2);
  });

  test('a task interrupted by its timeout is not retried, even with retries left', async () => {
    const rc = c.rc();
    const ar = rc.loadBalancedView().withOptions({ timeoutMs: 500, retries: 3 }).apply(spin);
    const err = await failure(ar, 10000);
    assert.ok(err instanceof TaskTimeout, String(err));
    assert.deepEqual(ar.metadata.attempts, []);
    assert.equal(ar.stdout.split('spinning').length - 1, 1, 'it ran once');
  });

  test('ar.abort() of a queued task: TaskAborted, and it never runs', async () => {
    const rc = c.rc();
    const busy = await occupy(rc, rc.ids, files);
    const marker = files.file('marker');
    try {
      const ar = rc.loadBalancedView().apply(touch, marker);
      await waitUnassigned(rc, 1);
      assert.equal(await ar.abort(), 1);
      const err = await failure(ar, 10000);
      assert.ok(err instanceof TaskAborted, String(err));
      assert.equal(err.engineId, null);
      assert.equal(await ar.abort(), 0, 'nothing left to abort');
      assert.equal(
        busy.ars.some((a) => a.ready()),
        false,
      );
    } finally {
      await busy.release();
    }
    await assertNeverRan(rc, [marker], 'the aborted task never ran');
  });

  test('ar.abort() of a running task interrupts it quickly; the engine serves afterwards', async () => {
    const rc = c.rc();
    const ar = rc.loadBalancedView().apply(spin);
    await waitFor('the task to run', () => ar.stdout.includes('spinning'), { timeoutMs: 30000 });
    assert.equal(await ar.abort(), 1);
    const err = await failure(ar, 10000);
    assert.ok(err instanceof TaskAborted, `TaskAborted within 10 s expected, got ${String(err)}`);
    assert.ok(err.engineId !== null && rc.ids.includes(err.engineId));
    assert.equal(await rc.directView(err.engineId).apply(() => 'serving'), 'serving');
    assert.equal(rc.ids.length, 2);
  });

  test('rc.abort() with no arguments aborts everything this client has pending, and nothing of another client', async () => {
    const rc = c.rc();
    const rc2 = await Client.connect({ clusterId: 'control', timeoutMs: 10000 });
    try {
      const busy = await occupy(rc, rc.ids, files);
      const marker = files.file('marker');
      const queued = [rc.loadBalancedView().apply(touch, marker), rc.loadBalancedView().apply(touch, marker)];
      const waiting = rc.loadBalancedView().withOptions({ after: busy.ars[0]! }).apply(touch, marker);
      const theirs = rc2.loadBalancedView().apply((x: number) => `theirs ${x}`, 7);
      await waitUnassigned(rc, 3);
      assert.equal(await rc.abort(), 5, 'two running, two queued, one waiting on a dependency');
      for (const ar of [...busy.ars, ...queued, waiting]) {
        const err = await failure(ar, 10000);
        assert.ok(err instanceof TaskAborted, String(err));
      }
      // the engines were freed by the interruption: the other client's task runs
      assert.equal(await theirs.get({ timeoutMs: 30000 }), 'theirs 7');
      await assertNeverRan(rc, [marker]);
      assert.equal(await rc.abort(), 0);
    } finally {
      await rc2.close();
    }
  });
});

// ------------------------------------------------------------------ hwm 0: tasks queued on the engine itself

describe('hwm 0: abort and timeout of a task queued on its engine (1 engine)', () => {
  const c = sharedCluster({ n: 1, hwm: 0 }, 'hwm0');

  /** Runs remotely: a synchronous busy loop until the file `gate` exists (at most 30 s); the worker thread never yields. */
  const busyUntil = (gate: string): string => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('node:fs') as typeof import('node:fs');
    console.log('busy task started');
    const t0 = Date.now();
    while (!fs.existsSync(gate) && Date.now() - t0 < 30000) {
      // spin
    }
    return 'busy done';
  };

  test('control: behind an async running task, an aborted queued task never runs (it settles when the engine reaches it)', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const gate = files.file('gate');
    const marker = files.file('marker');
    const a = lb.apply(waitForGate, gate);
    const b = lb.apply(touch, marker);
    try {
      await waitFor('the first task to run', () => a.stdout.includes('gated task started'), { timeoutMs: 30000 });
      const q = await rc.queueStatus();
      assert.deepEqual(
        q.engines[rc.ids[0]!],
        { queued: 1, running: 1, completed: q.engines[rc.ids[0]!]!.completed },
        'hwm 0: both sent to the engine',
      );
      assert.equal(await b.abort(), 1);
      await sleep(500);
    } finally {
      files.open(gate);
    }
    assert.equal(await a.get({ timeoutMs: 30000 }), rc.engines[0]!.pid);
    const err = await failure(b, 10000);
    assert.ok(err instanceof TaskAborted, String(err));
    assert.equal(existsSync(marker), false);
  });

  test('ar.abort() of a task queued on the engine behind a synchronously busy task: TaskAborted, and it never runs', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const gate = files.file('gate');
    const marker = files.file('marker');
    const a = lb.apply(busyUntil, gate);
    const b = lb.apply(touch, marker);
    try {
      await waitFor('the busy task to run', () => a.stdout.includes('busy task started'), { timeoutMs: 30000 });
      assert.equal(await b.abort(), 1, 'the controller reports it aborted');
      // the abort travels controller -> engine -> worker; give it time to arrive before the busy task ends
      await sleep(500);
    } finally {
      files.open(gate);
    }
    assert.equal(await a.get({ timeoutMs: 30000 }), 'busy done');
    const outcome = await b.get({ timeoutMs: 10000 }).then(
      (v) => `resolved with ${JSON.stringify(v)}`,
      (e: unknown) => e,
    );
    assert.ok(outcome instanceof TaskAborted, `an aborted task must end with TaskAborted, got: ${String(outcome)}`);
    assert.equal(existsSync(marker), false, 'an aborted task must not run');
  });

  test('timeoutMs of a task queued on the engine behind a synchronously busy task: TaskTimeout, and it never runs', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const gate = files.file('gate');
    const marker = files.file('marker');
    const a = lb.apply(busyUntil, gate);
    const b = lb.withOptions({ timeoutMs: 300 }).apply(touch, marker);
    try {
      await waitFor('the busy task to run', () => a.stdout.includes('busy task started'), { timeoutMs: 30000 });
      // well past the 300 ms timeout, with the busy task still running
      await sleep(1000);
    } finally {
      files.open(gate);
    }
    assert.equal(await a.get({ timeoutMs: 30000 }), 'busy done');
    const outcome = await b.get({ timeoutMs: 10000 }).then(
      (v) => `resolved with ${JSON.stringify(v)} (started ${b.metadata.started?.toISOString()}, submitted ${b.metadata.submitted.toISOString()})`,
      (e: unknown) => e,
    );
    assert.ok(outcome instanceof TaskTimeout, `a task past its timeout must end with TaskTimeout, got: ${String(outcome)}`);
    assert.equal(existsSync(marker), false, 'a timed-out task must not run');
  });
});
