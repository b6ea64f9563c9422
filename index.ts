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
export type { SchemeName } from './controller/schemes/index.js';
export { Executor } from './executor/auto.js';
export type { AutoOptions } from './executor/auto.js';
export { LocalExecutor } from './executor/local.js';
export { ClusterExecutor } from './executor/cluster.js';
export type { Future, ShutdownOptions } from './executor/future.js';
