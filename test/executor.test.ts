/**
 * Executors: Executor.auto() without a cluster (the in-process worker-thread
 * pool: submit, map, cancel of a running and a queued call, timeouts,
 * shutdown, console output to this process), then with a cluster started in
 * the same TSCLUSTER_DIR and profile (kind 'cluster', calls on engine pids),
 * and view.executor() on a cluster (submit/map/shutdown, future.cancel() of a
 * running and a queued call, result({ timeoutMs })).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Executor, LocalExecutor, RemoteError, TaskAborted, TimeoutError } from '../index.js';
import type { Client, Future } from '../index.js';
import {
  DIST,
  OutputWatcher,
  TestFiles,
  assertAllGone,
  gated,
  markThenSpin,
  range,
  rejection,
  sharedCluster,
  tempRootForFile,
  waitExit,
  waitFor,
  waitIdle,
} from './support/index.js';

const root = tempRootForFile('executor');
const files = new TestFiles(root);

describe('Executor.auto() with no cluster running: the local pool', () => {
  let ex: Executor | undefined;

  before(async () => {
    ex = await Executor.auto({ threads: 2 });
  });

  after(async () => {
    await ex?.shutdown({ wait: false, cancelFutures: true });
  });

  test("kind 'local'; submit and map run the calls in this process's threads", async () => {
    assert.ok(ex);
    assert.equal(ex.kind, 'local');
    assert.ok(ex instanceof LocalExecutor);
    assert.equal(ex.threads, 2);
    const f = ex.submit((a: number, b: number) => a + b, 1, 2);
    assert.equal(await f, 3);
    assert.equal(f.done(), true);
    assert.equal(await f.result(), 3);
    // worker threads of this very process
    const where = await ex.submit(async () => {
      const wt = await import('node:worker_threads');
      return { pid: process.pid, main: wt.isMainThread };
    });
    assert.deepEqual(where, { pid: process.pid, main: false });
    assert.deepEqual(await ex.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
    assert.deepEqual(
      await ex.map((x: number) => x + 1, range(50), { chunksize: 7 }),
      range(50).map((x) => x + 1),
    );
    assert.deepEqual(await ex.map((x: number) => x, []), []);
    // errors come back as RemoteError
    const e = await rejection(
      ex.submit(() => {
        throw new TypeError('local failure');
      }),
    );
    assert.ok(e instanceof RemoteError, `RemoteError expected, got ${String(e)}`);
    assert.equal(e.ename, 'TypeError');
    assert.equal(e.evalue, 'local failure');
  });

  test('cancel() of a running while(true) call and of a queued call: TaskAborted; the pool serves on', async () => {
    assert.ok(ex);
    const m1 = files.file('spin');
    const m2 = files.file('spin');
    const running = [ex.submit(markThenSpin, m1), ex.submit(markThenSpin, m2)];
    // both threads busy: a third call waits in the queue
    const queuedMarker = files.file('queued');
    const queued = ex.submit((m: string) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('node:fs') as typeof import('node:fs')).writeFileSync(m, 'ran');
      return 'ran';
    }, queuedMarker);
    await waitFor('both spinning calls running', () => existsSync(m1) && existsSync(m2), { timeoutMs: 30000 });
    assert.equal(queued.done(), false);

    assert.equal(await queued.cancel(), true, 'a queued call is cancelled');
    const qe = await rejection(queued);
    assert.ok(qe instanceof TaskAborted, `TaskAborted expected, got ${String(qe)}`);
    assert.equal(queued.done(), true);
    assert.equal(existsSync(queuedMarker), false, 'the cancelled call never ran');

    for (const f of running) {
      assert.equal(f.done(), false);
      assert.equal(await f.cancel(), true, 'a running call is cancelled');
      const re = await rejection(f);
      assert.ok(re instanceof TaskAborted, `TaskAborted expected, got ${String(re)}`);
      assert.equal(f.done(), true);
      assert.equal(await f.cancel(), false, 'a finished call cannot be cancelled again');
    }
    // fresh threads replaced the interrupted ones
    assert.deepEqual(await ex.map((x: number) => x * 2, range(4)), [0, 2, 4, 6]);
    const done = ex.submit(() => 'finished');
    await done;
    assert.equal(await done.cancel(), false);
  });

  test('result({ timeoutMs }) rejects with TimeoutError; the call goes on', async () => {
    assert.ok(ex);
    const g = files.file('gate');
    const f = ex.submit(gated, { gate: g, v: 'opened' });
    await assert.rejects(f.result({ timeoutMs: 100 }), (e: unknown) => e instanceof TimeoutError);
    assert.equal(f.done(), false);
    files.open(g);
    assert.equal(await f.result({ timeoutMs: 30000 }), 'opened');
  });

  test("a call's console output goes to the calling process's stdout and stderr (child process)", async () => {
    const script = `
      import { Executor } from ${JSON.stringify(pathToFileURL(join(DIST, 'index.js')).href)};
      const ex = await Executor.auto({ threads: 1 });
      console.log('kind ' + ex.kind);
      const r = await ex.submit((x) => { console.log('hello from the local call ' + x); console.error('warning from the local call'); return x * 2; }, 21);
      const m = await ex.map((x) => { console.log('item ' + x); return x; }, [1, 2]);
      await ex.shutdown();
      console.log('result ' + r + ' ' + JSON.stringify(m));
    `;
    const file = join(root, 'local-output.mjs');
    writeFileSync(file, script);
    const child = spawn(process.execPath, [file], { env: { ...process.env, TSCLUSTER_DIR: root }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new OutputWatcher(child.stdout);
    const err = new OutputWatcher(child.stderr);
    try {
      const code = await waitExit(child, 60000);
      assert.equal(code, 0, `the child failed: ${err.text}`);
      const lines = out.text.split('\n');
      assert.equal(lines[0], 'kind local');
      assert.ok(lines.includes('hello from the local call 21'), `stdout:\n${out.text}`);
      assert.ok(lines.includes('item 1') && lines.includes('item 2'), `stdout:\n${out.text}`);
      assert.ok(lines.includes('result 42 [1,2]'), `stdout:\n${out.text}`);
      assert.ok(out.text.indexOf('hello from the local call') < out.text.indexOf('result 42'), 'printed before the call returned');
      assert.match(err.text, /warning from the local call/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await assertAllGone(child.pid ? [child.pid] : [], 'the child process');
    }
  });

  test('the local pool works in a process started as `node --input-type=module -e <script>`', async () => {
    // pool threads inherit the process's execArgv; --input-type is not allowed for a Worker's file
    const script = `
      import { Executor } from ${JSON.stringify(pathToFileURL(join(DIST, 'index.js')).href)};
      const ex = await Executor.auto({ threads: 1 });
      const r = await ex.submit((x) => { console.log('call ran'); return x + 1; }, 41);
      await ex.shutdown();
      console.log(ex.kind + ' result ' + r);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TSCLUSTER_DIR: root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = new OutputWatcher(child.stdout);
    const err = new OutputWatcher(child.stderr);
    try {
      const code = await waitExit(child, 60000);
      assert.equal(code, 0, `the child failed:\n${err.text}`);
      assert.match(out.text, /call ran\n/);
      assert.match(out.text, /local result 42\n/);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await assertAllGone(child.pid ? [child.pid] : [], 'the child process');
    }
  });

  test('shutdown: wait for submitted calls, cancelFutures for the rest; no submissions after', async () => {
    const local = await Executor.auto({ threads: 1 });
    assert.equal(local.kind, 'local');
    const g = files.file('gate');
    const first = local.submit(gated, { gate: g, v: 'opened' });
    const second = local.submit(() => 'second');
    let shut = false;
    const shutting = local.shutdown({ wait: true }).then(() => (shut = true));
    assert.throws(() => local.submit(() => 1), /shut down/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(shut, false, 'shutdown waits for the calls');
    files.open(g);
    await shutting;
    assert.equal(await first, 'opened');
    assert.equal(await second, 'second');

    const other = await Executor.auto({ threads: 1 });
    const m = files.file('spin');
    const spinning = other.submit(markThenSpin, m);
    const waiting = other.submit(() => 'never');
    await waitFor('the spinning call running', () => existsSync(m), { timeoutMs: 30000 });
    await other.shutdown({ wait: true, cancelFutures: true });
    assert.ok((await rejection(spinning)) instanceof TaskAborted);
    assert.ok((await rejection(waiting)) instanceof TaskAborted);
  });
});

describe('with a running cluster', () => {
  const c = sharedCluster({ n: 2 }, '', { beforeStop: () => files.openAll() });
  let rc: Client;
  let pids: number[] = [];
  before(() => {
    rc = c.rc();
    pids = c.cluster().enginePids;
  });

  test("Executor.auto() in the same TSCLUSTER_DIR and profile gives kind 'cluster', running on engine pids", async () => {
    const ex = await Executor.auto();
    try {
      assert.equal(ex.kind, 'cluster');
      const pid = await ex.submit(() => process.pid);
      assert.ok(pids.includes(pid), `pid ${pid} is not an engine's (${pids.join(', ')})`);
      const where = await ex.map(() => process.pid, range(6));
      for (const p of where) assert.ok(pids.includes(p));
      assert.deepEqual(await ex.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
    } finally {
      await ex.shutdown();
    }
    // explicitly the profile, too; another profile or cluster id has no cluster: local
    const same = await Executor.auto({ profile: 'default', clusterId: '' });
    assert.equal(same.kind, 'cluster');
    await same.shutdown();
    const otherProfile = await Executor.auto({ profile: 'elsewhere', threads: 1 });
    assert.equal(otherProfile.kind, 'local');
    await otherProfile.shutdown();
    const otherId = await Executor.auto({ clusterId: 'nope', threads: 1 });
    assert.equal(otherId.kind, 'local');
    await otherId.shutdown();
  });

  test('view.executor(): submit, map and shutdown on a load-balanced and a direct view', async () => {
    const ex = rc.loadBalancedView().executor();
    assert.equal(ex.kind, 'cluster');
    const f = ex.submit((a: number, b: number) => a + b, 1, 2);
    assert.equal(await f, 3);
    assert.equal(f.done(), true);
    assert.equal(await f.result({ timeoutMs: 1000 }), 3);
    assert.deepEqual(await ex.map((x: number) => x * x, [1, 2, 3]), [1, 4, 9]);
    assert.deepEqual(
      await ex.map((x: number) => x - 1, range(20), { chunksize: 6 }),
      range(20).map((x) => x - 1),
    );
    const pid = await ex.submit(() => process.pid);
    assert.ok(pids.includes(pid));
    const e = await rejection(
      ex.submit(() => {
        throw new EvalError('cluster failure');
      }),
    );
    assert.ok(e instanceof RemoteError && e.ename === 'EvalError' && e.evalue === 'cluster failure', String(e));
    await ex.shutdown({ wait: true, cancelFutures: false });
    assert.throws(() => ex.submit(() => 1), /shut down/);
    assert.throws(() => ex.map((x: number) => x, [1]), /shut down/);

    const one = rc.ids[1]!;
    const dex = rc.directView(one).executor();
    assert.equal(await dex.submit(() => process.pid), rc.engines.find((x) => x.id === one)!.pid);
    assert.deepEqual(await dex.map((x: number) => x + 0.5, [1, 2]), [1.5, 2.5]);
    await dex.shutdown();
    // the client stays usable after a view executor's shutdown
    assert.equal(await rc.loadBalancedView().apply(() => 'client still open'), 'client still open');
  });

  test('future.cancel() of a running and of a queued call rejects it with TaskAborted', async () => {
    await waitIdle(rc);
    const ex = rc.loadBalancedView().executor();
    const markers = [files.file('spin'), files.file('spin')];
    const running = markers.map((m) => ex.submit(markThenSpin, m));
    await waitFor('both engines spinning', () => markers.every((m) => existsSync(m)), { timeoutMs: 30000 });
    const queuedMarker = files.file('queued');
    const queued = ex.submit((m: string) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require('node:fs') as typeof import('node:fs')).writeFileSync(m, 'ran');
      return 'ran';
    }, queuedMarker);
    await waitFor('the third call queued', async () => (await rc.queueStatus()).unassigned === 1, { timeoutMs: 30000 });

    assert.equal(await queued.cancel(), true);
    const qe = await rejection(queued);
    assert.ok(qe instanceof TaskAborted, `TaskAborted expected, got ${String(qe)}`);
    assert.equal(queued.done(), true);

    for (const f of running) {
      assert.equal(f.done(), false);
      assert.equal(await f.cancel(), true);
      const re = await rejection(f);
      assert.ok(re instanceof TaskAborted, `TaskAborted expected, got ${String(re)}`);
      assert.ok(re.engineId !== null && rc.ids.includes(re.engineId));
      assert.equal(await f.cancel(), false, 'nothing left to cancel');
    }
    assert.equal(existsSync(queuedMarker), false, 'the cancelled queued call never ran');
    // the engines serve on
    assert.deepEqual(await rc.directView().apply(() => 'serving'), ['serving', 'serving']);
    await ex.shutdown();
  });

  test('future.result({ timeoutMs }) rejects with TimeoutError; the call still completes', async () => {
    const ex = rc.loadBalancedView().executor();
    const g = files.file('gate');
    const f: Future<string> = ex.submit(gated, { gate: g, v: 'opened' });
    await assert.rejects(f.result({ timeoutMs: 150 }), (e: unknown) => e instanceof TimeoutError);
    assert.equal(f.done(), false);
    files.open(g);
    assert.equal(await f.result({ timeoutMs: 30000 }), 'opened');
    assert.equal(f.done(), true);
    await ex.shutdown();
  });

  test('shutdown({ wait: true }) waits for running calls; shutdown({ cancelFutures: true }) aborts them', async () => {
    await waitIdle(rc);
    const ex = rc.loadBalancedView().executor();
    const g = files.file('gate');
    const held = ex.submit(gated, { gate: g, v: 'opened' });
    let shut = false;
    const shutting = ex.shutdown({ wait: true }).then(() => (shut = true));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(shut, false, 'still waiting for the gated call');
    files.open(g);
    await shutting;
    assert.equal(await held, 'opened');

    const ex2 = rc.loadBalancedView().executor();
    const m = files.file('spin');
    const spinning = ex2.submit(markThenSpin, m);
    await waitFor('the spinning call running', () => existsSync(m), { timeoutMs: 30000 });
    await ex2.shutdown({ wait: true, cancelFutures: true });
    assert.ok((await rejection(spinning)) instanceof TaskAborted);
    await waitIdle(rc);
  });
});
