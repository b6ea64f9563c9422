export { Client } from './client.js';
export type { ConnectOptions, QueueStatus, EngineEvent } from './client.js';
export { DirectView, LoadBalancedView } from './views.js';
export type { MapOptions, PerTarget } from './views.js';
export { AsyncResult } from './asyncresult.js';
export type { TaskInfo, PerTask } from './asyncresult.js';
export type { TaskOptions, DirectTaskOptions, Dependency, DependencyLike, TaskRef } from './options.js';
export * from '../errors/index.js';
export type { EngineInfo } from '../protocol/index.js';
