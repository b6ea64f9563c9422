/**
 * Views: how work is addressed. A DirectView sends each call to every one of
 * its engines; a LoadBalancedView lets the controller's scheduler pick one.
 */
import { functionSource, serialize } from '../protocol/index.js';
import { AsyncResult } from './asyncresult.js';
import type { TaskState } from './asyncresult.js';
import { NoEnginesRegistered } from './errors.js';
import { toWire } from './options.js';
import type { DirectTaskOptions, TaskOptions, WireOptions } from './options.js';
import type { Submitter } from './submitter.js';

export interface MapOptions {
  /** items per task (load-balanced map; default 1) */
  chunksize?: number;
  /** results in input order (default) or as completed */
  ordered?: boolean;
}

/** What one call on a direct view returns: one value for a single target, else an array. */
export type PerTarget<S extends boolean, R> = S extends true ? R : R[];

function toArray<T>(items: Iterable<T> | ArrayLike<T>): T[] {
  return Array.isArray(items) ? items : Array.from(items as Iterable<T>);
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Split into `n` contiguous blocks whose sizes differ by at most one. */
export function partition<T>(items: T[], n: number): T[][] {
  const out: T[][] = [];
  const base = Math.floor(items.length / n);
  const extra = items.length % n;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const len = base + (i < extra ? 1 : 0);
    out.push(items.slice(at, at + len));
    at += len;
  }
  return out;
}

function concatChunks<R>(values: unknown[], order: readonly number[], ordered: boolean): R[] {
  const out: R[] = [];
  for (const i of ordered ? values.keys() : order) for (const v of values[i] as R[]) out.push(v);
  return out;
}

abstract class View<O extends DirectTaskOptions> {
  /** the options every task of this view carries */
  readonly options: Readonly<O>;
  protected readonly wire: WireOptions;

  /** @internal */
  constructor(
    protected readonly client: Submitter,
    protected readonly targetSpec: number | number[] | undefined,
    options: O,
  ) {
    this.options = Object.freeze({ ...options });
    this.wire = toWire(options);
  }

  protected source(fn: unknown): string {
    return functionSource(fn, 'the function');
  }
}

/**
 * Load-balanced execution: each task goes to one engine, chosen by the
 * controller's scheduler (`leastload` by default).
 * @example
 * const lb = rc.loadBalancedView();
 * const squares = await lb.map((x: number) => x * x, [1, 2, 3]);
 */
export class LoadBalancedView extends View<TaskOptions> {
  /** The engines this view may use; undefined means all. */
  get targets(): number[] | undefined {
    const t = this.options.targets ?? this.targetSpec;
    return t === undefined ? undefined : ([] as number[]).concat(t);
  }

  /**
   * A new view whose tasks carry these options, merged over this view's.
   * @example
   * const a = lb.apply(load);
   * const robust = lb.withOptions({ retries: 2, timeoutMs: 60000 });
   * await robust.withOptions({ after: a, priority: 10 }).apply(process);
   */
  withOptions(options: TaskOptions): LoadBalancedView {
    return new LoadBalancedView(this.client, this.targetSpec, { ...this.options, ...options });
  }

  #check(): void {
    if (this.client.ids().length === 0) {
      throw new NoEnginesRegistered('no engines are registered: start some with `tscluster engines -n 2`, or wait with `await rc.waitForEngines(n)`');
    }
  }

  /**
   * Run `fn(...args)` on one engine.
   * @example const pid = await lb.apply(() => process.pid);
   */
  apply<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): AsyncResult<Awaited<R>, true> {
    this.#check();
    const t = this.client.submit({
      content: { kind: 'apply' },
      route: 'lb',
      targets: this.targets,
      buffers: serialize(args, 'args', this.source(fn)),
      options: this.wire,
    });
    return new AsyncResult([t], true, (v) => v[0] as Awaited<R>);
  }

  /**
   * Call `fn` on every item, `chunksize` items per task, spread over the engines.
   * @example const r = await lb.map((x: number) => x * 2, [1, 2, 3], { chunksize: 2 });
   */
  map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>, opts: MapOptions = {}): AsyncResult<Awaited<R>[], false> {
    this.#check();
    const all = toArray(items);
    const size = opts.chunksize ?? 1;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunksize must be a whole number >= 1, got ${size}`);
    const src = this.source(fn);
    const tasks = chunk(all, size).map((c) =>
      this.client.submit({ content: { kind: 'map' }, route: 'lb', targets: this.targets, buffers: serialize(c, 'items', src), options: this.wire }),
    );
    const ordered = opts.ordered ?? true;
    return new AsyncResult(tasks, false, (v, order) => concatChunks<Awaited<R>>(v, order, ordered));
  }
}

/**
 * Direct execution on named engines: every call runs on each target.
 * `rc.directView(0)` gives single values; `rc.directView([0, 1])` or
 * `rc.directView()` (all engines at call time) give arrays in target order.
 * @example
 * const dv = rc.directView();
 * await dv.push({ a: 10 });
 * const r = await dv.apply((b: number) => a + b, 5); // [15, 15, ...]
 */
export class DirectView<S extends boolean = false> extends View<DirectTaskOptions> {
  /** The engines of the next call (all registered ones when the view was made without targets). */
  get targets(): number[] {
    if (this.targetSpec === undefined) return this.client.ids();
    return ([] as number[]).concat(this.targetSpec);
  }

  /**
   * A new view on the same engines whose tasks carry these options (`timeoutMs`, `label`).
   * @example await rc.directView().withOptions({ timeoutMs: 5000 }).apply(maybeStuck);
   */
  withOptions(options: DirectTaskOptions): DirectView<S> {
    return new DirectView<S>(this.client, this.targetSpec, { ...this.options, ...options });
  }

  get #single(): S {
    return (typeof this.targetSpec === 'number') as S;
  }

  #resolve(): number[] {
    const t = this.targets;
    if (t.length === 0) {
      throw new NoEnginesRegistered('no engines are registered: start some with `tscluster engines -n 2`, or wait with `await rc.waitForEngines(n)`');
    }
    return t;
  }

  #each<R>(targets: number[], build: (engine: number, i: number) => Omit<Parameters<Submitter['submit']>[0], 'route' | 'targets' | 'options'>, combine?: (v: unknown[]) => PerTarget<S, R>): AsyncResult<PerTarget<S, R>, S> {
    const tasks: TaskState[] = targets.map((engine, i) => this.client.submit({ ...build(engine, i), route: 'direct', targets: [engine], options: this.wire }));
    const single = this.#single;
    return new AsyncResult(tasks, single, combine ?? ((v) => (single ? v[0] : v) as PerTarget<S, R>));
  }

  /**
   * Run `fn(...args)` on every target.
   * @example const pids = await rc.directView().apply(() => process.pid);
   */
  apply<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): AsyncResult<PerTarget<S, Awaited<R>>, S> {
    const targets = this.#resolve();
    const buffers = serialize(args, 'args', this.source(fn));
    return this.#each(targets, () => ({ content: { kind: 'apply' }, buffers }));
  }

  /**
   * Partition `items` into one contiguous block per target and call `fn` on each item there.
   * Results come back in input order.
   * @example await rc.directView().map((x: number) => x + 1, [1, 2, 3, 4]); // [2, 3, 4, 5]
   */
  map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>): AsyncResult<Awaited<R>[], false> {
    const targets = this.#resolve();
    const src = this.source(fn);
    const blocks = partition(toArray(items), targets.length);
    const tasks = targets.map((engine, i) =>
      this.client.submit({ content: { kind: 'map' }, route: 'direct', targets: [engine], buffers: serialize(blocks[i], 'items', src), options: this.wire }),
    );
    return new AsyncResult(tasks, false, (v, order) => concatChunks<Awaited<R>>(v, order, true));
  }

  /**
   * Run a code string in each target's namespace; `var` and `let` names persist there.
   * @example await dv.execute('var counter = 0');
   */
  execute(code: string): AsyncResult<PerTarget<S, undefined>, S> {
    if (typeof code !== 'string') throw new TypeError('execute takes a code string');
    return this.#each(this.#resolve(), () => ({ content: { kind: 'execute', code }, buffers: [] }));
  }

  /**
   * Set names in each target's namespace; functions run there see them as globals.
   * @example await dv.push({ a: 10, table: new Map([[1, 'x']]) });
   */
  push(record: Record<string, unknown>): AsyncResult<PerTarget<S, undefined>, S> {
    if (record === null || typeof record !== 'object' || Array.isArray(record)) throw new TypeError('push takes an object of names to values, e.g. { a: 10 }');
    const buffers = serialize(record, 'pushed');
    return this.#each(this.#resolve(), () => ({ content: { kind: 'push' }, buffers }));
  }

  /**
   * Read a name (or several) from each target's namespace.
   * @example const a = await rc.directView(0).pull('a');
   * @example const [a, b] = await rc.directView(0).pull(['a', 'b']);
   */
  pull<V = unknown>(name: string): AsyncResult<PerTarget<S, V>, S>;
  pull<V extends unknown[] = unknown[]>(names: string[]): AsyncResult<PerTarget<S, V>, S>;
  pull(names: string | string[]): AsyncResult<PerTarget<S, unknown>, S> {
    const list = typeof names === 'string' ? [names] : names;
    const one = typeof names === 'string';
    const single = this.#single;
    return this.#each(
      this.#resolve(),
      () => ({ content: { kind: 'pull', names: list }, buffers: [] }),
      (v) => {
        const per = v.map((x) => (one ? (x as unknown[])[0] : x));
        return (single ? per[0] : per) as PerTarget<S, unknown>;
      },
    );
  }
}
