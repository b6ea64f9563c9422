/**
 * What a task writes, on its way to the client: a burst of writes is
 * coalesced into one `stream` message (sent within a few ms, while the task
 * still runs), and everything left is flushed before the task's reply.
 */

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 5;

export type StreamName = 'stdout' | 'stderr';

export class OutputBuffer {
  /** output not yet sent, per task */
  readonly #pending = new Map<string, { stdout: string; stderr: string; parent: Buffer }>();
  #scheduled = false;

  /** @param send sends one stream message of a task (its request's header frame is the parent) */
  constructor(private readonly send: (name: StreamName, text: string, parent: Buffer) => void) {}

  /** Text a task wrote; `parent` is its request's header frame. */
  write(msgId: string, parent: Buffer, name: StreamName, text: string): void {
    let p = this.#pending.get(msgId);
    if (!p) this.#pending.set(msgId, (p = { stdout: '', stderr: '', parent }));
    p[name] += text;
    if (p.stdout.length + p.stderr.length > FLUSH_BYTES) this.flush(msgId);
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => {
        this.#scheduled = false;
        for (const id of [...this.#pending.keys()]) this.flush(id);
      }, FLUSH_MS);
    }
  }

  /** Send what a task wrote and has not been sent. */
  flush(msgId: string): void {
    const p = this.#pending.get(msgId);
    if (!p) return;
    this.#pending.delete(msgId);
    if (p.stdout) this.send('stdout', p.stdout, p.parent);
    if (p.stderr) this.send('stderr', p.stderr, p.parent);
  }
}
