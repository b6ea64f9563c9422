/**
 * Losing and stopping clusters: the controller SIGKILLed under a pending call
 * (ConnectionLost, engines exit by themselves, `tscluster list` shows it dead,
 * `tscluster stop` cleans up), and every way of stopping a cluster, or of
 * leaving one, leaves no process and no connection file behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Client, Cluster, ConnectionLost } from '../index.js';
import {
  CLI,
  OutputWatcher,
  ROOT,
  assertAllGone,
  assertNoConnectionFiles,
  killAll,
  listJson,
  pidGone,
  range,
  readState,
  runCli,
  showResult,
  stateFilePath,
  statePids,
  stopCluster,
  tempRootForFile,
  waitExit,
  waitFor,
  waitGone,
} from './support/index.js';

const root = tempRootForFile('faults-shutdown');

describe('controller loss', () => {
  test('SIGKILL of the controller: a pending call rejects with ConnectionLost within 10 s; engines exit by themselves; list shows it dead; `tscluster stop` cleans up', async () => {
    const profile = 'lost';
    const known = new Set<number>();
    try {
      // the bare controller: a supervised one would be restarted (test/supervisor.test.ts)
      const r = await runCli(['start', '-n', '2', '--daemon', '--no-supervise', '--profile', profile], { timeoutMs: 90000 });
      for (const p of statePids(root, profile)) known.add(p);
      assert.equal(r.code, 0, showResult(r));
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
      assert.equal(stopped.code, 0, showResult(stopped));
      assertNoConnectionFiles(root, profile);
      assert.equal(existsSync(stateFilePath(root, profile)), false, 'the state file is removed');
      assert.equal(
        (await listJson()).find((x) => x.profile === profile),
        undefined,
        'no longer listed',
      );
    } finally {
      for (const p of statePids(root, profile)) known.add(p);
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
      for (const p of statePids(root, profile)) known.add(p);
      assert.equal(r.code, 0, showResult(r));
      const rc = await Client.connect({ profile, timeoutMs: 10000 });
      for (const e of rc.engines) known.add(e.pid);
      assert.deepEqual(await rc.loadBalancedView().map((x: number) => -x, [1, 2]), [-1, -2]);
      await rc.close();
      assert.equal(known.size, 4, 'the supervisor, its controller and 2 engines');
      const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, showResult(stopped));
      await assertAllGone([...known], 'after `tscluster stop`');
      assertNoConnectionFiles(root, profile);
      assert.equal(existsSync(stateFilePath(root, profile)), false);
    } finally {
      for (const p of statePids(root, profile)) known.add(p);
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
      for (const p of statePids(root, profile)) known.add(p);
      assert.equal(known.size, 5, "the cli, the controller's supervisor, the controller and 2 engines");
      child.kill('SIGINT');
      const code = await waitExit(child, 30000);
      assert.equal(code, 0, `exit code\nstdout:\n${out.text}\nstderr:\n${err.text}`);
      assert.match(out.text, /stopped/);
      await assertAllGone([...known], 'after Ctrl-C');
      assertNoConnectionFiles(root, profile);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const p of statePids(root, profile)) known.add(p);
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
      assertNoConnectionFiles(root, profile);
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
      assertNoConnectionFiles(root, profile);
      const row = (await listJson()).find((r) => r.profile === profile);
      assert.notEqual(row?.state, 'running', 'not listed as running');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const p of statePids(root, profile)) known.add(p);
      await killAll([...known]);
    }
  });
});
