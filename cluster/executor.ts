/**
 * `Executor.auto()`: the executor of a running cluster of the profile, or, with
 * no cluster, an in-process pool of worker threads with the same interface, so
 * code written against it runs with or without a cluster.
 *
 * The pool's threads are the engine's execution workers (engine/worker.ts):
 * functions travel as source and values by structured clone, exactly as to an
 * engine, so code that works on one works on the other.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { v4 as uuidv4 } from 'uuid';
import { Client } from '../client/client.js';
import { BasicFuture, BaseExecutor, ClusterExecutor } from '../client/executor.js';
import type { Executor as ExecutorApi, Future } from '../client/executor.js';
import { RemoteError, SerializationError, TaskAborted } from '../errors/index.js';
import { deserialize, functionSource, serialize } from '../protocol/index.js';
import { DEFAULT_PROFILE, runningCluster } from '../profiles/index.js';
import type { FromWorker, TaskError, ToWorker } from '../engine/worker-messages.js';

interface Job {
  id: string;
  kind: 'apply' | 'map';
  frames: Buffer[];
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  thread?: Thread;
}

interface Thread {
  worker: Worker;
  ready: boolean;
  job: Job | undefined;
}

const WORKER_URL = new URL('../engine/worker.js', import.meta.url);

/** An executor of in-process worker threads. */
export class LocalExecutor extends BaseExecutor {
  readonly kind = 'local' as const;
  readonly #threads: Thread[] = [];
  readonly #queue: Job[] = [];
  #closed = false;

  /** @param threads how many worker threads (default: one per core) */
  constructor(readonly threads: number = availableParallelism()) {
    super();
    for (let i = 0; i < threads; i++) this.#threads.push(this.#spawn());
  }

  submit<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): Future<Awaited<R>> {
    return this.#submit('apply', serialize(args, 'args', functionSource(fn, 'the function')));
  }

  async map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>, opts: { chunksize?: number } = {}): Promise<Awaited<R>[]> {
    const all = Array.from(items as Iterable<T>);
    const size = opts.chunksize ?? Math.max(1, Math.ceil(all.length / (this.threads * 4)));
    const src = functionSource(fn, 'the function');
    const futures: Future<Awaited<R>[]>[] = [];
    for (let i = 0; i < all.length; i += size) futures.push(this.#submit('map', serialize(all.slice(i, i + size), 'items', src)));
    const parts = await Promise.all(futures.map((f) => Promise.resolve(f)));
    return parts.flat();
  }

  #submit<R>(kind: 'apply' | 'map', frames: Buffer[]): Future<R> {
    if (this.isShut) throw new Error('the executor is shut down: create a new one to submit more work');
    let job: Job | undefined;
    const work = new Promise<R>((resolve, reject) => {
      job = { id: uuidv4(), kind, frames, resolve: resolve as (v: unknown) => void, reject };
    });
    this.#queue.push(job!);
    this.#dispatch();
    return this.track(new BasicFuture(work, async () => this.#cancel(job!)));
  }

  protected override async release(): Promise<void> {
    this.#closed = true;
    for (const j of this.#queue.splice(0)) j.reject(new TaskAborted('TaskAborted', 'the executor was shut down', [], null, j.id));
    await Promise.all(this.#threads.map((t) => t.worker.terminate()));
  }

  #cancel(job: Job): boolean {
    const qi = this.#queue.indexOf(job);
    if (qi >= 0) {
      this.#queue.splice(qi, 1);
      job.reject(new TaskAborted('TaskAborted', 'the call was cancelled before it started', [], null, job.id));
      return true;
    }
    const t = job.thread;
    if (t && t.job === job) {
      // a running call is interrupted by replacing its thread
      t.job = undefined;
      job.reject(new TaskAborted('TaskAborted', 'the call was cancelled while running; its thread was replaced', [], null, job.id));
      void t.worker.terminate();
      this.#threads[this.#threads.indexOf(t)] = this.#spawn();
      return true;
    }
    return false;
  }

  #dispatch(): void {
    for (const t of this.#threads) {
      if (this.#queue.length === 0) return;
      if (!t.ready || t.job) continue;
      const job = this.#queue.shift()!;
      t.job = job;
      job.thread = t;
      const m: ToWorker = { type: 'task', msgId: job.id, content: { kind: job.kind }, frames: job.frames };
      t.worker.postMessage(m);
    }
  }

  #spawn(): Thread {
    // flags of how this process was started (--input-type, --eval, ...) do not apply to a worker file
    const execArgv = process.execArgv.filter((a) => !/^--(input-type|eval|print|test|watch)|^-[ep]$/.test(a));
    const t: Thread = { worker: new Worker(WORKER_URL, { stdout: false, stderr: false, execArgv }), ready: false, job: undefined };
    t.worker.unref();
    let failure: Error | undefined;
    // a thread that fails is reported through its exit below; an unheard 'error' would end this process
    t.worker.on('error', (e) => {
      failure = e;
    });
    t.worker.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'ready':
          t.ready = true;
          return this.#dispatch();
        case 'stream':
          (m.name === 'stderr' ? process.stderr : process.stdout).write(m.text);
          return;
        case 'done': {
          const job = t.job;
          if (!job || job.id !== m.msgId) return;
          t.job = undefined;
          if (m.ok) {
            try {
              job.resolve(deserialize(m.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))));
            } catch (e) {
              job.reject(e instanceof Error ? e : new Error(String(e)));
            }
          } else job.reject(toError(m.error, job.id));
          return this.#dispatch();
        }
      }
    });
    t.worker.on('exit', (code) => {
      const i = this.#threads.indexOf(t);
      if (this.#closed || i < 0) return;
      const job = t.job;
      t.job = undefined;
      const why = failure ? `failed: ${failure.message}` : `exited with code ${code}`;
      if (job) job.reject(new RemoteError('WorkerExited', `the call's worker thread ${why}; a fresh thread replaces it`, [], null, job.id));
      this.#threads[i] = this.#spawn();
    });
    return t;
  }
}

function toError(e: TaskError, id: string): Error {
  if (e.ename === 'SerializationError' && e.detail) return new SerializationError(e.evalue, String(e.detail.typeName), String(e.detail.path));
  return new RemoteError(e.ename, e.evalue, e.traceback, null, id);
}

export interface AutoOptions {
  profile?: string;
  clusterId?: string;
  /** threads of the in-process pool when no cluster runs (default: one per core) */
  threads?: number;
}

/** The interface every executor has (a cluster's or the in-process pool's). */
export type Executor = ExecutorApi;

/** Executors: see `Executor.auto`. */
export const Executor = {
  /**
   * The executor of the running cluster of `profile` (load-balanced), or an
   * in-process worker-thread pool with the same interface when none runs.
   * @example
   * const ex = await Executor.auto();
   * console.log(ex.kind, await ex.map((x: number) => x * x, [1, 2, 3]));
   * await ex.shutdown();
   */
  async auto(opts: AutoOptions = {}): Promise<ExecutorApi> {
    const profile = opts.profile ?? DEFAULT_PROFILE;
    const clusterId = opts.clusterId ?? '';
    if (runningCluster(profile, clusterId)) {
      const rc = await Client.connect({ profile, clusterId });
      return new ClusterExecutor(rc.loadBalancedView(), () => rc.close());
    }
    return new LocalExecutor(opts.threads);
  },
};
