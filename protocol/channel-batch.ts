/**
 * Batches of channel values: the values a side sends in one tick travel as
 * one channel_data message (and one postMessage between an engine's worker
 * and its main thread). A batch is the frames of its values one after the
 * other (each value's frames as serialize made them: large typed arrays stay
 * frames of their own, never copied into one buffer), the number of values,
 * and each value's number of frames when some value has more than one.
 *
 * Imported by the execution worker: no zod here.
 */

/** Values as they travel: `count` values whose frames are `buffers`, in order. */
export interface ValueBatch<B extends Uint8Array = Buffer> {
  count: number;
  /** each value's number of frames; absent: one frame each (or, for a single value, every frame) */
  frames?: number[] | undefined;
  buffers: B[];
}

/** The batch of these values (each one's frames). */
export function joinBatch(values: readonly Buffer[][]): ValueBatch {
  if (values.length === 1) return { count: 1, buffers: values[0]! };
  const buffers: Buffer[] = [];
  let single = true;
  for (const v of values) {
    if (v.length !== 1) single = false;
    for (const f of v) buffers.push(f);
  }
  return single ? { count: values.length, buffers } : { count: values.length, frames: values.map((v) => v.length), buffers };
}

/** Each value's frames; undefined when the counts do not match the frames (a malformed batch). */
export function splitBatch(b: ValueBatch): Buffer[][] | undefined {
  const { count, frames, buffers } = b;
  if (frames === undefined) {
    if (count === 1) return [buffers];
    return buffers.length === count ? buffers.map((f) => [f]) : undefined;
  }
  if (frames.length !== count) return undefined;
  const out: Buffer[][] = [];
  let at = 0;
  for (const n of frames) {
    if (!Number.isInteger(n) || n < 1 || at + n > buffers.length) return undefined;
    out.push(buffers.slice(at, at + n));
    at += n;
  }
  return at === buffers.length ? out : undefined;
}

/** The batch's fields as a channel_data content carries them (beside `channel` and `seq`). */
export function batchContent(b: ValueBatch<Uint8Array>): { count?: number; frames?: number[] } {
  if (b.count === 1 && b.frames === undefined) return {};
  return b.frames === undefined ? { count: b.count } : { count: b.count, frames: b.frames };
}
