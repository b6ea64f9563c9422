/**
 * Byte accounting of shared objects: each object's bytes, and all of them
 * together, stay under their limits (the settings sharedObjectMaxBytes and
 * sharedMaxBytes). A charge that would pass one is refused before anything
 * changes, naming the limit and the setting that raises it.
 */
import type { StoredValue } from '../../protocol/shared-values.js';
import { storedBytes } from '../../protocol/shared-values.js';
import type { SharedObject } from './types.js';
import { SharedFailure, describe } from './types.js';

export interface SharedLimits {
  /** all shared objects together, bytes */
  maxBytes: number;
  /** one shared object, bytes */
  objectMaxBytes: number;
}

/** What an object costs before it holds anything (its record, its name). */
export function baseCost(name: string): number {
  return 128 + 2 * name.length;
}

/** What one stored value (with its dict key, if any) costs. */
export function entryCost(v: StoredValue, key = ''): number {
  return 64 + 2 * key.length + storedBytes(v);
}

export class ByteBudget {
  readonly limits: SharedLimits;
  #used = 0;

  constructor(limits: SharedLimits) {
    this.limits = limits;
  }

  /** Bytes charged to every object together. */
  get used(): number {
    return this.#used;
  }

  /** Charge `n` bytes to `obj` (n may be negative: a release); throws SharedFailure past a limit. */
  charge(obj: SharedObject, n: number): void {
    if (n > 0) this.check(obj, n);
    obj.bytes += n;
    this.#used += n;
  }

  /** Would `n` more bytes fit? Throws SharedFailure naming the limit when not. */
  check(obj: Pick<SharedObject, 'kind' | 'name' | 'bytes'>, n: number): void {
    const { maxBytes, objectMaxBytes } = this.limits;
    if (obj.bytes + n > objectMaxBytes) {
      throw new SharedFailure(
        'SharedLimitExceeded',
        `${describe(obj.kind, obj.name)} would hold ${obj.bytes + n} bytes, over the limit of ${objectMaxBytes} bytes per shared object ` +
          '(raise it with the controller setting sharedObjectMaxBytes, --shared-object-max-bytes)',
        'sharedObjectMaxBytes',
      );
    }
    if (this.#used + n > maxBytes) {
      throw new SharedFailure(
        'SharedLimitExceeded',
        `shared objects would hold ${this.#used + n} bytes, over the limit of ${maxBytes} bytes for all of them ` +
          `(while storing into ${describe(obj.kind, obj.name)}; delete objects you no longer need, or raise the controller setting sharedMaxBytes, --shared-max-bytes)`,
        'sharedMaxBytes',
      );
    }
  }
}
