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
   * @param beforeSend called before queued messages are handed to ZeroMQ (the controller writes its task store: write-ahead)
   */
  constructor(
    private readonly socket: Sendable,
    private readonly onError: SendErrorHandler,
    private readonly router = false,
    private readonly beforeSend?: () => void,
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
        this.beforeSend?.();
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

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

export interface ReceiverOptions {
  /** a ROUTER: each message's first frame is the peer's identity */
  router?: boolean;
  /** a ZeroMQ message that is not a well-formed packed or Jupyter-framed message */
  onBad?: (err: unknown, frames: Buffer[]) => void;
  /**
   * Is there work waiting for an answer? Given, the receiver only keeps the
   * process alive while there is: idle, it reads what arrives from an unref'd
   * timer (a pending ZeroMQ receive holds the event loop open), so a script
   * whose work is done can exit. Absent: it always receives (a server).
   */
  busy?: () => boolean;
}

/** while busy, a receive waits at most this long before checking whether the work is done */
const BUSY_POLL_MS = 250;
/** while idle, what arrived is read this often (if the process lives on for other reasons) */
const IDLE_DRAIN_MS = 50;

/**
 * Receive until the socket closes, handing each logical message to `handler`
 * (on a ROUTER with the peer's identity as its first frame). A ZeroMQ message
 * that is not a well-formed packed or Jupyter-framed message goes to `onBad`;
 * a handler that throws goes to `onError`; receiving goes on.
 */
export class Receiver {
  #looping = false;
  #draining = false;
  #idle: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Receivable & { receiveTimeout: number },
    private readonly handler: (frames: Buffer[]) => void,
    private readonly onError: (err: unknown) => void,
    private readonly opts: ReceiverOptions = {},
  ) {}

  /** A blocking receive loop runs (read through a method: it changes while a receive is awaited). */
  isLooping(): boolean {
    return this.#looping;
  }

  start(): void {
    if (this.opts.busy && !this.opts.busy()) this.#goIdle();
    else void this.#loop();
  }

  /** Work has begun: receive (and keep the process alive) until it is done. */
  wake(): void {
    if (this.#looping || isClosed(this.socket)) return;
    clearInterval(this.#idle);
    this.#idle = undefined;
    // a drain in progress starts the loop when it ends
    if (!this.#draining) void this.#loop();
  }

  async #loop(): Promise<void> {
    const { busy } = this.opts;
    this.#looping = true;
    if (busy) this.socket.receiveTimeout = BUSY_POLL_MS;
    while (!isClosed(this.socket) && (!busy || busy())) {
      let frames: Buffer[];
      try {
        frames = await this.socket.receive();
      } catch (err) {
        // the socket may have been closed while the receive was awaited
        if (isClosed(this.socket)) break;
        const code = codeOf(err);
        if (code === 'EAGAIN' && busy) continue; // no message within the poll: check for work again
        if (code === 'EAGAIN' || code === 'ETERM' || code === 'ENOTSOCK') break;
        this.onError(err);
        continue;
      }
      this.#deliver(frames);
    }
    this.#looping = false;
    if (busy && !isClosed(this.socket)) this.#goIdle();
  }

  #goIdle(): void {
    this.socket.receiveTimeout = 0;
    clearInterval(this.#idle);
    this.#idle = setInterval(() => void this.#drain(), IDLE_DRAIN_MS);
    this.#idle.unref();
  }

  /** Read what has arrived, without waiting (so without holding the process open). */
  async #drain(): Promise<void> {
    if (this.#draining || this.#looping) return;
    this.#draining = true;
    try {
      while (!isClosed(this.socket)) this.#deliver(await this.socket.receive());
    } catch {
      // EAGAIN: nothing more for now (or the socket closed)
    } finally {
      this.#draining = false;
    }
    if (isClosed(this.socket)) clearInterval(this.#idle);
    else if (this.opts.busy?.() && !this.isLooping()) this.wake();
  }

  #deliver(frames: Buffer[]): void {
    const router = this.opts.router ?? false;
    const identity = router ? frames[0] : undefined;
    let messages: Buffer[][];
    try {
      messages = unpack(router ? frames.slice(1) : frames);
    } catch (err) {
      (this.opts.onBad ?? this.onError)(err, frames);
      return;
    }
    for (const m of messages) {
      try {
        this.handler(identity ? [identity, ...m] : m);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** Receive until the socket closes (a Receiver that is never idle). */
export function receiveLoop(
  socket: Receivable & { receiveTimeout: number },
  handler: (frames: Buffer[]) => void,
  onError: (err: unknown) => void,
  opts: Omit<ReceiverOptions, 'busy'> = {},
): void {
  new Receiver(socket, handler, onError, opts).start();
}
