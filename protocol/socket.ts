/**
 * Sending and receiving on a ZeroMQ socket. zeromq.js allows one pending send
 * per socket; a Sender is the one sender of its socket. It keeps an explicit
 * FIFO and packs what is queued for the same peer into one ZeroMQ message
 * (see packing.ts), so a burst costs one native send, not one per frame.
 */
import { Fifo } from '../util/fifo.js';
import { BATCH_BYTES, pack, unpack } from './packing.js';

interface Sendable {
  send(frames: Buffer[]): Promise<void>;
}
interface Receivable {
  receive(): Promise<Buffer[]>;
  readonly closed: boolean;
}

/** Called with the error and the messages (each with its identity first on a ROUTER) that were not sent. */
export type SendErrorHandler = (err: unknown, messages: Buffer[][]) => void;

const MAX_BATCH = 4096;

export class SendQueue {
  readonly #items = new Fifo<Buffer[]>();
  #busy = false;
  #closed = false;

  /**
   * @param router true for a ROUTER socket: each message's first frame is the peer's identity
   */
  constructor(
    private readonly socket: Sendable,
    private readonly onError: SendErrorHandler,
    private readonly router = false,
  ) {}

  get length(): number {
    return this.#items.length;
  }

  /** Queue a message: `[identity, <IDS|MSG>, ...]` on a ROUTER, `[<IDS|MSG>, ...]` otherwise. */
  send(frames: Buffer[]): void {
    if (this.#closed) return;
    this.#items.push(frames);
    if (!this.#busy) {
      this.#busy = true;
      // start after the current synchronous work, so a burst of sends shares one packed message
      queueMicrotask(() => void this.#drain());
    }
  }

  /** Resolves when everything queued so far has been handed to ZeroMQ. */
  async flush(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.#busy || this.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  isClosed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    this.#items.clear();
  }

  /** Take up to MAX_BATCH queued messages, grouped by peer in order. */
  #take(): Map<string, { identity: Buffer | undefined; messages: Buffer[][] }> {
    const groups = new Map<string, { identity: Buffer | undefined; messages: Buffer[][] }>();
    for (let n = 0; n < MAX_BATCH && this.#items.length > 0; n++) {
      const m = this.#items.shift()!;
      const identity = this.router ? m[0] : undefined;
      const key = identity ? identity.toString('latin1') : '';
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { identity, messages: [] }));
      g.messages.push(this.router ? m.slice(1) : m);
    }
    return groups;
  }

  async #drain(): Promise<void> {
    try {
      while (this.length > 0 && !this.#closed) {
        for (const { identity, messages } of this.#take().values()) {
          // split a group so one ZeroMQ message stays around BATCH_BYTES
          let start = 0;
          while (start < messages.length) {
            let bytes = 0;
            let end = start;
            while (end < messages.length && (end === start || bytes < BATCH_BYTES)) {
              for (const f of messages[end]!) bytes += f.length;
              end++;
            }
            const batch = messages.slice(start, end);
            start = end;
            const packed = pack(batch);
            try {
              await this.socket.send(identity ? [identity, ...packed] : packed);
            } catch (err) {
              this.onError(err, identity ? batch.map((m) => [identity, ...m]) : batch);
            }
            // close() may have run while the send was awaited
            if (this.isClosed()) return;
          }
        }
      }
    } finally {
      this.#busy = false;
      if (this.length > 0 && !this.#closed) {
        this.#busy = true;
        queueMicrotask(() => void this.#drain());
      }
    }
  }
}

function isClosed(s: Receivable): boolean {
  return s.closed;
}

/**
 * Receive until the socket closes, handing each logical message to `handler`
 * (on a ROUTER with the peer's identity as its first frame). A ZeroMQ message
 * that is not a well-formed packed or Jupyter-framed message goes to `onBad`;
 * a handler that throws goes to `onError`; the loop goes on.
 */
export async function receiveLoop(
  socket: Receivable,
  handler: (frames: Buffer[]) => void,
  onError: (err: unknown) => void,
  opts: { router?: boolean; onBad?: (err: unknown, frames: Buffer[]) => void } = {},
): Promise<void> {
  const router = opts.router ?? false;
  while (!socket.closed) {
    let frames: Buffer[];
    try {
      frames = await socket.receive();
    } catch (err) {
      // the socket may have been closed while the receive was awaited
      if (isClosed(socket)) return;
      const code = (err as { code?: string }).code;
      if (code === 'EAGAIN' || code === 'ETERM' || code === 'ENOTSOCK') return;
      onError(err);
      continue;
    }
    const identity = router ? frames[0] : undefined;
    let messages: Buffer[][];
    try {
      messages = unpack(router ? frames.slice(1) : frames);
    } catch (err) {
      (opts.onBad ?? onError)(err, frames);
      continue;
    }
    for (const m of messages) {
      try {
        handler(identity ? [identity, ...m] : m);
      } catch (err) {
        onError(err);
      }
    }
  }
}
