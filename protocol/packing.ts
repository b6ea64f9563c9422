/**
 * Transport packing. A logical message keeps the Jupyter framing
 * (`<IDS|MSG>`, signature, header, parent, metadata, content, buffers...), but
 * its small frames travel concatenated in one ZeroMQ frame, and several
 * messages queued for the same peer travel in one ZeroMQ message. Frames of
 * 64 KiB or more stay ZeroMQ frames of their own, never copied.
 *
 * ZeroMQ message: `[packed, ...largeFrames]` where packed is
 *   magic "TSCP" | u8 version | u32 messageCount |
 *   per message: u32 frameCount | per frame: u32 word
 *   word < 2^31: an inline frame of that many bytes follows
 *   word >= 2^31: frame is largeFrames[word - 2^31]
 * (lengths and inline bytes interleaved in order).
 *
 * Why: each ZeroMQ frame costs a native call and a Buffer on both sides; a
 * task is ~8 frames per hop. Packing makes a hop one frame, and a burst of
 * tasks one message.
 */
import { ProtocolError } from '../errors/protocol.js';
import { DELIMITER } from './wire.js';

export const PACK_MAGIC = Buffer.from('TSCP');
const VERSION = 1;
export const INLINE_LIMIT = 64 * 1024;
const EXTERNAL = 0x80000000;
/** a packed ZeroMQ message grows to about this before a new one starts */
export const BATCH_BYTES = 1024 * 1024;

/** Pack logical messages (frames from the delimiter on) into one ZeroMQ message. */
export function pack(messages: readonly (readonly Buffer[])[]): Buffer[] {
  let size = PACK_MAGIC.length + 1 + 4;
  for (const m of messages) {
    size += 4;
    for (const f of m) size += 4 + (f.length < INLINE_LIMIT ? f.length : 0);
  }
  const out = Buffer.allocUnsafe(size);
  const large: Buffer[] = [];
  let o = PACK_MAGIC.copy(out, 0);
  out[o++] = VERSION;
  o = out.writeUInt32LE(messages.length, o);
  for (const m of messages) {
    o = out.writeUInt32LE(m.length, o);
    for (const f of m) {
      if (f.length < INLINE_LIMIT) {
        o = out.writeUInt32LE(f.length, o);
        o += f.copy(out, o);
      } else {
        o = out.writeUInt32LE(EXTERNAL + large.length, o);
        large.push(f);
      }
    }
  }
  return [out, ...large];
}

/** Is this ZeroMQ frame a packed one? */
export function isPacked(frame: Buffer | undefined): boolean {
  return frame !== undefined && frame.length >= 9 && frame[0] === 0x54 && frame.subarray(0, 4).equals(PACK_MAGIC);
}

/**
 * Unpack a ZeroMQ message (identities already removed) into logical messages.
 * A plain (unpacked) Jupyter message is returned as itself.
 * Throws ProtocolError('framing') on anything malformed.
 */
export function unpack(frames: Buffer[]): Buffer[][] {
  const first = frames[0];
  if (!isPacked(first)) {
    if (first !== undefined && first.equals(DELIMITER)) return [frames];
    throw new ProtocolError('neither a packed message nor a <IDS|MSG>-framed one', 'framing');
  }
  const p = first!;
  if (p[4] !== VERSION) throw new ProtocolError(`packed message version ${p[4]} (this side speaks ${VERSION})`, 'framing');
  const large = frames.length - 1;
  let o = 5;
  const need = (n: number): void => {
    if (o + n > p.length) throw new ProtocolError('packed message is truncated', 'framing');
  };
  need(4);
  const count = p.readUInt32LE(o);
  o += 4;
  // every message takes at least 4 bytes: a bound that refuses absurd counts early
  if (count > (p.length - o) / 4) throw new ProtocolError('packed message count exceeds its size', 'framing');
  const out: Buffer[][] = [];
  let nextLarge = 0;
  for (let i = 0; i < count; i++) {
    need(4);
    const nf = p.readUInt32LE(o);
    o += 4;
    if (nf > (p.length - o) / 4 + large) throw new ProtocolError('packed frame count exceeds the message size', 'framing');
    const m: Buffer[] = new Array<Buffer>(nf);
    for (let j = 0; j < nf; j++) {
      need(4);
      const w = p.readUInt32LE(o);
      o += 4;
      if (w >= EXTERNAL) {
        const k = w - EXTERNAL;
        if (k !== nextLarge || k >= large) throw new ProtocolError('packed message refers to a missing large frame', 'framing');
        m[j] = frames[1 + k]!;
        nextLarge++;
      } else {
        need(w);
        m[j] = p.subarray(o, o + w);
        o += w;
      }
    }
    out.push(m);
  }
  if (o !== p.length || nextLarge !== large) throw new ProtocolError('packed message has trailing data', 'framing');
  return out;
}
