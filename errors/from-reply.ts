/** One way to turn an error a reply carries (ename, evalue, traceback) into the error to raise. */
import { NoEnginesRegistered } from './client.js';
import { ProtocolError, SerializationError } from './protocol.js';
import {
  DataLinkError,
  EngineError,
  ImpossibleDependency,
  InvalidDependency,
  InvalidRequest,
  RemoteError,
  TaskAborted,
  TaskError,
  TaskTimeout,
  WorkerExited,
} from './task.js';
import type { TsclusterError } from './base.js';

/** The error fields of a reply (the engine's, the controller's, or a local worker's). */
export interface ErrorReply {
  ename: string;
  evalue: string;
  traceback: readonly string[];
  /** structured extras, e.g. the type and path of an unserializable value */
  detail?: Record<string, unknown> | undefined;
}

type TaskErrorClass = new (...a: ConstructorParameters<typeof TaskError>) => TaskError;

/** System errors that end one task, by the name they travel under. */
const TASK_ERRORS: Record<string, TaskErrorClass> = {
  EngineError,
  WorkerExited,
  DataLinkError,
  TaskTimeout,
  TaskAborted,
  InvalidDependency,
  ImpossibleDependency,
  InvalidRequest,
};

/**
 * The error a failed task raises: its system error class when the cluster
 * ended it, a SerializationError or ProtocolError for values and messages
 * that could not travel, else a RemoteError (user code threw).
 */
export function errorFromReply(c: ErrorReply, engineId: number | null, msgId: string): TsclusterError {
  const Kind = TASK_ERRORS[c.ename];
  if (Kind) return new Kind(c.ename, c.evalue, c.traceback, engineId, msgId);
  const where = engineId === null ? '' : ` [engine ${engineId}]`;
  switch (c.ename) {
    case 'NoEnginesRegistered':
      return new NoEnginesRegistered(c.evalue);
    case 'SerializationError':
      return new SerializationError(`${c.evalue}${where}`, text(c.detail?.typeName, 'unknown'), text(c.detail?.path, 'value'));
    case 'ProtocolError':
      return new ProtocolError(`${c.evalue}${where}`, 'schema');
    default:
      return new RemoteError(c.ename, c.evalue, c.traceback, engineId, msgId);
  }
}

function text(v: unknown, dflt: string): string {
  return typeof v === 'string' ? v : dflt;
}
