/**
 * The outcomes of the newest finished tasks, kept for dependencies after
 * their records are gone (both stores). Each is one small integer in a Map,
 * not an object: 200,000 outcomes took 8 MB more as `{ ok, engineId }`.
 */
import { Fifo } from '../../util/fifo.js';
import type { Outcome } from './record.js';

export class OutcomeCache {
  /** msg_id -> (engineId + 1) * 2 + ok (engineId null as -1) */
  readonly #codes = new Map<string, number>();
  readonly #order = new Fifo<string>();

  /** @param max outcomes kept; the oldest is forgotten first */
  constructor(readonly max: number) {}

  get size(): number {
    return this.#codes.size;
  }

  remember(msgId: string, ok: boolean, engineId: number | null): void {
    if (!this.#codes.has(msgId)) this.#order.push(msgId);
    this.#codes.set(msgId, ((engineId ?? -1) + 1) * 2 + (ok ? 1 : 0));
    while (this.#order.length > this.max) this.#codes.delete(this.#order.shift()!);
  }

  get(msgId: string): Outcome | undefined {
    const c = this.#codes.get(msgId);
    if (c === undefined) return undefined;
    const id = Math.floor(c / 2) - 1;
    return { ok: c % 2 === 1, engineId: id < 0 ? null : id };
  }
}
