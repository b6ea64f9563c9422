import { serialize } from '../protocol/index.js';
import { NoEnginesRegistered } from '../errors/index.js';
import { AsyncResult } from './asyncresult.js';
import { LB_OPTIONS, batched } from './options.js';
import type { TaskOptions } from './options.js';
import { chunk, concatChunks, toArray } from './partition.js';
import type { Submitter } from './submitter.js';
import { checkInt, checkItems, checkOptionKeys, resolveTargets } from './validate.js';
import { View, mapArgs } from './view.js';
import type { MapOptions, Sequence } from './view.js';

const MAP_OPTIONS = ['chunksize', 'ordered'] as const;

/**
 * Load-balanced execution: each task goes to one engine, chosen by the
 * controller's scheduler (`leastload` by default).
 * @example
 * const lb = rc.loadBalancedView();
 * const squares = await lb.map((x: number) => x * x, [1, 2, 3]);
 */
export class LoadBalancedView extends View<TaskOptions> {
  /** @internal */
  constructor(client: Submitter, targetSpec: number | number[] | undefined, options: TaskOptions) {
    super(client, targetSpec, options, LB_OPTIONS);
  }

  /** The engines this view may use (negative indices resolved against the registered engines); undefined means all. */
  get targets(): number[] | undefined {
    const t = this.options.targets ?? this.targetSpec;
    return t === undefined ? undefined : resolveTargets(([] as number[]).concat(t), this.client.ids());
  }

  /**
   * A new view whose tasks carry these options, merged over this view's.
   * Unknown options and values out of range throw at once.
   * @example
   * const a = lb.apply(load);
   * const robust = lb.withOptions({ retries: 2, timeoutMs: 60000 });
   * await robust.withOptions({ after: a, priority: 10 }).apply(process);
   */
  withOptions(options: TaskOptions): LoadBalancedView {
    return new LoadBalancedView(this.client, this.targetSpec, { ...this.options, ...checkOptionKeys('withOptions', options, LB_OPTIONS) });
  }

  #check(): void {
    // an adaptive cluster starts engines for waiting tasks
    if (this.client.ids().length === 0 && !this.client.adaptive()) {
      throw new NoEnginesRegistered('no engines are registered: start some with `tscluster engines -n 2`, or wait with `await rc.waitForEngines(n)`');
    }
  }

  /**
   * Run `fn(...args)` on one engine.
   * @example const pid = await lb.apply(() => process.pid);
   */
  apply<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): AsyncResult<Awaited<R>> {
    this.#check();
    const src = this.source(fn);
    const t = this.client.submit({
      content: { kind: 'apply' },
      route: 'lb',
      targets: this.targets,
      buffers: serialize(args, 'args', src),
      options: this.wire,
    });
    return new AsyncResult([t], true, (v) => v[0] as Awaited<R>);
  }

  /**
   * Call `fn` on every item, `chunksize` items per task, spread over the
   * engines. Several sequences are zipped: `fn` gets one item of each.
   * Options go last, as a plain object.
   * @example const r = await lb.map((x: number) => x * 2, [1, 2, 3], { chunksize: 2 });
   * @example const sums = await lb.map((x: number, y: number) => x + y, [1, 2, 3], [10, 20, 30]);   // [11, 22, 33]
   */
  map<T, R>(fn: (item: T) => R | Promise<R>, items: Sequence<T>, opts?: MapOptions): AsyncResult<Awaited<R>[], false>;
  map<T1, T2, R>(fn: (a: T1, b: T2) => R | Promise<R>, a: Sequence<T1>, b: Sequence<T2>, opts?: MapOptions): AsyncResult<Awaited<R>[], false>;
  map<T1, T2, T3, R>(
    fn: (a: T1, b: T2, c: T3) => R | Promise<R>,
    a: Sequence<T1>,
    b: Sequence<T2>,
    c: Sequence<T3>,
    opts?: MapOptions,
  ): AsyncResult<Awaited<R>[], false>;
  map(fn: (...args: never[]) => unknown, ...rest: unknown[]): AsyncResult<unknown[], false> {
    const { items, spread, opts } = mapArgs(rest, MAP_OPTIONS);
    const size = opts.chunksize === undefined ? 1 : checkInt('chunksize', opts.chunksize, 1, Number.MAX_SAFE_INTEGER);
    this.#check();
    const src = this.source(fn);
    const chunks = chunk(items, size);
    const content = spread ? { kind: 'map' as const, spread: true } : { kind: 'map' as const };
    const options = batched(this.wire);
    const tasks = chunks.map((c) =>
      this.client.submit({ content, route: 'lb', targets: this.targets, buffers: serialize(c, 'items', src), options }),
    );
    const ordered = opts.ordered ?? true;
    const shape = { items: 'chunks' as const, ordered, sizes: chunks.map((c) => c.length) };
    return new AsyncResult(tasks, false, (v, order) => concatChunks<unknown>(v, order, ordered), shape);
  }

  /**
   * Run `fn` on chunks of `items`, `chunksize` items per task (default: one chunk per engine), and concatenate.
   * @example await lb.mapChunks((xs: number[]) => xs.map((x) => x + 1), [1, 2, 3, 4], { chunksize: 2 });
   */
  mapChunks<T, R>(fn: (items: T[]) => R[] | Promise<R[]>, items: Sequence<T>, opts: MapOptions = {}): AsyncResult<R[], false> {
    const all = toArray(checkItems('items', items) as Sequence<T>);
    checkOptionKeys('options', opts, MAP_OPTIONS);
    const engines = Math.max(1, this.targets?.length ?? this.client.ids().length);
    const size =
      opts.chunksize === undefined ? Math.max(1, Math.ceil(all.length / engines)) : checkInt('chunksize', opts.chunksize, 1, Number.MAX_SAFE_INTEGER);
    this.#check();
    const chunks = chunk(all, size).map((c) => ({ items: c, targets: this.targets, route: 'lb' as const }));
    return this.chunkTasks(fn, chunks, opts.ordered ?? true) as AsyncResult<R[], false>;
  }

  protected self(): this {
    return this;
  }
}
