/**
 * AsyncResult: the handle of submitted work. Awaitable (it is a PromiseLike),
 * with `get({ timeoutMs })`, `wait()`, `ready()`, `successful()`, per-task
 * metadata and captured output.
 */
import { CompositeError, TimeoutError } from '../errors/index.js';
import { withTimeout } from '../util/timers.js';

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
  /** called once when the task finishes */
  listeners: ((t: TaskState) => void)[];
  /** asks the controller to abort tasks */
  abort: (msgIds: string[]) => Promise<number>;
}

/** `TaskInfo` for a single-task result, `TaskInfo[]` otherwise. */
export type PerTask<S extends boolean, X> = S extends true ? X : X[];

/** How iteration walks a multi-task result: its tasks' values, or the items of their chunk arrays. */
export interface IterateOptions {
  items: 'values' | 'chunks';
  /** in submission order (default), or as tasks complete */
  ordered: boolean;
}

export interface InteractiveOptions {
  /** where to write (default process.stdout) */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** how often to report: redraws on a TTY (default 100 ms), lines elsewhere (default 1000 ms) */
  intervalMs?: number;
  /** stop waiting after this long; the work goes on */
  timeoutMs?: number;
}

export class AsyncResult<T, S extends boolean = true> implements PromiseLike<T>, AsyncIterable<unknown> {
  /** the msg_ids of the tasks, in submission order */
  readonly msgIds: readonly string[];
  readonly #tasks: readonly TaskState[];
  readonly #single: S;
  readonly #promise: Promise<T>;
  #remaining: number;
  readonly #order: number[] = [];
  readonly #iterate: IterateOptions;
  /** woken whenever a task completes */
  #wake: (() => void)[] = [];

  /** @internal created by views */
  constructor(
    tasks: TaskState[],
    single: S,
    combine: (values: unknown[], completionOrder: readonly number[]) => T,
    iterate: IterateOptions = { items: 'values', ordered: true },
  ) {
    this.msgIds = tasks.map((t) => t.info.msgId);
    this.#tasks = tasks;
    this.#single = single;
    this.#iterate = iterate;
    this.#remaining = tasks.length;
    this.#promise = new Promise<T>((resolve, reject) => {
      const settle = (): void => {
        const failures = this.#tasks.filter((t) => t.error).map((t) => t.error!);
        if (failures.length > 0) {
          reject(this.#single || this.#tasks.length === 1 ? failures[0]! : new CompositeError(failures, this.#tasks.length));
        } else {
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
   * The result, waiting at most `timeoutMs` (default: no limit).
   * Rejects with the remote error, or TimeoutError if not done in time (the work goes on).
   * @example const v = await lb.apply(f).get({ timeoutMs: 5000 });
   */
  get({ timeoutMs }: { timeoutMs?: number } = {}): Promise<T> {
    if (this.ready()) return this.#promise;
    return withTimeout(
      this.#promise,
      timeoutMs,
      () => new TimeoutError(`result not ready after ${timeoutMs} ms (${this.#tasks.length - this.#remaining} of ${this.#tasks.length} tasks done)`),
    );
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
  async *[Symbol.asyncIterator](): AsyncGenerator {
    const emit = function* (t: TaskState, chunks: boolean): Generator {
      if (t.error) throw t.error;
      if (chunks && Array.isArray(t.value)) yield* t.value;
      else yield t.value;
    };
    const chunks = this.#iterate.items === 'chunks';
    if (this.#iterate.ordered) {
      for (const t of this.#tasks) {
        while (!t.done) await this.#changed();
        yield* emit(t, chunks);
      }
    } else {
      let seen = 0;
      for (;;) {
        while (seen < this.#order.length) yield* emit(this.#tasks[this.#order[seen++]!]!, chunks);
        if (seen === this.#tasks.length) return;
        await this.#changed();
      }
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
   * Wait, showing progress: a bar with done/total, rate and ETA redrawn on a
   * TTY; plain periodic lines elsewhere (notebooks, CI logs). Resolves when
   * done (or at `timeoutMs`); failures are for `get()`.
   * @example await lb.map(f, items).waitInteractive();
   */
  async waitInteractive(opts: InteractiveOptions = {}): Promise<void> {
    const out = opts.stream ?? process.stdout;
    const tty = out.isTTY === true;
    const interval = opts.intervalMs ?? (tty ? 100 : 1000);
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    const line = (): string => {
      const { done, total } = this.progress;
      const secs = this.elapsedMs / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const eta = rate > 0 && done < total ? ` ETA ${formatSeconds((total - done) / rate)}` : '';
      const bar = tty ? `[${'#'.repeat(Math.round((done / Math.max(total, 1)) * 30)).padEnd(30, '.')}] ` : '';
      return `${bar}${done}/${total} tasks done, ${rate.toFixed(rate < 10 ? 1 : 0)}/s, ${formatSeconds(secs)} elapsed${eta}`;
    };
    let lastDone = -1;
    while (!this.ready() && Date.now() < deadline) {
      if (tty) out.write(`\r${line()}\x1b[K`);
      else if (this.progress.done !== lastDone) out.write(`${line()}\n`);
      lastDone = this.progress.done;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.wait(), new Promise((r) => (timer = setTimeout(r, Math.min(interval, Math.max(0, deadline - Date.now())))))]);
      clearTimeout(timer);
    }
    out.write(tty ? `\r${line()}\x1b[K\n` : `${line()}\n`);
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

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
