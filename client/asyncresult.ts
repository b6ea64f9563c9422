/**
 * AsyncResult: the handle of submitted work. Awaitable (it is a PromiseLike),
 * with `get({ timeoutMs })`, `wait()`, `ready()`, `successful()`, per-task
 * metadata and captured output.
 */
import { CompositeError, TimeoutError } from './errors.js';

/** What the client knows of one task. */
export interface TaskInfo {
  msgId: string;
  /** the engine that ran it, once known */
  engineId: number | null;
  submitted: Date;
  started: Date | null;
  completed: Date | null;
  /** when the client received the result */
  received: Date | null;
  status: 'pending' | 'ok' | 'error';
  stdout: string;
  stderr: string;
  /** earlier failed runs of a retried task: the engine and the error of each */
  attempts: { engineId: number | null; ename: string }[];
}

/** Internal: one task's state, shared by the client and the AsyncResult. */
export interface TaskState {
  info: TaskInfo;
  done: boolean;
  value: unknown;
  error: Error | undefined;
  onDone: ((t: TaskState) => void) | undefined;
  /** asks the controller to abort tasks */
  abort: (msgIds: string[]) => Promise<number>;
}

/** `TaskInfo` for a single-task result, `TaskInfo[]` otherwise. */
export type PerTask<S extends boolean, X> = S extends true ? X : X[];

export class AsyncResult<T, S extends boolean = true> implements PromiseLike<T> {
  /** the msg_ids of the tasks, in submission order */
  readonly msgIds: readonly string[];
  readonly #tasks: readonly TaskState[];
  readonly #single: S;
  readonly #promise: Promise<T>;
  #remaining: number;
  readonly #order: number[] = [];

  /** @internal created by views */
  constructor(tasks: TaskState[], single: S, combine: (values: unknown[], completionOrder: readonly number[]) => T) {
    this.msgIds = tasks.map((t) => t.info.msgId);
    this.#tasks = tasks;
    this.#single = single;
    this.#remaining = tasks.length;
    this.#promise = new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        const failures = this.#tasks.filter((t) => t.error).map((t) => t.error!);
        if (failures.length > 0) {
          reject(this.#single || this.#tasks.length === 1 ? failures[0] : new CompositeError(failures, this.#tasks.length));
        } else {
          try {
            resolve(combine(this.#tasks.map((t) => t.value), this.#order));
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        }
      };
      tasks.forEach((t, i) => {
        const done = (): void => {
          this.#order.push(i);
          if (--this.#remaining === 0) settle();
        };
        if (t.done) done();
        else t.onDone = done;
      });
      if (tasks.length === 0) settle();
    });
    // a result nobody awaits must not crash the process with an unhandled rejection
    this.#promise.catch(() => undefined);
  }

  then<A = T, B = never>(onfulfilled?: ((value: T) => A | PromiseLike<A>) | null, onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.#promise.catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#promise.finally(onfinally);
  }

  /**
   * The result, waiting at most `timeoutMs` (default: no limit).
   * Rejects with the remote error, or TimeoutError if not done in time (the work goes on).
   * @example const v = await lb.apply(f).get({ timeoutMs: 5000 });
   */
  get({ timeoutMs }: { timeoutMs?: number } = {}): Promise<T> {
    if (timeoutMs === undefined || this.ready()) return this.#promise;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new TimeoutError(`result not ready after ${timeoutMs} ms (${this.#tasks.length - this.#remaining} of ${this.#tasks.length} tasks done)`)),
        timeoutMs,
      );
      this.#promise.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e);
        },
      );
    });
  }

  /** Wait until done or `timeoutMs` passes; true when done. Never rejects. */
  async wait(timeoutMs?: number): Promise<boolean> {
    try {
      await this.get({ timeoutMs });
    } catch {
      // failures are for get(); wait() only tells readiness
    }
    return this.ready();
  }

  /** True when every task has finished (ok or not). */
  ready(): boolean {
    return this.#remaining === 0;
  }

  /** True when every task finished without error. Throws if not ready yet. */
  successful(): boolean {
    if (!this.ready()) throw new Error('not ready yet: await the result or call wait() first');
    return this.#tasks.every((t) => t.error === undefined);
  }

  /**
   * Abort the tasks not finished yet: queued ones are removed, running ones
   * are interrupted on their engines (whose namespaces are reset). They end
   * with TaskAborted. Resolves with how many the controller stopped.
   * @example const ar = lb.apply(slow); await ar.abort();
   */
  async abort(): Promise<number> {
    const pending = this.#tasks.filter((t) => !t.done);
    if (pending.length === 0) return 0;
    return pending[0]!.abort(pending.map((t) => t.info.msgId));
  }

  /** Tasks done and in total. */
  get progress(): { done: number; total: number } {
    return { done: this.#tasks.length - this.#remaining, total: this.#tasks.length };
  }

  /** Per-task metadata: one record for a single-task result, an array otherwise. */
  get metadata(): PerTask<S, TaskInfo> {
    const infos = this.#tasks.map((t) => ({ ...t.info }));
    return (this.#single ? infos[0] : infos) as PerTask<S, TaskInfo>;
  }

  /** What the task(s) wrote to stdout, so far. */
  get stdout(): PerTask<S, string> {
    const v = this.#tasks.map((t) => t.info.stdout);
    return (this.#single ? v[0] : v) as PerTask<S, string>;
  }

  /** What the task(s) wrote to stderr, so far. */
  get stderr(): PerTask<S, string> {
    const v = this.#tasks.map((t) => t.info.stderr);
    return (this.#single ? v[0] : v) as PerTask<S, string>;
  }

  get [Symbol.toStringTag](): string {
    return `AsyncResult(${this.progress.done}/${this.progress.total})`;
  }
}
