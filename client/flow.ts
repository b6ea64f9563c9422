/**
 * Flow control of submissions: at most `limit` of a client's tasks are at the
 * controller at once; the rest wait here, in submission order, and go as
 * earlier ones finish. A burst of 200,000 applies then costs the controller
 * the memory of `limit` tasks, not of all of them, and the client's event loop
 * is never blocked (a submission returns at once; its request goes later).
 * Dependencies stay valid: a task is sent after every task submitted before it.
 */
import { Fifo } from '../util/fifo.js';

/** A request not sent yet: the tasks it makes, and how to send it. */
export interface HeldRequest {
  /** msg_ids of its tasks (one, or one per target of a broadcast) */
  ids: string[];
  /** send it for the tasks of `live` (those not aborted meanwhile); it waited `heldMs` */
  send(live: string[], heldMs: number): void;
}

interface Entry extends HeldRequest {
  at: number;
}

/** The default of `Client.connect({ submitWindow })`. */
export const DEFAULT_SUBMIT_WINDOW = 10_000;

export class SendWindow {
  /** tasks sent and not settled */
  readonly #sent = new Set<string>();
  readonly #held = new Fifo<Entry>();
  /** ids of held tasks (not aborted) */
  readonly #heldIds = new Set<string>();

  /** @param limit most tasks at the controller at once (a request larger than this still goes, alone) */
  constructor(readonly limit: number) {}

  /** Send a request now if the window has room (and nothing waits before it), else hold it. */
  offer(r: HeldRequest): void {
    if (this.#held.length === 0 && this.#fits(r.ids.length)) this.#go({ ...r, at: Date.now() }, r.ids);
    else {
      this.#held.push({ ...r, at: Date.now() });
      for (const id of r.ids) this.#heldIds.add(id);
    }
  }

  /** A task settled: if it was sent, its place goes to the next held request. */
  settled(id: string): void {
    if (this.#sent.delete(id)) this.#pump();
    else this.#heldIds.delete(id);
  }

  /** Take back held tasks (all of them, or those among `ids`): they will not be sent. Returns their ids. */
  take(ids?: readonly string[]): string[] {
    const taken = ids === undefined ? [...this.#heldIds] : ids.filter((id) => this.#heldIds.has(id));
    for (const id of taken) this.#heldIds.delete(id);
    this.#pump();
    return taken;
  }

  /** Forget everything (the connection is gone). */
  clear(): void {
    this.#sent.clear();
    this.#held.clear();
    this.#heldIds.clear();
  }

  #fits(n: number): boolean {
    return this.#sent.size === 0 || this.#sent.size + n <= this.limit;
  }

  #pumping = false;

  #pump(): void {
    // a send may settle tasks at once (a timeout spent while held), which calls here again: the loop below goes on
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      this.#pumpNow();
    } finally {
      this.#pumping = false;
    }
  }

  #pumpNow(): void {
    for (let head = this.#held.peek(); head !== undefined; head = this.#held.peek()) {
      const live = head.ids.filter((id) => this.#heldIds.has(id));
      if (live.length > 0 && !this.#fits(live.length)) return;
      this.#held.shift();
      for (const id of live) this.#heldIds.delete(id);
      if (live.length > 0) this.#go(head, live);
    }
  }

  #go(e: Entry, live: string[]): void {
    for (const id of live) this.#sent.add(id);
    e.send(live, Date.now() - e.at);
  }
}
