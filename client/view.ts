/** What every view shares: options, remote and parallel functions, executors, chunked maps. */
import { functionSource, serialize } from '../protocol/index.js';
import { ClusterExecutor } from '../executor/cluster.js';
import { AsyncResult } from './asyncresult.js';
import { makeParallel, makeRemote, parallelDecorator, remoteDecorator } from './functions.js';
import type { MethodDecorator, ParallelFunction, ParallelOptions, RemoteFunction } from './functions.js';
import { batched, toWire } from './options.js';
import type { DirectTaskOptions, WireOptions } from './options.js';
import { concatChunks, toArray } from './partition.js';
import { checkItems, checkOptionKeys, isPlainObject } from './validate.js';
import type { Submitter } from './submitter.js';
import type { DirectView } from './direct-view.js';
import type { LoadBalancedView } from './lb-view.js';

export interface MapOptions {
  /** items per task (load-balanced map; default 1) */
  chunksize?: number;
  /** results in input order (default) or as completed */
  ordered?: boolean;
}

/** What a map takes as items: an array, a typed array, or any other iterable. */
export type Sequence<T> = Iterable<T> | ArrayLike<T>;

/** A map's arguments after its function: the items (zipped, when several sequences were given) and its options. */
export interface MapArgs {
  items: unknown[];
  /** several sequences: each item is an array of arguments */
  spread: boolean;
  opts: MapOptions;
}

/**
 * Read a map's arguments: one or more sequences, then optionally a plain
 * object of options (only as the last argument). Several sequences are
 * zipped, as ipyparallel's map does; they must be of equal length.
 */
export function mapArgs(rest: readonly unknown[], knownOptions: readonly string[]): MapArgs {
  const last = rest.at(-1);
  const hasOpts = rest.length > 1 && isPlainObject(last);
  const opts = hasOpts ? (checkOptionKeys('map options', last, knownOptions) as MapOptions) : {};
  const seqs = (hasOpts ? rest.slice(0, -1) : rest).map((s, i) =>
    toArray(checkItems(rest.length > 1 ? `map's sequence ${i + 1}` : "map's items", s)),
  );
  const first = seqs[0];
  if (!first) throw new TypeError('map takes a function and at least one sequence of items');
  if (seqs.length === 1) return { items: first, spread: false, opts };
  const lengths = seqs.map((s) => s.length);
  if (lengths.some((n) => n !== first.length)) throw new RangeError(`map's sequences must be of equal length, got lengths ${lengths.join(', ')}`);
  return { items: first.map((_, i) => seqs.map((s) => s[i])), spread: true, opts };
}

/** What one call on a direct view returns: one value for a single target, else an array. */
export type PerTarget<S extends boolean, R> = S extends true ? R : R[];

export abstract class View<O extends DirectTaskOptions> {
  /** the options every task of this view carries */
  readonly options: Readonly<O>;
  protected readonly wire: WireOptions;

  /** @internal */
  constructor(
    protected readonly client: Submitter,
    protected readonly targetSpec: number | number[] | undefined,
    options: O,
    known: readonly string[],
  ) {
    this.wire = toWire(options, known);
    this.options = Object.freeze({ ...options });
  }

  protected source(fn: unknown): string {
    return functionSource(fn, 'the function');
  }

  /** Run `fn` once per item; results in input order (unless `ordered: false` on a load-balanced view). */
  abstract map<T, R>(fn: (item: T) => R | Promise<R>, items: Sequence<T>, opts?: MapOptions): AsyncResult<Awaited<R>[], false>;

  /** Run `fn` on chunks of `items` (one task per chunk, `fn` receives the chunk array) and concatenate. */
  abstract mapChunks<T, R>(fn: (items: T[]) => R[] | Promise<R[]>, items: Iterable<T> | ArrayLike<T>, opts?: MapOptions): AsyncResult<R[], false>;

  protected chunkTasks(
    fn: unknown,
    chunks: { items: unknown[]; targets: number[] | undefined; route: 'direct' | 'lb' }[],
    ordered: boolean,
  ): AsyncResult<unknown[], false> {
    const src = this.source(fn);
    const options = batched(this.wire);
    const tasks = chunks.map((c) =>
      this.client.submit({
        content: { kind: 'apply' },
        route: c.route,
        targets: c.targets,
        buffers: serialize([c.items], 'items', src),
        options,
      }),
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
      { items: 'chunks', ordered, sizes: chunks.map((c) => c.items.length) },
    );
  }

  /**
   * A function whose call runs `fn` remotely through this view (`apply`).
   * Without `fn`, a method decorator: `@lb.remote() static host() { ... }`.
   * @example const host = lb.remote(() => process.pid); await host();
   */
  remote<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>): RemoteFunction<A, Awaited<R>>;
  remote(): MethodDecorator;
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
  parallel(opts?: ParallelOptions): MethodDecorator;
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
