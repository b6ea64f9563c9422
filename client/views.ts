/**
 * Views: how work is addressed. A DirectView sends each call to every one of
 * its engines; a LoadBalancedView lets the controller's scheduler pick one.
 */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { functionSource, serialize } from '../protocol/index.js';
import { AsyncResult } from './asyncresult.js';
import type { TaskState } from './asyncresult.js';
import { NoEnginesRegistered } from '../errors/index.js';
import { ClusterExecutor } from './executor.js';
import { makeParallel, makeRemote, parallelDecorator, remoteDecorator } from './functions.js';
import type { ParallelFunction, ParallelOptions, RemoteFunction } from './functions.js';
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

export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

function isTypedArray(v: unknown): v is TypedArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function lengthOf(v: unknown): number {
  return (v as ArrayLike<unknown>).length;
}

/** Contiguous blocks of near-equal size; typed arrays become typed-array views. */
function partitionLike(items: ArrayLike<unknown> | Iterable<unknown>, n: number): (unknown[] | TypedArray)[] {
  if (isTypedArray(items)) return blocks(items.length, n, (from, to) => items.subarray(from, to));
  return partition(toArray(items as Iterable<unknown>), n);
}

/** Concatenate gathered parts: typed arrays of one kind into one, else arrays (a non-array part is one item). */
function concatParts(parts: unknown[]): unknown {
  if (parts.length > 0 && parts.every((p) => isTypedArray(p) && p.constructor === (parts[0] as TypedArray).constructor)) {
    const typed = parts as TypedArray[];
    const Ctor = typed[0]!.constructor as new (n: number) => TypedArray;
    const out = new Ctor(typed.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of typed) {
      (out as { set(a: ArrayLike<unknown>, o: number): void }).set(p as ArrayLike<unknown>, at);
      at += p.length;
    }
    return out;
  }
  const out: unknown[] = [];
  for (const p of parts) {
    if (Array.isArray(p)) for (const x of p) out.push(x);
    else if (isTypedArray(p)) out.push(...Array.from(p as ArrayLike<unknown>));
    else out.push(p);
  }
  return out;
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `n` contiguous [from, to) ranges over `length` items whose sizes differ by at most one, each made by `take`. */
function blocks<B>(length: number, n: number, take: (from: number, to: number) => B): B[] {
  const out: B[] = [];
  const base = Math.floor(length / n);
  const extra = length % n;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const len = base + (i < extra ? 1 : 0);
    out.push(take(at, at + len));
    at += len;
  }
  return out;
}

/** Split into `n` contiguous blocks whose sizes differ by at most one. */
export function partition<T>(items: T[], n: number): T[][] {
  return blocks(items.length, n, (from, to) => items.slice(from, to));
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

  /** Run `fn` once per item; results in input order (unless `ordered: false` on a load-balanced view). */
  abstract map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>, opts?: MapOptions): AsyncResult<Awaited<R>[], false>;

  /** Run `fn` on chunks of `items` (one task per chunk, `fn` receives the chunk array) and concatenate. */
  abstract mapChunks<T, R>(fn: (items: T[]) => R[] | Promise<R[]>, items: Iterable<T> | ArrayLike<T>, opts?: MapOptions): AsyncResult<R[], false>;

  protected chunkTasks<T>(fn: unknown, chunks: { items: T[]; targets: number[] | undefined; route: 'direct' | 'lb' }[], ordered: boolean): AsyncResult<unknown[], false> {
    const src = this.source(fn);
    const tasks = chunks.map((c) =>
      this.client.submit({ content: { kind: 'apply' }, route: c.route, targets: c.targets, buffers: serialize([c.items], 'items', src), options: this.wire }),
    );
    return new AsyncResult(
      tasks,
      false,
      (values, order) => {
        for (const v of values) {
          if (!Array.isArray(v)) throw new TypeError(`a parallel function must return an array for its chunk, got ${v === null ? 'null' : typeof v}`);
        }
        return concatChunks<unknown>(values, order, ordered);
      },
      { items: 'chunks', ordered },
    );
  }

  /**
   * A function whose call runs `fn` remotely through this view (`apply`).
   * Without `fn`, a method decorator: `@lb.remote() static host() { ... }`.
   * @example const host = lb.remote(() => process.pid); await host();
   */
  remote<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): RemoteFunction<A, Awaited<R>>;
  remote(): <F extends (...args: never[]) => unknown>(value: F, context: ClassMethodDecoratorContext) => F;
  remote(fn?: (...args: unknown[]) => unknown): unknown {
    return fn === undefined ? remoteDecorator(this.self()) : makeRemote(this.self(), fn);
  }

  /**
   * A ParallelFunction: calling it with an array splits the array (one chunk
   * per engine on a direct view; by `chunksize` on a load-balanced one, default
   * one chunk per engine), runs `fn` on each chunk remotely (`fn` receives an
   * array) and concatenates the results; `.map(items)` calls `fn` per item.
   * Without `fn`, a method decorator: `@lb.parallel() static square(xs: number[]) { ... }`.
   * @example const sq = lb.parallel((xs: number[]) => xs.map((x) => x * x)); await sq([1, 2, 3]);
   */
  parallel<T, R>(fn: (items: T[]) => R[] | Promise<R[]>, opts?: ParallelOptions): ParallelFunction<T, R>;
  parallel(opts?: ParallelOptions): <F extends (...args: never[]) => unknown>(value: F, context: ClassMethodDecoratorContext) => F;
  parallel(fnOrOpts?: ((items: never[]) => unknown) | ParallelOptions, opts?: ParallelOptions): unknown {
    if (typeof fnOrOpts === 'function') return makeParallel(this.self(), fnOrOpts as (items: unknown[]) => unknown[], opts);
    return parallelDecorator(this.self(), fnOrOpts ?? {});
  }

  /**
   * A concurrent.futures-style executor over this view.
   * @example const ex = lb.executor(); const f = ex.submit((x: number) => x + 1, 1); await f;
   */
  executor(): ClusterExecutor {
    return new ClusterExecutor(this.self());
  }

  protected abstract self(): LoadBalancedView | DirectView<boolean>;
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
    return new AsyncResult(tasks, false, (v, order) => concatChunks<Awaited<R>>(v, order, ordered), { items: 'chunks', ordered });
  }

  /**
   * Run `fn` on chunks of `items`, `chunksize` items per task (default: one chunk per engine), and concatenate.
   * @example await lb.mapChunks((xs: number[]) => xs.map((x) => x + 1), [1, 2, 3, 4], { chunksize: 2 });
   */
  mapChunks<T, R>(fn: (items: T[]) => R[] | Promise<R[]>, items: Iterable<T> | ArrayLike<T>, opts: MapOptions = {}): AsyncResult<R[], false> {
    this.#check();
    const all = toArray(items);
    const engines = Math.max(1, this.targets?.length ?? this.client.ids().length);
    const size = opts.chunksize ?? Math.max(1, Math.ceil(all.length / engines));
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunksize must be a whole number >= 1, got ${size}`);
    const chunks = chunk(all, size).map((c) => ({ items: c, targets: this.targets, route: 'lb' as const }));
    return this.chunkTasks(fn, chunks, opts.ordered ?? true) as AsyncResult<R[], false>;
  }

  protected self(): LoadBalancedView {
    return this;
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
    return new AsyncResult(tasks, false, (v, order) => concatChunks<Awaited<R>>(v, order, true), { items: 'chunks', ordered: true });
  }

  /**
   * Partition `items` into one contiguous block per target and run `fn` on each block there; concatenate.
   * @example await rc.directView().mapChunks((xs: number[]) => xs.map((x) => x * 2), [1, 2, 3, 4]);
   */
  mapChunks<T, R>(fn: (items: T[]) => R[] | Promise<R[]>, items: Iterable<T> | ArrayLike<T>): AsyncResult<R[], false> {
    const targets = this.#resolve();
    const blocks = partition(toArray(items), targets.length);
    return this.chunkTasks(fn, targets.map((t, i) => ({ items: blocks[i]!, targets: [t], route: 'direct' as const })), true) as AsyncResult<R[], false>;
  }

  protected self(): DirectView<S> {
    return this;
  }

  /**
   * Run a code string in each target's namespace; `var` and `let` names persist there.
   * @example await dv.execute('var counter = 0');
   */
  execute(code: string, opts: { typescript?: boolean; filename?: string } = {}): AsyncResult<PerTarget<S, undefined>, S> {
    if (typeof code !== 'string') throw new TypeError('execute takes a code string');
    const content = { kind: 'execute' as const, code, ...(opts.typescript ? { typescript: true } : {}), ...(opts.filename ? { filename: opts.filename } : {}) };
    return this.#each(this.#resolve(), () => ({ content, buffers: [] }));
  }

  /**
   * Run a .js or .ts file's code in each target's namespace, like `execute`
   * (the file is read here and sent; its path names it in remote stacks).
   * @example await dv.run('./setup.ts');
   */
  run(file: string): AsyncResult<PerTarget<S, undefined>, S> {
    const path = resolvePath(file);
    const code = readFileSync(path, 'utf8');
    return this.execute(code, { typescript: /\.[mc]?tsx?$/.test(path), filename: path });
  }

  /**
   * Reset each target's namespace: pushed values and globals from `execute` are gone
   * (the engine starts a fresh execution worker).
   * @example await dv.clear();
   */
  clear(): AsyncResult<PerTarget<S, undefined>, S> {
    return this.#each(this.#resolve(), () => ({ content: { kind: 'clear' }, buffers: [] }));
  }

  /**
   * Partition `items` into contiguous blocks, one per target in order, and push
   * each block as `name` there. Typed arrays are split as typed arrays. With
   * `flatten`, a block of one item is pushed as the item itself.
   * @example await dv.scatter('part', [...Array(100).keys()]); await dv.gather('part');
   */
  scatter(name: string, items: ArrayLike<unknown> | Iterable<unknown>, { flatten = false }: { flatten?: boolean } = {}): AsyncResult<undefined[], false> {
    if (typeof name !== 'string' || name === '') throw new TypeError('scatter takes a name and the items');
    const targets = this.#resolve();
    const blocks = partitionLike(items, targets.length);
    const tasks = targets.map((engine, i) => {
      const block = blocks[i]!;
      const value = flatten && lengthOf(block) === 1 ? (block as ArrayLike<unknown>)[0] : block;
      return this.client.submit({ content: { kind: 'push' }, route: 'direct', targets: [engine], buffers: serialize({ [name]: value }, 'scattered'), options: this.wire });
    });
    return new AsyncResult(tasks, false, (v) => v as undefined[]);
  }

  /**
   * Pull `name` from every target and concatenate, in target order: arrays
   * into one array, typed arrays of one kind into one typed array.
   * @example const all = await dv.gather('part');
   */
  gather<T = unknown>(name: string): AsyncResult<T[], false>;
  gather<T extends TypedArray>(name: string): AsyncResult<T, false>;
  gather(name: string): AsyncResult<unknown, false> {
    const targets = this.#resolve();
    const tasks = targets.map((engine) => this.client.submit({ content: { kind: 'pull', names: [name] }, route: 'direct', targets: [engine], buffers: [], options: this.wire }));
    return new AsyncResult(tasks, false, (v) => concatParts(v.map((x) => (x as unknown[])[0])));
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
