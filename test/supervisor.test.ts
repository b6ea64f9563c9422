/**
 * The controller's supervisor (controller/supervisor.ts): a SIGKILLed
 * controller comes back within 2 s on the same ports with the same key and
 * serves clients; stopping after a restart leaves no process; more than five
 * crashes within a minute make it give up (exit non-zero, files removed); its
 * own death stops the cluster; `--no-supervise` starts the bare controller.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Client, Cluster } from '../index.js';
import { ensureProfile, logPath, runningCluster } from '../profiles/index.js';
import {
  DIST,
  assertAllGone,
  assertNoConnectionFiles,
  killAll,
  pidGone,
  readConnectionFile,
  readState,
  runCli,
  showResult,
  stateFilePath,
  tempRootForFile,
  waitExit,
  waitFor,
} from './support/index.js';
import type { ConnectionFileJson } from './support/index.js';

const root = tempRootForFile('supervisor');
const SUPERVISOR = join(DIST, 'controller', 'supervisor.js');

/** The parent pid of a process, from /proc. */
function ppidOf(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The client connection file once it names a live controller other than `not`. */
function liveFile(profile: string, not: number): ConnectionFileJson | false {
  try {
    const f = readConnectionFile(root, 'client', profile);
    return f.controller_pid !== not && !pidGone(f.controller_pid) && f;
  } catch {
    return false;
  }
}

/** SIGKILL the controller the client file names; resolves with the file the restarted one wrote, and how long that took. */
async function killController(profile: string, known: Set<number>): Promise<{ before: ConnectionFileJson; after: ConnectionFileJson; ms: number }> {
  const before = readConnectionFile(root, 'client', profile);
  const t0 = Date.now();
  process.kill(before.controller_pid, 'SIGKILL');
  const after = await waitFor(`a new controller in ${profile}'s connection file`, () => liveFile(profile, before.controller_pid), {
    timeoutMs: 5000,
    intervalMs: 10,
  });
  known.add(after.controller_pid);
  return { before, after, ms: Date.now() - t0 };
}

function controllerLog(profile: string): string {
  return readFileSync(join(root, `profile_${profile}`, 'log', 'tscluster-controller.log'), 'utf8');
}

describe('a supervised controller', () => {
  test('SIGKILLed, it is restarted within 2 s on the same ports with the same key and serves a client; cluster.stop() then leaves no process', async () => {
    const profile = 'restart';
    const known = new Set<number>();
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ n: 2, profile, shutdownAtExit: false });
      const supervisor = cluster.supervisorPid;
      assert.ok(supervisor !== null, 'the controller runs under a supervisor by default');
      for (const p of [supervisor, cluster.controllerPid, ...cluster.enginePids]) known.add(p);
      const first = readConnectionFile(root, 'client', profile);
      assert.equal(first.controller_pid, cluster.controllerPid);
      assert.equal(ppidOf(first.controller_pid), supervisor, 'the controller is the supervisor’s child');
      const engineFile = readConnectionFile(root, 'engine', profile);

      const { after, ms } = await killController(profile, known);
      assert.ok(ms < 2000, `restarted in ${ms} ms`);
      assert.equal(ppidOf(after.controller_pid), supervisor);
      assert.equal(after.port, first.port, 'the same client port');
      assert.equal(after.key, first.key, 'the same key');
      assert.equal(after.curve_serverkey, first.curve_serverkey);
      const engineAfter = readConnectionFile(root, 'engine', profile);
      assert.equal(engineAfter.port, engineFile.port, 'the same engine port');
      assert.equal(engineAfter.controller_pid, after.controller_pid);
      assert.equal(cluster.controllerPid, after.controller_pid, 'Cluster.controllerPid follows the restart');
      assert.match(
        controllerLog(profile),
        new RegExp(`restarted the controller \\(pid ${first.controller_pid} -> ${after.controller_pid}, signal SIGKILL, restart 1\\)`),
      );
      assert.match(controllerLog(profile), /restart 1 of the controller/);

      const rc = await Client.connect({ profile, timeoutMs: 10000 });
      try {
        const status = await rc.queueStatus();
        assert.equal(typeof status, 'object');
        assert.equal(rc.cluster.controllerPid, after.controller_pid);
      } finally {
        await rc.close();
      }
      const c = cluster;
      cluster = undefined;
      await c.stop();
      await assertAllGone([...known], 'after cluster.stop() of a restarted controller');
      assertNoConnectionFiles(root, profile);
      assert.equal(existsSync(stateFilePath(root, profile)), false, 'the state file is removed');
    } finally {
      await cluster?.stop().catch(() => undefined);
      await killAll([...known]);
    }
  });

  test('`tscluster start --daemon`, the controller SIGKILLed: the cluster still runs (list), and `tscluster stop` leaves no process', async () => {
    const profile = 'cli';
    const known = new Set<number>();
    const remember = (): void => {
      const s = readState(root, profile);
      if (s) for (const p of [s.supervisor_pid ?? s.controller_pid, s.controller_pid, ...s.engine_pids]) known.add(p);
    };
    try {
      const started = await runCli(['start', '-n', '2', '--daemon', '--profile', profile], { timeoutMs: 90000 });
      remember();
      assert.equal(started.code, 0, showResult(started));
      assert.match(started.stdout, /the controller's supervisor/);
      const state = readState(root, profile);
      assert.ok(state?.supervisor_pid, 'the state file records the supervisor');
      const { before, after } = await killController(profile, known);
      assert.ok(runningCluster(profile, ''), 'running while its supervisor lives');
      assert.equal(after.port, before.port);

      const list = await runCli(['list', '--json'], { timeoutMs: 30000 });
      const row = (JSON.parse(list.stdout) as { profile: string; state: string; controllerPid: number }[]).find((r) => r.profile === profile);
      assert.deepEqual([row?.state, row?.controllerPid], ['running', after.controller_pid]);

      const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, showResult(stopped));
      assert.match(stopped.stdout, new RegExp(`controller pid ${after.controller_pid}`));
      await assertAllGone([...known], 'after `tscluster stop` of a restarted controller');
      assertNoConnectionFiles(root, profile);
    } finally {
      remember();
      await killAll([...known]);
    }
  });

  test('six crashes within a minute: the supervisor gives up, exits non-zero and removes the connection files', async () => {
    const profile = 'giveup';
    const known = new Set<number>();
    // started as the local launcher does, its output to the controller's log
    ensureProfile(profile);
    const log = openSync(logPath(profile, '', 'controller'), 'a', 0o600);
    const child = spawn(process.execPath, [SUPERVISOR, '--profile', profile, '--dashboard', 'off'], {
      env: process.env,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    assert.ok(child.pid !== undefined);
    known.add(child.pid);
    try {
      const first = await waitFor('the first controller', () => liveFile(profile, 0), { timeoutMs: 30000 });
      known.add(first.controller_pid);
      for (let i = 1; i <= 5; i++) {
        const { after } = await killController(profile, known);
        assert.equal(after.port, first.port);
        assert.match(controllerLog(profile), new RegExp(`restart ${i}\\)`));
      }
      process.kill(readConnectionFile(root, 'client', profile).controller_pid, 'SIGKILL');
      const code = await waitExit(child, 10000);
      assert.notEqual(code, 0, 'the supervisor exits non-zero');
      assert.match(controllerLog(profile), /giving up/);
      assertNoConnectionFiles(root, profile);
      await assertAllGone([...known], 'after the supervisor gave up');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await killAll([...known]);
    }
  });

  test('the supervisor SIGKILLed: its controller notices and stops the cluster (engines too); nothing is left', async () => {
    const profile = 'orphan';
    const known = new Set<number>();
    let cluster: Cluster | undefined;
    try {
      cluster = await Cluster.start({ n: 1, profile, shutdownAtExit: false });
      const supervisor = cluster.supervisorPid;
      assert.ok(supervisor !== null);
      for (const p of [supervisor, cluster.controllerPid, ...cluster.enginePids]) known.add(p);
      process.kill(supervisor, 'SIGKILL');
      await assertAllGone([cluster.controllerPid, ...cluster.enginePids], 'the controller and engines of a SIGKILLed supervisor', 10000);
      assertNoConnectionFiles(root, profile);
      const c = cluster;
      cluster = undefined;
      await c.stop();
    } finally {
      await cluster?.stop().catch(() => undefined);
      await killAll([...known]);
    }
  });

  test('--no-supervise starts the bare controller: no supervisor, and its death is final', async () => {
    const profile = 'bare';
    const known = new Set<number>();
    const remember = (): void => {
      const s = readState(root, profile);
      if (s) for (const p of [s.controller_pid, ...s.engine_pids]) known.add(p);
    };
    try {
      const started = await runCli(['start', '-n', '1', '--daemon', '--no-supervise', '--profile', profile], { timeoutMs: 90000 });
      remember();
      assert.equal(started.code, 0, showResult(started));
      const state = readState(root, profile);
      assert.ok(state);
      assert.equal(state.supervisor_pid, null);
      const file = readConnectionFile(root, 'client', profile);
      assert.equal(file.controller_pid, state.controller_pid, 'the recorded process is the controller');
      assert.doesNotMatch(readFileSync(`/proc/${ppidOf(file.controller_pid)}/cmdline`, 'utf8'), /supervisor/);
      process.kill(file.controller_pid, 'SIGKILL');
      await waitFor('the controller gone', () => pidGone(file.controller_pid));
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(readConnectionFile(root, 'client', profile).controller_pid, file.controller_pid, 'no new controller');
      assert.equal(runningCluster(profile, ''), undefined, 'the cluster is dead');
      const stopped = await runCli(['stop', '--profile', profile], { timeoutMs: 60000 });
      assert.equal(stopped.code, 0, showResult(stopped));
      await assertAllGone([...known], 'after `tscluster stop` of a dead bare controller');
      assertNoConnectionFiles(root, profile);
    } finally {
      remember();
      await killAll([...known]);
    }
  });
});
