/**
 * Frames moving between an engine's main thread and its execution worker.
 * Imported by the execution worker: no zod.
 */
import { OUT_OF_BAND_THRESHOLD } from '../protocol/serialize.js';

/**
 * From this size on (the serializer's out-of-band frames) a frame moves between
 * threads as a buffer of its own, copied once at most and then transferred;
 * smaller ones are cloned or joined.
 */
export const LARGE_FRAME = OUT_OF_BAND_THRESHOLD;

/** The ArrayBuffer a view covers whole, which can move to another thread without a copy; else undefined. */
export function wholeBuffer(f: Uint8Array): ArrayBuffer | undefined {
  return f.byteOffset === 0 && f.buffer.byteLength === f.byteLength && f.buffer instanceof ArrayBuffer ? f.buffer : undefined;
}
