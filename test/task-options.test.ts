/**
 * Task options end to end on real 2-engine clusters: after/follow
 * dependencies, retries (worker exit, engine SIGKILL), engine death with
 * queued work, timeouts (queued and running), abort (queued, running, all of a
 * client's tasks), priorities and queue status.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  Client,
  Cluster,
  EngineError,
  ImpossibleDependency,
  InvalidDependency,
  RemoteError,
  TaskAborted,
  TaskError,
  TaskTimeout,
  WorkerExited,
} from '../index.js';
import type { AsyncResult, EngineEvent } from '../index.js';
import { pidGone, range, removeTempRoot, sharedCluster, sleep, useTempRoot, waitFor } from './helpers.js';

/** A name pushed into engine namespaces by a test. */
declare const pushedMarker: string;

const root = useTempRoot('task-options');
after(() => removeTempRoot(root));

let files = 0;
/** A fresh path in this file's temporary root (gates, markers, logs). */
const newFile = (tag: string): string => join(root, `${tag}-${++files}`);

/** Runs remotely: prints a line, then waits until the file `gate` exists (at most 60 s). */
const waitForGate = async (gate: string): Promise<number> => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  console.log('gated task started');
  const t0 = Date.now();
  while (!fs.existsSync(gate) && Date.now() - t0 < 60000) await new Promise((r) => setTimeout(r, 20));
  return process.pid;
};

/** Runs remotely: appends `label` to `file` as a line, returns the label. */
const appendLine = (file: string, label: string): string => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  fs.appendFileSync(file, `${label}\n`);
  return label;
};

/** Runs remotely: writes `marker`, proof that the task ran. */
const touch = (marker: string): string => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  fs.writeFileSync(marker, 'ran');
  return 'ran';
};

/** Runs remotely: never returns on its own (a running task to time out or abort). */
const spin = (): number => {
  console.log('spinning');
  for (;;) {
    // busy: only replacing the execution worker ends this
  }
};

/** The rejection of a result that must fail. */
async function failure(ar: PromiseLike<unknown> & { get(o: { timeoutMs?: number }): Promise<unknown> }, timeoutMs = 30000): Promise<unknown> {
  return ar.get({ timeoutMs }).then(
    (v) => assert.fail(`the task was expected to fail, it returned ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
}

/** Occupy engines with gated tasks (one per engine, pinned by targets); `release` lets them finish. */
async function occupy(rc: Client, ids: readonly number[]): Promise<{ ars: AsyncResult<number>[]; release: () => Promise<void> }> {
  const gate = newFile('gate');
  const ars = ids.map((id) =>
    rc
      .loadBalancedView()
      .withOptions({ targets: [id] })
      .apply(waitForGate, gate),
  );
  const release = async (): Promise<void> => {
    writeFileSync(gate, '');
    for (const ar of ars) await ar.wait(30000);
  };
  try {
    await waitFor('the gated tasks to start', () => ars.every((ar) => ar.stdout.includes('gated task started') || ar.ready()), { timeoutMs: 30000 });
    for (const ar of ars) assert.equal(ar.ready(), false, 'a gated task ended early');
  } catch (e) {
    await release();
    throw e;
  }
  return { ars, release };
}

async function waitUnassigned(rc: Client, n: number): Promise<void> {
  await waitFor(`${n} tasks unassigned in the controller`, async () => (await rc.queueStatus()).unassigned === n, { timeoutMs: 10000 });
}

function startCluster(clusterId: string, n = 2): { rc: () => Client; cluster: () => Cluster } {
  return sharedCluster({ n }, clusterId);
}

// ------------------------------------------------------------------ dependencies

describe('dependencies (2 engines, hwm 1)', () => {
  const c = startCluster('deps');

  test('after: a task waits until its dependency finished, and does not block independent tasks meanwhile', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const gate = newFile('gate');
    const log = newFile('log');
    const a = lb.apply(waitForGate, gate);
    try {
      await waitFor('the dependency to start', () => a.stdout.includes('gated task started'), { timeoutMs: 30000 });
      const b = lb.withOptions({ after: a }).apply(appendLine, log, 'b');
      // submitted after b: had b been released early it would hold the one free engine (hwm 1) first
      const independent = range(5).map((i) => lb.apply(appendLine, log, `free${i}`));
      await Promise.all(independent.map((ar) => ar.get({ timeoutMs: 30000 })));
      assert.equal(b.ready(), false, 'the dependent task is still waiting');
      assert.equal(a.ready(), false);
      assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['free0', 'free1', 'free2', 'free3', 'free4']);
      writeFileSync(gate, '');
      assert.equal(await b.get({ timeoutMs: 30000 }), 'b');
      await a;
      assert.ok(
        b.metadata.started!.getTime() >= a.metadata.completed!.getTime(),
        `b started ${b.metadata.started!.toISOString()}, a completed ${a.metadata.completed!.toISOString()}`,
      );
      assert.equal(readFileSync(log, 'utf8').trim().split('\n').at(-1), 'b');
    } finally {
      writeFileSync(gate, '');
      await a.wait(30000);
    }
  });

  test('after a dependency given as a msg id string, or several (all by default)', async () => {
    const lb = c.rc().loadBalancedView();
    const log = newFile('log');
    const g1 = newFile('gate');
    const g2 = newFile('gate');
    const a1 = lb.apply(waitForGate, g1);
    const a2 = lb.apply(waitForGate, g2);
    try {
      const b = lb.withOptions({ after: [a1.msgIds[0]!, a2] }).apply(appendLine, log, 'b');
      await waitFor('both dependencies to start', () => a1.stdout !== '' && a2.stdout !== '', { timeoutMs: 30000 });
      writeFileSync(g1, '');
      await a1;
      // one of two done: still waiting (and an engine is free)
      const probe = lb.apply(() => 'probe');
      assert.equal(await probe, 'probe');
      assert.equal(b.ready(), false);
      writeFileSync(g2, '');
      assert.equal(await b.get({ timeoutMs: 30000 }), 'b');
      assert.ok(b.metadata.started!.getTime() >= a2.metadata.completed!.getTime());
    } finally {
      writeFileSync(g1, '');
      writeFileSync(g2, '');
      await a1.wait(30000);
      await a2.wait(30000);
    }
  });

  test('after with all: false runs once any one dependency finished', async () => {
    const lb = c.rc().loadBalancedView();
    const gate = newFile('gate');
    const held = lb.apply(waitForGate, gate);
    try {
      await waitFor('the held task to start', () => held.stdout.includes('gated task started'), { timeoutMs: 30000 });
      const quick = lb.apply(() => 'quick');
      const b = lb.withOptions({ after: { ids: [held, quick], all: false } }).apply(() => 'b ran');
      assert.equal(await b.get({ timeoutMs: 30000 }), 'b ran');
      assert.equal(held.ready(), false, 'b ran while the other dependency was still running');
      assert.ok(b.metadata.started!.getTime() >= quick.metadata.completed!.getTime());
    } finally {
      writeFileSync(gate, '');
      await held.wait(30000);
    }
  });

  test('success: false, failure: true runs only after a failure; after a success it is ImpossibleDependency and never runs', async () => {
    const lb = c.rc().loadBalancedView();
    const onFailure = { success: false, failure: true };
    // a dependency still running when the dependent is submitted, then failing
    const gate = newFile('gate');
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
    writeFileSync(gate, '');
    const err = await failure(failing);
    assert.ok(err instanceof RemoteError && err.ename === 'RangeError', String(err));
    assert.equal(await cleanup.get({ timeoutMs: 30000 }), 'cleanup ran');

    // a dependency that succeeded: impossible, whether it is known finished at submission or not
    const ok = lb.apply(() => 'fine');
    await ok;
    const marker = newFile('marker');
    const never = lb.withOptions({ after: { ids: ok, ...onFailure } }).apply(touch, marker);
    const e1 = await failure(never);
    assert.ok(e1 instanceof ImpossibleDependency, String(e1));
    assert.ok(e1 instanceof TaskError);
    assert.equal(e1.ename, 'ImpossibleDependency');
    assert.equal(e1.engineId, null, 'it never ran on an engine');
    assert.equal(e1.msgId, never.msgIds[0]);

    const gate2 = newFile('gate');
    const pendingOk = lb.apply(waitForGate, gate2);
    const marker2 = newFile('marker');
    const never2 = lb.withOptions({ after: { ids: pendingOk, ...onFailure } }).apply(touch, marker2);
    writeFileSync(gate2, '');
    await pendingOk;
    assert.ok((await failure(never2)) instanceof ImpossibleDependency);

    // and the default (success only) after a failure
    const bad = lb.apply(() => {
      throw new Error('no');
    });
    await bad.wait(30000);
    const marker3 = newFile('marker');
    const never3 = lb.withOptions({ after: bad }).apply(touch, marker3);
    assert.ok((await failure(never3)) instanceof ImpossibleDependency);
    // nothing ran: run a task on every engine after them, then look
    await c
      .rc()
      .directView()
      .apply(() => 'flush');
    for (const m of [marker, marker2, marker3]) assert.equal(existsSync(m), false, `${m} must not exist`);
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
    const gate = newFile('gate');
    const held = lb.apply(waitForGate, gate);
    const f = lb.withOptions({ follow: held }).apply(() => process.pid);
    await waitFor('the held task to start', () => held.stdout.includes('gated task started'), { timeoutMs: 30000 });
    assert.equal(await lb.apply(() => 'probe'), 'probe');
    assert.equal(f.ready(), false);
    writeFileSync(gate, '');
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
    const marker = newFile('marker');
    const both = lb.withOptions({ follow: [r0, r1] }).apply(touch, marker);
    const err = await failure(both);
    assert.ok(err instanceof ImpossibleDependency, String(err));
    assert.match(err.evalue, new RegExp(`${e0} and ${e1}`));

    // with a third dependency still running: impossible at once, not when the third ends
    const gate = newFile('gate');
    const held = lb.withOptions({ targets: [e0] }).apply(waitForGate, gate);
    try {
      const three = lb.withOptions({ follow: [r0, r1, held] }).apply(touch, marker);
      assert.ok((await failure(three)) instanceof ImpossibleDependency);
      assert.equal(held.ready(), false, 'decided while the third dependency still ran');
    } finally {
      writeFileSync(gate, '');
      await held.wait(30000);
    }
    // follow with all: false over the same two is fine: either engine
    const anyOf = lb.withOptions({ follow: { ids: [r0, r1], all: false } }).apply(() => 'ran');
    assert.equal(await anyOf, 'ran');
    assert.ok([e0, e1].includes(anyOf.metadata.engineId!));
    await rc.directView().apply(() => 'flush');
    assert.equal(existsSync(marker), false);
  });

  test('after a map (every one of its tasks); a task waiting on a dependency can time out or be aborted', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const log = newFile('log');
    const m = lb.map((x: string) => x, ['m0', 'm1', 'm2']);
    const b = lb.withOptions({ after: m }).apply(() => Date.now());
    await m;
    await b;
    const lastOfMap = Math.max(...m.metadata.map((t) => t.completed!.getTime()));
    assert.ok(b.metadata.started!.getTime() >= lastOfMap);

    const gate = newFile('gate');
    const held = lb.apply(waitForGate, gate);
    try {
      const timesOut = lb.withOptions({ after: held, timeoutMs: 300 }).apply(appendLine, log, 'timed out task ran');
      const aborted = lb.withOptions({ after: held }).apply(appendLine, log, 'aborted task ran');
      const e1 = await failure(timesOut, 10000);
      assert.ok(e1 instanceof TaskTimeout, String(e1));
      assert.equal(e1.engineId, null);
      assert.equal(await aborted.abort(), 1);
      assert.ok((await failure(aborted, 10000)) instanceof TaskAborted);
      assert.equal(held.ready(), false, 'both ended while their dependency still ran');
    } finally {
      writeFileSync(gate, '');
      await held.wait(30000);
    }
    await rc.directView().apply(() => 'flush');
    assert.equal(existsSync(log), false, 'neither ran once the dependency finished');
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
    const gate = newFile('gate');
    const held = lb.apply(waitForGate, gate);
    try {
      await waitFor('the held task to start', () => held.stdout.includes('gated task started'), { timeoutMs: 30000 });
      const waiting = range(10).map((i) => lb.withOptions({ after: held }).apply((x: number) => x, i));
      const free = range(20).map((i) => lb.apply((x: number) => -x, i));
      assert.deepEqual(
        await Promise.all(free.map((ar) => ar.get({ timeoutMs: 30000 }))),
        range(20).map((i) => -i),
      );
      assert.ok(waiting.every((ar) => !ar.ready()));
      writeFileSync(gate, '');
      assert.deepEqual(await Promise.all(waiting.map((ar) => ar.get({ timeoutMs: 30000 }))), range(10));
    } finally {
      writeFileSync(gate, '');
      await held.wait(30000);
    }
  });
});

// ------------------------------------------------------------------ retries and engine death

describe('retries and engine death (2 engines, hwm 1)', () => {
  const c = startCluster('retries');
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
    const ar = lb.apply(exitOnce, newFile('marker'));
    assert.equal(await ar.get({ timeoutMs: 30000 }), 'ok');
    const m = ar.metadata;
    assert.equal(m.status, 'ok');
    assert.equal(m.attempts.length, 1, JSON.stringify(m.attempts));
    assert.equal(m.attempts[0]!.ename, 'WorkerExited');
    assert.ok(m.attempts[0]!.engineId !== null && rc.ids.includes(m.attempts[0]!.engineId));
    assert.notEqual(m.attempts[0]!.engineId, m.engineId, 'the retry ran on another engine');
    assert.equal(rc.ids.length, 2, 'a worker exit does not cost the engine');

    // without retries the same is an error naming WorkerExited, and the engine serves on
    const bare = rc.loadBalancedView().apply(exitOnce, newFile('marker'));
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
    const ar = rc.loadBalancedView().withOptions({ retries: 2 }).apply(throwOnce, newFile('marker'));
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
    const ar = rc.loadBalancedView().withOptions({ retries: 1 }).apply(longOnce, newFile('marker'));
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
      .apply(waitForGate, newFile('gate-never-opened'));
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
    const busy = lb.withOptions({ targets: [doomed] }).apply(waitForGate, newFile('gate-never-opened'));
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
    const gate = newFile('gate');
    const g0 = lb.withOptions({ targets: [doomed] }).apply(waitForGate, newFile('gate-never-opened'));
    const g1 = lb.withOptions({ targets: [other] }).apply(waitForGate, gate);
    try {
      await waitFor('both engines busy', () => g0.stdout !== '' && g1.stdout !== '', { timeoutMs: 30000 });
      const queued = range(6).map(() => lb.apply(() => process.pid));
      await waitUnassigned(rc, 6);
      const pid = await kill(doomed);
      assert.ok((await failure(g0, 10000)) instanceof EngineError);
      await waitUnregistered(doomed, pid);
      assert.equal((await rc.queueStatus()).unassigned, 6, 'still queued, not failed');
      writeFileSync(gate, '');
      const otherPid = rc.engines.find((e) => e.id === other)!.pid;
      assert.deepEqual(
        await Promise.all(queued.map((ar) => ar.get({ timeoutMs: 30000 }))),
        range(6).map(() => otherPid),
      );
    } finally {
      writeFileSync(gate, '');
      await g1.wait(30000);
    }

    // the one engine left is busy; work queues; a new engine takes it without waiting for the busy one
    const gate2 = newFile('gate');
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
      writeFileSync(gate2, '');
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
    const gate = newFile('gate-never-opened');
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
    const y = lb.withOptions({ targets: [e0, e1], retries: 1 }).apply(failOnce, newFile('marker'));
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

// ------------------------------------------------------------------ timeouts, abort, priority, queue status

describe('timeouts, abort, priority and queue status (2 engines, hwm 1)', () => {
  const c = startCluster('control');

  test('queueStatus while tasks are queued: per engine queued/running/completed, and unassigned', async () => {
    const rc = c.rc();
    const busy = await occupy(rc, rc.ids);
    const queued = range(3).map((i) => rc.loadBalancedView().apply((x: number) => x, i));
    try {
      await waitUnassigned(rc, 3);
      const q = await rc.queueStatus();
      assert.deepEqual(Object.keys(q).sort(), ['engines', 'unassigned']);
      assert.deepEqual(
        Object.keys(q.engines)
          .map(Number)
          .sort((a, b) => a - b),
        rc.ids,
      );
      for (const id of rc.ids) {
        const e = q.engines[id]!;
        assert.deepEqual(Object.keys(e).sort(), ['completed', 'queued', 'running']);
        assert.equal(e.running, 1);
        assert.equal(e.queued, 0, 'hwm 1: nothing waits on an engine');
        assert.ok(Number.isInteger(e.completed) && e.completed >= 0);
      }
      assert.equal(q.unassigned, 3);
    } finally {
      await busy.release();
    }
    assert.deepEqual(await Promise.all(queued), [0, 1, 2]);
    const later = await rc.queueStatus();
    assert.equal(later.unassigned, 0);
    for (const id of rc.ids) assert.equal(later.engines[id]!.running, 0);
  });

  test('a queued task times out with TaskTimeout without ever running', async () => {
    const rc = c.rc();
    const busy = await occupy(rc, rc.ids);
    const marker = newFile('marker');
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
    await rc.directView().apply(() => 'flush');
    assert.equal(existsSync(marker), false, 'the timed-out task never ran');
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
    const busy = await occupy(rc, rc.ids);
    const marker = newFile('marker');
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
    await rc.directView().apply(() => 'flush');
    assert.equal(existsSync(marker), false, 'the aborted task never ran');
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
      const busy = await occupy(rc, rc.ids);
      const marker = newFile('marker');
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
      await rc.directView().apply(() => 'flush');
      assert.equal(existsSync(marker), false);
      assert.equal(await rc.abort(), 0);
    } finally {
      await rc2.close();
    }
  });

  test('priority: on one engine, tasks with priorities [1, 5, 3, 5, 0] run as 5, 5 (FIFO), 3, 1, 0', async () => {
    const rc = c.rc();
    const target = rc.ids[0]!;
    const busy = await occupy(rc, [target]);
    const log = newFile('log');
    const on0 = rc.loadBalancedView().withOptions({ targets: [target] });
    const spec: [string, number][] = [
      ['p1', 1],
      ['p5-first', 5],
      ['p3', 3],
      ['p5-second', 5],
      ['p0', 0],
    ];
    const ars = spec.map(([label, priority]) => on0.withOptions({ priority }).apply(appendLine, log, label));
    try {
      await waitUnassigned(rc, 5);
    } finally {
      await busy.release();
    }
    assert.deepEqual(
      await Promise.all(ars),
      spec.map(([l]) => l),
    );
    assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n'), ['p5-first', 'p5-second', 'p3', 'p1', 'p0']);
    assert.ok(ars.every((ar) => ar.metadata.engineId === target));
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
    const gate = newFile('gate');
    const marker = newFile('marker');
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
      writeFileSync(gate, '');
    }
    assert.equal(await a.get({ timeoutMs: 30000 }), rc.engines[0]!.pid);
    const err = await failure(b, 10000);
    assert.ok(err instanceof TaskAborted, String(err));
    assert.equal(existsSync(marker), false);
  });

  test('ar.abort() of a task queued on the engine behind a synchronously busy task: TaskAborted, and it never runs', async () => {
    const rc = c.rc();
    const lb = rc.loadBalancedView();
    const gate = newFile('gate');
    const marker = newFile('marker');
    const a = lb.apply(busyUntil, gate);
    const b = lb.apply(touch, marker);
    try {
      await waitFor('the busy task to run', () => a.stdout.includes('busy task started'), { timeoutMs: 30000 });
      assert.equal(await b.abort(), 1, 'the controller reports it aborted');
      // the abort travels controller -> engine -> worker; give it time to arrive before the busy task ends
      await sleep(500);
    } finally {
      writeFileSync(gate, '');
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
    const gate = newFile('gate');
    const marker = newFile('marker');
    const a = lb.apply(busyUntil, gate);
    const b = lb.withOptions({ timeoutMs: 300 }).apply(touch, marker);
    try {
      await waitFor('the busy task to run', () => a.stdout.includes('busy task started'), { timeoutMs: 30000 });
      // well past the 300 ms timeout, with the busy task still running
      await sleep(1000);
    } finally {
      writeFileSync(gate, '');
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
