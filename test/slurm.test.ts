/**
 * The Slurm launcher on a real single-node Slurm (test/support/slurm.ts):
 * `tscluster start --engines slurm` submits a batch job whose srun starts
 * the engines (squeue shows it; tasks run inside it; `tscluster list` shows
 * the job and its state); jobs of --engines-per-job; a job cancelled from
 * outside unregisters its engines, and their tasks fail with EngineError or
 * retry on the other job's engines; a start whose job never brings engines
 * (an option sbatch refuses, a job that fails, one whose engines never come
 * within --start-timeout, one that waits in the queue) fails with Slurm's
 * word and the job's output, and leaves no job behind; stop ends the jobs.
 * Engines in a job retire a minute before its time limit by default.
 *
 * Needs root, slurm-wlm and munge (Debian: apt-get install -y slurm-wlm
 * munge). Without them the suite is skipped, saying so, unless CI=true,
 * where it fails (test/support/gates.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { Client, EngineError } from '../index.js';
import type { AsyncResult } from '../index.js';
import {
  TestFiles,
  assertNoProcesses,
  describeGated,
  failure,
  gated,
  listJson,
  range,
  runCli,
  showResult,
  slurmGate,
  startSlurm,
  tempRootForFile,
  waitFor,
} from './support/index.js';
import type { CliResult, Slurm } from './support/index.js';

const dir = tempRootForFile('slurm');
const files = new TestFiles(dir);
/** a job of more engines than the node's 2 CPUs */
const OVERCOMMIT = '--sbatch=--overcommit';

describeGated(slurmGate(), 'slurm launcher (a single-node Slurm)', () => {
  let slurm: Slurm | undefined;
  const clients: Client[] = [];
  const profiles: string[] = [];
  /** clusters a test started and has not stopped (a failed test's are stopped after it, so the next one starts clean) */
  const live = new Set<string>();

  before(async () => {
    slurm = await startSlurm();
  });
  afterEach(async () => {
    for (const p of live) await runCli(['stop', '--profile', p], { timeoutMs: 120_000 }).catch(() => undefined);
    live.clear();
  });
  after(async () => {
    files.openAll();
    for (const rc of clients) await rc.close().catch(() => undefined);
    for (const p of profiles) await runCli(['stop', '--profile', p], { timeoutMs: 120_000 }).catch(() => undefined);
    await slurm?.stop();
  });

  const s = (): Slurm => {
    assert.ok(slurm, 'Slurm started');
    return slurm;
  };

  async function start(profile: string, ...args: string[]): Promise<CliResult> {
    profiles.push(profile);
    live.add(profile);
    return runCli(['start', '--engines', 'slurm', '--profile', profile, '--daemon', ...args], { timeoutMs: 180_000 });
  }

  async function connect(profile: string): Promise<Client> {
    const rc = await Client.connect({ profile, timeoutMs: 10_000 });
    clients.push(rc);
    return rc;
  }

  /** Stop the profile's cluster; then none of its jobs is active and none of the test's processes is left. */
  async function stopAndCheck(profile: string): Promise<void> {
    const r = await runCli(['stop', '--profile', profile], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, showResult(r));
    live.delete(profile);
    assert.deepEqual(await s().activeJobs(`tscluster-${profile}-`), [], 'no job of the cluster is left in the queue');
    await assertNoProcesses(dir, `after tscluster stop --profile ${profile}`);
  }

  /** The outputs of a profile's jobs, for an assertion message. */
  function jobOutputs(profile: string, ids: string[]): string {
    const log = join(dir, `profile_${profile}`, 'log');
    return ids
      .map((id) => {
        const f = readdirSync(log).find((x) => x.endsWith(`-${id}.out`));
        return `--- job ${id} (${f ?? 'no output'}):\n${f ? readFileSync(join(log, f), 'utf8') : ''}`;
      })
      .join('\n');
  }

  /** The job a failed start left: not in the queue, and nothing of it runs. */
  async function nothingLeft(profile: string): Promise<void> {
    live.delete(profile);
    assert.deepEqual(await s().activeJobs(`tscluster-${profile}-`), [], 'the failed start cancelled its job');
    await assertNoProcesses(dir, `after the failed start of ${profile}`);
    assert.equal(
      (await listJson()).find((r) => r.profile === profile),
      undefined,
      'the failed start left no cluster files',
    );
  }

  test('--engines slurm -n 4: one job in squeue runs the engines; tasks run in it; list shows the job and its state; stop ends it', async () => {
    const r = await start('one', '-n', '4', OVERCOMMIT, '--time-limit', '3');
    assert.equal(r.code, 0, showResult(r));
    const jobs = await s().activeJobs('tscluster-one-engines');
    assert.equal(jobs.length, 1, JSON.stringify(await s().jobs()));
    const job = jobs[0]!;
    assert.equal(job.state, 'RUNNING');
    assert.match(r.stdout, new RegExp(`slurm: 4 processes \\(job ${job.id}\\)`), r.stdout);

    const rc = await connect('one');
    assert.equal(rc.ids.length, 4);
    const seen = await rc.loadBalancedView().map((i: number) => ({ i, job: process.env.SLURM_JOB_ID, pid: process.pid }), range(12));
    assert.deepEqual(
      seen.map((x) => x.i),
      range(12),
    );
    assert.ok(
      seen.every((x) => x.job === job.id),
      `every task ran inside job ${job.id}: ${JSON.stringify(seen)}`,
    );
    const pids = new Set(rc.engines.map((e) => e.pid));
    assert.ok(
      seen.every((x) => pids.has(x.pid)),
      'on the registered engines',
    );

    // without --lifetime, each engine retires a minute before the job's time limit (3 minutes)
    const output = join(dir, 'profile_one', 'log', `tscluster-engines-${job.id}.out`);
    const retires = await waitFor('the engines to say when they retire', () => {
      const lines = readFileSync(output, 'utf8').match(/retires in (\d+) s \(the Slurm job's time left, \d+ s, less a minute\)/g) ?? [];
      return lines.length === 4 && lines.map((l) => Number(/(\d+)/.exec(l)?.[1]));
    });
    assert.ok(
      retires.every((secs) => secs > 90 && secs <= 120),
      String(retires),
    );

    const row = (await listJson()).find((x) => x.profile === 'one');
    assert.ok(row, 'list shows the cluster');
    assert.equal(row.engines, 4);
    assert.ok(row.launched.includes(`slurm: job ${job.id} RUNNING, 4 processes`), JSON.stringify(row.launched));
    const table = await runCli(['list']);
    assert.match(table.stdout, new RegExp(`^  slurm: job ${job.id} RUNNING, 4 processes$`, 'm'), table.stdout);

    // more engines for the running cluster, in a job of their own
    const added = await runCli(['engines', '--profile', 'one', '--engines', 'slurm', '-n', '2'], { timeoutMs: 120_000 });
    assert.equal(added.code, 0, showResult(added));
    assert.match(added.stdout, /started 2 engines \(slurm: 2 processes \(job \d+\)\)/);
    // the client hears of the new engines shortly after the command returns
    await rc.waitForEngines(6, { timeoutMs: 10_000 });
    assert.equal(rc.ids.length, 6);
    assert.equal((await s().activeJobs('tscluster-one-engines')).length, 2);
    await rc.close();
    await stopAndCheck('one');
    const ended = (await s().jobs()).find((j) => j.id === job.id);
    assert.ok(ended && ['COMPLETED', 'CANCELLED'].includes(ended.state), JSON.stringify(ended));
  });

  test('--engines-per-job 2: two jobs; one cancelled from outside: its engines unregister, their tasks fail with EngineError or retry on the other job', async () => {
    const r = await start('two', '-n', '4', '--engines-per-job', '2', OVERCOMMIT);
    assert.equal(r.code, 0, showResult(r));
    const jobs = await s().activeJobs('tscluster-two-engines');
    assert.equal(jobs.length, 2, JSON.stringify(jobs));
    const rc = await connect('two');
    const events: string[] = [];
    rc.onEngine((e) => events.push(`${e.type} ${e.engine.id}`));
    const jobOf = new Map<number, string>();
    for (const id of rc.ids) jobOf.set(id, (await rc.directView(id).apply(() => process.env.SLURM_JOB_ID)) ?? '');
    const [a, b] = [jobs[0]!.id, jobs[1]!.id];
    const onA = rc.ids.filter((id) => jobOf.get(id) === a);
    const onB = rc.ids.filter((id) => jobOf.get(id) === b);
    assert.equal(onA.length, 2, JSON.stringify([...jobOf]));
    assert.equal(onB.length, 2, JSON.stringify([...jobOf]));

    // B's engines busy until the gate opens; then two load-balanced tasks (one retry each) can only go to A's
    const gate = files.file('gate');
    const busyB = onB.map((id) => rc.directView(id).apply(gated, { gate, v: `b${id}` }));
    await waitFor('the tasks on B to run', async () => Object.values((await rc.queueStatus()).engines).filter((q) => q.running > 0).length === 2);
    const retried: AsyncResult<string>[] = [0, 1].map((i) =>
      rc
        .loadBalancedView()
        .withOptions({ retries: 1 })
        .apply(gated, { gate, v: `lb${i}` }),
    );
    // and one task for each of A's engines without a retry, queued behind them
    const direct = onA.map((id) => rc.directView(id).apply(gated, { gate, v: `a${id}` }));
    await waitFor('A to hold its tasks', async () => {
      const q = await rc.queueStatus();
      return onA.every((id) => {
        const e: { running: number; queued: number } | undefined = q.engines[id];
        return e?.running === 1 && e.queued === 1;
      });
    });

    const cancel = await s().run('scancel', [a]);
    assert.equal(cancel.code, 0, showResult(cancel));
    await waitFor(`A's engines (${onA.join(', ')}) to unregister`, () => onA.every((id) => !rc.ids.includes(id)), { timeoutMs: 30_000 });
    for (const id of onA) assert.ok(events.includes(`unregistered ${id}`), events.join('; '));
    for (const d of direct) {
      const err = await failure(d, 30_000);
      assert.ok(err instanceof EngineError, String(err));
    }
    files.open(gate);
    assert.deepEqual(
      await Promise.all(busyB.map((t) => t.get({ timeoutMs: 30_000 }))),
      onB.map((id) => `b${id}`),
    );
    for (const [i, t] of retried.entries()) {
      assert.equal(await t.get({ timeoutMs: 60_000 }), `lb${i}`);
      assert.equal(t.metadata.attempts.length, 1, JSON.stringify(t.metadata.attempts));
      assert.equal(t.metadata.attempts[0]!.ename, 'EngineError');
      assert.ok(onA.includes(t.metadata.attempts[0]!.engineId!), 'it first ran on A');
      assert.ok(onB.includes(t.metadata.engineId!), 'the retry ran on B');
    }
    const row = (await listJson()).find((x) => x.profile === 'two');
    assert.ok(
      row?.launched.some((l) => l.includes(`job ${a} CANCELLED`) && l.includes(`job ${b} RUNNING`)),
      JSON.stringify(row?.launched),
    );
    await rc.close();
    await stopAndCheck('two');
  });

  test('an option sbatch refuses fails the start at once with its message; nothing is left', async () => {
    const r = await start('refused', '-n', '2', '--partition', 'no-such-partition');
    assert.notEqual(r.code, 0, showResult(r));
    assert.match(r.stderr, /sbatch refused the job: .*[Ii]nvalid partition/, r.stderr);
    await nothingLeft('refused');
  });

  test("a job that fails: the start fails with Slurm's state and exit code and the job's output", async () => {
    const template = join(dir, 'failing.sbatch');
    writeFileSync(
      template,
      '#!/bin/sh\n#SBATCH --job-name={jobName}\n#SBATCH --output={output}\n{options}\necho "the {part} job of {profile} fails on purpose"\nexit 3\n',
    );
    const r = await start('failing', '-n', '2', '--slurm-template', template);
    assert.notEqual(r.code, 0, showResult(r));
    assert.match(r.stderr, /Slurm: job \d+ FAILED, reason NonZeroExitCode, exit code 3:0/, r.stderr);
    assert.match(r.stderr, /the engines job of failing fails on purpose/, r.stderr);
    await nothingLeft('failing');
  });

  test('engines that never register within --start-timeout: the job state and its output are reported, and the job is cancelled', async () => {
    const template = join(dir, 'silent.sbatch');
    writeFileSync(template, '#!/bin/sh\n#SBATCH --job-name={jobName}\n#SBATCH --output={output}\necho "this job starts no engine"\nsleep 600\n');
    const r = await start('silent', '-n', '2', '--slurm-template', template, '--start-timeout', '5');
    assert.notEqual(r.code, 0, showResult(r));
    assert.match(r.stderr, /0 of 2 engines registered within 5000 ms/, r.stderr);
    assert.match(r.stderr, /slurm: job \d+ RUNNING, 2 processes/, r.stderr);
    assert.match(r.stderr, /this job starts no engine/, r.stderr);
    await nothingLeft('silent');
  });

  test('a job that waits in the queue past --start-timeout: its state and reason are reported, and it is cancelled', async () => {
    const r = await start('queued', '-n', '2', '--sbatch=--begin=now+1hour', '--start-timeout', '3');
    assert.notEqual(r.code, 0, showResult(r));
    assert.match(r.stderr, /slurm: job \d+ PENDING \(BeginTime\), 2 processes/, r.stderr);
    await nothingLeft('queued');
  });

  test('--controller slurm: the controller runs in a job of its own and writes its connection files into the profile; stop ends both jobs', async () => {
    const r = await start('ctl', '--controller', 'slurm', '-n', '2');
    assert.equal(r.code, 0, showResult(r));
    const [controllerJob] = await s().activeJobs('tscluster-ctl-controller');
    const [engineJob] = await s().activeJobs('tscluster-ctl-engines');
    assert.equal(controllerJob?.state, 'RUNNING', JSON.stringify(await s().jobs()));
    assert.equal(engineJob?.state, 'RUNNING', JSON.stringify(await s().jobs()));
    const rc = await connect('ctl');
    assert.deepEqual(await rc.loadBalancedView().map((x: number) => x * 2, [1, 2, 3]), [2, 4, 6]);
    const pid = rc.cluster.controllerPid;
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(env.includes(`SLURM_JOB_ID=${controllerJob.id}`), `the controller (pid ${pid}) runs in job ${controllerJob.id}`);
    const row = (await listJson()).find((x) => x.profile === 'ctl');
    assert.deepEqual(
      row?.launched,
      [`slurm: job ${controllerJob.id} RUNNING, 1 process`, `slurm: job ${engineJob.id} RUNNING, 2 processes`],
      jobOutputs('ctl', [controllerJob.id, engineJob.id]),
    );
    await rc.close();
    await stopAndCheck('ctl');
  });

  test("a controller job that fails: the start fails at once with Slurm's state and the job's output", async () => {
    const template = join(dir, 'failing-controller.sbatch');
    writeFileSync(template, '#!/bin/sh\n#SBATCH --job-name={jobName}\n#SBATCH --output={output}\necho "no {part} today"\nexit 2\n');
    const r = await start('ctlfail', '--controller', 'slurm', '-n', '1', '--slurm-template', template);
    assert.notEqual(r.code, 0, showResult(r));
    assert.match(
      r.stderr,
      /the controller \(slurm: .*\) exited during start-up\. Slurm: job \d+ FAILED, reason NonZeroExitCode, exit code 2:0/,
      r.stderr,
    );
    assert.match(r.stderr, /no controller today/, r.stderr);
    await nothingLeft('ctlfail');
  });

  /** The adapter's jobs in the cluster's state file (what `tscluster stop` cancels if the controller cannot). */
  function adaptJobsRecorded(profile: string): string[] {
    const state = JSON.parse(readFileSync(join(dir, `profile_${profile}`, 'pid', 'tscluster.json'), 'utf8')) as {
      engines: { launcher: string; adapt?: boolean; jobs?: { id: string }[] }[];
    };
    return state.engines.filter((r) => r.adapt === true).flatMap((r) => (r.jobs ?? []).map((j) => j.id));
  }

  test('--adapt 0:4: grows from 0 engines when a map is submitted, shrinks back after idling; list shows target and count; stop cancels', async (t) => {
    const r = await start('adapt', '--adapt', '0:4', '--adapt-idle', '3');
    assert.equal(r.code, 0, showResult(r));
    let row = (await listJson()).find((x) => x.profile === 'adapt');
    assert.deepEqual(row?.adapt, { min: 0, max: 4, target: 0, engines: 0, starting: 0 });
    assert.equal(row.engines, 0);
    const table = await runCli(['list']);
    assert.match(table.stdout, /^ {2}adaptive 0:4: target 0, 0 engines registered, 0 starting$/m, table.stdout);

    const rc = await connect('adapt');
    const gate = files.file('gate');
    const t0 = Date.now();
    const work = rc.loadBalancedView().map((x: number) => x * 10, range(8));
    assert.deepEqual(
      await work.get({ timeoutMs: 120_000 }),
      range(8).map((x) => x * 10),
    );
    const held = rc.loadBalancedView().map(
      gated,
      range(8).map((v) => ({ gate, v })),
    );
    await waitFor('4 engines', () => rc.ids.length === 4, { timeoutMs: 120_000 });
    t.diagnostic(`grew from 0 to 4 engines in ${Date.now() - t0} ms`);
    const jobs = await s().activeJobs('tscluster-adapt-engines');
    assert.equal(jobs.length, 4, JSON.stringify(jobs));
    assert.deepEqual(adaptJobsRecorded('adapt').sort(), jobs.map((j) => j.id).sort());
    // the target is the controller's last look (once a second): it may predate the held map's tasks
    await waitFor('the target to count the held tasks', async () => (await listJson()).find((x) => x.profile === 'adapt')?.adapt?.target === 4, {
      timeoutMs: 10_000,
    });
    row = (await listJson()).find((x) => x.profile === 'adapt');
    assert.deepEqual(row?.adapt, { min: 0, max: 4, target: 4, engines: 4, starting: 0 });
    assert.equal(row.launched.filter((l) => l.startsWith('slurm (adaptive): ')).length, 1, JSON.stringify(row.launched));

    files.open(gate);
    assert.deepEqual(await held.get({ timeoutMs: 60_000 }), range(8));
    const t1 = Date.now();
    await waitFor('the engines to retire', () => rc.ids.length === 0, { timeoutMs: 60_000 });
    await waitFor('their jobs to end', async () => (await s().activeJobs('tscluster-adapt-engines')).length === 0, { timeoutMs: 60_000 });
    t.diagnostic(`shrank from 4 to 0 engines ${Date.now() - t1} ms after the work ended (--adapt-idle 3)`);
    // the controller notes ended jobs at its next look
    await waitFor('the ended jobs to leave the state file', () => adaptJobsRecorded('adapt').length === 0, { timeoutMs: 10_000 });
    row = (await listJson()).find((x) => x.profile === 'adapt');
    assert.deepEqual(row?.adapt, { min: 0, max: 4, target: 0, engines: 0, starting: 0 });

    // it grows again; stop then ends the job it has (before its engine has idled long enough to retire)
    assert.deepEqual(await rc.loadBalancedView().map((x: number) => x + 1, [1]), [2]);
    assert.equal((await s().activeJobs('tscluster-adapt-engines')).length, 1);
    await rc.close();
    await stopAndCheck('adapt');
  });

  test('--adapt 1:2: starts with MIN engines, grows to MAX under work, never goes below MIN', async () => {
    // the bare controller, SIGKILLed below (a supervised one would be restarted)
    const r = await start('adaptmin', '--adapt', '1:2', '--adapt-idle', '2', '--no-supervise');
    assert.equal(r.code, 0, showResult(r));
    const rc = await connect('adaptmin');
    assert.equal(rc.ids.length, 1, 'the start waited for MIN engines');
    const gate = files.file('gate');
    const held = rc.loadBalancedView().map(
      gated,
      range(4).map((v) => ({ gate, v })),
    );
    await waitFor('2 engines', () => rc.ids.length === 2, { timeoutMs: 120_000 });
    files.open(gate);
    assert.deepEqual(await held.get({ timeoutMs: 60_000 }), range(4));
    await waitFor('one engine to retire', () => rc.ids.length === 1, { timeoutMs: 60_000 });
    // idle well past --adapt-idle: MIN stays
    await new Promise((res) => setTimeout(res, 4000));
    assert.equal(rc.ids.length, 1);
    assert.equal((await s().activeJobs('tscluster-adaptmin-engines')).length, 1);
    const row = (await listJson()).find((x) => x.profile === 'adaptmin');
    assert.deepEqual(row?.adapt, { min: 1, max: 2, target: 1, engines: 1, starting: 0 });

    // a controller that cannot cancel its jobs (SIGKILLed): tscluster stop cancels them from the state file
    const [job] = await s().activeJobs('tscluster-adaptmin-engines');
    assert.ok(job);
    process.kill(rc.cluster.controllerPid, 'SIGKILL');
    await rc.close();
    await stopAndCheck('adaptmin');
    assert.equal((await s().jobs()).find((j) => j.id === job.id)?.state, 'CANCELLED');
  });

  test("--adapt with an option sbatch refuses: the start fails at once with sbatch's message", async () => {
    const r = await start('adaptbad', '--adapt', '1:2', '--partition', 'no-such-partition');
    assert.notEqual(r.code, 0, showResult(r));
    assert.match(
      r.stderr,
      /the controller could not start engines \(--adapt\): job \(not submitted\) ended before any engine of it registered\. sbatch refused the job: .*[Ii]nvalid partition/,
      r.stderr,
    );
    await nothingLeft('adaptbad');
  });

  test('a template that names an unknown variable is refused before anything is submitted', async () => {
    const template = join(dir, 'typo.sbatch');
    writeFileSync(template, '#!/bin/sh\n#SBATCH --job-name={jobname}\nsrun {cmd}\n');
    const r = await start('typo', '-n', '1', '--slurm-template', template);
    assert.notEqual(r.code, 0, showResult(r));
    assert.match(r.stderr, /uses \{jobname\}, which is not a template variable/, r.stderr);
    assert.deepEqual(
      (await s().jobs()).filter((j) => j.name.includes('tscluster-typo-')),
      [],
    );
    await nothingLeft('typo');
    assert.ok(readFileSync(template, 'utf8').includes('{jobname}'));
  });
});
