/**
 * The global `tscluster` of remote code: handles on the controller's shared
 * objects (client/shared.ts), whose calls go to the thread's owner (the
 * engine's main thread, which asks the controller over its own connection)
 * and come back as SharedToWorker answers.
 *
 * @example
 * // in a function run on an engine
 * const job = await tscluster.queue('jobs').get({ timeoutMs: 1000 });
 */
import { SharedObjectError } from '../errors/shared.js';
import { sharedObjects } from '../client/shared.js';
import type { SharedObjects, SharedTransport } from '../client/shared.js';
import type { SharedReply } from '../protocol/schemas/shared.js';
import type { SharedFromWorker, SharedToWorker } from './messages.js';

interface Pending {
  resolve: (r: { content: SharedReply; buffers: Buffer[] }) => void;
  reject: (e: Error) => void;
  name: string;
}

/** The thread's side: make the global, and take the owner's answers. */
export class SharedGlobal {
  readonly objects: SharedObjects;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  constructor(post: (m: SharedFromWorker) => void) {
    const transport: SharedTransport = {
      call: (req, buffers, waitMs) =>
        new Promise((resolve, reject) => {
          const id = this.#next++;
          this.#pending.set(id, { resolve, reject, name: req.name });
          post({ type: 'shared', id, req, frames: buffers, waitMs });
        }),
    };
    this.objects = sharedObjects(transport);
  }

  /** An answer from the owner. */
  answer(m: SharedToWorker): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if ('error' in m) {
      p.reject(new SharedObjectError(`${m.error.ename}: ${m.error.evalue}`, p.name));
      return;
    }
    p.resolve({ content: m.content, buffers: m.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)) });
  }
}
