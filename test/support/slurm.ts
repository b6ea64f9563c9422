/**
 * A single-node Slurm for the Slurm suites: munged, slurmctld and slurmd of
 * this machine, each started in the foreground by the test with a private
 * configuration (its own slurm.conf, munge key and socket, ports, spool and
 * state directories under one temporary directory; SLURM_CONF points every
 * Slurm command, and through the environment the test's children and jobs,
 * at it). Nothing under /etc is written, and a Slurm already running here is
 * not touched: when `sinfo` already shows an idle node, that Slurm is used
 * and nothing is started.
 *
 *   describeGated(slurmGate(), 'slurm launcher', () => {
 *     let slurm: Slurm | undefined;
 *     before(async () => (slurm = await startSlurm()));
 *     after(async () => await slurm?.stop());     // runs when a test or `before` failed too
 *   });
 *
 * stop() cancels every job of the private Slurm, ends the daemons it started
 * by pid (SIGTERM, then SIGKILL), SIGKILLs whatever else still runs with its
 * SLURM_CONF (a job step's processes), and removes its directory. A process
 * 'exit' hook (and SIGINT/SIGTERM/SIGHUP) does the same synchronously when a
 * test process ends without stop().
 *
 * The node has 2 CPUs and `OverSubscribe=FORCE:8`: jobs share cores; a job of
 * more tasks than CPUs needs `--overcommit` (pass `--sbatch=--overcommit`).
 * Needs root (slurmd starts jobs as their user) and Debian's slurm-wlm and munge.
 */
import { exitHook } from './exit-hook.js';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { waitFor } from './env.js';
import { gate, which } from './gates.js';
import type { Gate } from './gates.js';
import { ensureGone, findProcesses, runProcess } from './processes.js';
import type { CliResult } from './processes.js';

const SBIN_PATH = [process.env.PATH ?? '', '/usr/sbin', '/usr/local/sbin'].join(delimiter);
const DAEMONS = ['munged', 'slurmctld', 'slurmd'] as const;
const COMMANDS = ['munge', 'sbatch', 'srun', 'squeue', 'scancel', 'scontrol', 'sinfo'] as const;

export interface SlurmJobRow {
  id: string;
  name: string;
  state: string;
  reason: string;
}

export interface Slurm {
  /** the private instance's slurm.conf (SLURM_CONF while it runs); undefined when a Slurm already running here is used */
  readonly conf: string | undefined;
  /** the node's name */
  readonly node: string;
  /** the pids of the daemons this started (none when an existing Slurm is used) */
  readonly pids: readonly number[];
  /** Run a Slurm command (squeue, scancel, sinfo...) to completion. */
  run(cmd: string, args: readonly string[]): Promise<CliResult>;
  /** Every job Slurm knows (ended ones too, while it remembers them). */
  jobs(): Promise<SlurmJobRow[]>;
  /** The jobs whose name contains `text` that are pending, running or completing. */
  activeJobs(text: string): Promise<SlurmJobRow[]>;
  /** Cancel every job, end the daemons this started, remove the directory. Safe to call twice. */
  stop(): Promise<void>;
}

// ------------------------------------------------------------------ the gate

function probeSlurm(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: slurmd starts jobs as their user';
  const missing = [...DAEMONS, ...COMMANDS].filter((c) => which(c, SBIN_PATH) === undefined);
  if (missing.length > 0) return `not found: ${missing.join(', ')}`;
  return undefined;
}

let slurmGateMade: Gate | undefined;

/** The gate of the Slurm suites: root, munged, slurmctld, slurmd and Slurm's commands. */
export function slurmGate(): Gate {
  slurmGateMade ??= gate({ name: 'Slurm (root, slurm-wlm, munge)', install: 'apt-get install -y slurm-wlm munge', probe: probeSlurm });
  return slurmGateMade;
}

// ------------------------------------------------------------------ what this process started (the safety net)

interface Started {
  dir: string;
  conf: string;
  children: ChildProcess[];
}

const started = new Set<Started>();

function tryKill(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // gone meanwhile
  }
}

/** Processes whose environment has SLURM_CONF=conf: the daemons, slurmstepd and the jobs' processes. */
function processesWithConf(conf: string): { pid: number; cmd: string }[] {
  const needle = `SLURM_CONF=${conf}`;
  return findProcesses((pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(needle));
}

function destroySync(s: Started): void {
  for (const c of s.children) tryKill(c.pid, 'SIGKILL');
  for (const p of processesWithConf(s.conf)) tryKill(p.pid, 'SIGKILL');
  rmSync(s.dir, { recursive: true, force: true });
  started.delete(s);
}

const cleanupAtExit = exitHook(() => {
  for (const s of [...started]) destroySync(s);
});

// ------------------------------------------------------------------ starting

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function slurmCommands(env: NodeJS.ProcessEnv): Pick<Slurm, 'run' | 'jobs' | 'activeJobs'> {
  const run = (cmd: string, args: readonly string[]): Promise<CliResult> =>
    runProcess(which(cmd, SBIN_PATH) ?? cmd, args, { timeoutMs: 30_000, env });
  const jobs = async (): Promise<SlurmJobRow[]> => {
    const r = await run('squeue', ['-h', '-t', 'all', '-o', '%i|%j|%T|%r']);
    if (r.code !== 0) throw new Error(`squeue failed: ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id = '', name = '', state = '', reason = ''] = l.split('|');
        return { id, name, state, reason };
      });
  };
  const ACTIVE = ['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED'];
  return { run, jobs, activeJobs: async (text) => (await jobs()).filter((j) => j.name.includes(text) && ACTIVE.includes(j.state)) };
}

/** The state of this node in `sinfo` (idle, mixed, down...), or why sinfo failed. */
async function nodeState(env: NodeJS.ProcessEnv, node: string): Promise<{ state?: string; error?: string }> {
  const r = await runProcess(which('sinfo', SBIN_PATH) ?? 'sinfo', ['-h', '-n', node, '-o', '%T'], { timeoutMs: 30_000, env }).catch(
    (e: unknown) => ({ code: 1, stdout: '', stderr: String(e) }),
  );
  if (r.code !== 0) return { error: r.stderr.trim() || `exit ${r.code}` };
  return {
    state:
      r.stdout
        .trim()
        .split('\n')[0]
        ?.replace(/[*~#!%$@^-]+$/, '') ?? '',
  };
}

/** Use the Slurm running here, or start a private one; resolves once its node is idle. */
export async function startSlurm(): Promise<Slurm> {
  slurmGate().assertAvailable();
  const node = hostname().split('.')[0] ?? hostname();
  // a Slurm already running here (its own configuration): used as it is, nothing started or stopped
  if (process.env.SLURM_CONF === undefined) {
    const existing = await nodeState({}, node);
    if (existing.state === 'idle' || existing.state === 'mixed') {
      return { conf: undefined, node, pids: [], ...slurmCommands({}), stop: () => Promise.resolve() };
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'tscluster-slurm-'));
  // munged wants every directory above its socket searchable
  chmodSync(dir, 0o755);
  const conf = join(dir, 'slurm.conf');
  const s: Started = { dir, conf, children: [] };
  started.add(s);
  cleanupAtExit.arm();
  const env = { SLURM_CONF: conf };
  const cmds = slurmCommands(env);
  const saved = process.env.SLURM_CONF;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= stopPrivate(s, cmds, saved));
  try {
    const munge = join(dir, 'munge');
    mkdirSync(munge, { mode: 0o755 });
    for (const d of ['ctld', 'slurmd', 'log']) mkdirSync(join(dir, d), { mode: 0o755 });
    const key = join(munge, 'munge.key');
    writeFileSync(key, randomBytes(1024), { mode: 0o400 });
    const socket = join(munge, 'munge.socket');
    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    writeFileSync(
      conf,
      [
        'ClusterName=tscluster-test',
        `SlurmctldHost=${node}`,
        'SlurmUser=root',
        'AuthType=auth/munge',
        `AuthInfo=socket=${socket}`,
        'CredType=cred/munge',
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SchedulerType=sched/backfill',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core',
        `StateSaveLocation=${join(dir, 'ctld')}`,
        `SlurmdSpoolDir=${join(dir, 'slurmd')}`,
        `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
        `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        'ReturnToService=2',
        'MpiDefault=none',
        // ended jobs are remembered long enough to be asked about; cancelled ones are SIGKILLed 5 s after SIGTERM
        'MinJobAge=600',
        'KillWait=5',
        `NodeName=${node} CPUs=2 RealMemory=20000 State=UNKNOWN`,
        `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8`,
        '',
      ].join('\n'),
    );
    const daemon = (file: string, args: string[], log: string): ChildProcess => {
      const fd = openSync(join(dir, 'log', log), 'a');
      try {
        // not the test's TSCLUSTER_DIR: the daemons are not the test's cluster processes (a job gets its submitter's environment)
        const { TSCLUSTER_DIR: _, ...outer } = process.env;
        const child = spawn(which(file, SBIN_PATH) ?? file, args, { stdio: ['ignore', fd, fd], env: { ...outer, ...env } });
        child.on('error', () => undefined);
        s.children.push(child);
        return child;
      } finally {
        closeSync(fd);
      }
    };
    daemon(
      'munged',
      ['-F', '--force', `--socket=${socket}`, `--key-file=${key}`, `--pid-file=${join(munge, 'munged.pid')}`, `--seed-file=${join(munge, 'seed')}`],
      'munged.out',
    );
    await waitFor(
      'munged to answer',
      () => spawnSync(which('munge', SBIN_PATH) ?? 'munge', ['-S', socket, '-n'], { stdio: 'ignore', timeout: 5000 }).status === 0,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    daemon('slurmctld', ['-D', '-f', conf], 'slurmctld.out');
    daemon('slurmd', ['-D', '-f', conf], 'slurmd.out');
    let last: { state?: string; error?: string } = {};
    await waitFor(
      `the Slurm node ${node} to be idle`,
      async () => {
        for (const c of s.children) if (c.exitCode !== null) throw new Error(`${c.spawnargs[0] ?? 'a daemon'} exited (${c.exitCode}): ${logs(dir)}`);
        last = await nodeState(env, node);
        return last.state === 'idle';
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; sinfo: ${last.state ?? last.error ?? ''}\n${logs(dir)}`);
    });
    process.env.SLURM_CONF = conf;
  } catch (e) {
    await stop();
    throw e;
  }
  return { conf, node, pids: s.children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])), ...cmds, stop };
}

/** The daemons' logs, for a failure message. */
function logs(dir: string): string {
  return ['munged.out', 'slurmctld.out', 'slurmd.out', 'slurmctld.log', 'slurmd.log']
    .map((f) => {
      try {
        return `--- ${f}:\n${readFileSync(join(dir, 'log', f), 'utf8')
          .trim()
          .split('\n')
          .slice(-10)
          .join('\n')}`;
      } catch {
        return '';
      }
    })
    .filter(Boolean)
    .join('\n');
}

async function stopPrivate(s: Started, cmds: Pick<Slurm, 'run' | 'jobs'>, savedConf: string | undefined): Promise<void> {
  try {
    // every job of this private Slurm is the tests': cancel them, and let slurmd end their processes
    const ids = (await cmds.jobs().catch(() => []))
      .filter((j) => !['COMPLETED', 'CANCELLED', 'FAILED', 'TIMEOUT'].includes(j.state))
      .map((j) => j.id);
    if (ids.length > 0) {
      await cmds.run('scancel', ids);
      await waitFor(
        'the cancelled jobs to end',
        async () => (await cmds.jobs().catch(() => [])).every((j) => !['PENDING', 'RUNNING', 'COMPLETING', 'CONFIGURING'].includes(j.state)),
        { timeoutMs: 30_000, intervalMs: 250 },
      ).catch(() => undefined);
    }
  } finally {
    for (const c of [...s.children].reverse()) tryKill(c.pid, 'SIGTERM');
    await ensureGone(
      s.children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])),
      10_000,
    );
    await ensureGone(
      processesWithConf(s.conf).map((p) => p.pid),
      0,
    );
    rmSync(s.dir, { recursive: true, force: true });
    started.delete(s);
    if (started.size === 0) cleanupAtExit.disarm();
    if (savedConf === undefined) delete process.env.SLURM_CONF;
    else process.env.SLURM_CONF = savedConf;
  }
}
