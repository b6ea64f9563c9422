/**
 * Value serialization: `node:v8` structured clone (Map, Set, Date, BigInt,
 * typed arrays, cycles) with typed arrays and ArrayBuffers of 64 KiB or more
 * moved out to frames of their own, never copied into the serialized body.
 *
 * A serialized value is `[body, ...outOfBandFrames]`.
 */
import v8 from 'node:v8';
import { SerializationError } from '../errors/protocol.js';
import { ctorName, describeUnserializable, findLossy } from './unserializable.js';

export { describeUnserializable } from './unserializable.js';

export const OUT_OF_BAND_THRESHOLD = 64 * 1024;

type ViewCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

const VIEW_TYPES: readonly ViewCtor[] = [
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];
const TAG_BUFFER = 100;
const TAG_DATAVIEW = 101;

/** The private hooks of v8.Serializer that Node documents for subclasses. */
interface HostSerializer {
  _setTreatArrayBufferViewsAsHostObjects(flag: boolean): void;
}

class OutOfBandSerializer extends v8.Serializer {
  readonly frames: Buffer[] = [];
  constructor() {
    super();
    (this as unknown as HostSerializer)._setTreatArrayBufferViewsAsHostObjects(true);
  }

  _writeHostObject(obj: object): void {
    if (!ArrayBuffer.isView(obj)) {
      const name = ctorName(obj);
      throw new SerializationError(`a ${name} cannot be serialized`, name, '');
    }
    let tag: number;
    if (Buffer.isBuffer(obj)) tag = TAG_BUFFER;
    else if (obj instanceof DataView) tag = TAG_DATAVIEW;
    else tag = VIEW_TYPES.indexOf(obj.constructor as ViewCtor);
    if (tag < 0) throw new SerializationError(`a ${obj.constructor.name} cannot be serialized`, obj.constructor.name, '');
    this.writeUint32(tag);
    const bytes = Buffer.from(obj.buffer, obj.byteOffset, obj.byteLength);
    if (obj.byteLength >= OUT_OF_BAND_THRESHOLD) {
      this.writeUint32(1);
      this.writeUint32(this.frames.length);
      this.frames.push(bytes);
    } else {
      this.writeUint32(0);
      this.writeUint32(obj.byteLength);
      this.writeRawBytes(bytes);
    }
  }
}

class OutOfBandDeserializer extends v8.Deserializer {
  /** out-of-band frames of host objects, set once the count of transferred ArrayBuffers is read */
  frames: Buffer[] = [];

  _readHostObject(): unknown {
    const tag = this.readUint32();
    const outOfBand = this.readUint32() === 1;
    let bytes: Buffer;
    let aliased = false;
    if (outOfBand) {
      const idx = this.readUint32();
      const f = this.frames[idx];
      if (f === undefined) throw new Error(`serialized value refers to missing buffer frame ${idx}`);
      bytes = f;
      aliased = true;
    } else {
      const len = this.readUint32();
      bytes = this.readRawBytes(len);
    }
    if (tag === TAG_BUFFER) return aliased ? bytes : Buffer.from(bytes);
    const ab = aligned(bytes, tag === TAG_DATAVIEW ? 1 : (VIEW_TYPES[tag]?.BYTES_PER_ELEMENT ?? 1), !aliased);
    if (tag === TAG_DATAVIEW) return new DataView(ab.buffer, ab.byteOffset, ab.byteLength);
    const Ctor = VIEW_TYPES[tag];
    if (!Ctor) throw new Error(`unknown typed array tag ${tag}`);
    return new Ctor(ab.buffer as ArrayBuffer, ab.byteOffset, ab.byteLength / Ctor.BYTES_PER_ELEMENT);
  }
}

/** A view over the bytes whose offset suits the element size; copies only when it must. */
function aligned(bytes: Buffer, bpe: number, mustCopy: boolean): Uint8Array {
  if (!mustCopy && bytes.byteOffset % bpe === 0) return bytes;
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

/** Large bare ArrayBuffers inside the value, found by a bounded walk of plain containers. */
function findLargeArrayBuffers(value: unknown, budget = 10000): ArrayBuffer[] {
  const found: ArrayBuffer[] = [];
  const seen = new Set<unknown>();
  const stack: unknown[] = [value];
  while (stack.length > 0 && budget-- > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof ArrayBuffer) {
      if (v.byteLength >= OUT_OF_BAND_THRESHOLD) found.push(v);
    } else if (Array.isArray(v)) {
      // only the first elements of long arrays: large buffers sit near the top of a value
      for (let i = 0; i < v.length && i < 1000; i++) stack.push(v[i]);
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push(k, x);
    } else if (v instanceof Set) {
      for (const x of v) stack.push(x);
    } else if (!ArrayBuffer.isView(v)) {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) for (const k in v) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return found;
}

/**
 * Serialize a value to `[body, ...outOfBandFrames]`.
 * @param where names the value in errors, e.g. `args` or `result`
 * @param head an optional string written before the value (a function's source), read back by `deserializeWithHead`
 * @throws SerializationError naming the type that cannot travel and its path
 */
export function serialize(value: unknown, where = 'value', head?: string): Buffer[] {
  const s = new OutOfBandSerializer();
  const abs = findLargeArrayBuffers(value);
  const abFrames: Buffer[] = [];
  abs.forEach((ab, i) => {
    s.transferArrayBuffer(i, ab);
    abFrames.push(Buffer.from(ab));
  });
  s.writeHeader();
  // layout: count of transferred ArrayBuffers, head flag (+ head), value; frames: body, transferred buffers, host-object buffers
  s.writeUint32(abFrames.length);
  s.writeUint32(head === undefined ? 0 : 1);
  if (head !== undefined) s.writeValue(head);
  const lossy = findLossy(value, where);
  if (lossy) throw lossy;
  try {
    s.writeValue(value);
  } catch (e) {
    throw describeUnserializable(value, where, e);
  }
  return [s.releaseBuffer(), ...abFrames, ...s.frames];
}

/** Inverse of serialize, returning the head too. */
export function deserializeWithHead(frames: Buffer[]): { head: string | undefined; value: unknown } {
  const body = frames[0];
  if (!body) throw new Error('serialized value is missing its body frame');
  const d = new OutOfBandDeserializer(body);
  d.readHeader();
  const nAb = d.readUint32();
  if (nAb > frames.length - 1) throw new Error('serialized value refers to more buffer frames than it has');
  d.frames = frames.slice(1 + nAb);
  for (let i = 0; i < nAb; i++) {
    const f = frames[1 + i]!;
    const ab = f.byteOffset === 0 && f.buffer.byteLength === f.byteLength ? f.buffer : f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength);
    d.transferArrayBuffer(i, ab as ArrayBuffer);
  }
  const hasHead = d.readUint32() === 1;
  const head: unknown = hasHead ? d.readValue() : undefined;
  if (hasHead && typeof head !== 'string') throw new Error('serialized head is not a string');
  return { head: head as string | undefined, value: d.readValue() as unknown };
}

/** Inverse of serialize. */
export function deserialize(frames: Buffer[]): unknown {
  return deserializeWithHead(frames).value;
}
