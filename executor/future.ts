/**
 * Executors: a concurrent.futures-style interface over a view (`view.executor()`),
 * or over an in-process worker-thread pool (`Executor.auto()` without a cluster).
 */
import { TimeoutError } from '../errors/index.js';
import { withTimeout } from '../util/timers.js';

/** The handle of one submitted call. Awaitable. */
export interface Future<R> extends PromiseLike<R> {
  /** Stop the call if it has not finished (queued or running); resolves true if it was stopped. */
  cancel(): Promise<boolean>;
  /** True once the call has finished (ok, failed or cancelled). */
  done(): boolean;
  /** The result, waiting at most `timeoutMs`; rejects with the call's error or TimeoutError. */
  result(opts?: { timeoutMs?: number }): Promise<R>;
}

export interface ShutdownOptions {
  /** wait for submitted calls to finish (default true) */
  wait?: boolean;
  /** cancel calls that have not finished (default false) */
  cancelFutures?: boolean;
}

/**
 * Submit calls and map over items, on a cluster or in-process threads alike.
 * @example
 * const ex = await Executor.auto();
 * const f = ex.submit((a: number, b: number) => a + b, 1, 2);
 * console.log(await f, await ex.map((x: number) => x * x, [1, 2, 3]));
 * await ex.shutdown();
 */
export interface Executor {
  /** `cluster` when calls run on engines, `local` for in-process worker threads */
  readonly kind: 'cluster' | 'local';
  submit<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): Future<Awaited<R>>;
  /** Call `fn` on every item; results in input order. */
  map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>, opts?: { chunksize?: number }): Promise<Awaited<R>[]>;
  /** No more submissions; optionally cancel or wait for the submitted ones. */
  shutdown(opts?: ShutdownOptions): Promise<void>;
}

/** A Future over anything awaitable with a way to cancel it. */
export class BasicFuture<R> implements Future<R> {
  #done = false;
  readonly #promise: Promise<R>;

  readonly #cancel: () => Promise<boolean>;

  constructor(work: PromiseLike<R>, cancel: () => Promise<boolean>) {
    this.#cancel = cancel;
    this.#promise = Promise.resolve(work).finally(() => {
      this.#done = true;
    });
    this.#promise.catch(() => undefined);
  }

  then<A = R, B = never>(
    onfulfilled?: ((value: R) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  cancel(): Promise<boolean> {
    return this.#done ? Promise.resolve(false) : this.#cancel();
  }

  done(): boolean {
    return this.#done;
  }

  result({ timeoutMs }: { timeoutMs?: number } = {}): Promise<R> {
    return withTimeout(this.#promise, timeoutMs, () => new TimeoutError(`no result within ${timeoutMs} ms`));
  }
}

/** Bookkeeping every executor shares: the futures not yet done, and shutdown. */
export abstract class BaseExecutor implements Executor {
  abstract readonly kind: 'cluster' | 'local';
  protected readonly pending = new Set<Future<unknown>>();
  #shut = false;

  protected track<R>(f: Future<R>): Future<R> {
    if (this.#shut) throw new Error('the executor is shut down: create a new one to submit more work');
    this.pending.add(f);
    const forget = (): void => {
      this.pending.delete(f);
    };
    f.then(forget, forget);
    return f;
  }

  protected get isShut(): boolean {
    return this.#shut;
  }

  abstract submit<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): Future<Awaited<R>>;
  abstract map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>, opts?: { chunksize?: number }): Promise<Awaited<R>[]>;

  async shutdown({ wait = true, cancelFutures = false }: ShutdownOptions = {}): Promise<void> {
    this.#shut = true;
    const all = [...this.pending];
    if (cancelFutures) await Promise.all(all.map((f) => f.cancel()));
    if (wait) await Promise.allSettled(all.map((f) => Promise.resolve(f)));
    await this.release();
  }

  /** Free what the executor holds (a client it opened, threads). */
  protected async release(): Promise<void> {}
}
