/**
 * Errors a task ends with. Each condition is its own class with structured
 * fields; branch on `instanceof`, not on message text.
 */
import { TsclusterError } from './base.js';

/**
 * A task ended in error. The subclasses say how: `RemoteError` (user code
 * threw), `EngineError` (its engine died), `WorkerExited` (its execution
 * worker died), `TaskTimeout`, `TaskAborted`, `InvalidDependency`,
 * `ImpossibleDependency`.
 */
export class TaskError extends TsclusterError {
  override name = 'TaskError';
  /**
   * @param ename the error's class name, e.g. `TypeError` for user code
   * @param evalue the error's message
   * @param traceback the remote stack, line by line (empty when none)
   * @param engineId the engine the task was on, if any
   * @param msgId the task's msg_id
   */
  constructor(
    readonly ename: string,
    readonly evalue: string,
    readonly traceback: readonly string[],
    readonly engineId: number | null,
    readonly msgId: string,
    options?: ErrorOptions,
  ) {
    super(`${ename}: ${evalue}${engineId === null ? '' : ` [engine ${engineId}]`}`, options);
  }
}

/** An exception raised by user code on an engine. */
export class RemoteError extends TaskError {
  override name = 'RemoteError';
  constructor(ename: string, evalue: string, traceback: readonly string[], engineId: number | null, msgId: string, options?: ErrorOptions) {
    super(ename, evalue, traceback, engineId, msgId, options);
    if (traceback.length > 0) {
      const local = (this.stack ?? '').split('\n').slice(1).join('\n');
      this.stack = `${this.name}: ${this.message}\n  remote stack (engine ${engineId ?? '?'}):\n    ${traceback.join('\n    ')}\n  local stack:\n${local}`;
    }
  }

  /** The remote stack as one string. */
  get remoteStack(): string {
    return this.traceback.join('\n');
  }
}

/** An engine died (or was not there) while a task was on it. */
export class EngineError extends TaskError {
  override name = 'EngineError';
}

/**
 * The engine's execution worker died under the task (process.exit(), a crash,
 * out of memory): not an exception of user code. The engine started a fresh
 * worker (its namespace is reset) and stays registered.
 */
export class WorkerExited extends TaskError {
  override name = 'WorkerExited';
}

/**
 * A task's payload, sent straight to its engine's data endpoint, did not
 * reach the code: the engine's execution worker was replaced while it was on
 * its way, or the engine cannot be reached from the client. Send it again, or
 * connect with `directData: false`.
 */
export class DataLinkError extends TaskError {
  override name = 'DataLinkError';
}

/** A task did not finish within its `timeoutMs`; a running one was interrupted (its engine's namespace is reset). */
export class TaskTimeout extends TaskError {
  override name = 'TaskTimeout';
}

/** A task was aborted (`ar.abort()`, `rc.abort()`); a running one was interrupted (its engine's namespace is reset). */
export class TaskAborted extends TaskError {
  override name = 'TaskAborted';
}

/** A task named a dependency the controller does not know. */
export class InvalidDependency extends TaskError {
  override name = 'InvalidDependency';
}

/** A task's dependencies can no longer be met (e.g. follow-all over results on two engines). */
export class ImpossibleDependency extends TaskError {
  override name = 'ImpossibleDependency';
}

/** The controller refused a request it could not accept (a field out of range); `evalue` names the field. */
export class InvalidRequest extends TaskError {
  override name = 'InvalidRequest';
}

/**
 * Every failure of a call that ran several tasks (a multi-engine apply, a
 * map), with what did succeed: `results` holds every item (or per-engine
 * value) with each failure's error in its place, `failedIndices` where they are.
 */
export class CompositeError extends TsclusterError {
  override name = 'CompositeError';
  /** every item, errors in place of the failed ones (empty when not known) */
  readonly results: readonly unknown[];
  /** indices into `results` of the failed items */
  readonly failedIndices: readonly number[];

  constructor(
    readonly errors: readonly Error[],
    readonly total: number,
    partial: { results?: readonly unknown[]; failedIndices?: readonly number[] } = {},
    options?: ErrorOptions,
  ) {
    const shown = errors.slice(0, 10).map((e) => `  ${e.message}`);
    const more = errors.length > 10 ? `\n  ... and ${errors.length - 10} more` : '';
    super(`${errors.length} of ${total} tasks failed:\n${shown.join('\n')}${more}`, options);
    this.results = partial.results ?? [];
    this.failedIndices = partial.failedIndices ?? [];
  }
}
