/**
 * Shared-object calls a client makes together travel together: the calls of
 * one synchronous run (a loop of `q.put(i)` and `q.get()` not awaited one by
 * one) are gathered and leave, once that run ends (a microtask), as one
 * shared_batch message; the controller answers them in shared_batch_reply
 * messages (those answered at once together, those that waited later). A
 * call alone goes as a shared_request, as it always did. Each call keeps its
 * own promise and its own timeout.
 */
import { InvalidRequest, ProtocolError, TimeoutError } from '../errors/index.js';
import { SHARED_BATCH_BYTES, SHARED_BATCH_CALLS } from '../protocol/index.js';
import type { ContentOf, Message, SharedBatch, SharedReply, SharedRequest } from '../protocol/index.js';
import { setLongTimeout } from '../util/timers.js';
import type { Timer } from '../util/timers.js';

/** An answer: the controller's shared reply and its value frames. */
export interface SharedAnswer {
  content: SharedReply;
  buffers: Buffer[];
}

/** How calls reach the controller. */
export interface SharedLink {
  /** one call, as a shared_request; resolves with its shared_reply */
  request(req: SharedRequest, buffers: Buffer[], timeoutMs: number): Promise<SharedAnswer>;
  /** send a shared_batch; returns its msg_id (throws when the connection is closed) */
  send(content: SharedBatch, buffers: Buffer[]): string;
}

interface Call {
  req: SharedRequest;
  buffers: Buffer[];
  timeoutMs: number;
  resolve: (a: SharedAnswer) => void;
  reject: (e: Error) => void;
}

interface Pending {
  /** the batch it went in (its msg_id, once sent) */
  batch: { id: string };
  resolve: (a: SharedAnswer) => void;
  reject: (e: Error) => void;
  timer: Timer | undefined;
}

export class SharedBatcher {
  readonly #link: SharedLink;
  /** calls of the current run, not sent yet, and the bytes of their values */
  #gathered: Call[] = [];
  #bytes = 0;
  #scheduled = false;
  /** batched calls sent and not answered, by call id */
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  /** shared messages sent (shared_request and shared_batch) and the calls in them */
  readonly #sent = { messages: 0, calls: 0 };

  constructor(link: SharedLink) {
    this.#link = link;
  }

  /** Shared-object messages this client sent and the calls they carried. */
  get sent(): { messages: number; calls: number } {
    return { ...this.#sent };
  }

  /** Calls not answered yet (batched ones; single requests are the connection's). */
  get waiting(): boolean {
    return this.#pending.size > 0 || this.#gathered.length > 0;
  }

  /** Make a call: it leaves with the others of this run; rejects with TimeoutError after `timeoutMs` (Infinity: never). */
  call(req: SharedRequest, buffers: Buffer[], timeoutMs: number): Promise<SharedAnswer> {
    return new Promise<SharedAnswer>((resolve, reject) => {
      this.#gathered.push({ req, buffers, timeoutMs, resolve, reject });
      for (const b of buffers) this.#bytes += b.byteLength;
      if (this.#gathered.length >= SHARED_BATCH_CALLS || this.#bytes >= SHARED_BATCH_BYTES) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  /** Send what is gathered: one call as a shared_request, more as a shared_batch. */
  #flush(): void {
    const calls = this.#gathered;
    if (calls.length === 0) return;
    this.#gathered = [];
    this.#bytes = 0;
    this.#sent.messages++;
    this.#sent.calls += calls.length;
    if (calls.length === 1) {
      const c = calls[0]!;
      this.#link.request(c.req, c.buffers, c.timeoutMs).then(c.resolve, c.reject);
      return;
    }
    const content: SharedBatch = { calls: [] };
    const buffers: Buffer[] = [];
    const first = this.#nextId;
    this.#nextId += calls.length;
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      content.calls.push({ id: first + i, req: c.req, frames: c.buffers.length });
      for (const b of c.buffers) buffers.push(b);
    }
    const batch = { id: '' };
    // waiting before the batch leaves: sending wakes the connection's receiver only while something waits
    for (let i = 0; i < calls.length; i++) {
      const { resolve, reject, timeoutMs } = calls[i]!;
      const id = first + i;
      const timer = Number.isFinite(timeoutMs)
        ? setLongTimeout(() => {
            this.#pending.delete(id);
            reject(new TimeoutError(`no shared_reply from the controller within ${timeoutMs} ms`));
          }, timeoutMs)
        : undefined;
      this.#pending.set(id, { batch, resolve, reject, timer });
    }
    try {
      batch.id = this.#link.send(content, buffers);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      for (let id = first; id < this.#nextId; id++) this.#settle(id)?.reject(err);
    }
  }

  /** Take the pending call `id` (its timer stopped); undefined when it is not pending. */
  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    if (!p) return undefined;
    this.#pending.delete(id);
    p.timer?.clear();
    return p;
  }

  /** Answers to batched calls arrived. */
  onReply(msg: Message<'shared_batch_reply'>): void {
    const buffers = msg.buffers;
    let at = 0;
    for (const { id, reply, frames } of msg.content.replies) {
      const from = at;
      at += frames;
      const p = this.#settle(id);
      if (!p) continue; // timed out, or failed with the connection
      if (at > buffers.length) p.reject(new ProtocolError('a shared_batch_reply whose frame counts do not match its buffers', 'schema'));
      else p.resolve({ content: reply, buffers: frames === 0 ? [] : buffers.slice(from, at) });
    }
  }

  /** The controller refused the batch `batch` as a whole (an error_reply): its calls fail with InvalidRequest. */
  onRefused(batch: string, e: ContentOf<'error_reply'>): void {
    for (const [id, p] of this.#pending) if (p.batch.id === batch) this.#settle(id)?.reject(new InvalidRequest(e.ename, e.evalue, [], null, batch));
  }

  /** The connection closed or was lost: every batched call waiting for its answer fails with `err`. */
  failAll(err: Error): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err);
  }
}
