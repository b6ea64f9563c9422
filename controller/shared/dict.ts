/**
 * A shared dict: string keys, values kept as their serialized frames (or
 * numbers). Every call is one step of the controller's event loop, so
 * `setIfAbsent` and `increment` are atomic.
 */
import type { ByteBudget } from './budget.js';
import { baseCost, entryCost } from './budget.js';
import type { SharedObject, SharedResult, StoredValue } from './types.js';
import { SharedFailure, describe } from './types.js';

export class SharedDict implements SharedObject {
  readonly kind = 'dict';
  readonly name: string;
  bytes = 0;
  readonly #budget: ByteBudget;
  readonly #map = new Map<string, StoredValue>();

  constructor(name: string, budget: ByteBudget) {
    this.name = name;
    this.#budget = budget;
    budget.charge(this, baseCost(name));
  }

  get(key: string): SharedResult {
    const v = this.#map.get(key);
    return { ok: true, values: v === undefined ? [] : [v] };
  }

  set(key: string, value: StoredValue): SharedResult {
    this.#budget.charge(this, this.#delta(key, value));
    this.#map.set(key, value);
    return { ok: true };
  }

  /** Set every key, or none when they would not fit. */
  update(keys: readonly string[], values: readonly StoredValue[]): SharedResult {
    if (keys.length !== values.length) {
      throw new SharedFailure('SharedObjectError', `${describe('dict', this.name)}: update got ${keys.length} keys and ${values.length} values`);
    }
    const next = new Map<string, StoredValue>();
    keys.forEach((k, i) => next.set(k, values[i]!));
    let delta = 0;
    for (const [k, v] of next) delta += this.#delta(k, v);
    this.#budget.charge(this, delta);
    for (const [k, v] of next) this.#map.set(k, v);
    return { ok: true };
  }

  delete(key: string): SharedResult {
    const old = this.#map.get(key);
    if (old === undefined) return { ok: true, result: false };
    this.#map.delete(key);
    this.#budget.charge(this, -entryCost(old, key));
    return { ok: true, result: true };
  }

  has(key: string): SharedResult {
    return { ok: true, result: this.#map.has(key) };
  }

  keys(): SharedResult {
    return { ok: true, keys: [...this.#map.keys()] };
  }

  entries(): SharedResult {
    return { ok: true, keys: [...this.#map.keys()], values: [...this.#map.values()] };
  }

  size(): SharedResult {
    return { ok: true, result: this.#map.size };
  }

  /** Set the key unless it is there; answers whether it set it, and the value it now holds. */
  setIfAbsent(key: string, value: StoredValue): SharedResult {
    const old = this.#map.get(key);
    if (old !== undefined) return { ok: true, result: false, values: [old] };
    this.set(key, value);
    return { ok: true, result: true, values: [value] };
  }

  /** Add `by` to the number at `key` (a missing key counts as 0); answers the new number. */
  increment(key: string, by: number): SharedResult {
    const old = this.#map.get(key);
    if (old !== undefined && typeof old !== 'number') {
      throw new SharedFailure(
        'SharedObjectError',
        `${describe('dict', this.name)}: cannot increment key '${key.slice(0, 100)}': it holds a value that is not a number ` +
          '(increment works on numbers set with set() or increment(), and on missing keys, which count as 0)',
      );
    }
    const n = (old ?? 0) + by;
    if (!Number.isFinite(n)) {
      throw new SharedFailure('SharedObjectError', `${describe('dict', this.name)}: incrementing key '${key.slice(0, 100)}' gives ${n}`);
    }
    this.set(key, n);
    return { ok: true, result: n };
  }

  /** The bytes a new value for `key` adds (negative when it takes less than the old one). */
  #delta(key: string, value: StoredValue): number {
    const old = this.#map.get(key);
    return entryCost(value, key) - (old === undefined ? 0 : entryCost(old, key));
  }

  ownerGone(): void {
    // nobody waits on a dict
  }

  cancel(): void {
    // nobody waits on a dict
  }

  destroy(): void {
    this.#map.clear();
    this.#budget.charge(this, -this.bytes);
  }
}
