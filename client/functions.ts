/**
 * Remote and parallel functions: a function bound to a view, called like a
 * local one. Both also work as method decorators, standard (TC39) and legacy
 * (`experimentalDecorators`, as tslab compiles notebook cells):
 * ```ts
 * class Jobs {
 *   @lb.parallel() static square(xs: number[]) { return xs.map((x) => x * x); }
 *   @lb.remote() static host() { return process.pid; }
 * }
 * await Jobs.square([1, 2, 3, 4]);   // [1, 4, 9, 16], computed on engines
 * ```
 */
import type { AsyncResult } from './asyncresult.js';
import type { DirectView, LoadBalancedView, MapOptions } from './views.js';

type AnyView = LoadBalancedView | DirectView<boolean>;

/** A function whose call runs `apply` on a view. */
export type RemoteFunction<A extends unknown[], R> = ((...args: A) => AsyncResult<R, boolean>) & {
  /** the view it runs on */
  readonly view: AnyView;
};

/**
 * A function over arrays whose call splits its input into chunks, runs the
 * function on each chunk on the engines, and concatenates the results.
 */
export interface ParallelFunction<T, R> {
  /** Split `items`, run the function on each chunk remotely, concatenate the results. */
  (items: readonly T[] | ArrayLike<T>): AsyncResult<R[], false>;
  /**
   * Call the function once per item, remotely: each item is one whole input of
   * the function (an array), so the results are one array per item.
   * @example await squares.map([[1, 2], [3]]);   // [[1, 4], [9]]
   */
  map(items: readonly (readonly T[])[]): AsyncResult<R[][], false>;
  readonly view: AnyView;
}

/** Options of a parallel function: chunksize (load-balanced views) and ordered. */
export type ParallelOptions = MapOptions;

/**
 * A method decorator in either form: standard (TC39) decorators call it with
 * `(value, context)`; legacy ones (`experimentalDecorators`, which tslab
 * compiles notebook cells with) with `(target, propertyKey, descriptor)`.
 */
export interface MethodDecorator {
  <F extends (...args: never[]) => unknown>(value: F, context: ClassMethodDecoratorContext): F;
  <F extends (...args: never[]) => unknown>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<F>,
  ): TypedPropertyDescriptor<F>;
}

/** True when a decorator was called in the legacy form: the second argument is a property key, not a context object. */
const isLegacyCall = (args: readonly unknown[]): boolean => args.length === 3 && (typeof args[1] === 'string' || typeof args[1] === 'symbol');

/** A decorator of both forms that replaces the method by `wrap(method)`. */
function methodDecorator(wrap: (fn: (...args: unknown[]) => unknown) => unknown): MethodDecorator {
  return ((...args: unknown[]): unknown => {
    if (!isLegacyCall(args)) return wrap(args[0] as (...a: unknown[]) => unknown);
    const descriptor = args[2] as PropertyDescriptor | undefined;
    if (typeof descriptor?.value !== 'function') throw new TypeError(`@remote() / @parallel() decorate methods; ${String(args[1])} is not one`);
    return { ...descriptor, value: wrap(descriptor.value as (...a: unknown[]) => unknown) };
  }) as MethodDecorator;
}

export function makeRemote<A extends unknown[], R>(view: AnyView, fn: (...args: A) => R | Promise<R>): RemoteFunction<A, Awaited<R>> {
  const f = (...args: A): AsyncResult<Awaited<R>, boolean> => view.apply(fn, ...args) as AsyncResult<Awaited<R>, boolean>;
  Object.defineProperty(f, 'view', { value: view });
  Object.defineProperty(f, 'name', { value: fn.name });
  return f as RemoteFunction<A, Awaited<R>>;
}

/**
 * The chunk-level call: ships `fn` unchanged, so the engine calls it with one
 * chunk (an array) per task. Implemented as a map over chunks whose element is
 * the chunk itself.
 */
export function makeParallel<T, R>(view: AnyView, fn: (items: T[]) => R[] | Promise<R[]>, opts: ParallelOptions = {}): ParallelFunction<T, R> {
  const call = (items: readonly T[] | ArrayLike<T>): AsyncResult<R[], false> => view.mapChunks<T, R>(fn, items, opts);
  const p = call as ParallelFunction<T, R>;
  Object.defineProperty(p, 'view', { value: view });
  Object.defineProperty(p, 'name', { value: fn.name });
  // each item is one whole input of fn; the options (chunksize, ordered) are a load-balanced view's
  const mapItems = view.map.bind(view) as (f: typeof fn, items: readonly (readonly T[])[], ...opts: ParallelOptions[]) => AsyncResult<R[][], false>;
  p.map = (items) => ('scatter' in view ? mapItems(fn, items) : mapItems(fn, items, opts));
  return p;
}

export function remoteDecorator(view: AnyView): MethodDecorator {
  return methodDecorator((fn) => makeRemote(view, fn));
}

export function parallelDecorator(view: AnyView, opts: ParallelOptions): MethodDecorator {
  return methodDecorator((fn) => makeParallel(view, fn as (xs: unknown[]) => unknown[], opts));
}
