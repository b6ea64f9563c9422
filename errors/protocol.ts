/** Errors of messages and values on the wire. */
import { TsclusterError } from './base.js';

/** late: a reply for a task no longer running where it came from (failed over, or its engine was declared dead) */
export type ProtocolErrorReason = 'framing' | 'signature' | 'replay' | 'json' | 'schema' | 'size' | 'late';

/** A message that could not be accepted: bad framing, bad signature, schema failure. */
export class ProtocolError extends TsclusterError {
  override name = 'ProtocolError';
  constructor(
    message: string,
    /** Short machine-readable reason, e.g. `signature`, `schema`, `framing`, `replay`. */
    readonly reason: ProtocolErrorReason,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A value that cannot travel between processes (a function, a symbol, a socket...).
 * `path` says where it sits in the value, e.g. `result.conn` or `args[1].cb`.
 */
export class SerializationError extends TsclusterError {
  override name = 'SerializationError';
  constructor(
    message: string,
    /** The type that cannot travel, e.g. `function`, `Socket`, `symbol`. */
    readonly typeName: string,
    /** Where it sits in the value, e.g. `args[0].cb`. */
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
