/**
 * An executor of in-process worker threads, with the interface of a
 * cluster's executor. The threads are the engine's execution workers
 * (executor/thread.ts): functions travel as source and values by structured
 * clone, exactly as to an engine, so code that works on one works on the other.
 */
import { availableParallelism } from 'node:os';
import { v4 as uuidv4 } from 'uuid';
import { TaskAborted, WorkerExited, errorFromReply } from '../errors/index.js';
import { deserialize, functionSource, serialize } from '../protocol/index.js';
import { ExecutionWorker, describeEnd } from './execution-worker.js';
import { BasicFuture, BaseExecutor } from './future.js';
import type { Future } from './future.js';
import type { DoneFromWorker } from './messages.js';

interface Job {
  id: string;
  kind: 'apply' | 'map';
  frames: Buffer[];
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  thread?: Thread;
}

interface Thread {
  worker: ExecutionWorker;
  job: Job | undefined;
}

/** Flags of how this process was started (--input-type, --eval, ...) that do not apply to a worker file. */
const NOT_FOR_THREADS = /^--(input-type|eval|print|test|watch)|^-[ep]$/;

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
    return this.track(new BasicFuture(work, () => Promise.resolve(this.#cancel(job!))));
  }

  protected override async release(): Promise<void> {
    this.#closed = true;
    for (const j of this.#queue.splice(0)) j.reject(new TaskAborted('TaskAborted', 'the executor was shut down', [], null, j.id));
    await Promise.all(this.#threads.map((t) => t.worker.close()));
  }

  #cancel(job: Job): boolean {
    const qi = this.#queue.indexOf(job);
    if (qi >= 0) {
      this.#queue.splice(qi, 1);
      job.reject(new TaskAborted('TaskAborted', 'the call was cancelled before it started', [], null, job.id));
      return true;
    }
    const t = job.thread;
    if (t?.job !== job) return false;
    // a running call is interrupted by replacing its thread
    t.job = undefined;
    job.reject(new TaskAborted('TaskAborted', 'the call was cancelled while running; its thread was replaced', [], null, job.id));
    void t.worker.close();
    this.#threads[this.#threads.indexOf(t)] = this.#spawn();
    return true;
  }

  #dispatch(): void {
    for (const t of this.#threads) {
      if (this.#queue.length === 0) return;
      if (!t.worker.ready || t.job) continue;
      const job = this.#queue.shift()!;
      t.job = job;
      job.thread = t;
      t.worker.post(job.id, { kind: job.kind }, job.frames);
    }
  }

  #done(t: Thread, m: DoneFromWorker): void {
    const job = t.job;
    if (job?.id !== m.msgId) return;
    t.job = undefined;
    if (!m.ok) job.reject(errorFromReply(m.error, null, job.id));
    else {
      try {
        job.resolve(deserialize(m.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength))));
      } catch (e) {
        job.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
    this.#dispatch();
  }

  #spawn(): Thread {
    const execArgv = process.execArgv.filter((a) => !NOT_FOR_THREADS.test(a));
    const t: Thread = { job: undefined } as Thread;
    t.worker = new ExecutionWorker(
      {
        onReady: () => this.#dispatch(),
        onStream: (_id, name, text) => (name === 'stderr' ? process.stderr : process.stdout).write(text),
        onDone: (m) => this.#done(t, m),
        onEnd: (end) => {
          const i = this.#threads.indexOf(t);
          if (this.#closed || i < 0) return;
          const job = t.job;
          t.job = undefined;
          if (job)
            job.reject(
              new WorkerExited('WorkerExited', `the call's worker thread ${describeEnd(end)}; a fresh thread replaces it`, [], null, job.id),
            );
          this.#threads[i] = this.#spawn();
          this.#dispatch();
        },
      },
      { execArgv, ref: false },
    );
    return t;
  }
}
