/**
 * The Slurm launcher: engines (or the controller) as Slurm batch jobs, one
 * job for all of them or jobs of --engines-per-job K, each running its
 * processes with srun from a batch script (launcher/slurm-template.ts). The
 * job ids and names are recorded; polling asks squeue for their states (and
 * `scontrol show job` why one ended: Slurm's reason and exit code, with the
 * job's output); stopping gives the jobs a grace to end by themselves, then
 * cancels them with scancel, and waits until Slurm has ended them. A job is
 * only ever cancelled by its recorded id and name together.
 *
 * The jobs share this machine's file system (the profile directory): an
 * engine reads the engine connection file from its path here, a controller
 * job writes its connection files into the profile.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../config/settings.js';
import { clusterStem, profilePaths, rootDir } from '../profiles/index.js';
import type { LaunchRecord, SlurmJob } from '../profiles/index.js';
import { runCommand, runCommandSync } from '../util/run.js';
import { sleep } from '../util/sleep.js';
import { tailFile } from '../util/tail.js';
import type { LaunchStatus, Launcher, PartSpec } from './launcher.js';
import { CONTROLLER_SCRIPT, engineScript, extraNodeArgs } from './processes.js';
import { shq } from './ssh-exec.js';
import { BUILTIN_SLURM_TEMPLATE, renderSlurmTemplate, sbatchLines } from './slurm-template.js';

export type SlurmRecord = Extract<LaunchRecord, { launcher: 'slurm' }>;

/** How often squeue is asked (each ask is a call to slurmctld). */
const POLL_EVERY_MS = 2000;
/** How long a stop waits for Slurm to end cancelled jobs. */
const CANCEL_WAIT_MS = 60_000;

/** Job states in which the job's processes run or are still to come. */
const ACTIVE = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'SUSPENDED',
  'REQUEUED',
  'REQUEUE_FED',
  'REQUEUE_HOLD',
  'RESIZING',
  'SIGNALING',
  'STOPPED',
  'RESV_DEL_HOLD',
  'POWER_UP_NODE',
]);

/** What squeue says of a job. */
export interface JobInfo {
  name: string;
  state: string;
  reason: string;
}

/** A recorded job with its state now ('UNKNOWN' when Slurm could not be asked, 'GONE' when it no longer knows the job). */
export interface JobState {
  job: SlurmJob;
  state: string;
  reason: string;
  /** its processes run or are still to come (an unknown state counts as active: it is not known to have ended) */
  active: boolean;
}

/** The end of a job's output file ('(none yet)' before the job has written one). */
function outputTail(path: string): string {
  const t = tailFile(path, 15);
  return t === '(no log)' ? '(none yet)' : t || '(empty)';
}

/** The last lines Slurm's command printed, for a message. */
function lastLines(text: string, n = 5): string {
  return text.trim().split('\n').filter(Boolean).slice(-n).join('\n');
}

/**
 * The jobs' states by id, from `squeue -t all` (ended jobs too, while
 * slurmctld remembers them); undefined when squeue could not be asked.
 */
export async function queryJobs(ids: readonly string[]): Promise<Map<string, JobInfo> | undefined> {
  const out = new Map<string, JobInfo>();
  if (ids.length === 0) return out;
  const r = await runCommand('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%j|%T|%r'], { timeoutMs: 30_000 });
  // a single id slurmctld has forgotten is an error; several are listed without it
  if (r.code !== 0) return /Invalid job id/i.test(r.stderr) ? out : undefined;
  for (const line of r.stdout.split('\n')) {
    const [id, name, state, reason] = line.trim().split('|');
    if (id && name !== undefined && state) out.set(id, { name, state, reason: reason ?? '' });
  }
  return out;
}

/** The state of each job of a record (a failed submission is 'REFUSED'). */
export async function jobStates(jobs: readonly SlurmJob[]): Promise<JobState[]> {
  const submitted = jobs.filter((j) => j.error === undefined);
  const infos = await queryJobs(submitted.map((j) => j.id));
  return jobs.map((job) => {
    if (job.error !== undefined) return { job, state: 'REFUSED', reason: job.error, active: false };
    if (infos === undefined) return { job, state: 'UNKNOWN', reason: 'squeue did not answer', active: true };
    const info = infos.get(job.id);
    if (!info) return { job, state: 'GONE', reason: 'Slurm no longer knows the job', active: false };
    // the id names another job now (the recorded one is long gone)
    if (info.name !== job.name) return { job, state: 'GONE', reason: `the job id now belongs to another job (${info.name})`, active: false };
    return { job, state: info.state, reason: info.reason === 'None' ? '' : info.reason, active: ACTIVE.has(info.state) };
  });
}

/** `scontrol show job -o ID` as fields (JobState, Reason, ExitCode...); empty when Slurm no longer knows the job. */
async function showJob(id: string): Promise<Map<string, string>> {
  const r = await runCommand('scontrol', ['show', 'job', '-o', id], { timeoutMs: 30_000 });
  const fields = new Map<string, string>();
  if (r.code !== 0) return fields;
  for (const m of r.stdout.matchAll(/(\w+)=(\S*)/g)) if (!fields.has(m[1]!)) fields.set(m[1]!, m[2]!);
  return fields;
}

/** Cancel jobs by id and name (grouped by name: scancel cancels only jobs matching both). */
export async function cancelJobs(jobs: readonly SlurmJob[]): Promise<string[]> {
  const errors: string[] = [];
  for (const [name, ids] of byName(jobs)) {
    const r = await runCommand('scancel', [`--name=${name}`, ...ids], { timeoutMs: 30_000 });
    if (r.code !== 0) errors.push(lastLines(r.stderr) || `scancel exited with ${r.code ?? 'a signal'}`);
  }
  return errors;
}

function byName(jobs: readonly SlurmJob[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const j of jobs) if (j.id !== '') m.set(j.name, [...(m.get(j.name) ?? []), j.id]);
  return m;
}

/** A job name unique to this cluster of this profile root, e.g. `tscluster-default-engines-3f2a1c`. */
export function jobName(profile: string, clusterId: string, part: string): string {
  const root = createHash('sha256').update(rootDir()).digest('hex').slice(0, 6);
  return `tscluster-${profile}${clusterId ? `-${clusterId}` : ''}-${part}-${root}`;
}

/** The template of the settings: the profile's file (slurmTemplate) or the built-in one. */
export function slurmTemplate(s: Pick<Settings, 'slurmTemplate'>): { text: string; source: string } {
  if (s.slurmTemplate === undefined) return { text: BUILTIN_SLURM_TEMPLATE, source: '(built-in)' };
  try {
    return { text: readFileSync(s.slurmTemplate, 'utf8'), source: s.slurmTemplate };
  } catch (e) {
    throw new Error(`cannot read the Slurm template ${s.slurmTemplate}: ${(e as Error).message}`, { cause: e });
  }
}

/** Sizes of the jobs for n processes, k per job: [k, k, ..., the rest]. */
export function jobSizes(n: number, k: number | undefined): number[] {
  const per = Math.max(1, k ?? n);
  const out: number[] = [];
  for (let left = n; left > 0; left -= per) out.push(Math.min(per, left));
  return out;
}

/**
 * A Slurm duration as squeue prints it (`%L`, `%l`): `[days-]hours:minutes:seconds`,
 * `minutes:seconds`, or seconds; undefined for UNLIMITED, NOT_SET and the like.
 */
export function parseSlurmDuration(text: string): number | undefined {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const [days, a, b, c] = [Number(m[1] ?? 0), Number(m[2]), m[3], m[4]];
  const hms = c !== undefined ? [a, Number(b), Number(c)] : b !== undefined ? [0, a, Number(b)] : [0, 0, a];
  return days * 86400 + hms[0]! * 3600 + hms[1]! * 60 + hms[2]!;
}

/** A year: squeue may show a job without a time limit as having a year left (365-00:00:00) instead of UNLIMITED. */
const NO_LIMIT_S = 365 * 86400 - 3600;

/** The time left of a running job, seconds (squeue %L); undefined when it has no limit or Slurm cannot be asked. */
export async function jobTimeLeftS(jobId: string): Promise<number | undefined> {
  const r = await runCommand('squeue', ['-h', '-j', jobId, '-o', '%L'], { timeoutMs: 10_000 });
  const left = r.code === 0 ? parseSlurmDuration(r.stdout.split('\n')[0] ?? '') : undefined;
  return left !== undefined && left < NO_LIMIT_S ? left : undefined;
}

/**
 * The default lifetime of an engine in a Slurm job: the job's time left less
 * a minute (half of it when less than two minutes are left), so it stops
 * taking tasks before the time limit ends it. Undefined outside a job, or for
 * a job without a time limit.
 */
export async function slurmLifetimeS(env: NodeJS.ProcessEnv = process.env): Promise<{ s: number; left: number } | undefined> {
  const id = env.SLURM_JOB_ID;
  if (!id) return undefined;
  const left = await jobTimeLeftS(id);
  if (left === undefined) return undefined;
  return { s: left >= 120 ? left - 60 : left / 2, left };
}

let submissions = 0;

/** Write a job's batch script and submit it with sbatch; a refused submission is recorded with sbatch's message. */
export async function submitJob(spec: PartSpec, n: number): Promise<SlurmJob> {
  const s = spec.settings;
  const controller = spec.part === 'controller';
  const cpus = controller ? 1 : (s.cpusPerEngine ?? 1);
  const dir = profilePaths(spec.profile).log;
  const stem = clusterStem(spec.clusterId);
  const name = jobName(spec.profile, spec.clusterId, spec.part);
  const tag = `${Date.now()}-${process.pid}-${submissions++}`;
  const script = join(dir, `${stem}-${spec.part}-${tag}.sbatch`);
  const output = join(dir, `${stem}-${spec.part}-%j.out`);
  const argv = controller ? [CONTROLLER_SCRIPT, ...spec.args] : [engineScript(), '--file', spec.engineFile?.path ?? '', ...spec.args];
  if (!controller && !spec.engineFile) throw new Error('the slurm launcher needs the engine connection file');
  const { text, source } = slurmTemplate(s);
  const body = renderSlurmTemplate(
    text,
    {
      jobName: name,
      part: spec.part,
      n: String(n),
      cpus: String(cpus),
      output,
      options: sbatchLines({
        partition: s.partition,
        timeLimit: s.timeLimit,
        account: s.account,
        memory: controller ? undefined : s.memory,
        cpus,
        sbatch: s.sbatch,
      }),
      root: shq(rootDir()),
      profile: spec.profile,
      clusterId: spec.clusterId,
      cmd: [process.execPath, '--disable-warning=ExperimentalWarning', ...extraNodeArgs(), ...argv].map(shq).join(' '),
    },
    source,
  );
  writeFileSync(script, body, { mode: 0o700 });
  const submitted = new Date().toISOString();
  const r = await runCommand('sbatch', ['--parsable', script], { timeoutMs: 60_000 });
  const id = /^(\d+)(?:;\S+)?$/m.exec(r.stdout.trim())?.[1];
  if (r.code !== 0 || id === undefined) {
    const why = lastLines(r.stderr) || lastLines(r.stdout) || `sbatch exited with ${r.code ?? 'a signal'}`;
    return { id: '', name, n, script, output, submitted, error: r.code === null && /ENOENT/.test(why) ? `sbatch is not on PATH (${why})` : why };
  }
  return { id, name, n, script, output: output.replace('%j', id), submitted };
}

/** Why a job ended, in words: Slurm's state, reason and exit code, and the end of its output. */
export async function endedDetail(st: JobState): Promise<string> {
  const { job } = st;
  if (job.error !== undefined) return `sbatch refused the job: ${job.error} (its script: ${job.script})`;
  const f = await showJob(job.id);
  const state = f.get('JobState') ?? st.state;
  const reason = f.get('Reason') ?? st.reason;
  const exit = f.get('ExitCode');
  const what = [`Slurm: job ${job.id} ${state}`, reason && reason !== 'None' ? `reason ${reason}` : '', exit ? `exit code ${exit}` : '']
    .filter(Boolean)
    .join(', ');
  return `${what}${state === 'GONE' ? ` (${st.reason})` : ''}. Its output (${job.output}):\n${outputTail(job.output)}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export class SlurmLauncher implements Launcher<SlurmRecord> {
  readonly name = 'slurm' as const;
  readonly #polled = new WeakMap<SlurmRecord, { at: number; status: Promise<LaunchStatus> }>();
  /** why each ended job ended (asked of Slurm once) */
  readonly #details = new Map<string, Promise<string>>();

  async start(spec: PartSpec): Promise<SlurmRecord> {
    const sizes = spec.part === 'controller' ? [1] : jobSizes(spec.n, spec.settings.enginesPerJob);
    const jobs = await Promise.all(sizes.map((n) => submitJob(spec, n)));
    return { launcher: 'slurm', jobs };
  }

  poll(rec: SlurmRecord): Promise<LaunchStatus> {
    const last = this.#polled.get(rec);
    if (last && Date.now() - last.at < POLL_EVERY_MS) return last.status;
    const status = this.#poll(rec);
    this.#polled.set(rec, { at: Date.now(), status });
    return status;
  }

  async #poll(rec: SlurmRecord): Promise<LaunchStatus> {
    const states = await jobStates(rec.jobs);
    const ended = states.filter((st) => !st.active);
    return {
      running: states.filter((st) => st.active).reduce((a, st) => a + st.job.n, 0),
      total: rec.jobs.reduce((a, j) => a + j.n, 0),
      ended: await Promise.all(
        ended.map(async (st) => ({
          what: st.job.id ? `in Slurm job ${st.job.id} (${st.state})` : 'of a Slurm job that was not submitted',
          detail: await this.detail(st),
          count: st.job.n,
        })),
      ),
    };
  }

  /** Why a job ended (asked once per job). */
  detail(st: JobState): Promise<string> {
    const key = st.job.id || st.job.script;
    let d = this.#details.get(key);
    if (!d) {
      d = endedDetail(st);
      this.#details.set(key, d);
    }
    return d;
  }

  async stop(rec: SlurmRecord, graceMs: number): Promise<void> {
    const jobs = rec.jobs.filter((j) => j.id !== '');
    if (jobs.length === 0) return;
    // asked to end (the controller told its engines): give them the grace to end by themselves
    let left = await this.#unfinished(jobs);
    const graceEnd = Date.now() + graceMs;
    while (left.length > 0 && Date.now() < graceEnd) {
      await sleep(250);
      left = await this.#unfinished(left);
    }
    if (left.length === 0) return;
    await cancelJobs(left);
    const deadline = Date.now() + CANCEL_WAIT_MS;
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(250);
      left = await this.#unfinished(left);
    }
  }

  /** Jobs whose processes may still run: active or completing (an unknown state counts). */
  async #unfinished(jobs: readonly SlurmJob[]): Promise<SlurmJob[]> {
    const states = await jobStates(jobs);
    return states.filter((st) => st.active || st.state === 'COMPLETING').map((st) => st.job);
  }

  endNow(rec: SlurmRecord): void {
    for (const [name, ids] of byName(rec.jobs)) runCommandSync('scancel', [`--name=${name}`, ...ids], { timeoutMs: 5000 });
  }

  describe(rec: SlurmRecord): string {
    const n = rec.jobs.reduce((a, j) => a + j.n, 0);
    const ids = rec.jobs.filter((j) => j.id !== '').map((j) => j.id);
    const refused = rec.jobs.filter((j) => j.error !== undefined);
    const parts = [
      ids.length ? `${ids.length === 1 ? 'job' : 'jobs'} ${ids.join(', ')}` : '',
      refused.length ? `${plural(refused.length, 'submission')} refused (${refused[0]?.error?.split('\n')[0] ?? ''})` : '',
    ].filter(Boolean);
    return `slurm${rec.adapt ? ' (adaptive)' : ''}: ${plural(n, 'process', 'processes')}${parts.length ? ` (${parts.join('; ')})` : ''}`;
  }

  async describeLive(rec: SlurmRecord, detail = false): Promise<string> {
    const states = await jobStates(rec.jobs);
    const jobs = states.map((st) =>
      st.job.error !== undefined
        ? `a submission refused (${st.job.error.split('\n')[0] ?? ''})`
        : `job ${st.job.id} ${st.state}${st.reason && st.state !== 'GONE' ? ` (${st.reason})` : ''}, ${plural(st.job.n, 'process', 'processes')}`,
    );
    const line = `slurm${rec.adapt ? ' (adaptive)' : ''}: ${jobs.join('; ') || 'no jobs'}`;
    if (!detail) return line;
    const outputs = states
      .filter((st) => st.job.error === undefined)
      .map((st) => `\nThe output of job ${st.job.id} so far (${st.job.output}):\n${outputTail(st.job.output)}`);
    return line + outputs.join('');
  }
}

export const slurmLauncher = new SlurmLauncher();
