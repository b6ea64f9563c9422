/**
 * tscluster: an ipyparallel-style parallel computing cluster for TypeScript and JavaScript.
 * @example
 * import { Client } from 'tscluster';
 * const rc = await Client.connect();
 * console.log(await rc.loadBalancedView().map((x: number) => x * x, [1, 2, 3]));
 */
export * from './client/index.js';
export { Cluster } from './cluster/cluster.js';
export type { ClusterOptions } from './cluster/cluster.js';
export type { SchemeName } from './profiles/index.js';
export { Executor, LocalExecutor } from './cluster/executor.js';
export type { AutoOptions } from './cluster/executor.js';
export { ClusterExecutor } from './client/executor.js';
export type { Future, ShutdownOptions } from './client/executor.js';
