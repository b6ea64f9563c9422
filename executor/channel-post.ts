/**
 * A batch of channel values as it is posted between an engine's main thread
 * and its execution worker, either way: the small frames copied into one
 * buffer that moves, with each frame's size, so a batch of many small values
 * is one transfer and an array of numbers (a message of many typed arrays
 * would cost a clone of each); each large frame moves as a buffer of its own.
 *
 * Imported by the execution worker: no zod.
 */
import type { ValueBatch } from '../protocol/channel-batch.js';
import { LARGE_FRAME, wholeBuffer } from './frames.js';

/** A batch of values between threads. */
export interface PostedBatch {
  count: number;
  /** each value's number of frames, as in ValueBatch */
  frames?: number[] | undefined;
  /** each frame's size: those under LARGE_FRAME are in `joint`, one after the other; the others are `large`, in order */
  sizes: number[];
  joint: Uint8Array;
  large: Uint8Array[];
}

/**
 * The batch to post, and what moves with it. Each large frame that is not
 * `own(i)` (out-of-band frames alias the sender's typed arrays, ZeroMQ frames
 * its memory) is copied once and its copy moves (a structured clone would
 * copy twice); one that is moves as it is.
 */
export function toPosted(b: ValueBatch<Uint8Array>, own: (i: number) => boolean = () => false): { batch: PostedBatch; transfer: ArrayBuffer[] } {
  let small = 0;
  for (const f of b.buffers) if (f.byteLength < LARGE_FRAME) small += f.byteLength;
  const joint = new Uint8Array(small);
  // a small joint buffer is cloned with the message: cheaper than moving it
  const transfer: ArrayBuffer[] = small < LARGE_FRAME ? [] : [joint.buffer];
  const sizes: number[] = [];
  const large: Uint8Array[] = [];
  let at = 0;
  b.buffers.forEach((f, i) => {
    sizes.push(f.byteLength);
    if (f.byteLength < LARGE_FRAME) {
      joint.set(f, at);
      at += f.byteLength;
      return;
    }
    const kept = own(i) ? wholeBuffer(f) : undefined;
    const moved = kept === undefined ? new Uint8Array(f) : f;
    transfer.push(kept ?? (moved.buffer as ArrayBuffer));
    large.push(moved);
  });
  return { batch: { count: b.count, frames: b.frames, sizes, joint, large }, transfer };
}

/** The batch posted: its frames as Buffers over the memory that moved (no copy). */
export function fromPosted(p: PostedBatch): ValueBatch {
  const buffers: Buffer[] = [];
  let at = 0;
  let next = 0;
  for (const n of p.sizes) {
    if (n < LARGE_FRAME) {
      buffers.push(Buffer.from(p.joint.buffer, p.joint.byteOffset + at, n));
      at += n;
    } else {
      const f = p.large[next++]!;
      buffers.push(Buffer.from(f.buffer, f.byteOffset, f.byteLength));
    }
  }
  return { count: p.count, frames: p.frames, buffers };
}

/** The index of each value's first frame in a batch: serialize's own buffer, which nothing else holds. */
export function firstFrames(batch: ValueBatch): (i: number) => boolean {
  if (batch.frames === undefined) return batch.count === 1 ? (i) => i === 0 : () => true;
  const starts = new Set<number>();
  let at = 0;
  for (const n of batch.frames) {
    starts.add(at);
    at += n;
  }
  return (i) => starts.has(i);
}
