/**
 * The engine's relay for shared-object calls of remote code: a call from the
 * execution worker becomes a shared_request on the engine's own connection
 * to the controller (signed like every message; the controller knows the
 * engine by it, so remote code holds locks as its engine), and the reply goes
 * back to the worker. When a worker ends while its calls wait at the
 * controller, they are cancelled there (shared_cancel), so no value is handed
 * to a worker that is gone.
 */
import { randomUUID } from 'node:crypto';
import type { Endpoint } from '../protocol/index.js';
import type { SharedFromWorker, SharedToWorker } from '../executor/messages.js';

/** How long a call may take beyond the wait the controller holds it for. */
const SLACK_MS = 60000;

export class SharedRelay {
  readonly #ep: Endpoint;
  /** msg ids of the calls waiting for the controller, per execution worker (its generation) */
  readonly #waiting = new Map<number, Set<string>>();

  constructor(ep: Endpoint) {
    this.#ep = ep;
  }

  /** Ask the controller for the worker of generation `gen`; resolves with its answer (never rejects). */
  async call(gen: number, m: SharedFromWorker): Promise<SharedToWorker> {
    const msgId = randomUUID();
    let ids = this.#waiting.get(gen);
    if (!ids) this.#waiting.set(gen, (ids = new Set()));
    ids.add(msgId);
    try {
      const buffers = m.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength));
      const timeout = m.waitMs === null ? Infinity : m.waitMs + SLACK_MS;
      const r = await this.#ep.request('shared_request', m.req, timeout, undefined, { buffers, msgId });
      return { type: 'shared-reply', id: m.id, content: r.content, frames: r.buffers };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      return { type: 'shared-reply', id: m.id, error: { ename: err.name, evalue: err.message } };
    } finally {
      ids.delete(msgId);
      if (ids.size === 0) this.#waiting.delete(gen);
    }
  }

  /** The worker of generation `gen` is gone: its waiting calls are cancelled at the controller and forgotten here. */
  workerGone(gen: number): void {
    const ids = this.#waiting.get(gen);
    if (!ids || ids.size === 0) return;
    const list = [...ids];
    this.#waiting.delete(gen);
    this.#ep.send(undefined, 'shared_cancel', { msg_ids: list });
    const gone = new Error('the execution worker that made this call is gone');
    for (const id of list) this.#ep.rejectRequest(id, gone);
  }

  /** Every waiting call fails (the controller forgot this engine: it registers again). */
  failAll(why: string): void {
    const err = new Error(why);
    for (const ids of this.#waiting.values()) for (const id of [...ids]) this.#ep.rejectRequest(id, err);
  }
}
