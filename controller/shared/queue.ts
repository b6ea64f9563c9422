/**
 * A shared FIFO queue: values in order, bounded by `maxsize` (0: unbounded).
 * A get on an empty queue and a put on a full one wait at the controller.
 * Once closed, puts are refused and gets take what is left, then fail with
 * QueueClosed.
 */
import { Fifo } from '../../util/fifo.js';
import type { ByteBudget } from './budget.js';
import { baseCost, entryCost } from './budget.js';
import type { Requester, SharedObject, SharedResult, StoredValue } from './types.js';
import { SharedFailure, deletedFailure, describe } from './types.js';
import { WaitList, ownedBy } from './waiters.js';

export class SharedQueue implements SharedObject {
  readonly kind = 'queue';
  readonly name: string;
  readonly maxsize: number;
  bytes = 0;
  readonly #budget: ByteBudget;
  readonly #items = new Fifo<StoredValue>();
  #closed = false;
  readonly #getters = new WaitList<undefined>();
  readonly #putters = new WaitList<StoredValue>();

  constructor(name: string, maxsize: number, budget: ByteBudget) {
    this.name = name;
    this.maxsize = maxsize;
    this.#budget = budget;
    budget.charge(this, baseCost(name));
  }

  get size(): number {
    return this.#items.length;
  }

  get #full(): boolean {
    return this.maxsize > 0 && this.#items.length >= this.maxsize;
  }

  #what(): string {
    return describe('queue', this.name);
  }

  put(value: StoredValue, timeoutMs: number | null, r: Requester): void {
    if (this.#closed) throw new SharedFailure('QueueClosed', `${this.#what()} is closed: it takes no more values`);
    const cost = entryCost(value);
    // charged while the value waits too: a put waiting on a full queue holds its value here
    this.#budget.charge(this, cost);
    const getter = this.#getters.shift();
    if (getter) {
      this.#budget.charge(this, -cost);
      getter.requester.reply({ ok: true, values: [value] });
      r.reply({ ok: true });
      return;
    }
    if (!this.#full) {
      this.#items.push(value);
      r.reply({ ok: true });
      return;
    }
    if (timeoutMs === 0) {
      this.#budget.charge(this, -cost);
      throw this.#timeout('put', 0);
    }
    this.#putters.add(r, timeoutMs, value, (w) => {
      this.#budget.charge(this, -entryCost(w.data));
      w.requester.reply(this.#timeout('put', timeoutMs).result);
    });
  }

  get(timeoutMs: number | null, nowait: boolean, r: Requester): void {
    const v = this.#items.shift();
    if (v !== undefined) {
      this.#budget.charge(this, -entryCost(v));
      this.#admitPutter();
      r.reply({ ok: true, values: [v] });
      return;
    }
    if (this.#closed) throw new SharedFailure('QueueClosed', `${this.#what()} is closed and drained`);
    if (nowait) throw new SharedFailure('QueueEmpty', `${this.#what()} is empty`);
    if (timeoutMs === 0) throw this.#timeout('get', 0);
    this.#getters.add(r, timeoutMs, undefined, (w) => w.requester.reply(this.#timeout('get', timeoutMs).result));
  }

  /** A place came free: the first waiting put goes in (its bytes were charged when it came). */
  #admitPutter(): void {
    if (this.#full) return;
    const p = this.#putters.shift();
    if (!p) return;
    this.#items.push(p.data);
    p.requester.reply({ ok: true });
  }

  /** No more puts; waiting puts fail; once empty, gets fail too. */
  close(): void {
    this.#closed = true;
    for (const p of this.#putters.takeAll()) {
      this.#budget.charge(this, -entryCost(p.data));
      p.requester.reply(new SharedFailure('QueueClosed', `${this.#what()} was closed while this put waited`).result);
    }
    if (this.#items.length > 0) return;
    for (const g of this.#getters.takeAll()) g.requester.reply(new SharedFailure('QueueClosed', `${this.#what()} was closed`).result);
  }

  ownerGone(owner: string): void {
    this.cancel(owner);
  }

  cancel(owner: string, msgIds?: ReadonlySet<string>): void {
    this.#getters.drop(ownedBy(owner, msgIds));
    for (const p of this.#putters.drop(ownedBy(owner, msgIds))) this.#budget.charge(this, -entryCost(p.data));
  }

  destroy(): void {
    const failure: SharedResult = deletedFailure('queue', this.name).result;
    for (const w of [...this.#getters.takeAll(), ...this.#putters.takeAll()]) w.requester.reply(failure);
    this.#items.clear();
    this.#budget.charge(this, -this.bytes);
  }

  #timeout(what: 'get' | 'put', timeoutMs: number | null): SharedFailure {
    const why = what === 'get' ? 'nothing to get: it stayed empty' : 'no room to put: it stayed full';
    return new SharedFailure('SharedTimeout', `${this.#what()}: ${why} for ${timeoutMs ?? 'unlimited'} ms`);
  }
}
