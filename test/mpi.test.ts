/**
 * The mpi launcher on the real thing (Open MPI's mpiexec): the engines of a
 * launch are the ranks of one mpiexec job, and each reports its rank and the
 * job's size in `rc.engines`.
 *
 * Checks: `tscluster start --engines mpi` (4 and 16 ranks) through the CLI,
 * tasks on the ranks, `tscluster list`, `tscluster stop` ending mpiexec and
 * every rank; Cluster.start and cluster.addEngines with the mpi launcher; a
 * bad mpiexec argument and a missing mpiexec failing the start at once with
 * mpiexec's own message and the fix; Ctrl-C of a foreground start; and what
 * happens when a rank is SIGKILLed: Open MPI aborts the whole job (every other
 * rank is sent SIGTERM, mpiexec exits), the controller declares every engine
 * of it dead, tasks without retries fail with EngineError and tasks with
 * retries wait for engines and run on the next ones; with
 * `--mpi-arg=--enable-recovery` the other ranks live on and take the retried
 * task. An mpiexec SIGKILLed leaves its ranks running and registered (one
 * that writes to its output then dies of EPIPE: mpiexec read it); with their
 * controller killed too, `tscluster stop` ends them. That it finds them by the
 * mark of their job is checked on a stand-in for MPICH's mpiexec (Hydra), whose
 * ranks write to the log itself and so live on deterministically; the
 * stand-in also shows that an mpiexec that is not Open MPI gets none of its
 * flags and that ranks report PMI_RANK/PMI_SIZE.
 *
 * Every process of this file carries its TSCLUSTER_DIR, so "nothing left" is
 * checked over every process with it (mpiexec, ranks and any helper mpiexec
 * starts), not only the pids a test knows of.
 *
 * The Open MPI suite needs Open MPI (Debian: apt-get install -y openmpi-bin):
 * skipped with the reason without it, a failure with CI=true; the stand-in
 * suite needs only sh.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Client, Cluster, EngineError } from '../index.js';
import type { AsyncResult, EngineInfo } from '../index.js';
import { procStat } from '../util/proc.js';
import {
  CLI,
  assertAllGone,
  assertNoConnectionFiles,
  assertNoProcesses,
  describeGated,
  ensureGone,
  gate,
  listJson,
  pidGone,
  processesOf,
  range,
  runCli,
  runNode,
  showResult,
  sleep,
  spawnWatched,
  stateFilePath,
  tempRootForFile,
  waitExit,
  waitFor,
  waitGone,
  which,
} from './support/index.js';

const dir = tempRootForFile('mpi');

/** Open MPI's mpiexec on PATH: these tests read the environment it gives its ranks (OMPI_COMM_WORLD_*). */
const openMpi = gate({
  name: 'Open MPI',
  install: 'apt-get install -y openmpi-bin',
  probe: () => {
    if (which('mpiexec') === undefined) return "no 'mpiexec' on PATH";
    const r = spawnSync('mpiexec', ['--version'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) return `'mpiexec --version' failed: ${r.stderr.trim() || r.error?.message || `exit ${r.status ?? r.signal}`}`;
    return /Open MPI|OpenRTE/i.test(r.stdout + r.stderr) ? undefined : `mpiexec is not Open MPI's: ${r.stdout.trim().split('\n')[0] ?? ''}`;
  },
});

interface MpiRecord {
  launcher: 'mpi';
  n: number;
  job: string;
  processes: { pid: number }[];
  log: { path: string; offset: number };
}
interface State {
  controller: { processes: { pid: number }[] };
  engines: { launcher: string }[];
}

function state(profile: string): State {
  const p = stateFilePath(dir, profile);
  assert.ok(existsSync(p), `${p} exists`);
  return JSON.parse(readFileSync(p, 'utf8')) as State;
}

/** The mpi records of a cluster's state file. */
function mpiRecords(profile: string): MpiRecord[] {
  return state(profile).engines.filter((r) => r.launcher === 'mpi') as MpiRecord[];
}

/** Every process of this file's profiles still running (controllers, mpiexec, ranks, helpers), as "pid command". */
const ours = (): { pid: number; cmd: string }[] => processesOf(dir);

function profileConfig(profile: string, values: Record<string, unknown>): void {
  mkdirSync(join(dir, `profile_${profile}`), { recursive: true });
  writeFileSync(join(dir, `profile_${profile}`, 'tscluster.json'), JSON.stringify(values));
}

const ppidOf = (pid: number): number | undefined => procStat(pid)?.ppid;

/** Ranks by engine, sorted by rank: `[[rank, size], ...]`. */
const ranks = (engines: readonly EngineInfo[]): [number, number][] =>
  engines.map((e): [number, number] => [e.mpi?.rank ?? -1, e.mpi?.size ?? -1]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);

/** `tscluster start ... --daemon` through the CLI; its wall time and the "ready in" it printed. */
async function startCli(profile: string, args: string[]): Promise<{ ms: number; readyS: number; stdout: string }> {
  const r = await runNode(CLI, ['start', '--daemon', '--profile', profile, '--engines', 'mpi', ...args], {
    timeoutMs: 120_000,
    label: 'tscluster start',
  });
  assert.equal(r.code, 0, showResult(r));
  const ready = /cluster ready in ([\d.]+) s/.exec(r.stdout);
  assert.ok(ready, r.stdout);
  return { ms: r.ms, readyS: Number(ready[1]), stdout: r.stdout };
}

async function stopCli(profile: string): Promise<void> {
  const r = await runCli(['stop', '--profile', profile], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, showResult(r));
}

/** The outcome of a task: its value, or its error. */
function settle<T>(ar: AsyncResult<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return ar.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** A task that sleeps `ms`, then answers its engine's pid. */
const sleepy = (ms: number): Promise<number> => new Promise((res) => setTimeout(() => res(process.pid), ms));

/** Once every engine runs a task, SIGKILL the engine of MPI rank `rank`; returns it. */
async function killRankWhenBusy(rc: Client, rank: number): Promise<EngineInfo> {
  const n = rc.ids.length;
  await waitFor('a task on every engine', async () => Object.values((await rc.queueStatus()).engines).filter((q) => q.running === 1).length === n, {
    timeoutMs: 20_000,
  });
  const victim = rc.engines.find((e) => e.mpi?.rank === rank);
  assert.ok(victim, `an engine of rank ${rank}`);
  process.kill(victim.pid, 'SIGKILL');
  return victim;
}

/** Whatever a failed test left: stopped the way a user would, then anything still there is killed (and reported). */
async function cleanup(): Promise<void> {
  await runCli(['stop', '--all'], { timeoutMs: 60_000 }).catch(() => undefined);
  await assertNoProcesses(dir, 'after the mpi suite');
}

/**
 * A stand-in for MPICH's mpiexec (Hydra), which is not installed here: it
 * answers --version as Hydra does, refuses Open MPI's flags (anything before
 * `-n N`), starts N copies of the command with PMI_RANK and PMI_SIZE set, and
 * passes SIGTERM on to them.
 */
const FAKE_HYDRA = `#!/bin/sh
if [ "$1" = "--version" ]; then printf 'HYDRA build details:\n    Version:                                 4.0.2\n'; exit 0; fi
if [ "$1" != "-n" ]; then echo "[mpiexec@fake] unrecognized argument $1" >&2; exit 255; fi
n=$2; shift 2
pids=''
i=0
while [ $i -lt "$n" ]; do PMI_RANK=$i PMI_SIZE=$n "$@" & pids="$pids $!"; i=$((i + 1)); done
trap 'kill -TERM $pids 2>/dev/null' TERM INT
wait; wait
`;

/** The stand-in, written into this file's profile root; its path. */
function fakeHydra(): string {
  const fake = join(dir, 'fake-hydra-mpiexec');
  writeFileSync(fake, FAKE_HYDRA, { mode: 0o755 });
  return fake;
}

describe('mpi launcher with an mpiexec that is not Open MPI', () => {
  after(cleanup);

  test('a Hydra-like mpiexec: no Open MPI flags on its command line; each engine reports PMI_RANK/PMI_SIZE as its rank and size', async () => {
    const fake = fakeHydra();
    const cluster = await Cluster.start({ n: 3, profile: 'hydra', engines: { launcher: 'mpi', mpiexec: fake } });
    let running: number[];
    try {
      const rc = await cluster.connect();
      assert.deepEqual(
        ranks(rc.engines),
        [0, 1, 2].map((r) => [r, 3]),
      );
      const cmd = readFileSync(`/proc/${cluster.enginePids[0]!}/cmdline`, 'utf8').split('\0').join(' ');
      assert.ok(cmd.startsWith(`/bin/sh ${fake} -n 3 ${process.execPath} `), cmd);
      const seen = await rc.directView().apply(() => `${process.env.PMI_RANK}/${process.env.PMI_SIZE}`);
      assert.deepEqual(
        seen,
        rc.engines.map((e) => `${e.mpi?.rank}/3`),
      );
      running = ours().map((p) => p.pid);
      assert.equal(running.length, 1 + 1 + 1 + 3, "the controller's supervisor, the controller, the mpiexec stand-in, three ranks");
    } finally {
      await cluster.stop();
    }
    await assertAllGone(running, 'after cluster.stop()');
  });

  test('its mpiexec and the controller SIGKILLed, the ranks live on (their output goes to the log itself); tscluster stop finds them by the mark of their job and ends them', async () => {
    // the bare controller, SIGKILLed below (a supervised one would be restarted)
    await startCli('orphan-mark', ['-n', '2', '--mpiexec', fakeHydra(), '--no-supervise']);
    const mpiexec = mpiRecords('orphan-mark')[0]!.processes[0]!.pid;
    const controller = state('orphan-mark').controller.processes[0]!.pid;
    const rc = await Client.connect({ profile: 'orphan-mark' });
    const rankPids = rc.engines.map((e) => e.pid);
    await rc.close();
    assert.equal(rankPids.length, 2);
    process.kill(mpiexec, 'SIGKILL');
    process.kill(controller, 'SIGKILL');
    assert.deepEqual(await waitGone([mpiexec, controller], 5000), []);
    // nobody is left to tell them to stop; they would exit by themselves 10 s after their controller went silent
    const t0 = Date.now();
    assert.deepEqual(
      rankPids.filter((p) => pidGone(p)),
      [],
      'the ranks still run',
    );
    await stopCli('orphan-mark');
    const ms = Date.now() - t0;
    assert.deepEqual(await ensureGone(rankPids, 500), [], `the ranks ended by tscluster stop (${ms} ms)`);
    assert.ok(ms < 8000, `tscluster stop took ${ms} ms`);
    await assertNoProcesses(dir, 'after tscluster stop of the orphaned ranks', 1000);
  });
});

describeGated(openMpi, 'mpi launcher: engines as the ranks of one mpiexec job (Open MPI)', () => {
  after(cleanup);

  test('tscluster start -n 4 --engines mpi: ranks 0..3 of 4, one engine each; tasks run on them; list describes the launch; stop ends mpiexec and every rank', async () => {
    const started = await startCli('cli', ['-n', '4']);
    console.log(`# --engines mpi -n 4: tscluster start returned in ${started.ms} ms (cluster ready in ${started.readyS} s)`);
    const [rec, ...more] = mpiRecords('cli');
    assert.ok(rec && more.length === 0, 'one mpi launch recorded');
    assert.equal(rec.n, 4);
    const mpiexec = rec.processes[0]!.pid;
    assert.match(started.stdout, new RegExp(`mpi: 4 ranks of mpiexec \\(pid ${mpiexec}\\)`));
    // the recorded process is the controller's supervisor; the controller is its child, named by the connection file
    const supervisor = state('cli').controller.processes[0]!.pid;
    const rc = await Client.connect({ profile: 'cli' });
    const controller = rc.cluster.controllerPid;
    let running: { pid: number; cmd: string }[];
    try {
      const engines = rc.engines;
      assert.deepEqual(ranks(engines), [
        [0, 4],
        [1, 4],
        [2, 4],
        [3, 4],
      ]);
      // each engine is a rank mpiexec started (Open MPI starts the ranks of this host itself)
      for (const e of engines) assert.equal(ppidOf(e.pid), mpiexec, `engine ${e.id} (pid ${e.pid}) is a child of mpiexec`);
      const lb = rc.loadBalancedView();
      assert.deepEqual(
        await lb.map((x: number) => x * x, range(200)),
        range(200).map((x) => x * x),
      );
      // each engine runs with the rank it registered with
      const seen = await rc
        .directView()
        .apply(() => ({ pid: process.pid, rank: process.env.OMPI_COMM_WORLD_RANK, size: process.env.OMPI_COMM_WORLD_SIZE }));
      assert.deepEqual(
        seen,
        engines.map((e) => ({ pid: e.pid, rank: String(e.mpi?.rank), size: '4' })),
      );
      const row = (await listJson()).find((r) => r.profile === 'cli');
      assert.deepEqual(row?.launched, [
        `local: 1 process (pid ${supervisor}: the controller's supervisor)`,
        `mpi: 4 ranks of mpiexec (pid ${mpiexec})`,
      ]);
      // what runs: the supervisor, the controller, mpiexec and its 4 ranks, and whatever helpers mpiexec started (none are expected here)
      running = ours();
      const pids = running.map((p) => p.pid);
      const expected = [supervisor, controller, mpiexec, ...engines.map((e) => e.pid)];
      for (const p of expected) assert.ok(pids.includes(p), `pid ${p} runs`);
      const helpers = running.filter((p) => !expected.includes(p.pid));
      assert.deepEqual(helpers, [], 'no process besides the supervisor, the controller, mpiexec and the ranks');
    } finally {
      await rc.close();
    }
    await stopCli('cli');
    await assertAllGone(
      running.map((p) => p.pid),
      'after tscluster stop',
    );
    await assertNoProcesses(dir, 'after tscluster stop', 1000);
    assertNoConnectionFiles(dir, 'cli');
    assert.equal(existsSync(stateFilePath(dir, 'cli')), false);
  });

  test('tscluster start -n 16 --engines mpi: 16 ranks register; stop leaves nothing', async () => {
    const started = await startCli('sixteen', ['-n', '16']);
    console.log(`# --engines mpi -n 16: tscluster start returned in ${started.ms} ms (cluster ready in ${started.readyS} s)`);
    const rc = await Client.connect({ profile: 'sixteen' });
    try {
      assert.deepEqual(
        ranks(rc.engines),
        range(16).map((r) => [r, 16]),
      );
      assert.deepEqual(
        await rc.loadBalancedView().map((x: number) => x + 1, range(64)),
        range(64).map((x) => x + 1),
      );
    } finally {
      await rc.close();
    }
    await stopCli('sixteen');
    await assertNoProcesses(dir, 'after tscluster stop of 16 ranks');
  });

  test('Cluster.start({ engines: { launcher: mpi } }) and cluster.addEngines(2, mpi): two jobs of 2 ranks; stop leaves nothing', async () => {
    const cluster = await Cluster.start({ n: 2, profile: 'api', engines: { launcher: 'mpi' } });
    let running: number[];
    try {
      const rc = await cluster.connect();
      assert.deepEqual(ranks(rc.engines), [
        [0, 2],
        [1, 2],
      ]);
      const [first] = cluster.enginePids;
      // as documented: --host=... (Open MPI 4 itself takes only `--host localhost:2`)
      const added = await cluster.addEngines(2, { engines: { launcher: 'mpi', mpiArgs: ['--host=localhost:2'] } });
      // the pids of this machine's processes a launch recorded: here its mpiexec
      assert.equal(added.length, 1);
      const second = added[0]!;
      assert.notEqual(second, first);
      assert.deepEqual(cluster.launched.slice(1), [`mpi: 2 ranks of mpiexec (pid ${first})`, `mpi: 2 ranks of mpiexec (pid ${second})`]);
      assert.equal(rc.engines.length, 4);
      // two jobs, each with ranks 0 and 1 of 2, each rank a child of its own mpiexec
      for (const job of [first, second]) {
        assert.deepEqual(ranks(rc.engines.filter((e) => ppidOf(e.pid) === job)), [
          [0, 2],
          [1, 2],
        ]);
      }
      const seen = await rc.directView().apply(() => `${process.env.OMPI_COMM_WORLD_RANK}/${process.env.OMPI_COMM_WORLD_SIZE}`);
      assert.deepEqual([...seen].sort(), ['0/2', '0/2', '1/2', '1/2']);
      running = ours().map((p) => p.pid);
      assert.equal(running.length, 1 + 1 + 2 + 4, "the controller's supervisor, the controller, two mpiexecs, four ranks");
    } finally {
      await cluster.stop();
    }
    await assertAllGone(running, 'after cluster.stop()');
    await assertNoProcesses(dir, 'after cluster.stop()', 1000);
  });

  test('a bad mpiexec argument or a missing mpiexec fails the start at once, quoting mpiexec and naming the fix; nothing is left', async () => {
    const t0 = Date.now();
    const bad = await runCli(['start', '-n', '4', '--engines', 'mpi', '--mpi-arg=--no-such-flag', '--daemon', '--profile', 'bad'], {
      timeoutMs: 60_000,
    });
    const ms = Date.now() - t0;
    assert.equal(bad.code, 1, showResult(bad));
    // mpiexec's own words, the command it ran, and what to change
    assert.match(bad.stderr, /unknown option "--no-such-flag"/, bad.stderr);
    assert.match(bad.stderr, /It ran: mpiexec .*--oversubscribe -n 4 --no-such-flag .*(bundle\/engine|engine\/main)\.js --file /);
    assert.match(bad.stderr, /fix its arguments \(--mpi-arg=ARG\) or the command \(--mpiexec CMD\)/);
    assert.ok(ms < 10_000, `the start failed within ${ms} ms`);
    console.log(`# a bad --mpi-arg fails the start in ${ms} ms`);
    await assertNoProcesses(dir, 'after the failed start', 2000);
    assertNoConnectionFiles(dir, 'bad');
    assert.equal(existsSync(stateFilePath(dir, 'bad')), false);

    const missing = join(dir, 'no-such-mpiexec');
    const none = await runCli(['start', '-n', '2', '--engines', 'mpi', '--mpiexec', missing, '--daemon', '--profile', 'bad'], { timeoutMs: 60_000 });
    assert.equal(none.code, 1, showResult(none));
    assert.match(none.stderr, new RegExp(`cannot run '${missing}' \\(not found\\)`));
    assert.match(none.stderr, /apt-get install -y openmpi-bin/);
    assert.match(none.stderr, /--mpiexec PATH/);
    await assertNoProcesses(dir, 'after the start without mpiexec', 2000);

    // from code: the same error, Cluster.start rejects and stops what it started
    await assert.rejects(
      Cluster.start({ n: 2, profile: 'bad', engines: { launcher: 'mpi', mpiArgs: ['--no-such-flag'] } }),
      (e: unknown) => e instanceof Error && /unknown option "--no-such-flag"/.test(e.message),
    );
    await assertNoProcesses(dir, 'after the failed Cluster.start', 2000);
  });

  test('Ctrl-C of a foreground tscluster start --engines mpi ends mpiexec and its ranks', async () => {
    const { child, out, err } = spawnWatched([CLI, 'start', '-n', '2', '--engines', 'mpi', '--profile', 'ctrlc']);
    try {
      await out.waitForLine(/press Ctrl-C/, child, 60_000, err);
      const running = ours().map((p) => p.pid);
      assert.equal(running.length, 1 + 1 + 1 + 1 + 2, "tscluster start, the controller's supervisor, the controller, mpiexec, two ranks");
      child.kill('SIGINT');
      assert.equal(await waitExit(child, 30_000), 0, `${out.text}\n${err.text}`);
      assert.match(out.text, /stopped/);
      await assertAllGone(running, 'after Ctrl-C');
      assertNoConnectionFiles(dir, 'ctrlc');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  test('a rank SIGKILLed: Open MPI aborts the job; every engine of it is declared dead; tasks without retries fail with EngineError, tasks with retries run on the engines added next', async () => {
    profileConfig('kill', { heartbeatMs: 500, deadAfterMs: 3000 });
    await startCli('kill', ['-n', '4']);
    const [rec] = mpiRecords('kill');
    assert.ok(rec);
    const mpiexec = rec.processes[0]!.pid;
    const rc = await Client.connect({ profile: 'kill' });
    try {
      const engines = rc.engines;
      const left: number[] = [];
      const reasons: string[] = [];
      rc.onEngine((e) => {
        if (e.type !== 'unregistered') return;
        left.push(e.engine.id);
        reasons.push(`rank ${e.engine.mpi?.rank ?? '?'}: ${e.reason ?? '?'}`);
      });
      const lb = rc.loadBalancedView();
      // one task on each engine (hwm 1): two that may run again, two that may not
      const robust = [0, 1].map(() => settle(lb.withOptions({ retries: 10 }).apply(sleepy, 4000)));
      const plain = [0, 1].map(() => settle(lb.apply(sleepy, 4000)));
      await killRankWhenBusy(rc, 2);
      // Open MPI ends the whole job: the other ranks are sent SIGTERM and mpiexec exits
      assert.deepEqual(await waitGone([mpiexec, ...engines.map((e) => e.pid)], 20_000), [], 'mpiexec and every rank of its job ended');
      const log = readFileSync(rec.log.path, 'utf8').slice(rec.log.offset);
      assert.match(log, /process rank 2 .*exited on signal 9/, log);
      // the controller survives and declares every engine of the job dead
      await waitFor('every engine of the job to be declared dead', () => rc.ids.length === 0 && left.length === 4, { timeoutMs: 20_000 });
      assert.deepEqual(
        [...left].sort(),
        engines.map((e) => e.id),
      );
      console.log(`# rank 2 SIGKILLed; the engines of the job unregistered: ${reasons.join('; ')}`);
      // no task is lost: without retries they fail with EngineError...
      for (const p of await Promise.all(plain)) {
        assert.ok(!p.ok && p.error instanceof EngineError, `EngineError expected, got ${p.ok ? String(p.value) : String(p.error)}`);
        console.log(`# a task without retries: ${p.error.message}`);
      }
      // ...with retries they wait, queued, for an engine
      await waitFor('the retried tasks to be queued', async () => (await rc.queueStatus()).unassigned === 2, { timeoutMs: 10_000 });
      // `tscluster engines --engines mpi` adds a job of 2 ranks; the queued tasks run there
      const add = await runCli(['engines', '-n', '2', '--engines', 'mpi', '--profile', 'kill'], { timeoutMs: 60_000 });
      assert.equal(add.code, 0, showResult(add));
      assert.match(add.stdout, /started 2 engines \(mpi: 2 ranks of mpiexec \(pid \d+\)\)/);
      assert.deepEqual(ranks(rc.engines), [
        [0, 2],
        [1, 2],
      ]);
      const results = await Promise.all(robust);
      const fresh = rc.engines.map((e) => e.pid);
      for (const r of results) assert.ok(r.ok && fresh.includes(r.value), `ran on a new engine: ${r.ok ? r.value : String(r.error)}`);
      assert.equal(mpiRecords('kill').length, 2);
    } finally {
      await rc.close();
    }
    await stopCli('kill');
    await assertNoProcesses(dir, 'after tscluster stop of the aborted job');
  });

  test('with --mpi-arg=--enable-recovery a SIGKILLed rank does not end its job: the other ranks serve on and take its retried task', async () => {
    profileConfig('recover', { heartbeatMs: 500, deadAfterMs: 3000 });
    await startCli('recover', ['-n', '4', '--mpi-arg=--enable-recovery']);
    const mpiexec = mpiRecords('recover')[0]!.processes[0]!.pid;
    const rc = await Client.connect({ profile: 'recover' });
    try {
      const engines = rc.engines;
      const tasks = range(4).map(() => settle(rc.loadBalancedView().withOptions({ retries: 2 }).apply(sleepy, 3000)));
      const victim = await killRankWhenBusy(rc, 2);
      await waitFor('the killed rank to be declared dead', () => !rc.ids.includes(victim.id), { timeoutMs: 20_000 });
      const results = await Promise.all(tasks);
      const survivors = engines.filter((e) => e.id !== victim.id).map((e) => e.pid);
      for (const r of results) assert.ok(r.ok && survivors.includes(r.value), `ran on a surviving rank: ${r.ok ? r.value : String(r.error)}`);
      assert.ok(!pidGone(mpiexec), 'mpiexec runs on');
      assert.deepEqual(
        ranks(rc.engines),
        [0, 1, 3].map((r) => [r, 4]),
      );
      assert.deepEqual(
        await rc.loadBalancedView().map((x: number) => 2 * x, range(30)),
        range(30).map((x) => 2 * x),
      );
    } finally {
      await rc.close();
    }
    await stopCli('recover');
    await assertNoProcesses(dir, 'after tscluster stop of the recovered job');
  });

  test('mpiexec SIGKILLed: Open MPI leaves its ranks running and registered; with their controller killed too, tscluster stop ends them', async () => {
    await startCli('orphan', ['-n', '3', '--no-supervise']);
    const [rec] = mpiRecords('orphan');
    assert.ok(rec);
    const mpiexec = rec.processes[0]!.pid;
    const controller = state('orphan').controller.processes[0]!.pid;
    const rc = await Client.connect({ profile: 'orphan' });
    const rankPids = rc.engines.map((e) => e.pid);
    try {
      // an engine logs its registration once its execution worker is up, after the controller counted it: from then on it writes nothing unasked
      await waitFor(
        'every rank to log its registration',
        () => readFileSync(rec.log.path, 'utf8').slice(rec.log.offset).split('registered as engine').length - 1 === 3,
      );
      process.kill(mpiexec, 'SIGKILL');
      assert.deepEqual(await waitGone([mpiexec], 5000), []);
      await sleep(1000);
      // nothing ends them: they serve on (a rank that writes to its output now, whose reader was mpiexec, dies of EPIPE)
      assert.deepEqual(
        rankPids.filter((p) => pidGone(p)),
        [],
        'the ranks still run',
      );
      assert.deepEqual(await rc.directView().apply(() => process.pid), rankPids);
    } finally {
      await rc.close();
    }
    process.kill(controller, 'SIGKILL');
    assert.deepEqual(await waitGone([controller], 5000), []);
    const t0 = Date.now();
    await stopCli('orphan');
    // gone at once, well before they would have exited by themselves (10 s without their controller)
    assert.deepEqual(await ensureGone(rankPids, 1000), [], `the ranks ended by tscluster stop (${Date.now() - t0} ms)`);
    await assertNoProcesses(dir, 'after tscluster stop of the orphaned ranks', 1000);
  });
});
