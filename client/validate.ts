/**
 * Checks of what a caller passes, done at the call: a bad argument throws a
 * TypeError or RangeError at once, naming the argument, what it accepts and
 * what it got. (Everything decided later, by the controller or an engine,
 * rejects the result instead.)
 */

/** A value as an error message shows it. */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 60)}...` : v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return v.toString();
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v !== null && typeof v === 'object') {
    const ctor = (v as { constructor?: { name?: string } }).constructor;
    return ctor === Object || !ctor?.name ? 'an object' : `a ${ctor.name}`;
  }
  return String(v);
}

/** An engine index as ipyparallel takes it: an engine id (>= 0), or a negative index from the last registered engine. */
function checkIndex(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new TypeError(`${name} must be an engine id (a whole number; -1 is the last engine), got ${show(v)}`);
  if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be an engine id (a whole number; -1 is the last engine), got ${show(v)}`);
  return v;
}

/** Targets as given: one engine id or index, or an array of them (checked, not yet resolved). */
export function checkTargets(name: string, v: unknown): number | number[] {
  if (Array.isArray(v)) return v.map((x, i) => checkIndex(`${name}[${i}]`, x));
  return checkIndex(name, v);
}

/**
 * Engine ids from targets: negative indices count from the last registered
 * engine (ipyparallel's `rc[-1]`). Ids of engines that are not registered
 * are kept (the controller refuses them with EngineError).
 */
export function resolveTargets(targets: readonly number[], ids: readonly number[]): number[] {
  return targets.map((t) => {
    if (t >= 0) return t;
    const id = ids[ids.length + t];
    if (id === undefined)
      throw new RangeError(`engine index ${t} is out of range: ${ids.length} engine(s) are registered (ids ${ids.join(', ') || 'none'})`);
    return id;
  });
}

/** A plain object of options whose keys are all known; throws naming the unknown key and the known ones. */
export function checkOptionKeys(what: string, o: unknown, known: readonly string[]): Record<string, unknown> {
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    throw new TypeError(`${what} must be an object of options (${known.join(', ')}), got ${show(o)}`);
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw new TypeError(`${what}: unknown option '${k}'; the options are ${known.join(', ')}`);
  }
  return o as Record<string, unknown>;
}

/** A whole number in [min, max]. */
export function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be a whole number from ${min} to ${max}, got ${show(v)}`);
  }
  return v;
}

/** A duration in milliseconds: > 0, or Infinity for no limit. */
export function checkMs(name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v <= 0) {
    throw new RangeError(`${name} must be a number of milliseconds > 0 (Infinity for no limit), got ${show(v)}`);
  }
  return v;
}

const NAME = /^[A-Za-z_$][\w$]*$/;
const NAME_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

/** A name to push: a JavaScript identifier. */
export function checkName(what: string, v: unknown): string {
  if (typeof v !== 'string' || !NAME.test(v)) throw new TypeError(`${what} must be a JavaScript identifier (e.g. 'data'), got ${show(v)}`);
  return v;
}

/** A name to pull: an identifier or a dotted path of identifiers. */
export function checkNamePath(what: string, v: unknown): string {
  if (typeof v !== 'string' || !NAME_PATH.test(v)) {
    throw new TypeError(`${what} must be a name or a dotted path of names (e.g. 'data' or 'cfg.size'), got ${show(v)}`);
  }
  return v;
}

/** Items to map or scatter: an iterable or array-like (not a string). */
export function checkItems(what: string, v: unknown): Iterable<unknown> | ArrayLike<unknown> {
  const iterable = v !== null && v !== undefined && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function';
  const arrayLike = v !== null && typeof v === 'object' && typeof (v as { length?: unknown }).length === 'number';
  if (typeof v === 'string' || (!iterable && !arrayLike)) {
    throw new TypeError(`${what} must be an array, a typed array or another iterable, got ${show(v)}`);
  }
  return v as Iterable<unknown> | ArrayLike<unknown>;
}

/** Is this a plain object (options), as opposed to items (an array, an iterable, a typed array)? */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Msg ids as given: one string, or an array of strings; throws a TypeError naming `what` otherwise. */
export function msgIdList(what: string, ids: unknown): string[] {
  const list: unknown[] = typeof ids === 'string' ? [ids] : Array.isArray(ids) ? ids : [ids];
  if (typeof ids !== 'string' && !Array.isArray(ids)) throw new TypeError(`${what} takes a msg id or an array of msg ids, got ${show(ids)}`);
  return list.map((id, i) => {
    if (typeof id !== 'string' || id === '')
      throw new TypeError(`${what}: msg id${Array.isArray(ids) ? ` [${i}]` : ''} must be a non-empty string, got ${show(id)}`);
    return id;
  });
}
