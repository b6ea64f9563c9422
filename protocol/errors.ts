/**
 * Errors raised by the protocol layer. They carry structured fields so callers
 * branch on `instanceof` and fields, never on message text.
 */

/** A message that could not be accepted: bad framing, bad signature, schema failure. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    message: string,
    /** Short machine-readable reason, e.g. `signature`, `schema`, `framing`, `replay`. */
    readonly reason: ProtocolErrorReason,
  ) {
    super(message);
  }
}

export type ProtocolErrorReason = 'framing' | 'signature' | 'replay' | 'json' | 'schema' | 'size';

/**
 * A value that cannot travel between processes (a function, a symbol, a socket...).
 * `path` says where it sits in the value, e.g. `result.conn` or `args[1].cb`.
 */
export class SerializationError extends Error {
  override name = 'SerializationError';
  constructor(
    message: string,
    /** The type that cannot travel, e.g. `function`, `Socket`, `symbol`. */
    readonly typeName: string,
    /** Where it sits in the value, e.g. `args[0].cb`. */
    readonly path: string,
  ) {
    super(message);
  }
}
