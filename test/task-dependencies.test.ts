/**
 * Task dependencies end to end on a 2-engine cluster (hwm 1): `after` (all,
 * any, on failure, on a map, by msg id) and `follow` (the engine a dependency
 * ran on), what is impossible and when that is known, unknown dependencies,
 * and that waiting tasks never block independent ones.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ImpossibleDependency, InvalidDependency, RemoteError, TaskAborted, TaskError, TaskTimeout } from '../index.js';
import {
  TestFiles,
  appendLine,
  assertNeverRan,
  failure,
  range,
  sharedCluster,
  tempRootForFile,
  touch,
  waitFor,
  waitForGate,
  whileHeld,
} from './support/index.js';

const files = new TestFiles(tempRootForFile('task-dependencies'));

describe('dependencies (2 engines, hwm 1)', () => {
  const c = sharedCluster({ n: 2 }, 'deps');

  test('after: a task waits until its dependency finished, and does not block independent tasks meanwhile', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const log = files.file('log');
    await whileHeld(lb, files, async (a, release) => {
      const b = lb.withOptions({ after: a }).apply(appendLine, log, 'b');
      // submitted after b: had b been released early it would hold the one free engine (hwm 1) first
      const independent = range(5).map((i) => lb.apply(appendLine, log, `free${i}`));
      await Promise.all(independent.map((ar) => ar.get({ timeoutMs: 30000 })));
      assert.equal(b.ready(), false, 'the dependent task is still waiting');
      assert.equal(a.ready(), false);
      assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['free0', 'free1', 'free2', 'free3', 'free4']);
      release();
      assert.equal(await b.get({ timeoutMs: 30000 }), 'b');
      await a;
      assert.ok(
        b.metadata.started!.getTime() >= a.metadata.completed!.getTime(),
        `b started ${b.metadata.started!.toISOString()}, a completed ${a.metadata.completed!.toISOString()}`,
      );
      assert.equal(readFileSync(log, 'utf8').trim().split('\n').at(-1), 'b');
    });
  });

  test('after a dependency given as a msg id string, or several (all by default)', async () => {
    const lb = c.rc().loadBalancedView();
    const log = files.file('log');
    const g1 = files.file('gate');
    const g2 = files.file('gate');
    const a1 = lb.apply(waitForGate, g1);
    const a2 = lb.apply(waitForGate, g2);
    try {
      const b = lb.withOptions({ after: [a1.msgIds[0]!, a2] }).apply(appendLine, log, 'b');
      await waitFor('both dependencies to start', () => a1.stdout !== '' && a2.stdout !== '', { timeoutMs: 30000 });
      files.open(g1);
      await a1;
      // one of two done: still waiting (and an engine is free)
      const probe = lb.apply(() => 'probe');
      assert.equal(await probe, 'probe');
      assert.equal(b.ready(), false);
      files.open(g2);
      assert.equal(await b.get({ timeoutMs: 30000 }), 'b');
      assert.ok(b.metadata.started!.getTime() >= a2.metadata.completed!.getTime());
    } finally {
      files.open(g1);
      files.open(g2);
      await a1.wait(30000);
      await a2.wait(30000);
    }
  });

  test('after with all: false runs once any one dependency finished', async () => {
    const lb = c.rc().loadBalancedView();
    await whileHeld(lb, files, async (held) => {
      const quick = lb.apply(() => 'quick');
      const b = lb.withOptions({ after: { ids: [held, quick], all: false } }).apply(() => 'b ran');
      assert.equal(await b.get({ timeoutMs: 30000 }), 'b ran');
      assert.equal(held.ready(), false, 'b ran while the other dependency was still running');
      assert.ok(b.metadata.started!.getTime() >= quick.metadata.completed!.getTime());
    });
  });

  test('success: false, failure: true runs only after a failure; after a success it is ImpossibleDependency and never runs', async () => {
    const lb = c.rc().loadBalancedView();
    const onFailure = { success: false, failure: true };
    // a dependency still running when the dependent is submitted, then failing
    const gate = files.file('gate');
    const failing = lb.apply(async (g: string) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fs = require('node:fs') as typeof import('node:fs');
      while (!fs.existsSync(g)) await new Promise((r) => setTimeout(r, 20));
      throw new RangeError('planned failure');
    }, gate);
    const cleanup = lb.withOptions({ after: { ids: failing, ...onFailure } }).apply(() => 'cleanup ran');
    const probe = await lb.apply(() => 'probe');
    assert.equal(probe, 'probe');
    assert.equal(cleanup.ready(), false, 'waits while the dependency runs');
    files.open(gate);
    const err = await failure(failing);
    assert.ok(err instanceof RemoteError && err.ename === 'RangeError', String(err));
    assert.equal(await cleanup.get({ timeoutMs: 30000 }), 'cleanup ran');

    // a dependency that succeeded: impossible, whether it is known finished at submission or not
    const ok = lb.apply(() => 'fine');
    await ok;
    const marker = files.file('marker');
    const never = lb.withOptions({ after: { ids: ok, ...onFailure } }).apply(touch, marker);
    const e1 = await failure(never);
    assert.ok(e1 instanceof ImpossibleDependency, String(e1));
    assert.ok(e1 instanceof TaskError);
    assert.equal(e1.ename, 'ImpossibleDependency');
    assert.equal(e1.engineId, null, 'it never ran on an engine');
    assert.equal(e1.msgId, never.msgIds[0]);

    const gate2 = files.file('gate');
    const pendingOk = lb.apply(waitForGate, gate2);
    const marker2 = files.file('marker');
    const never2 = lb.withOptions({ after: { ids: pendingOk, ...onFailure } }).apply(touch, marker2);
    files.open(gate2);
    await pendingOk;
    assert.ok((await failure(never2)) instanceof ImpossibleDependency);

    // and the default (success only) after a failure
    const bad = lb.apply(() => {
      throw new Error('no');
    });
    await bad.wait(30000);
    const marker3 = files.file('marker');
    const never3 = lb.withOptions({ after: bad }).apply(touch, marker3);
    assert.ok((await failure(never3)) instanceof ImpossibleDependency);
    // nothing ran: run a task on every engine after them, then look
    await assertNeverRan(c.rc(), [marker, marker2, marker3]);
  });

  test('follow: runs on the engine where the dependency ran, even while another engine is idle', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const a = lb.apply(() => process.pid);
    const pid = await a;
    const engineId = a.metadata.engineId;
    assert.equal(rc.engines.find((e) => e.id === engineId)?.pid, pid);
    // six at once: with hwm 1, leastload would spread them; follow keeps them on one engine
    const followers = range(6).map(() => lb.withOptions({ follow: a }).apply(() => process.pid));
    const pids = await Promise.all(followers.map((ar) => ar.get({ timeoutMs: 30000 })));
    assert.deepEqual(
      pids,
      range(6).map(() => pid),
    );
    assert.ok(followers.every((ar) => ar.metadata.engineId === engineId));

    // a pending dependency: the follower waits, then goes where it ran
    const gate = files.file('gate');
    const held = lb.apply(waitForGate, gate);
    const f = lb.withOptions({ follow: held }).apply(() => process.pid);
    await waitFor('the held task to start', () => held.stdout.includes('gated task started'), { timeoutMs: 30000 });
    assert.equal(await lb.apply(() => 'probe'), 'probe');
    assert.equal(f.ready(), false);
    files.open(gate);
    const heldPid = await held;
    assert.equal(await f.get({ timeoutMs: 30000 }), heldPid);
  });

  test('follow-all over results from two engines is ImpossibleDependency, as soon as the second engine is known', async () => {
    const rc = c.rc();
    const [e0, e1] = rc.ids;
    assert.ok(e0 !== undefined && e1 !== undefined);
    const lb = rc.loadBalancedView();
    const r0 = lb.withOptions({ targets: [e0] }).apply(() => 0);
    const r1 = lb.withOptions({ targets: [e1] }).apply(() => 1);
    await Promise.all([r0, r1]);
    assert.deepEqual([r0.metadata.engineId, r1.metadata.engineId], [e0, e1]);
    const marker = files.file('marker');
    const both = lb.withOptions({ follow: [r0, r1] }).apply(touch, marker);
    const err = await failure(both);
    assert.ok(err instanceof ImpossibleDependency, String(err));
    assert.match(err.evalue, new RegExp(`${e0} and ${e1}`));

    // with a third dependency still running: impossible at once, not when the third ends
    await whileHeld(
      lb.withOptions({ targets: [e0] }),
      files,
      async (held) => {
        const three = lb.withOptions({ follow: [r0, r1, held] }).apply(touch, marker);
        assert.ok((await failure(three)) instanceof ImpossibleDependency);
        assert.equal(held.ready(), false, 'decided while the third dependency still ran');
      },
      { started: false },
    );
    // follow with all: false over the same two is fine: either engine
    const anyOf = lb.withOptions({ follow: { ids: [r0, r1], all: false } }).apply(() => 'ran');
    assert.equal(await anyOf, 'ran');
    assert.ok([e0, e1].includes(anyOf.metadata.engineId!));
    await assertNeverRan(rc, [marker]);
  });

  test('after a map (every one of its tasks); a task waiting on a dependency can time out or be aborted', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const log = files.file('log');
    const m = lb.map((x: string) => x, ['m0', 'm1', 'm2']);
    const b = lb.withOptions({ after: m }).apply(() => Date.now());
    await m;
    await b;
    const lastOfMap = Math.max(...m.metadata.map((t) => t.completed!.getTime()));
    assert.ok(b.metadata.started!.getTime() >= lastOfMap);

    await whileHeld(
      lb,
      files,
      async (held) => {
        const timesOut = lb.withOptions({ after: held, timeoutMs: 300 }).apply(appendLine, log, 'timed out task ran');
        const aborted = lb.withOptions({ after: held }).apply(appendLine, log, 'aborted task ran');
        const e1 = await failure(timesOut, 10000);
        assert.ok(e1 instanceof TaskTimeout, String(e1));
        assert.equal(e1.engineId, null);
        assert.equal(await aborted.abort(), 1);
        assert.ok((await failure(aborted, 10000)) instanceof TaskAborted);
        assert.equal(held.ready(), false, 'both ended while their dependency still ran');
      },
      { started: false },
    );
    await assertNeverRan(rc, [log], 'neither ran once the dependency finished');
  });

  test('follow with targets that exclude the engine to follow is ImpossibleDependency', async () => {
    const rc = c.rc();
    const [e0, e1] = rc.ids as [number, number];
    const lb = rc.loadBalancedView();
    const a = lb.withOptions({ targets: [e0] }).apply(() => 'a');
    await a;
    const err = await failure(lb.withOptions({ follow: a, targets: [e1] }).apply(() => 'b'));
    assert.ok(err instanceof ImpossibleDependency, String(err));
    assert.equal(await lb.withOptions({ follow: a, targets: [e0, e1] }).apply(() => process.pid), rc.engines.find((e) => e.id === e0)!.pid);
  });

  test('an unknown msg id gives InvalidDependency (after and follow)', async () => {
    const lb = c.rc().loadBalancedView();
    const e1 = await failure(lb.withOptions({ after: 'no-such-task' }).apply(() => 1));
    assert.ok(e1 instanceof InvalidDependency, String(e1));
    assert.match(e1.evalue, /no-such-task/);
    const e2 = await failure(lb.withOptions({ follow: ['also-unknown'] }).apply(() => 1));
    assert.ok(e2 instanceof InvalidDependency, String(e2));
    const known = lb.apply(() => 1);
    await known;
    const e3 = await failure(lb.withOptions({ after: { ids: [known, 'missing'], all: false } }).apply(() => 1));
    assert.ok(e3 instanceof InvalidDependency, 'one unknown id among known ones is still invalid');
  });

  test('many tasks waiting on a dependency do not block independent tasks', async () => {
    const lb = c.rc().loadBalancedView();
    await whileHeld(lb, files, async (held, release) => {
      const waiting = range(10).map((i) => lb.withOptions({ after: held }).apply((x: number) => x, i));
      const free = range(20).map((i) => lb.apply((x: number) => -x, i));
      assert.deepEqual(
        await Promise.all(free.map((ar) => ar.get({ timeoutMs: 30000 }))),
        range(20).map((i) => -i),
      );
      assert.ok(waiting.every((ar) => !ar.ready()));
      release();
      assert.deepEqual(await Promise.all(waiting.map((ar) => ar.get({ timeoutMs: 30000 }))), range(10));
    });
  });
});
