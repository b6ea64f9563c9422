/**
 * AsyncResult: the handle of submitted work. Awaitable (it is a PromiseLike),
 * with `get({ timeoutMs, returnExceptions })`, `wait()`, `ready()`,
 * `successful()`, per-task metadata, captured output, and async iteration of
 * results as they arrive.
 */
import { CompositeError, ConnectionLost, TimeoutError } from '../errors/index.js';
import { withTimeout } from '../util/timers.js';
import { displayProgress } from './display.js';
import type { InteractiveOptions } from './progress.js';
import type { TaskInfo, TaskState } from './task-state.js';
import { checkMs } from './validate.js';

export type { InteractiveOptions } from './progress.js';
export type { TaskInfo, TaskState } from './task-state.js';

/** `TaskInfo` for a single-task result, `TaskInfo[]` otherwise. */
export type PerTask<S extends boolean, X> = S extends true ? X : X[];

/**
 * The shape of a multi-task result: its tasks' values, or the items of their
 * chunk arrays (a map), in submission order or as tasks complete.
 */
export interface ResultShape {
  items: 'values' | 'chunks';
  /** in submission order (default), or as tasks complete */
  ordered: boolean;
  /** for chunks: how many items each task holds (so a failed chunk's items can be placed) */
  sizes?: readonly number[];
}

export interface GetOptions {
  /** give up waiting after this long (TimeoutError; the work goes on). Infinity or absent: no limit */
  timeoutMs?: number;
  /**
   * resolve with every item, errors in place of the items that failed, instead
   * of rejecting (ipyparallel's return_exceptions)
   */
  returnExceptions?: boolean;
}

export interface IterateOptions {
  /** on a failed task: 'throw' (default) ends the iteration; 'yield' yields the error in place and goes on */
  onError?: 'throw' | 'yield';
}

export class AsyncResult<T, S extends boolean = true> implements PromiseLike<T>, AsyncIterable<unknown> {
  /** the msg_ids of the tasks, in submission order */
  readonly msgIds: readonly string[];
  readonly #tasks: readonly TaskState[];
  readonly #single: S;
  readonly #promise: Promise<T>;
  #remaining: number;
  readonly #order: number[] = [];
  readonly #shape: ResultShape;
  /** woken whenever a task completes */
  #wake: (() => void)[] = [];

  /** @internal created by views */
  constructor(
    tasks: TaskState[],
    single: S,
    combine: (values: unknown[], completionOrder: readonly number[]) => T,
    shape: ResultShape = { items: 'values', ordered: true },
  ) {
    this.msgIds = tasks.map((t) => t.info.msgId);
    this.#tasks = tasks;
    this.#single = single;
    this.#shape = shape;
    this.#remaining = tasks.length;
    this.#promise = new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        const failure = this.#failure();
        if (failure) {
          reject(failure);
          return;
        }
        try {
          resolve(
            combine(
              this.#tasks.map((t) => t.value),
              this.#order,
            ),
          );
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      };
      tasks.forEach((t, i) => {
        const done = (): void => {
          this.#order.push(i);
          if (--this.#remaining === 0) settle();
          const wake = this.#wake;
          this.#wake = [];
          for (const w of wake) w();
        };
        if (t.done) done();
        else t.listeners.push(done);
      });
      if (tasks.length === 0) settle();
    });
    // a result nobody awaits must not crash the process with an unhandled rejection
    this.#promise.catch(() => undefined);
  }

  /**
   * The error the result rejects with: a single task's error; a lost
   * connection once (not once per task); else a CompositeError with the
   * partial results and the failed indices.
   */
  #failure(): Error | undefined {
    const failures = this.#tasks.flatMap((t) => (t.error ? [t.error] : []));
    const first = failures[0];
    if (!first) return undefined;
    if (this.#single || this.#tasks.length === 1) return first;
    if (failures.every((f) => f instanceof ConnectionLost)) return first;
    const failed = new Set<unknown>(failures);
    const results = this.#slots();
    const failedIndices = results.flatMap((v, i) => (failed.has(v) ? [i] : []));
    return new CompositeError(failures, this.#tasks.length, { results, failedIndices });
  }

  /** Every item (or task value), in result order, with each failed task's error in place of its items. */
  #slots(): unknown[] {
    const chunks = this.#shape.items === 'chunks';
    const order = this.#shape.ordered ? this.#tasks.map((_, i) => i) : this.#order;
    const out: unknown[] = [];
    for (const i of order) {
      const t = this.#tasks[i]!;
      if (!chunks) out.push(t.error ?? t.value);
      else if (t.error) for (let k = 0; k < (this.#shape.sizes?.[i] ?? 1); k++) out.push(t.error);
      else if (Array.isArray(t.value)) for (const v of t.value as unknown[]) out.push(v);
      else out.push(t.value);
    }
    return out;
  }

  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.#promise.catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#promise.finally(onfinally);
  }

  /**
   * The result, waiting at most `timeoutMs` (default: no limit). Rejects with
   * the remote error (several failed tasks: a CompositeError carrying the
   * partial results), or TimeoutError if not done in time (the work goes on).
   * With `returnExceptions`, resolves with every item, errors in place.
   * @example const v = await lb.apply(f).get({ timeoutMs: 5000 });
   * @example const all = await lb.map(f, items).get({ returnExceptions: true });   // [1, RemoteError, 9, ...]
   */
  get(opts: GetOptions & { returnExceptions: true }): Promise<S extends true ? unknown : unknown[]>;
  get(opts?: GetOptions): Promise<T>;
  get({ timeoutMs, returnExceptions = false }: GetOptions = {}): Promise<unknown> {
    if (timeoutMs !== undefined) checkMs('timeoutMs', timeoutMs);
    const settled: Promise<unknown> = returnExceptions
      ? this.#promise.then(
          (v) => v,
          () => this.#withErrors(),
        )
      : this.#promise;
    if (this.ready()) return settled;
    const done = (): number => this.#tasks.length - this.#remaining;
    return withTimeout(
      settled,
      timeoutMs,
      () => new TimeoutError(`result not ready after ${timeoutMs} ms (${done()} of ${this.#tasks.length} tasks done)`),
    );
  }

  /** The result with errors in place of what failed. */
  #withErrors(): unknown {
    const slots = this.#slots();
    return this.#single ? slots[0] : slots;
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

  #changed(): Promise<void> {
    return new Promise((r) => this.#wake.push(r));
  }

  /**
   * Results as they arrive, while the work runs: for a map, its items (in
   * input order, or as completed with `ordered: false`); for a multi-engine
   * call, one value per engine. Throws the first failure reached.
   * @example for await (const r of lb.map(f, items, { ordered: false })) console.log(r);
   */
  [Symbol.asyncIterator](): AsyncGenerator {
    return this.iterate();
  }

  /**
   * Results as they arrive, like `for await (... of ar)`; with `onError:
   * 'yield'` a failed task's error is yielded in place of each of its items
   * and the iteration goes on.
   * @example for await (const r of ar.iterate({ onError: 'yield' })) if (r instanceof Error) console.error(r);
   */
  async *iterate({ onError = 'throw' }: IterateOptions = {}): AsyncGenerator {
    const shape = this.#shape;
    const emit = function* (t: TaskState, i: number): Generator {
      if (t.error) {
        if (onError === 'throw') throw t.error;
        const n = shape.items === 'chunks' ? (shape.sizes?.[i] ?? 1) : 1;
        for (let k = 0; k < n; k++) yield t.error;
      } else if (shape.items === 'chunks' && Array.isArray(t.value)) yield* t.value as unknown[];
      else yield t.value;
    };
    if (shape.ordered) {
      for (const [i, t] of this.#tasks.entries()) {
        while (!t.done) await this.#changed();
        yield* emit(t, i);
      }
      return;
    }
    let seen = 0;
    for (;;) {
      while (seen < this.#order.length) {
        const i = this.#order[seen++]!;
        yield* emit(this.#tasks[i]!, i);
      }
      if (seen === this.#tasks.length) return;
      await this.#changed();
    }
  }

  /** Milliseconds from the first submission until now, or until the last result arrived. */
  get elapsedMs(): number {
    const first = Math.min(...this.#tasks.map((t) => t.info.submitted.getTime()));
    return (this.ready() ? this.#lastReceived() : Date.now()) - first;
  }

  /** Milliseconds from the first submission to the last result received. Throws if not ready. */
  get wallTimeMs(): number {
    if (!this.ready()) throw new Error('not ready yet: wallTimeMs is known once every task is done');
    return this.elapsedMs;
  }

  /** The sum of the tasks' run times on their engines (started to completed), in ms. */
  get serialTimeMs(): number {
    let sum = 0;
    for (const t of this.#tasks) if (t.info.started && t.info.completed) sum += t.info.completed.getTime() - t.info.started.getTime();
    return sum;
  }

  #lastReceived(): number {
    let last = 0;
    for (const t of this.#tasks) last = Math.max(last, t.info.received?.getTime() ?? t.info.submitted.getTime());
    return last;
  }

  /**
   * Wait, showing progress: in a Jupyter kernel (tslab) an HTML bar updated in
   * place, ending with the time per engine; elsewhere a bar with done/total,
   * rate and ETA redrawn on a TTY, plain periodic lines otherwise (CI logs).
   * Resolves when done (or at `timeoutMs`); failures are for `get()`.
   * @example await lb.map(f, items).waitInteractive();
   */
  waitInteractive(opts: InteractiveOptions = {}): Promise<void> {
    return displayProgress(this, opts, false);
  }

  /**
   * Display the result's progress and, once done, its time per engine (tasks,
   * total and mean run time): HTML updated in place in a Jupyter kernel, text
   * elsewhere. Resolves when done (or at `timeoutMs`); failures are for `get()`.
   * @example await lb.map(f, items).display();
   */
  display(opts: InteractiveOptions = {}): Promise<void> {
    return displayProgress(this, opts, true);
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
