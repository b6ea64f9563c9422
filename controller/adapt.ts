/**
 * Adaptive scaling (--adapt MIN:MAX): the controller submits engine jobs
 * while tasks wait for an engine, and retires engines idle for --adapt-idle
 * seconds (their jobs are cancelled), keeping MIN..MAX engines. It sees the
 * hub through AdaptHub (waiting tasks, engines and their load) and starts
 * and ends jobs through EngineJobs (the Slurm launcher); the jobs it has are
 * recorded in the cluster's state file, so `tscluster stop` cancels them even
 * when the controller cannot.
 *
 * A job that ends without having brought an engine (refused, failed, or no
 * engine within --start-timeout, after which it is cancelled) is logged with
 * Slurm's word and its output, and submissions pause for a while that doubles
 * with each such failure (5 s up to 5 minutes), so a broken option does not
 * flood the queue with jobs.
 */
import { readFileSync } from 'node:fs';
import type { Settings } from '../config/settings.js';
import { cancelJobs, jobStates, slurmLauncher, submitJob } from '../launcher/slurm.js';
import type { JobState } from '../launcher/slurm.js';
import { connectionFilePath, recordAdaptJobs } from '../profiles/index.js';
import type { SlurmJob } from '../profiles/index.js';
import type { Logger } from '../util/log.js';

/** What `tscluster list` shows of the adapter (stats_reply's `adapt`). */
export interface AdaptStatus {
  min: number;
  max: number;
  /** the engines it aims for now */
  target: number;
  /** engines registered (not retiring) */
  engines: number;
  /** engines of its jobs still to come (queued or starting jobs) */
  starting: number;
  /** its jobs */
  jobs: number;
  /** why its last job brought no engine (Slurm's word), until one does */
  problem?: string;
}

/** An engine as the adapter sees it. */
export interface AdaptEngine {
  id: number;
  /** its batch job, if it said */
  job: string | undefined;
  load: number;
  /** when its load last changed */
  lastBusy: number;
  retiring: string | undefined;
}

/** The hub, as the adapter sees it. */
export interface AdaptHub {
  /** tasks waiting for an engine */
  queued(): number;
  /** most tasks per engine (0: unlimited) */
  readonly hwm: number;
  engines(): AdaptEngine[];
  /** An idle engine takes no more tasks and shuts down. */
  retire(id: number, reason: string): void;
}

/** Engine jobs: what the adapter asks of the batch system. */
export interface EngineJobs {
  submit(n: number): Promise<SlurmJob>;
  states(jobs: readonly SlurmJob[]): Promise<JobState[]>;
  cancel(jobs: readonly SlurmJob[]): Promise<void>;
  /** why a job ended, with its output */
  detail(st: JobState): Promise<string>;
  /** record the jobs the adapter has now (the cluster's state file) */
  record(jobs: readonly SlurmJob[]): void;
}

export interface AdaptOptions {
  min: number;
  max: number;
  idleMs: number;
  /** engines per job */
  perJob: number;
  /** a job whose engines have not all registered this long after its submission is cancelled */
  startTimeoutMs: number;
  hub: AdaptHub;
  jobs: EngineJobs;
  log: Logger;
  /** how often it looks (default 1 s) */
  everyMs?: number;
}

/** `MIN:MAX` */
export function parseAdapt(text: string): { min: number; max: number } {
  const m = /^(\d+):(\d+)$/.exec(text);
  if (!m || Number(m[1]) > Number(m[2])) throw new RangeError(`--adapt takes MIN:MAX with MIN <= MAX, got '${text}'`);
  return { min: Number(m[1]), max: Number(m[2]) };
}

interface Held {
  job: SlurmJob;
  submittedAt: number;
  /** ids of the engines of this job that registered */
  seen: Set<number>;
  /** cancelled by the adapter (its end is no failure) */
  cancelled: boolean;
}

const BACKOFF_MS = 5000;
const MAX_BACKOFF_MS = 300_000;

export class Adapter {
  readonly #o: AdaptOptions;
  readonly #held: Held[] = [];
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #stopped = false;
  #target: number;
  /** when tasks last waited */
  #lastWaiting = Date.now();
  #failures = 0;
  #holdUntil = 0;
  #problem: string | undefined;

  constructor(o: AdaptOptions) {
    this.#o = o;
    this.#target = o.min;
  }

  start(): void {
    this.#o.log.info(
      `adaptive: ${this.#o.min} to ${this.#o.max} engines, ${this.#o.perJob} per job, idle engines retire after ${this.#o.idleMs / 1000} s`,
    );
    this.#timer = setInterval(() => void this.tick(), this.#o.everyMs ?? 1000);
    void this.tick();
  }

  status(): AdaptStatus {
    const all = this.#o.hub.engines();
    this.#note(all);
    const engines = all.filter((e) => e.retiring === undefined).length;
    return {
      min: this.#o.min,
      max: this.#o.max,
      target: this.#target,
      engines,
      starting: this.#starting(),
      jobs: this.#held.length,
      ...(this.#problem !== undefined ? { problem: this.#problem } : {}),
    };
  }

  /** Note which registered engines came from which of its jobs. */
  #note(engines: readonly AdaptEngine[]): void {
    for (const h of this.#held)
      for (const e of engines)
        if (e.job === h.job.id && !h.seen.has(e.id)) {
          h.seen.add(e.id);
          // a job brought an engine: submissions work again
          this.#failures = 0;
          this.#problem = undefined;
        }
  }

  /** Stop adapting and cancel every job it holds. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    // a look in progress may still submit: wait for it
    while (this.#busy) await new Promise((r) => setTimeout(r, 20));
    const jobs = this.#held.map((h) => h.job);
    if (jobs.length > 0) {
      await this.#o.jobs.cancel(jobs);
      this.#o.log.info(`adaptive: cancelled ${jobs.length} job(s) at shutdown`);
    }
    this.#held.length = 0;
    this.#o.jobs.record([]);
  }

  /** Engines of its jobs still to come. */
  #starting(): number {
    return this.#held.filter((h) => !h.cancelled).reduce((a, h) => a + Math.max(0, h.job.n - h.seen.size), 0);
  }

  /** One look: follow the jobs, then grow or shrink. */
  async tick(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      await this.#follow();
      // stop() waits for this look to end before it cancels the jobs, those submitted here among them
      await this.#adapt();
    } catch (e) {
      this.#o.log.warn(`adaptive: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      this.#busy = false;
    }
  }

  /** Note which engines came from which job; drop ended jobs (a job that never brought an engine is a failure). */
  async #follow(): Promise<void> {
    this.#note(this.#o.hub.engines());
    if (this.#held.length === 0) return;
    const states = await this.#o.jobs.states(this.#held.map((h) => h.job));
    const now = Date.now();
    const late: Held[] = [];
    let changed = false;
    for (const st of states) {
      const i = this.#held.findIndex((h) => h.job === st.job);
      const h = this.#held[i];
      if (!h) continue;
      if (!st.active) {
        this.#held.splice(i, 1);
        changed = true;
        if (h.seen.size === 0 && !h.cancelled)
          await this.#failed(`job ${st.job.id || '(not submitted)'} ended before any engine of it registered`, st);
        continue;
      }
      if (!h.cancelled && h.seen.size < h.job.n && now - h.submittedAt > this.#o.startTimeoutMs) late.push(h);
    }
    for (const h of late) {
      h.cancelled = true;
      await this.#o.jobs.cancel([h.job]);
      const st = states.find((s) => s.job === h.job);
      if (h.seen.size === 0 && st)
        await this.#failed(`no engine of job ${h.job.id} registered within ${this.#o.startTimeoutMs / 1000} s (--start-timeout); cancelled it`, st);
      else
        this.#o.log.warn(`adaptive: only ${h.seen.size} of ${h.job.n} engines of job ${h.job.id} registered within the start timeout; cancelled it`);
    }
    if (changed) this.#o.jobs.record(this.#held.map((x) => x.job));
  }

  async #failed(what: string, st: JobState): Promise<void> {
    this.#failures++;
    const pause = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** (this.#failures - 1));
    this.#holdUntil = Date.now() + pause;
    this.#problem = `${what}. ${await this.#o.jobs.detail(st)}`;
    this.#o.log.warn(`adaptive: ${this.#problem}\nadaptive: no new job for ${pause / 1000} s`);
  }

  async #adapt(): Promise<void> {
    const { hub, min, max, idleMs, perJob } = this.#o;
    const now = Date.now();
    const all = hub.engines();
    this.#note(all);
    const engines = all.filter((e) => e.retiring === undefined);
    const queued = hub.queued();
    if (queued > 0) this.#lastWaiting = now;
    const busy = engines.filter((e) => e.load > 0).length;
    const need = busy + (hub.hwm > 0 ? Math.ceil(queued / hub.hwm) : queued > 0 ? 1 : 0);
    this.#target = Math.min(max, Math.max(min, need));
    const have = engines.length + this.#starting();

    if (have < this.#target && now >= this.#holdUntil) {
      const sizes: number[] = [];
      for (let left = this.#target - have; left > 0; left -= perJob) sizes.push(Math.min(perJob, left));
      const jobs = await Promise.all(sizes.map((n) => this.#o.jobs.submit(n)));
      for (const job of jobs) this.#held.push({ job, submittedAt: Date.now(), seen: new Set(), cancelled: false });
      this.#o.jobs.record(this.#held.map((h) => h.job));
      this.#o.log.info(
        `adaptive: ${queued} task(s) waiting, ${engines.length} engine(s), ${have - engines.length} starting: submitted ${jobs.length} job(s) for ${sizes.reduce((a, b) => a + b, 0)} engine(s) (${jobs.map((j) => j.id || 'refused').join(', ')})`,
      );
      return;
    }
    if (queued > 0 || have <= this.#target) return;

    // shrink: jobs whose engines have all come and been idle long enough, or still-queued jobs no longer needed
    let count = have;
    const idle = (e: AdaptEngine): boolean => e.load === 0 && now - e.lastBusy >= idleMs;
    const cancelled: Held[] = [];
    for (const h of [...this.#held].reverse()) {
      if (h.cancelled || count - h.job.n < min) continue;
      const mine = engines.filter((e) => h.seen.has(e.id));
      const allIdle = h.seen.size === h.job.n && mine.every(idle);
      const unneeded = h.seen.size === 0 && now - this.#lastWaiting >= idleMs && now - h.submittedAt >= idleMs;
      if (!allIdle && !unneeded) continue;
      for (const e of mine) hub.retire(e.id, `idle for ${Math.round((now - e.lastBusy) / 1000)} s (--adapt-idle)`);
      h.cancelled = true;
      cancelled.push(h);
      count -= h.job.n;
    }
    if (cancelled.length === 0) return;
    await this.#o.jobs.cancel(cancelled.map((h) => h.job));
    this.#o.log.info(`adaptive: cancelled ${cancelled.length} idle job(s) (${cancelled.map((h) => h.job.id).join(', ')}); ${count} engine(s) left`);
  }
}

/**
 * Engine jobs through the Slurm launcher for the cluster of `w`: the engines
 * read the engine connection file this controller wrote (the jobs share its
 * file system), with the Slurm options of the settings and `engineArgs`.
 */
export function slurmEngineJobs(w: { profile: string; clusterId: string }, s: Settings, engineArgs: string[]): EngineJobs {
  const path = connectionFilePath(w.profile, w.clusterId, 'engine');
  return {
    submit: (n) => submitJob({ ...w, part: 'engines', args: engineArgs, n, settings: s, engineFile: { path, text: readFileSync(path, 'utf8') } }, n),
    states: (jobs) => jobStates(jobs),
    cancel: async (jobs) => {
      await cancelJobs(jobs);
    },
    detail: (st) => slurmLauncher.detail(st),
    record: (jobs) => {
      recordAdaptJobs(w.profile, w.clusterId, [...jobs]);
    },
  };
}
