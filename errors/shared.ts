/**
 * Errors of shared objects (queues, dicts, events, locks the controller
 * hosts). They travel in a `shared_reply` by name (`SHARED_ERROR_NAMES`) and
 * become their class through `sharedError()`, on clients and in remote code.
 */
import { TsclusterError } from './base.js';
import { TimeoutError } from './client.js';

/** What kind of shared object a name holds. */
export type SharedKind = 'queue' | 'dict' | 'event' | 'lock';

/**
 * A shared-object call the controller could not carry out: the name holds
 * another kind of object, the object was deleted, an `increment` of a value
 * that is not a number, a `release` of a lock held by someone else. The
 * subclasses name the common conditions.
 */
export class SharedObjectError extends TsclusterError {
  override name = 'SharedObjectError';
  constructor(
    message: string,
    /** the object's name */
    readonly object: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** `queue.getNowait()` found the queue empty. */
export class QueueEmpty extends SharedObjectError {
  override name = 'QueueEmpty';
}

/** The queue is closed: a `put` (or a `get` once it is drained) is refused. */
export class QueueClosed extends SharedObjectError {
  override name = 'QueueClosed';
}

/**
 * A value would take a shared object, or all shared objects together, past
 * their byte limit. `setting` names the controller setting that raises it
 * (`sharedObjectMaxBytes`, `sharedMaxBytes`).
 */
export class SharedLimitExceeded extends SharedObjectError {
  override name = 'SharedLimitExceeded';
  constructor(
    message: string,
    object: string,
    readonly setting: string,
    options?: ErrorOptions,
  ) {
    super(message, object, options);
  }
}

/** A blocking shared-object call (`queue.get`, `queue.put`) ran out of time; nothing was taken or added. */
export class SharedTimeout extends TimeoutError {
  override name = 'SharedTimeout';
  constructor(
    message: string,
    /** the object's name */
    readonly object: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The error names a shared_reply carries. */
export const SHARED_ERROR_NAMES = ['SharedObjectError', 'QueueEmpty', 'QueueClosed', 'SharedLimitExceeded', 'SharedTimeout'] as const;
export type SharedErrorName = (typeof SHARED_ERROR_NAMES)[number];

/** The error a shared_reply (or a worker's answer) names. */
export function sharedError(ename: SharedErrorName, evalue: string, object: string, setting?: string): TsclusterError {
  switch (ename) {
    case 'QueueEmpty':
      return new QueueEmpty(evalue, object);
    case 'QueueClosed':
      return new QueueClosed(evalue, object);
    case 'SharedLimitExceeded':
      return new SharedLimitExceeded(evalue, object, setting ?? '');
    case 'SharedTimeout':
      return new SharedTimeout(evalue, object);
    case 'SharedObjectError':
      return new SharedObjectError(evalue, object);
  }
}
