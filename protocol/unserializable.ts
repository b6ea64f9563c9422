/**
 * Values that cannot travel, found before or after the structured clone
 * fails, and reported with their type and where they sit (`result.a.cb`).
 * Structured clone also "succeeds" on objects whose state lives outside
 * their own properties (a URL, an AbortController, a generator): they would
 * arrive as `{}`; those are refused too rather than lost silently.
 */
import v8 from 'node:v8';
import { SerializationError } from '../errors/protocol.js';

/** The name of an object's type: its class, else its toStringTag ('Generator'), else 'object'. */
export function ctorName(o: object): string {
  const name = (o as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name === 'string' && name !== '') return name;
  const tag = Object.prototype.toString.call(o).slice(8, -1);
  return tag === '' ? 'object' : tag;
}

function typeName(v: unknown): string {
  if (typeof v === 'function') return 'function';
  if (typeof v === 'symbol') return 'symbol';
  if (v !== null && typeof v === 'object') return ctorName(v);
  return typeof v;
}

/** Tags of objects structured clone carries with their state. */
const CLONEABLE_TAGS = new Set([
  'Object',
  'Array',
  'Map',
  'Set',
  'Date',
  'RegExp',
  'Error',
  'Boolean',
  'Number',
  'String',
  'BigInt',
  'Arguments',
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
]);

/** An object whose state is not in its own properties (a URL, an AbortController, a generator...): it would arrive as `{}`. */
function isLossy(o: object): boolean {
  return !CLONEABLE_TAGS.has(Object.prototype.toString.call(o).slice(8, -1));
}

function keyPath(path: string, k: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
}

/** The children of a container (or of an object's own enumerable properties), with their paths. */
function children(v: object, path: string): [string, unknown][] {
  const out: [string, unknown][] = [];
  if (v instanceof Map) {
    let i = 0;
    for (const [k, x] of v) out.push([`${path}.get(${typeof k === 'string' ? JSON.stringify(k) : `#${i}`})`, x], [`${path}.keys()[${i++}]`, k]);
  } else if (v instanceof Set) {
    let i = 0;
    for (const x of v) out.push([`${path}.values()[${i++}]`, x]);
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => out.push([`${path}[${i}]`, x]));
  } else if (!ArrayBuffer.isView(v)) {
    for (const k of Object.keys(v)) out.push([keyPath(path, k), (v as Record<string, unknown>)[k]]);
  }
  return out;
}

function lossyError(path: string, type: string): SerializationError {
  return new SerializationError(
    `cannot send ${path}: a ${type} keeps its state outside its own properties and would arrive as an empty object. ` +
      "Send what it holds instead (e.g. url.href, a generator's values as an array).",
    type,
    path,
  );
}

/**
 * The first object in the value (a bounded walk) that structured clone would
 * carry without its state, as a SerializationError; undefined when none.
 */
export function findLossy(value: unknown, where: string, budget = 10000): SerializationError | undefined {
  const seen = new Set<unknown>();
  const stack: [string, unknown][] = [[where, value]];
  while (stack.length > 0 && budget-- > 0) {
    const [path, v] = stack.pop()!;
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (isLossy(v)) return lossyError(path, ctorName(v));
    // long arrays: their first elements (objects of one kind sit together)
    const kids = children(v, path);
    for (let i = Math.min(kids.length, 1000) - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return undefined;
}

function canSerialize(v: unknown): boolean {
  try {
    v8.serialize(v);
    return true;
  } catch {
    return false;
  }
}

/** A field of a class instance that is the culprit itself: a function, a symbol, or an object that cannot travel. */
function culpritField(v: object, path: string): { path: string; type: string } | undefined {
  for (const [p, x] of children(v, path)) {
    if (typeof x === 'function' || typeof x === 'symbol') return { path: p, type: typeName(x) };
  }
  return undefined;
}

function isPlainContainer(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null || Array.isArray(v) || v instanceof Map || v instanceof Set;
}

/** Find the first value that cannot travel and say where it sits. */
export function describeUnserializable(value: unknown, where: string, cause?: unknown): SerializationError {
  const seen = new Set<unknown>();
  const visit = (v: unknown, path: string): { path: string; type: string } | undefined => {
    if (typeof v === 'function' || typeof v === 'symbol') return { path, type: typeName(v) };
    if (v === null || typeof v !== 'object' || seen.has(v)) return undefined;
    seen.add(v);
    if (canSerialize(v)) return undefined;
    // a class instance that cannot travel: the field to blame when one is (a callback), else itself (a Socket, not its _handle)
    if (!isPlainContainer(v)) return culpritField(v, path) ?? { path, type: typeName(v) };
    for (const [p, x] of children(v, path)) {
      const r = visit(x, p);
      if (r) return r;
    }
    return { path, type: typeName(v) };
  };
  const found = visit(value, where) ?? { path: where, type: typeName(value) };
  const reason = cause instanceof Error ? ` (${cause.message})` : '';
  return new SerializationError(
    `cannot send ${found.path}: a ${found.type} cannot be serialized${reason}. ` +
      'Values travel by structured clone: send plain data (objects, arrays, Map, Set, Date, typed arrays), not functions, sockets or handles.',
    found.type,
    found.path,
  );
}
