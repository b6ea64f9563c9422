/**
 * Calls that wait at the controller (a get on an empty queue, a put on a full
 * one, an event wait, a lock acquire): first in, first served, each with its
 * timer. Nothing blocks: a waiter is a record answered later.
 */
import { setLongTimeout } from '../../util/timers.js';
import type { Timer } from '../../util/timers.js';
import type { Requester } from './types.js';

export interface Waiter<T> {
  requester: Requester;
  /** what the call brings (a queue put's value) */
  data: T;
  timer: Timer;
}

const NO_TIMER: Timer = {
  clear: () => undefined,
  unref: () => NO_TIMER,
  ref: () => NO_TIMER,
};

export class WaitList<T> {
  #items: Waiter<T>[] = [];

  get length(): number {
    return this.#items.length;
  }

  /**
   * Add a waiter; after `timeoutMs` (null: never) it is removed and
   * `onTimeout` answers it.
   */
  add(requester: Requester, timeoutMs: number | null, data: T, onTimeout: (w: Waiter<T>) => void): void {
    const w: Waiter<T> = { requester, data, timer: NO_TIMER };
    w.timer = setLongTimeout(() => {
      this.#remove(w);
      onTimeout(w);
    }, timeoutMs ?? Infinity);
    // a controller with waiters still stops when told to
    w.timer.unref();
    this.#items.push(w);
  }

  /** The first waiter, removed (its timer cleared). */
  shift(): Waiter<T> | undefined {
    const w = this.#items.shift();
    w?.timer.clear();
    return w;
  }

  /** Remove (timers cleared) and return every waiter matching `pred`. */
  drop(pred: (w: Waiter<T>) => boolean): Waiter<T>[] {
    const out = this.#items.filter(pred);
    if (out.length === 0) return out;
    this.#items = this.#items.filter((w) => !pred(w));
    for (const w of out) w.timer.clear();
    return out;
  }

  /** Remove every waiter (timers cleared). */
  takeAll(): Waiter<T>[] {
    return this.drop(() => true);
  }

  #remove(w: Waiter<T>): void {
    const i = this.#items.indexOf(w);
    if (i >= 0) this.#items.splice(i, 1);
  }
}

/** The waiters of a gone owner, or of cancelled requests of one owner. */
export function ownedBy(owner: string, msgIds?: ReadonlySet<string>): (w: Waiter<unknown>) => boolean {
  return (w) => w.requester.owner === owner && (msgIds === undefined || msgIds.has(w.requester.msgId));
}
