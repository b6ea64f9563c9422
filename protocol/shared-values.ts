/**
 * How the values of shared objects travel: a finite number as itself in the
 * JSON content (so the controller can `increment` it), anything else as the
 * frames of `serialize()` among the message's buffers, `{ frames: n }` in the
 * content saying how many. The controller keeps those frames as they came and
 * never reads them. No zod here: execution workers load this module.
 */
import { deserialize, serialize } from './serialize.js';

/** Longest name of a shared object, in characters. */
export const SHARED_NAME_MAX = 200;
/** Longest key of a shared dict, in characters. */
export const SHARED_KEY_MAX = 10_000;

/** At most this many calls in a shared_batch, and answers in a shared_batch_reply (more go as several). */
export const SHARED_BATCH_CALLS = 4096;
/** A shared_batch (shared_batch_reply) leaves once its values hold this many bytes: a large value goes at once. */
export const SHARED_BATCH_BYTES = 1024 * 1024;

/** A value in a shared_request or shared_reply: a number, or how many buffers hold it. */
export type WireValue = number | { frames: number };

/** A value as the controller stores it: a number, or its serialized frames (never read). */
export type StoredValue = number | Buffer[];

/** One value for the wire: its content entry and the buffers it adds. */
export function encodeValue(v: unknown, where: string): { wire: WireValue; buffers: Buffer[] } {
  // -0 would arrive as 0 through JSON: it travels serialized, like NaN and the infinities
  if (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0)) return { wire: v, buffers: [] };
  const buffers = serialize(v, where);
  return { wire: { frames: buffers.length }, buffers };
}

/** Values for the wire, in order. */
export function encodeValues(vs: readonly unknown[], where: (i: number) => string): { wire: WireValue[]; buffers: Buffer[] } {
  const wire: WireValue[] = [];
  const buffers: Buffer[] = [];
  vs.forEach((v, i) => {
    const e = encodeValue(v, where(i));
    wire.push(e.wire);
    buffers.push(...e.buffers);
  });
  return { wire, buffers };
}

/**
 * The buffers of a message split into its values, as stored (undefined when
 * the counts do not add up to the buffers it has).
 */
export function splitValues(wire: readonly WireValue[], buffers: readonly Buffer[]): StoredValue[] | undefined {
  const out: StoredValue[] = [];
  let at = 0;
  for (const w of wire) {
    if (typeof w === 'number') {
      out.push(w);
      continue;
    }
    if (at + w.frames > buffers.length) return undefined;
    out.push(buffers.slice(at, at + w.frames));
    at += w.frames;
  }
  return at === buffers.length ? out : undefined;
}

/** Stored values back to the wire: content entries and buffers. */
export function joinValues(vs: readonly StoredValue[]): { wire: WireValue[]; buffers: Buffer[] } {
  const wire: WireValue[] = [];
  const buffers: Buffer[] = [];
  for (const v of vs) {
    if (typeof v === 'number') wire.push(v);
    else {
      wire.push({ frames: v.length });
      buffers.push(...v);
    }
  }
  return { wire, buffers };
}

/** The values a reply carries, deserialized. */
export function decodeValues(wire: readonly WireValue[], buffers: readonly Buffer[]): unknown[] {
  const split = splitValues(wire, buffers);
  if (!split) throw new Error('a shared_reply whose value counts do not match its buffers');
  return split.map((v) => (typeof v === 'number' ? v : deserialize(v)));
}

/** Bytes a stored value takes (frames, or 8 for a number). */
export function storedBytes(v: StoredValue): number {
  return typeof v === 'number' ? 8 : v.reduce((n, f) => n + f.byteLength, 0);
}
