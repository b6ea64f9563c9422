/**
 * Shared events and locks. A lock's holder is the requester's owner: a
 * client connection, or an engine (for remote code); it is released when
 * that owner is gone (a client disconnects, an engine dies or unregisters).
 */
import type { ByteBudget } from './budget.js';
import { baseCost } from './budget.js';
import type { Requester, SharedObject, SharedResult } from './types.js';
import { SharedFailure, deletedFailure, describe } from './types.js';
import { WaitList, ownedBy } from './waiters.js';

export class SharedEvent implements SharedObject {
  readonly kind = 'event';
  readonly name: string;
  bytes = 0;
  readonly #budget: ByteBudget;
  #flag = false;
  readonly #waiters = new WaitList<undefined>();

  constructor(name: string, budget: ByteBudget) {
    this.name = name;
    this.#budget = budget;
    budget.charge(this, baseCost(name));
  }

  /** Set the flag; every waiter resolves true. */
  set(): SharedResult {
    this.#flag = true;
    for (const w of this.#waiters.takeAll()) w.requester.reply({ ok: true, result: true });
    return { ok: true };
  }

  clear(): SharedResult {
    this.#flag = false;
    return { ok: true };
  }

  isSet(): SharedResult {
    return { ok: true, result: this.#flag };
  }

  /** Resolve true once set, false after `timeoutMs`. */
  wait(timeoutMs: number | null, r: Requester): void {
    if (this.#flag || timeoutMs === 0) {
      r.reply({ ok: true, result: this.#flag });
      return;
    }
    this.#waiters.add(r, timeoutMs, undefined, (w) => w.requester.reply({ ok: true, result: false }));
  }

  ownerGone(owner: string): void {
    this.cancel(owner);
  }

  cancel(owner: string, msgIds?: ReadonlySet<string>): void {
    this.#waiters.drop(ownedBy(owner, msgIds));
  }

  destroy(): void {
    const failure = deletedFailure('event', this.name).result;
    for (const w of this.#waiters.takeAll()) w.requester.reply(failure);
    this.#budget.charge(this, -this.bytes);
  }
}

export class SharedLock implements SharedObject {
  readonly kind = 'lock';
  readonly name: string;
  bytes = 0;
  readonly #budget: ByteBudget;
  /** the owner holding it */
  #holder: string | undefined;
  readonly #waiters = new WaitList<undefined>();

  constructor(name: string, budget: ByteBudget) {
    this.name = name;
    this.#budget = budget;
    budget.charge(this, baseCost(name));
  }

  get holder(): string | undefined {
    return this.#holder;
  }

  /** Resolve true once held by the requester's owner, false after `timeoutMs`. Not reentrant. */
  acquire(timeoutMs: number | null, r: Requester): void {
    if (this.#holder === undefined) {
      this.#holder = r.owner;
      r.reply({ ok: true, result: true });
      return;
    }
    if (timeoutMs === 0) {
      r.reply({ ok: true, result: false });
      return;
    }
    this.#waiters.add(r, timeoutMs, undefined, (w) => w.requester.reply({ ok: true, result: false }));
  }

  release(owner: string): SharedResult {
    if (this.#holder !== owner) {
      const state = this.#holder === undefined ? 'is not held' : 'is held by another client or engine';
      throw new SharedFailure('SharedObjectError', `cannot release ${describe('lock', this.name)}: it ${state}`);
    }
    this.#handOn();
    return { ok: true };
  }

  /** The next waiter holds it, or nobody. */
  #handOn(): void {
    const next = this.#waiters.shift();
    this.#holder = next?.requester.owner;
    next?.requester.reply({ ok: true, result: true });
  }

  ownerGone(owner: string): void {
    this.cancel(owner);
    if (this.#holder === owner) this.#handOn();
  }

  cancel(owner: string, msgIds?: ReadonlySet<string>): void {
    this.#waiters.drop(ownedBy(owner, msgIds));
  }

  destroy(): void {
    const failure = deletedFailure('lock', this.name).result;
    for (const w of this.#waiters.takeAll()) w.requester.reply(failure);
    this.#holder = undefined;
    this.#budget.charge(this, -this.bytes);
  }
}
