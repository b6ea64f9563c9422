/**
 * zeromq.js allows one pending send per socket; a SendQueue is the one sender
 * of a socket, keeping an explicit FIFO of messages.
 */

interface Sendable {
  send(frames: Buffer[]): Promise<void>;
}
interface Receivable {
  receive(): Promise<Buffer[]>;
  readonly closed: boolean;
}

export type SendErrorHandler = (err: unknown, frames: Buffer[]) => void;

export class SendQueue {
  #items: (Buffer[] | undefined)[] = [];
  #head = 0;
  #busy = false;
  #closed = false;

  constructor(
    private readonly socket: Sendable,
    private readonly onError: SendErrorHandler,
  ) {}

  get length(): number {
    return this.#items.length - this.#head;
  }

  send(frames: Buffer[]): void {
    if (this.#closed) return;
    this.#items.push(frames);
    if (!this.#busy) void this.#drain();
  }

  /** Resolves when everything queued so far has been handed to ZeroMQ. */
  async flush(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.#busy || this.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    this.#closed = true;
    this.#items = [];
    this.#head = 0;
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#head < this.#items.length && !this.#closed) {
        const frames = this.#items[this.#head]!;
        this.#items[this.#head++] = undefined;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        try {
          await this.socket.send(frames);
        } catch (err) {
          this.onError(err, frames);
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}

/**
 * Receive until the socket closes, handing each message to `handler`.
 * A handler that throws is reported through `onError`; the loop goes on.
 */
export async function receiveLoop(
  socket: Receivable,
  handler: (frames: Buffer[]) => void,
  onError: (err: unknown) => void,
): Promise<void> {
  while (!socket.closed) {
    let frames: Buffer[];
    try {
      frames = await socket.receive();
    } catch (err) {
      if (socket.closed) return;
      const code = (err as { code?: string }).code;
      if (code === 'EAGAIN' || code === 'ETERM' || code === 'ENOTSOCK') return;
      onError(err);
      continue;
    }
    try {
      handler(frames);
    } catch (err) {
      onError(err);
    }
  }
}
