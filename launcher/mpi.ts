/**
 * The mpi launcher: the engines of a launch are the ranks of one mpiexec job
 * (Open MPI; MPICH's Hydra and other mpiexecs take fewer flags, told apart by
 * `mpiexec --version`). mpiexec runs detached on this machine, its output and
 * its ranks' appended to the engines' log; each rank reports its rank and the
 * job's size when it registers (engine/mpi.ts). mpiexec, and every rank it
 * starts here, carries a mark in its environment (TSCLUSTER_MPI_JOB), so that
 * stopping finds and ends ranks left behind when mpiexec itself was killed.
 * Ranks on other hosts (`--mpi-arg=--host=...`) are mpiexec's to end: its
 * daemons there end them when the job ends.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LaunchRecord, ProcessRecord } from '../profiles/index.js';
import { logPath } from '../profiles/index.js';
import { processesWithEnv, signalPid } from '../util/proc.js';
import type { LaunchStatus, Launcher, PartSpec } from './launcher.js';
import { endingOf, engineScript, markRun, nodeCommand, runLogTail, running, spawnCommandDetached, terminate, waitEnded } from './processes.js';

type MpiRecord = Extract<LaunchRecord, { launcher: 'mpi' }>;

/** The environment variable that marks the processes of one mpi launch. */
export const MPI_JOB_ENV = 'TSCLUSTER_MPI_JOB';

/** How long mpiexec gets once asked to end (SIGTERM, which it passes on to its ranks) before it is killed. */
const MPIEXEC_GRACE_MS = 5000;

/** How long `mpiexec --version` may take. */
const VERSION_TIMEOUT_MS = 15_000;

/** Open MPI's mpiexec, or another one (MPICH's Hydra, Intel MPI...) that takes only the common flags. */
export type MpiFlavour = 'openmpi' | 'other';

/** The flavour of an mpiexec by what `mpiexec --version` printed. */
export function mpiFlavourOf(versionOutput: string): MpiFlavour {
  return /Open MPI|OpenRTE|open-mpi\.org/i.test(versionOutput) ? 'openmpi' : 'other';
}

/** The --mpiexec setting as words: the command, then any arguments of its own (split at white space). */
export function mpiexecWords(setting: string): [string, ...string[]] {
  const [cmd = 'mpiexec', ...rest] = setting.trim().split(/\s+/);
  return [cmd, ...rest];
}

/**
 * An extra argument as Open MPI takes it: `--opt=value` as `--opt value`
 * (Open MPI 4 knows only that form, 5 both), so that `--mpi-arg=--host=a:4,b:4`
 * works; anything else as it is.
 */
export function openMpiWords(arg: string): string[] {
  const m = /^(--[A-Za-z][\w-]*)=(.*)$/s.exec(arg);
  return m ? [m[1] ?? arg, m[2] ?? ''] : [arg];
}

/**
 * The command line of a launch: Open MPI's mpiexec is allowed to run as root
 * (when this is root) and to start more ranks than there are cores; the extra
 * arguments go before the engine's command.
 */
export function mpiexecCommand(o: {
  mpiexec: readonly string[];
  flavour: MpiFlavour;
  root: boolean;
  n: number;
  mpiArgs: readonly string[];
  engine: readonly string[];
}): string[] {
  const openMpi = o.flavour === 'openmpi';
  const own = openMpi ? [...(o.root ? ['--allow-run-as-root'] : []), '--oversubscribe'] : [];
  const extra = openMpi ? o.mpiArgs.flatMap(openMpiWords) : o.mpiArgs;
  return [...o.mpiexec, ...own, '-n', String(o.n), ...extra, ...o.engine];
}

/** What `mpiexec --version` says, by command (asked once per process). */
const versions = new Map<string, Promise<MpiFlavour>>();

/**
 * The flavour of the mpiexec `words` name; throws, naming the fix, when it
 * cannot be run at all (not installed, not executable). An mpiexec whose
 * --version fails is taken as one of the others.
 */
function flavourOf(words: readonly string[]): Promise<MpiFlavour> {
  const key = words.join(' ');
  let p = versions.get(key);
  if (!p) {
    p = new Promise<MpiFlavour>((resolve, reject) => {
      const [cmd = 'mpiexec', ...rest] = words;
      const child = spawn(cmd, [...rest, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), VERSION_TIMEOUT_MS);
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(notRunnable(cmd, e)));
      });
      child.on('close', () => {
        clearTimeout(timer);
        resolve(mpiFlavourOf(out));
      });
    });
    // a failed look-up is not kept: the next start asks again (MPI may have been installed meanwhile)
    p.catch(() => versions.delete(key));
    versions.set(key, p);
  }
  return p;
}

function notRunnable(cmd: string, e: NodeJS.ErrnoException): string {
  const why = e.code === 'ENOENT' ? 'not found' : e.code === 'EACCES' ? 'not executable' : e.message;
  return (
    `--engines mpi: cannot run '${cmd}' (${why}). Install an MPI (Open MPI on Debian/Ubuntu: apt-get install -y openmpi-bin), ` +
    `or name its mpiexec with --mpiexec PATH (mpiexec in the engines options of Cluster.start, or "mpiexec" in the profile's tscluster.json).`
  );
}

export class MpiLauncher implements Launcher<MpiRecord> {
  readonly name = 'mpi' as const;

  async start(spec: PartSpec): Promise<MpiRecord> {
    if (spec.part !== 'engines') throw new RangeError('the mpi launcher starts engines only: --controller takes local, ssh or slurm');
    if (!spec.engineFile) throw new Error('the mpi launcher needs the engine connection file to give its ranks');
    const s = spec.settings;
    const words = mpiexecWords(s.mpiexec);
    const flavour = await flavourOf(words);
    const cmd = mpiexecCommand({
      mpiexec: words,
      flavour,
      root: process.getuid?.() === 0,
      n: spec.n,
      mpiArgs: s.mpiArgs ?? [],
      engine: nodeCommand(engineScript(), ['--file', spec.engineFile.path, ...spec.args]),
    });
    const log = markRun(logPath(spec.profile, spec.clusterId, 'engines'), `${spec.n} engine(s) as the ranks of ${words[0]}`);
    const job = randomUUID();
    const [file = words[0], ...args] = cmd;
    const mpiexec = spawnCommandDetached(file, args, log.path, { [MPI_JOB_ENV]: job });
    return { launcher: 'mpi', processes: [mpiexec], n: spec.n, job, command: cmd, log };
  }

  poll(rec: MpiRecord): Promise<LaunchStatus> {
    // while mpiexec runs its ranks are its own; once it has ended, so has its job (Open MPI ends every rank of a job that ends)
    const ended = rec.processes.filter((p) => !running(p));
    if (ended.length === 0) return Promise.resolve({ running: rec.n, total: rec.n, ended: [] });
    return Promise.resolve({
      running: 0,
      total: rec.n,
      ended: ended.map((p) => ({ what: `of mpiexec (pid ${p.pid})`, detail: this.#ended(rec, p), count: rec.n })),
    });
  }

  /** Why the job ended, as far as its log tells, with the command that ran and the fix. */
  #ended(rec: MpiRecord, p: ProcessRecord): string {
    const how = endingOf(p.pid);
    return (
      `mpiexec ended${how ? ` (${how})` : ''}. Its log (${rec.log.path}):\n${runLogTail(rec.log)}\n` +
      `It ran: ${rec.command.join(' ')}\n` +
      'If that is an error of mpiexec itself, fix its arguments (--mpi-arg=ARG) or the command (--mpiexec CMD); the command above, run by hand, fails the same way.'
    );
  }

  async stop(rec: MpiRecord, graceMs: number): Promise<void> {
    // once its ranks have ended (the controller told its engines to stop), mpiexec ends by itself; else SIGTERM, which it passes on to its ranks
    await terminate(await waitEnded(rec.processes, graceMs), MPIEXEC_GRACE_MS);
    // ranks still here (mpiexec was killed before it could end them): by the job's mark
    await terminate(this.#leftBehind(rec));
  }

  endNow(rec: MpiRecord): void {
    for (const p of [...rec.processes, ...this.#leftBehind(rec)]) if (running(p)) signalPid(p.pid, 'SIGTERM');
  }

  /** The processes of this machine marked as the job's (mpiexec and its ranks, and what they started), still running. */
  #leftBehind(rec: MpiRecord): ProcessRecord[] {
    const here = hostname();
    return processesWithEnv(`${MPI_JOB_ENV}=${rec.job}`).map((p) => ({ ...p, host: here }));
  }

  describe(rec: MpiRecord): string {
    const pid = rec.processes[0]?.pid;
    return `mpi: ${rec.n} rank${rec.n === 1 ? '' : 's'} of mpiexec${pid !== undefined ? ` (pid ${pid})` : ''}`;
  }
}

/** The one mpi launcher of this process. */
export const mpiLauncher = new MpiLauncher();
