/**
 * Faults during work: engines SIGKILLed under a 20,000-task map (with retries:
 * nothing lost, nothing twice; without: exactly the killed engine's tasks fail);
 * tasks that exit, exhaust memory, throw a non-Error or return what cannot
 * travel; the controller SIGKILLed under a pending call; and every way of
 * stopping a cluster, or leaving one, leaves nothing behind.
 *
 * The kill schedule is seeded (printed); FAULTS_SEED=<n> reproduces it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, Cluster, CompositeError, ConnectionLost, EngineError, RemoteError, SerializationError, WorkerExited } from '../index.js';
import type { AsyncResult, EngineEvent, EngineInfo } from '../index.js';
import {
  CLI,
  OutputWatcher,
  ROOT,
  assertAllGone,
  connectionFile,
  killAll,
  listJson,
  pidGone,
  range,
  readState,
  removeTempRoot,
  runCli,
  stateFilePath,
  stopCluster,
  useTempRoot,
  waitExit,
  waitFor,
  waitGone,
} from './helpers.js';
import type { CliResult } from './helpers.js';
import { Rng, seedFromEnv } from './rel-helpers.js';

const root = useTempRoot('faults');
const SEED = seedFromEnv('FAULTS_SEED', 'faults');

function show(r: CliResult): string {
  return `exit ${r.code ?? r.signal}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

function assertNoConnectionFiles(profile: string): void {
  for (const kind of ['client', 'engine'] as const) {
    const p = connectionFile(root, kind, profile);
    assert.equal(existsSync(p), false, `${p} should be removed`);
  }
}

function statePids(profile: string): number[] {
  const s = readState(root, profile);
  return s ? [s.controller_pid, ...s.engine_pids] : [];
}

const counts = { tasks: 0, kills: 0, retried: 0, lost: 0 };

after(() => {
  console.log(
    `# faults: ${counts.tasks}-task map, ${counts.kills} engines SIGKILLed mid-map and replaced, ${counts.retried} tasks retried, ${counts.lost} tasks lost`,
  );
  removeTempRoot(root);
});

describe('engines killed during work (3 engines)', () => {
  const PROFILE = 'faults';
  let cluster: Cluster | undefined;
  let rc: Client;
  /** every process this cluster ever had, for the final check */
  const pids = new Set<number>();
  const events: EngineEvent[] = [];

  before(async () => {
    cluster = await Cluster.start({ n: 3, profile: PROFILE });
    pids.add(cluster.controllerPid);
    for (const p of cluster.enginePids) pids.add(p);
    rc = await cluster.connect();
    await rc.waitForEngines(3, { timeoutMs: 30000 });
    rc.onEngine((e) => {
      events.push(e);
      pids.add(e.engine.pid);
    });
  });

  after(async () => {
    for (const p of statePids(PROFILE)) pids.add(p);
    await stopCluster(cluster, [...pids]);
  });

  async function waitUnregistered(e: EngineInfo): Promise<void> {
    await waitFor(`engine ${e.id} (pid ${e.pid}) unregistered`, () => events.some((ev) => ev.type === 'unregistered' && ev.engine.id === e.id), {
      timeoutMs: 15000,
    });
  }

  test('a 20,000-task map (chunksize 1, retries 2) survives three engine SIGKILLs, each replaced by `tscluster engines -n 1`: every result exactly once and correct', async (t) => {
    const rng = new Rng(SEED).fork(1);
    const N = 20000;
    counts.tasks = N;
    const items = range(N);
    const before = (await rc.stats()).tasks;
    const ar = rc
      .loadBalancedView()
      .withOptions({ retries: 2 })
      .map(
        (x: number) => {
          const end = process.hrtime.bigint() + 50_000n;
          while (process.hrtime.bigint() < end) {
            // a tiny busy wait
          }
          return x * 2;
        },
        items,
        { chunksize: 1 },
      );
    // three moments, seeded: when this many results are in (plus a random delay)
    const thresholds = [
      [0.08, 0.2],
      [0.32, 0.44],
      [0.56, 0.68],
    ].map(([lo, hi]) => Math.floor((lo! + rng.next() * (hi! - lo!)) * N));
    const killed: { id: number; pid: number; at: number }[] = [];
    for (const threshold of thresholds) {
      await waitFor(`${threshold} results`, () => ar.progress.done >= threshold || ar.ready(), { timeoutMs: 120000, intervalMs: 10 });
      await new Promise((r) => setTimeout(r, rng.int(200)));
      assert.equal(
        ar.ready(),
        false,
        `the map ended before kill ${killed.length + 1} (at ${threshold} results): the kills must land during the work`,
      );
      const victim = rng.pick(rc.engines);
      killed.push({ id: victim.id, pid: victim.pid, at: ar.progress.done });
      process.kill(victim.pid, 'SIGKILL');
      await waitUnregistered(victim);
      const added = await runCli(['engines', '-n', '1', '--profile', PROFILE], { timeoutMs: 90000 });
      for (const p of statePids(PROFILE)) pids.add(p);
      assert.equal(added.code, 0, show(added));
      await waitFor('3 engines again', () => rc.ids.length === 3, { timeoutMs: 30000 });
    }
    counts.kills = killed.length;
    t.diagnostic(`seed ${SEED}: killed ${killed.map((k) => `engine ${k.id} (pid ${k.pid}) at ${k.at} results`).join(', ')}`);

    let values: number[] | undefined;
    let failure: unknown;
    try {
      values = await ar.get({ timeoutMs: 300000 });
    } catch (e) {
      failure = e;
    }
    const meta = ar.metadata;
    const failed = meta.filter((m) => m.status !== 'ok').length;
    const wrong = values === undefined ? 0 : values.filter((v, i) => v !== items[i]! * 2).length;
    counts.lost = failed + wrong + (values === undefined ? 0 : Math.max(0, N - values.length));
    const retried = meta.filter((m) => m.attempts.length > 0);
    counts.retried = retried.length;
    assert.equal(failure, undefined, `the map failed: ${failure instanceof CompositeError ? failure.message.slice(0, 2000) : String(failure)}`);
    assert.ok(values);
    assert.equal(values.length, N, 'one result per item');
    assert.deepEqual(
      values,
      items.map((x) => x * 2),
      'every result correct, in order',
    );
    assert.equal(counts.lost, 0, 'no task lost');

    // retried only because of the kills, on the killed engines
    const killedIds = new Set(killed.map((k) => k.id));
    const bad = retried.filter((m) => m.attempts.some((a) => a.engineId === null || !killedIds.has(a.engineId) || a.ename !== 'EngineError'));
    assert.deepEqual(
      bad.map((m) => m.attempts),
      [],
      'every earlier attempt was an EngineError on a killed engine',
    );
    assert.ok(
      retried.length >= 1 && retried.length <= killed.length,
      `${retried.length} tasks retried: at most one in flight per killed engine (hwm 1)`,
    );

    const after = (await rc.stats()).tasks;
    assert.equal(after.submitted - before.submitted, N, 'the controller took each task once');
    assert.equal(after.completed - before.completed, N, 'and completed each once');
    assert.equal(after.pending, 0, 'nothing pending');
    assert.equal(after.completed, after.submitted);
  });

  test('without retries, SIGKILL of an engine fails exactly the tasks on it (EngineError naming it); every other task succeeds', async () => {
    assert.ok(cluster);
    const rng = new Rng(SEED).fork(2);
    const engines = rc.engines;
    assert.equal(engines.length, 3);
    const victim = rng.pick(engines);
    const PER = 25;
    const tasks: { engine: EngineInfo; i: number; ar: AsyncResult<number> }[] = [];
    for (const e of engines) {
      for (let i = 0; i < PER; i++) {
        const ar = rc.directView(e.id).apply((k: number) => {
          const end = Date.now() + 40;
          while (Date.now() < end) {
            // busy
          }
          return k * 3;
        }, i);
        tasks.push({ engine: e, i, ar });
      }
    }
    const onVictim = tasks.filter((t) => t.engine.id === victim.id);
    const killAfter = rng.between(3, 8);
    await waitFor(`${killAfter} tasks done on engine ${victim.id}`, () => onVictim.filter((t) => t.ar.ready()).length >= killAfter, {
      timeoutMs: 60000,
      intervalMs: 5,
    });
    const doneBefore = new Set(onVictim.filter((t) => t.ar.ready()).map((t) => t.i));
    process.kill(victim.pid, 'SIGKILL');
    await Promise.all(tasks.map((t) => t.ar.wait(60000)));

    const problems: string[] = [];
    const victimOk: number[] = [];
    const victimFailed: number[] = [];
    for (const t of tasks) {
      const got = await t.ar.then(
        (v) => ({ ok: true as const, v }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      if (t.engine.id !== victim.id) {
        if (!got.ok || got.v !== t.i * 3) problems.push(`engine ${t.engine.id} task ${t.i}: ${got.ok ? got.v : String(got.e)}`);
        continue;
      }
      if (got.ok) {
        if (got.v !== t.i * 3) problems.push(`victim task ${t.i}: wrong result ${got.v}`);
        victimOk.push(t.i);
      } else {
        const e = got.e;
        if (!(e instanceof EngineError) || e.engineId !== victim.id || !new RegExp(`engine ${victim.id}\\b`).test(e.message)) {
          problems.push(`victim task ${t.i}: ${String(e)} is not an EngineError naming engine ${victim.id}`);
        }
        victimFailed.push(t.i);
      }
    }
    assert.deepEqual(problems, [], 'the tasks on the other engines all succeed; those on the killed one fail with EngineError');
    assert.ok(
      [...doneBefore].every((i) => victimOk.includes(i)),
      'tasks finished before the kill keep their results',
    );
    assert.ok(victimFailed.length > 0, 'the killed engine had tasks left, and they failed');
    assert.ok(
      Math.max(...victimOk) < Math.min(...victimFailed),
      `the killed engine's successes are those it finished first (ok ${victimOk.join(',')}; failed ${victimFailed.join(',')})`,
    );
    assert.equal(victimOk.length + victimFailed.length, PER);

    // replace it for whatever runs next
    await waitUnregistered(victim);
    for (const p of await cluster.addEngines(1)) pids.add(p);
    assert.equal(rc.ids.length, 3);
    assert.deepEqual(
      await rc.loadBalancedView().map((x: number) => x + 1, range(30)),
      range(30).map((x) => x + 1),
    );
  });
});

describe('tasks that misbehave (engines with a 256 MB heap)', () => {
  let cluster: Cluster | undefined;
  let rc: Client;
  let engine: EngineInfo;
  const events: EngineEvent[] = [];

  before(async () => {
    const saved = process.env.TSCLUSTER_NODE_ARGS;
    process.env.TSCLUSTER_NODE_ARGS = '--max-old-space-size=256';
    try {
      cluster = await Cluster.start({ n: 1, profile: 'smallheap' });
    } finally {
      if (saved === undefined) delete process.env.TSCLUSTER_NODE_ARGS;
      else process.env.TSCLUSTER_NODE_ARGS = saved;
    }
    rc = await cluster.connect();
    await rc.waitForEngines(1, { timeoutMs: 30000 });
    engine = rc.engines[0]!;
    rc.onEngine((e) => events.push(e));
  });

  after(async () => {
    await stopCluster(cluster);
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
    const err = await rc
      .directView(engine.id)
      .apply(() => process.exit(3))
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof WorkerExited, String(err));
    assert.equal(err.ename, 'WorkerExited');
    assert.match(err.message, /process\.exit\(3\)/);
    assert.match(err.message, /stays registered/);
    await assertEngineServes('after process.exit()');
  });

  test('a task that exhausts memory fails with a clear error; the engine stays', async () => {
    const err = await rc
      .directView(engine.id)
      .apply(() => {
        const hold: number[][] = [];
        for (;;) hold.push(new Array<number>(1e6).fill(1.5));
      })
      .get({ timeoutMs: 120000 })
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof WorkerExited, String(err));
    assert.equal(err.ename, 'WorkerExited');
    assert.match(err.message, /out of memory/);
    await assertEngineServes('after running out of memory');
  });

  test('a task that throws a non-Error value fails with an error showing the value; the engine stays', async () => {
    const err = await rc
      .directView(engine.id)
      .apply(() => {
        throw { code: 42 };
      })
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof RemoteError, String(err));
    assert.match(err.message, /code: 42/);
    assert.match(err.message, /non-Error/);
    await assertEngineServes('after a thrown non-Error');
  });

  test('a task that returns a value that cannot travel fails with SerializationError naming where it sits; the engine stays', async () => {
    const fn = await rc
      .directView(engine.id)
      .apply(() => ({ ok: 1, callback: () => 1 }))
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e,
      );
    assert.ok(fn instanceof SerializationError, String(fn));
    assert.equal(fn.path, 'result.callback');
    assert.equal(fn.typeName, 'function');
    const weak = await rc
      .directView(engine.id)
      .apply(() => [1, new WeakMap<object, number>()])
      .then(
        () => assert.fail('must fail'),
        (e: unknown) => e,
      );
    assert.ok(weak instanceof SerializationError, String(weak));
    assert.equal(weak.path, 'result[1]');
    assert.equal(weak.typeName, 'WeakMap');
    assert.match(weak.message, /result\[1\]/);
    await assertEngineServes('after unserializable results');
  });
});

describe('controller loss', () => {
  test('SIGKILL of the controller: a pending call rejects with ConnectionLost within 10 s; engines exit by themselves; list shows it dead; `tscluster stop` cleans up', async () => {
    const profile = 'lost';
    const known = new Set<number>();
    try {
      const r = await runCli(['start', '-n', '2', '--daemon', '--profile', profile], { timeoutMs: 90000 });
      for (const p of statePids(profile)) known.add(p);
      assert.equal(r.code, 0, show(r));
      const state = readState(root, profile);
      assert.ok(state);
      const rc = await Client.connect({ profile, timeoutMs: 10000 });
      const pending = rc.loadBalancedView().apply(() => {
        console.log('started');
        return new Promise((res) => setTimeout(res, 60000));
      });
      await waitFor('the long task to start', () => pending.stdout.includes('started'), { timeoutMs: 30000 });

      process.kill(state.controller_pid, 'SIGKILL');
      const t0 = Date.now();
      const err = await pending.get({ timeoutMs: 15000 }).then(
        () => assert.fail('the pending call must not succeed'),
        (e: unknown) => e,
      );
      const ms = Date.now() - t0;
      assert.ok(err instanceof ConnectionLost, `ConnectionLost expected, got ${String(err)}`);
      assert.ok(ms < 10000, `rejected after ${ms} ms`);
      assert.throws(() => rc.loadBalancedView().apply(() => 1), ConnectionLost, 'a new call on the lost client fails at once');
      await rc.close();

      const left = await waitGone(state.engine_pids, 20000);
      assert.deepEqual(left, [], 'the engines exit by themselves (they give up on a controller silent for 10 s)');
      await waitFor(`controller pid ${state.controller_pid} reaped`, () => pidGone(state.controller_pid));

      const row = (await listJson()).find((x) => x.profile === profile);
      assert.ok(row, 'the dead cluster is listed');
      assert.equal(row.state, 'dead');
      assert.equal(row.controllerPid, state.controller_pid);

      const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, show(stopped));
      assertNoConnectionFiles(profile);
      assert.equal(existsSync(stateFilePath(root, profile)), false, 'the state file is removed');
      assert.equal(
        (await listJson()).find((x) => x.profile === profile),
        undefined,
        'no longer listed',
      );
    } finally {
      for (const p of statePids(profile)) known.add(p);
      await killAll([...known]);
    }
  });
});

describe('clean shutdown', () => {
  test('`tscluster stop` leaves no process and no connection file', async () => {
    const profile = 'clean-stop';
    const known = new Set<number>();
    try {
      const r = await runCli(['start', '-n', '2', '--daemon', '--profile', profile], { timeoutMs: 90000 });
      for (const p of statePids(profile)) known.add(p);
      assert.equal(r.code, 0, show(r));
      const rc = await Client.connect({ profile, timeoutMs: 10000 });
      for (const e of rc.engines) known.add(e.pid);
      assert.deepEqual(await rc.loadBalancedView().map((x: number) => -x, [1, 2]), [-1, -2]);
      await rc.close();
      assert.equal(known.size, 3);
      const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, show(stopped));
      await assertAllGone([...known], 'after `tscluster stop`');
      assertNoConnectionFiles(profile);
      assert.equal(existsSync(stateFilePath(root, profile)), false);
    } finally {
      for (const p of statePids(profile)) known.add(p);
      await killAll([...known]);
    }
  });

  test('Ctrl-C (SIGINT) on a foreground `tscluster start` leaves no process and no connection file', async () => {
    const profile = 'clean-sigint';
    const known = new Set<number>();
    const child = spawn(process.execPath, [CLI, 'start', '-n', '2', '--profile', profile], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new OutputWatcher(child.stdout);
    const err = new OutputWatcher(child.stderr);
    known.add(child.pid!);
    try {
      await out.waitForLine(/press Ctrl-C/, child, 90000, err);
      for (const p of statePids(profile)) known.add(p);
      assert.equal(known.size, 4, 'the cli, a controller and 2 engines');
      child.kill('SIGINT');
      const code = await waitExit(child, 30000);
      assert.equal(code, 0, `exit code\nstdout:\n${out.text}\nstderr:\n${err.text}`);
      assert.match(out.text, /stopped/);
      await assertAllGone([...known], 'after Ctrl-C');
      assertNoConnectionFiles(profile);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const p of statePids(profile)) known.add(p);
      await killAll([...known]);
    }
  });

  test('a client process that exits without closing has no effect on the cluster; cluster.stop() then leaves no process and no connection file', async () => {
    const profile = 'clean-code';
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ n: 2, profile, shutdownAtExit: false });
      const rc = await cluster.connect();
      const engines = rc.engines.map((e) => [e.id, e.pid]);
      const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'client-exit.mjs'), profile], {
        cwd: ROOT,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = new OutputWatcher(child.stdout);
      const err = new OutputWatcher(child.stderr);
      try {
        assert.equal(await waitExit(child, 60000), 0, `the client script\nstdout:\n${out.text}\nstderr:\n${err.text}`);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await assertAllGone([child.pid!], 'the client script');
      }
      assert.deepEqual(JSON.parse(out.text.trim()), { result: [2, 3, 4], engines: 2 });

      // nothing changed: same engines, the controller serves, the gone client is forgotten, its task finished
      assert.equal(pidGone(cluster.controllerPid), false);
      assert.deepEqual(
        rc.engines.map((e) => [e.id, e.pid]),
        engines,
      );
      assert.deepEqual(
        await rc.loadBalancedView().map((x: number) => x * 5, range(20)),
        range(20).map((x) => x * 5),
      );
      await waitFor(
        'the controller to forget the gone client and finish its task',
        async () => {
          const s = await rc.stats();
          return s.clients === 1 && s.tasks.pending === 0 && s.engines === 2;
        },
        { timeoutMs: 15000, intervalMs: 200 },
      );

      const c = cluster;
      cluster = undefined;
      await stopCluster(c);
      assertNoConnectionFiles(profile);
      assert.equal(existsSync(stateFilePath(root, profile)), false, 'the state file is removed');
    } finally {
      await stopCluster(cluster);
    }
  });

  test('a cluster started by a script that is SIGKILLed stops by itself within a few seconds (its controller watches the starting process)', async () => {
    const profile = 'owner-killed';
    const known = new Set<number>();
    const child = spawn(process.execPath, [join(ROOT, 'test', 'fixtures', 'start-cluster.mjs'), profile, 'wait'], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = new OutputWatcher(child.stdout);
    const err = new OutputWatcher(child.stderr);
    known.add(child.pid!);
    try {
      const line = await out.waitForLine(/controllerPid/, child, 60000, err);
      const started = JSON.parse(line) as { controllerPid: number; enginePids: number[] };
      for (const p of [started.controllerPid, ...started.enginePids]) known.add(p);
      child.kill('SIGKILL');
      await waitExit(child, 10000);
      await assertAllGone([started.controllerPid, ...started.enginePids], 'the cluster of the SIGKILLed script', 10000);
      assertNoConnectionFiles(profile);
      const row = (await listJson()).find((r) => r.profile === profile);
      assert.notEqual(row?.state, 'running', 'not listed as running');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const p of statePids(profile)) known.add(p);
      await killAll([...known]);
    }
  });
});
