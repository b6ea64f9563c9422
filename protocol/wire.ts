/**
 * Jupyter wire framing:
 * `[identities..., "<IDS|MSG>", signature, header, parent_header, metadata, content, buffers...]`.
 */
import { ProtocolError } from '../errors/protocol.js';

export const DELIMITER = Buffer.from('<IDS|MSG>');

/** The raw frames of one message, split but not yet parsed or verified. */
export interface RawMessage {
  identities: Buffer[];
  signature: Buffer;
  header: Buffer;
  parent: Buffer;
  metadata: Buffer;
  content: Buffer;
  buffers: Buffer[];
}

/** Split a multipart message at the delimiter. Throws ProtocolError('framing'). */
export function splitFrames(frames: Buffer[]): RawMessage {
  let d = -1;
  // identities are few (0-2), so the delimiter is near the front
  for (let i = 0; i < frames.length && i < 8; i++) {
    const f = frames[i]!;
    if (f.length === DELIMITER.length && f.equals(DELIMITER)) {
      d = i;
      break;
    }
  }
  if (d < 0) throw new ProtocolError('no <IDS|MSG> delimiter frame', 'framing');
  if (frames.length < d + 6) {
    throw new ProtocolError(`message has ${frames.length - d - 1} frames after the delimiter; at least 5 expected`, 'framing');
  }
  return {
    identities: frames.slice(0, d),
    signature: frames[d + 1]!,
    header: frames[d + 2]!,
    parent: frames[d + 3]!,
    metadata: frames[d + 4]!,
    content: frames[d + 5]!,
    buffers: frames.slice(d + 6),
  };
}

/** Join the frames of a message for sending, with optional routing identities in front. */
export function joinFrames(identities: readonly Buffer[], m: Omit<RawMessage, 'identities'>): Buffer[] {
  return [...identities, DELIMITER, m.signature, m.header, m.parent, m.metadata, m.content, ...m.buffers];
}
