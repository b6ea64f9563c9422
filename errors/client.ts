/** Errors of connections, waits and clusters (not of one task). */
import { TsclusterError } from './base.js';

/** No engine is registered to take the work. */
export class NoEnginesRegistered extends TsclusterError {
  override name = 'NoEnginesRegistered';
}

/** A wait ran out of time (the work itself goes on). */
export class TimeoutError extends TsclusterError {
  override name = 'TimeoutError';
}

/** The client lost (or closed) its connection to the controller. */
export class ConnectionLost extends TsclusterError {
  override name = 'ConnectionLost';
}

/** A connection, config or state file that is missing, corrupt or invalid. */
export class ConnectionFileError extends TsclusterError {
  override name = 'ConnectionFileError';
  constructor(
    message: string,
    /** the file concerned */
    readonly path: string,
    /** the bad field, when one is to blame */
    readonly field?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A cluster with this profile and cluster id is already running. */
export class ClusterAlreadyRunning extends TsclusterError {
  override name = 'ClusterAlreadyRunning';
}
