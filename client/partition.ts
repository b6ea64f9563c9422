/** Splitting inputs into blocks and chunks, and joining the parts of results. */

export function toArray<T>(items: Iterable<T> | ArrayLike<T>): T[] {
  return Array.isArray(items) ? (items as T[]) : Array.from(items as Iterable<T>);
}

export type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export function isTypedArray(v: unknown): v is TypedArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

export function lengthOf(v: unknown): number {
  return (v as ArrayLike<unknown>).length;
}

/** Contiguous blocks of near-equal size; typed arrays become typed-array views. */
export function partitionLike(items: ArrayLike<unknown> | Iterable<unknown>, n: number): (unknown[] | TypedArray)[] {
  if (isTypedArray(items)) return blocks(items.length, n, (from, to) => items.subarray(from, to));
  return partition(toArray(items as Iterable<unknown>), n);
}

/** Concatenate gathered parts: typed arrays of one kind into one, else arrays (a non-array part is one item). */
export function concatParts(parts: unknown[]): unknown {
  if (parts.length > 0 && parts.every((p) => isTypedArray(p) && p.constructor === (parts[0] as TypedArray).constructor)) {
    const typed = parts as TypedArray[];
    const Ctor = typed[0]!.constructor as new (n: number) => TypedArray;
    const out = new Ctor(typed.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of typed) {
      (out as { set(a: ArrayLike<unknown>, o: number): void }).set(p, at);
      at += p.length;
    }
    return out;
  }
  const out: unknown[] = [];
  for (const p of parts) {
    if (Array.isArray(p)) for (const x of p) out.push(x);
    else if (isTypedArray(p)) out.push(...Array.from(p as ArrayLike<unknown>));
    else out.push(p);
  }
  return out;
}

export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `n` contiguous [from, to) ranges over `length` items whose sizes differ by at most one, each made by `take`. */
function blocks<B>(length: number, n: number, take: (from: number, to: number) => B): B[] {
  const out: B[] = [];
  const base = Math.floor(length / n);
  const extra = length % n;
  let at = 0;
  for (let i = 0; i < n; i++) {
    const len = base + (i < extra ? 1 : 0);
    out.push(take(at, at + len));
    at += len;
  }
  return out;
}

/** Split into `n` contiguous blocks whose sizes differ by at most one. */
export function partition<T>(items: T[], n: number): T[][] {
  return blocks(items.length, n, (from, to) => items.slice(from, to));
}

export function concatChunks<R>(values: unknown[], order: readonly number[], ordered: boolean): R[] {
  const out: R[] = [];
  for (const i of ordered ? values.keys() : order) for (const v of values[i] as R[]) out.push(v);
  return out;
}
