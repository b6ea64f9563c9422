/** An executor whose calls run through a view of a cluster (`view.executor()`). */
import type { AsyncResult } from '../client/asyncresult.js';
import { BasicFuture, BaseExecutor } from './future.js';
import type { Future } from './future.js';

interface ExecutorView {
  apply(fn: (...args: never[]) => unknown, ...args: never[]): AsyncResult<unknown, boolean>;
  map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>, opts?: { chunksize?: number }): AsyncResult<Awaited<R>[], false>;
}

/** An executor whose calls run through a view of a cluster. */
export class ClusterExecutor extends BaseExecutor {
  readonly kind = 'cluster' as const;

  /** @param onRelease called at shutdown, e.g. to close a client the executor opened */
  constructor(
    readonly view: ExecutorView,
    private readonly onRelease?: () => Promise<void>,
  ) {
    super();
  }

  submit<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): Future<Awaited<R>> {
    if (this.isShut) throw new Error('the executor is shut down: create a new one to submit more work');
    const ar = this.view.apply(fn, ...(args as unknown as never[])) as AsyncResult<Awaited<R>, boolean>;
    return this.track(new BasicFuture(ar, async () => (await ar.abort()) > 0));
  }

  map<T, R>(fn: (item: T) => R | Promise<R>, items: Iterable<T> | ArrayLike<T>, opts: { chunksize?: number } = {}): Promise<Awaited<R>[]> {
    if (this.isShut) throw new Error('the executor is shut down: create a new one to submit more work');
    const ar = this.view.map(fn, items, opts);
    const f = this.track(new BasicFuture(ar, async () => (await ar.abort()) > 0));
    return Promise.resolve(f);
  }

  protected override async release(): Promise<void> {
    await this.onRelease?.();
  }
}
