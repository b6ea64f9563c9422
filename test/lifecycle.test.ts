/**
 * Cluster lifecycle through the `tscluster` command line and from code:
 * daemon start, list, engines, stop; a controller killed under its engines;
 * --help; profiles; Cluster.start / cluster.stop.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { Client, Cluster, NoEnginesRegistered } from '../index.js';
import { procCmdline } from '../util/proc.js';
import {
  CLI,
  OutputWatcher,
  ROOT,
  assertAllGone,
  assertNoConnectionFiles,
  connectionFile,
  killAll,
  listJson,
  waitExit,
  pidGone,
  readState,
  runCli,
  showResult,
  stateFilePath,
  stopCluster,
  tempRootForFile,
  waitFor,
  waitGone,
} from './support/index.js';
import type { StateFile } from './support/index.js';

const root = tempRootForFile('lifecycle');

describe('the tscluster command line', () => {
  test('start --daemon, list, engines -n 1, stop: no process or connection file left', async () => {
    const known = new Set<number>();
    const remember = (): void => {
      const s = readState(root);
      if (s) for (const p of [s.controller_pid, ...s.engine_pids]) known.add(p);
    };
    try {
      const started = await runCli(['start', '-n', '2', '--daemon'], { timeoutMs: 90000 });
      remember();
      assert.equal(started.code, 0, showResult(started));
      assert.match(started.stdout, /cluster ready/);
      const state = readState(root);
      assert.ok(state, 'a state file with the pids');
      assert.equal(state.engine_pids.length, 2);

      // it returned after the engines registered: a client sees both at once
      const rc = await Client.connect({ timeoutMs: 10000 });
      try {
        assert.equal(rc.ids.length, 2);
        assert.deepEqual(new Set(rc.engines.map((e) => e.pid)), new Set(state.engine_pids));
        assert.equal(rc.cluster.controllerPid, state.controller_pid);
        assert.deepEqual(await rc.loadBalancedView().map((x: number) => x - 1, [1, 2, 3]), [0, 1, 2]);
      } finally {
        await rc.close();
      }
      for (const kind of ['client', 'engine'] as const) {
        const mode = statSync(connectionFile(root, kind)).mode & 0o777;
        assert.equal(mode, 0o600, `${kind} connection file mode ${mode.toString(8)}`);
      }
      const dirMode = statSync(dirname(connectionFile(root, 'client'))).mode & 0o777;
      assert.equal(dirMode, 0o700, `security directory mode ${dirMode.toString(8)}`);

      const rows = await listJson();
      assert.equal(rows.length, 1, JSON.stringify(rows));
      assert.deepEqual(
        {
          profile: rows[0]!.profile,
          clusterId: rows[0]!.clusterId,
          controllerPid: rows[0]!.controllerPid,
          engines: rows[0]!.engines,
          state: rows[0]!.state,
        },
        { profile: 'default', clusterId: '', controllerPid: state.controller_pid, engines: 2, state: 'running' },
      );
      assert.ok(rows[0]!.dropped !== null && typeof rows[0]!.dropped === 'object', 'list --json carries the dropped counts of a running cluster');
      const table = await runCli(['list'], { timeoutMs: 30000 });
      assert.equal(table.code, 0, showResult(table));
      assert.match(table.stdout, new RegExp(`default\\s+-\\s+${state.controller_pid}\\s+2\\s+running`));

      const added = await runCli(['engines', '-n', '1'], { timeoutMs: 90000 });
      remember();
      assert.equal(added.code, 0, showResult(added));
      const rows2 = await listJson();
      assert.equal(rows2.length, 1);
      assert.equal(rows2[0]!.engines, 3);
      assert.equal(rows2[0]!.state, 'running');

      // every pid read BEFORE stopping: the state file's, plus the pids the engines report
      const before = readState(root);
      assert.ok(before);
      assert.equal(before.engine_pids.length, 3, 'the state file lists the added engine');
      const rc2 = await Client.connect({ timeoutMs: 10000 });
      const enginePids = rc2.engines.map((e) => e.pid);
      await rc2.close();
      assert.equal(enginePids.length, 3);
      const newEngine = enginePids.find((p) => !state.engine_pids.includes(p));
      assert.ok(newEngine !== undefined && before.engine_pids.includes(newEngine), 'the new engine is in the state file');
      const all = [before.controller_pid, ...before.engine_pids, ...enginePids];
      for (const p of all) known.add(p);

      const stopped = await runCli(['stop'], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, showResult(stopped));
      await assertAllGone(all, 'after `tscluster stop`');
      assertNoConnectionFiles(root);

      assert.deepEqual(await listJson(), []);
      const empty = await runCli(['list'], { timeoutMs: 30000 });
      assert.equal(empty.code, 0, showResult(empty));
      assert.match(empty.stdout, /no clusters/);
    } finally {
      await killAll([...known]);
    }
  });

  test("a cluster whose controller was SIGKILLed shows as 'dead'; `tscluster stop` ends its engines and cleans its files", async () => {
    const profile = 'crash';
    const clusterId = 'k1';
    const known = new Set<number>();
    try {
      // the bare controller: a supervised one would be restarted (test/supervisor.test.ts)
      const started = await runCli(['start', '-n', '2', '--daemon', '--no-supervise', '--profile', profile, '--cluster-id', clusterId], {
        timeoutMs: 90000,
      });
      const state = readState(root, profile, clusterId);
      if (state) for (const p of [state.controller_pid, ...state.engine_pids]) known.add(p);
      assert.equal(started.code, 0, showResult(started));
      assert.ok(state);
      assert.ok(existsSync(connectionFile(root, 'client', profile, clusterId)));

      process.kill(state.controller_pid, 'SIGKILL');
      // the controller is not our child: wait until it has been reaped
      await waitFor(`controller pid ${state.controller_pid} gone`, () => pidGone(state.controller_pid), { timeoutMs: 10000 });

      const rows = await listJson();
      const row = rows.find((r) => r.profile === profile && r.clusterId === clusterId);
      assert.ok(row, JSON.stringify(rows));
      assert.equal(row.state, 'dead');
      assert.equal(row.controllerPid, state.controller_pid);
      const table = await runCli(['list'], { timeoutMs: 30000 });
      assert.match(table.stdout, new RegExp(`${profile}\\s+${clusterId}\\s+${state.controller_pid}\\s+-\\s+dead`));

      const stopped = await runCli(['stop', '--profile', profile, '--cluster-id', clusterId], { timeoutMs: 30000 });
      assert.equal(stopped.code, 0, showResult(stopped));
      await assertAllGone(state.engine_pids, 'engines after `tscluster stop` of a dead cluster');
      assertNoConnectionFiles(root, profile, clusterId);
      assert.equal(existsSync(stateFilePath(root, profile, clusterId)), false, 'the state file is removed');
      assert.deepEqual(
        (await listJson()).filter((r) => r.profile === profile),
        [],
      );
    } finally {
      await killAll([...known]);
    }
  });

  test('two clusters side by side (same profile, two cluster ids) are independent; `stop --all` stops both', async () => {
    const profile = 'side';
    const ids = ['one', 'two'];
    const known = new Set<number>();
    try {
      for (const id of ids) {
        const r = await runCli(['start', '-n', '1', '--daemon', '--profile', profile, '--cluster-id', id], { timeoutMs: 90000 });
        const st = readState(root, profile, id);
        if (st) for (const p of [st.controller_pid, ...st.engine_pids]) known.add(p);
        assert.equal(r.code, 0, showResult(r));
      }
      const [a, b] = ids.map((id) => readState(root, profile, id)) as [StateFile | undefined, StateFile | undefined];
      assert.ok(a && b);
      assert.notEqual(a.controller_pid, b.controller_pid);
      for (const [id, st] of [
        [ids[0]!, a],
        [ids[1]!, b],
      ] as const) {
        const rc = await Client.connect({ profile, clusterId: id, timeoutMs: 10000 });
        try {
          assert.equal(rc.cluster.controllerPid, st.controller_pid);
          assert.deepEqual(
            rc.engines.map((e) => e.pid),
            st.engine_pids,
            `the client of cluster '${id}' sees only its own engine`,
          );
          assert.deepEqual(await rc.loadBalancedView().apply(() => process.pid), st.engine_pids[0]);
        } finally {
          await rc.close();
        }
      }
      const rows = (await listJson()).filter((r) => r.profile === profile);
      assert.deepEqual(
        rows.map((r) => [r.clusterId, r.state, r.engines]),
        [
          ['one', 'running', 1],
          ['two', 'running', 1],
        ],
      );

      const stopped = await runCli(['stop', '--all'], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, showResult(stopped));
      await assertAllGone([a.controller_pid, ...a.engine_pids, b.controller_pid, ...b.engine_pids], 'after `tscluster stop --all`');
      for (const id of ids) assertNoConnectionFiles(root, profile, id);
      assert.deepEqual(await listJson(), []);
    } finally {
      await killAll([...known]);
    }
  });

  test('Ctrl-C (SIGINT) while a foreground `tscluster start` is still starting stops everything it started', async () => {
    const profile = 'interrupted';
    const known = new Set<number>();
    const remember = (): void => {
      const st = readState(root, profile);
      if (st) for (const p of [st.controller_pid, ...st.engine_pids]) known.add(p);
    };
    const child = spawn(process.execPath, [CLI, 'start', '-n', '4', '--profile', profile], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new OutputWatcher(child.stdout);
    const err = new OutputWatcher(child.stderr);
    try {
      // the first engine has registered, the cluster is not ready yet: the user presses Ctrl-C
      await out.waitForLine(/engine \d+ registered/, child, 60000, err);
      remember();
      child.kill('SIGINT');
      const code = await waitExit(child, 30000);
      remember();
      assert.ok(known.size >= 5, `the state file names the controller and 4 engines: ${[...known].join(', ')}`);
      await assertAllGone([...known], `after SIGINT during start-up (start exited with ${code}; stdout: ${JSON.stringify(out.text)})`);
      assertNoConnectionFiles(root, profile);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      remember();
      await killAll([...known]);
    }
  });

  test('--help of every command exits 0 and prints Usage', async () => {
    const commands = [[], ['start'], ['stop'], ['list'], ['engines'], ['profile'], ['controller'], ['engine'], ['repl']];
    const results = await Promise.all(commands.map((c) => runCli([...c, '--help'], { timeoutMs: 30000 })));
    results.forEach((r, i) => {
      const cmd = ['tscluster', ...commands[i]!, '--help'].join(' ');
      assert.equal(r.code, 0, `${cmd}: ${showResult(r)}`);
      assert.match(r.stdout, /Usage/, `${cmd} prints Usage`);
    });
    const short = await runCli(['start', '-h'], { timeoutMs: 30000 });
    assert.equal(short.code, 0);
    assert.match(short.stdout, /Usage: tscluster start/);
  });

  test('profile create, list and locate', async () => {
    const created = await runCli(['profile', 'create', 'big'], { timeoutMs: 30000 });
    assert.equal(created.code, 0, showResult(created));
    const dir = join(root, 'profile_big');
    const config = JSON.parse(readFileSync(join(dir, 'tscluster.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(typeof config, 'object');
    const again = await runCli(['profile', 'create', 'big'], { timeoutMs: 30000 });
    assert.equal(again.code, 0, showResult(again));
    const listed = await runCli(['profile', 'list'], { timeoutMs: 30000 });
    assert.equal(listed.code, 0);
    assert.ok(listed.stdout.split('\n').includes('big'), listed.stdout);
    const located = await runCli(['profile', 'locate', 'big'], { timeoutMs: 30000 });
    assert.equal(located.code, 0);
    assert.equal(located.stdout.trim(), dir);
  });
});

describe('from code', () => {
  test('Cluster.start then cluster.stop() leaves no process and no files', async () => {
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ n: 2, profile: 'code', shutdownAtExit: false });
      const pids = [cluster.controllerPid, ...cluster.enginePids];
      assert.equal(cluster.enginePids.length, 2);
      for (const p of pids) assert.equal(pidGone(p), false, `pid ${p} runs`);
      assert.equal(cluster.connectionFile, connectionFile(root, 'client', 'code'));
      // engines start from the one-file bundle that `npm run build` makes (tools/bundle-engine.js)
      const bundle = join(ROOT, 'dist', 'bundle', 'engine.js');
      for (const p of cluster.enginePids) assert.ok(procCmdline(p).includes(bundle), `engine ${p} runs ${procCmdline(p)}`);
      const rc = await cluster.connect();
      assert.deepEqual(await rc.loadBalancedView().map((x: number) => x * 10, [1, 2]), [10, 20]);
      // engines added later are stopped too
      const added = await cluster.addEngines(1);
      assert.equal(added.length, 1);
      assert.deepEqual(cluster.enginePids.slice(2), added);
      assert.equal(rc.ids.length, 3);
      assert.ok(rc.engines.some((e) => e.pid === added[0]));
      assert.deepEqual(await rc.directView().apply(() => 'up'), ['up', 'up', 'up']);
      const c = cluster;
      cluster = undefined;
      await stopCluster(c);
      assertNoConnectionFiles(root, 'code');
      assert.equal(existsSync(stateFilePath(root, 'code')), false, 'the state file is removed');
    } finally {
      await stopCluster(cluster);
    }
  });

  test('a cluster with no engines: views raise NoEnginesRegistered; engines added later serve; rc.shutdown({ hub: true }) stops everything', async () => {
    let cluster: Cluster | undefined;
    const pids: number[] = [];
    try {
      cluster = await Cluster.start({ n: 0, profile: 'empty', shutdownAtExit: false });
      pids.push(cluster.controllerPid);
      const rc = await Client.connect({ profile: 'empty', timeoutMs: 10000 });
      assert.deepEqual(rc.ids, []);
      assert.throws(() => rc.loadBalancedView().apply(() => 1), NoEnginesRegistered);
      assert.throws(() => rc.directView().apply(() => 1), NoEnginesRegistered);
      const events: string[] = [];
      rc.onEngine((e) => events.push(`${e.type} ${e.engine.id}`));
      const added = await cluster.addEngines(2);
      pids.push(...added);
      await rc.waitForEngines(2, { timeoutMs: 10000 });
      assert.deepEqual(events.sort(), ['registered 0', 'registered 1']);
      assert.deepEqual(await rc.loadBalancedView().map((x: number) => x + 1, [1, 2, 3]), [2, 3, 4]);

      await rc.shutdown({ hub: true });
      await assertAllGone(pids, 'after rc.shutdown({ hub: true })');
      assertNoConnectionFiles(root, 'empty');
      const c = cluster;
      cluster = undefined;
      await stopCluster(c);
    } finally {
      await stopCluster(cluster, pids);
    }
  });

  for (const how of ['process.exit()', 'SIGINT'] as const) {
    test(`with shutdownAtExit (the default), a script that started a cluster and ends by ${how} leaves no process`, async () => {
      const profile = how === 'SIGINT' ? 'atexit-signal' : 'atexit-exit';
      const script = join(ROOT, 'test', 'fixtures', 'start-cluster.mjs');
      const child = spawn(process.execPath, [script, profile, how === 'SIGINT' ? 'wait' : 'exit'], {
        cwd: ROOT,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = new OutputWatcher(child.stdout);
      const err = new OutputWatcher(child.stderr);
      const pids: number[] = [];
      try {
        const line = await out.waitForLine(/controllerPid/, child, 60000, err).catch((e: unknown) => {
          const st = readState(root, profile);
          if (st) pids.push(st.controller_pid, ...st.engine_pids);
          throw e;
        });
        const started = JSON.parse(line) as { controllerPid: number; enginePids: number[] };
        pids.push(started.controllerPid, ...started.enginePids);
        assert.equal(started.enginePids.length, 1);
        if (how === 'SIGINT') child.kill('SIGINT');
        const code = await waitExit(child, 30000);
        await assertAllGone(pids, `after the script ended by ${how} (exit ${code})`);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await killAll(pids);
      }
    });
  }

  test('engines of a SIGKILLed controller exit by themselves; cluster.stop() then cleans up without waiting on them', async () => {
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ n: 2, profile: 'orphans', shutdownAtExit: false, supervise: false });
      const engines = cluster.enginePids;
      process.kill(cluster.controllerPid, 'SIGKILL');
      // engines give up on a controller silent for 10 s (README, Reliability)
      const left = await waitGone(engines, 30000);
      assert.deepEqual(left, [], `engines still running 30 s after their controller died: ${left.join(', ')}`);
      const c = cluster;
      cluster = undefined;
      await stopCluster(c);
      assertNoConnectionFiles(root, 'orphans');
    } finally {
      await stopCluster(cluster);
    }
  });
});
