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

/** At most this many values in a batch (and never more than the window's items). */
export const CHANNEL_BATCH_ITEMS = 4096;
/** A batch leaves once it holds this many bytes (or the window's bytes, if fewer): a large value goes at once. */
export const CHANNEL_BATCH_BYTES = 1024 * 1024;
/** Microtask rounds without a new value after which a batch leaves. */
const IDLE_ROUNDS = 3;

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

/**
 * The batch a channel end is gathering: values join it as they are sent; it
 * leaves (`send(seq of its first value, batch)`) once the microtask queue has
 * gone IDLE_ROUNDS rounds without a new value (a producer looping
 * `await ch.send(v)` sends again every round), or at once when it reaches the
 * window's values or bytes, CHANNEL_BATCH_ITEMS or CHANNEL_BATCH_BYTES.
 */
export class BatchSender {
  #values: Buffer[][] = [];
  #bytes = 0;
  #next = 1;
  /** the microtask rounds are running; values since the last round, and rounds without one */
  #gathering = false;
  #added = 0;
  #idle = 0;

  constructor(
    private readonly window: { items: number; bytes: number },
    private readonly send: (seq: number, batch: ValueBatch) => void,
    /** sending failed in a microtask round (the transport is gone) */
    private readonly onError: (e: Error) => void,
  ) {}

  /** Value `seq` (one more than the last) joins the batch. */
  add(seq: number, frames: Buffer[], bytes: number): void {
    if (this.#values.length === 0) this.#next = seq;
    this.#values.push(frames);
    this.#bytes += bytes;
    this.#added++;
    const full = this.#values.length >= Math.min(this.window.items, CHANNEL_BATCH_ITEMS);
    if (full || this.#bytes >= Math.min(this.window.bytes, CHANNEL_BATCH_BYTES)) this.flush();
    else if (!this.#gathering) {
      this.#gathering = true;
      this.#idle = 0;
      queueMicrotask(() => this.#round());
    }
  }

  /** The batch leaves now. */
  flush(): void {
    const values = this.#values;
    if (values.length === 0) return;
    this.drop();
    this.send(this.#next, joinBatch(values));
  }

  /** The batch is forgotten (nobody will read it). */
  drop(): void {
    this.#values = [];
    this.#bytes = 0;
  }

  #round(): void {
    if (this.#values.length === 0) {
      this.#gathering = false;
      return;
    }
    this.#idle = this.#added > 0 ? 0 : this.#idle + 1;
    this.#added = 0;
    if (this.#idle < IDLE_ROUNDS) {
      queueMicrotask(() => this.#round());
      return;
    }
    this.#gathering = false;
    try {
      this.flush();
    } catch (e) {
      this.onError(e instanceof Error ? e : new Error(String(e)));
    }
  }
}
