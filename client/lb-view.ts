import { serialize } from '../protocol/index.js';
import { NoEnginesRegistered } from '../errors/index.js';
import { AsyncResult } from './asyncresult.js';
import type { TaskOptions } from './options.js';
import { chunk, concatChunks, toArray } from './partition.js';
import { View } from './view.js';
import type { MapOptions } from './view.js';

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
  apply<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): AsyncResult<Awaited<R>> {
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

  protected self(): this {
    return this;
  }
}
