/**
 * `Executor.auto()`: the executor of a running cluster of the profile, or,
 * with no cluster, an in-process pool of worker threads with the same
 * interface, so code written against it runs with or without a cluster.
 */
import { Client } from '../client/client.js';
import { DEFAULT_PROFILE, runningCluster } from '../profiles/index.js';
import { ClusterExecutor } from './cluster.js';
import type { Executor as ExecutorApi } from './future.js';
import { LocalExecutor } from './local.js';

export interface AutoOptions {
  profile?: string;
  clusterId?: string;
  /** threads of the in-process pool when no cluster runs (default: one per core) */
  threads?: number;
}

/** The interface every executor has (a cluster's or the in-process pool's). */
export type Executor = ExecutorApi;

/** Executors: see `Executor.auto`. */
export const Executor = {
  /**
   * The executor of the running cluster of `profile` (load-balanced), or an
   * in-process worker-thread pool with the same interface when none runs.
   * @example
   * const ex = await Executor.auto();
   * console.log(ex.kind, await ex.map((x: number) => x * x, [1, 2, 3]));
   * await ex.shutdown();
   */
  async auto(opts: AutoOptions = {}): Promise<ExecutorApi> {
    const profile = opts.profile ?? DEFAULT_PROFILE;
    const clusterId = opts.clusterId ?? '';
    if (runningCluster(profile, clusterId)) {
      const rc = await Client.connect({ profile, clusterId });
      return new ClusterExecutor(rc.loadBalancedView(), () => rc.close());
    }
    return new LocalExecutor(opts.threads);
  },
};
