/**
 * The error model. Every error tscluster raises is a TsclusterError with a
 * `code` (its class name, stable: branch on `instanceof` or on `code`, never
 * on message text) and the standard `cause` (ErrorOptions).
 */

/**
 * Names of the errors the cluster itself reports for a task, as they travel
 * in a reply's `ename`: the controller, the engines and the client share them.
 * Anything else in `ename` is user code's (a RemoteError).
 */
export const SYSTEM_ERROR_NAMES = [
  'EngineError',
  'WorkerExited',
  'DataLinkError',
  'TaskTimeout',
  'TaskAborted',
  'InvalidDependency',
  'ImpossibleDependency',
  'NoEnginesRegistered',
  'InvalidRequest',
  'ProtocolError',
  'SerializationError',
] as const;
export type SystemErrorName = (typeof SYSTEM_ERROR_NAMES)[number];

export function isSystemErrorName(name: string): name is SystemErrorName {
  return (SYSTEM_ERROR_NAMES as readonly string[]).includes(name);
}

/** The base class of every error tscluster raises. */
export class TsclusterError extends Error {
  override name = 'TsclusterError';

  /** The condition, stable across releases: the class name. */
  get code(): string {
    return this.name;
  }
}
