/**
 * Replies an engine sent lately, kept so that a controller that dies before
 * it stores them can have them again (the engine resumes after a restart and
 * sends what the new controller asks for). Bounded by age, count and bytes:
 * a reply sent well before the controller last spoke has reached it.
 */
import type { ApplyReplyMetadata, ContentOf } from '../protocol/index.js';

export interface KeptReply {
  /** the request's header frame */
  parent: Buffer;
  content: ContentOf<'apply_reply'>;
  metadata: ApplyReplyMetadata;
  buffers: Buffer[];
}

interface Entry extends KeptReply {
  at: number;
  bytes: number;
}

const MAX_COUNT = 100_000;
const MAX_BYTES = 256 * 1024 ** 2;

export class SentReplies {
  readonly #byId = new Map<string, Entry>();
  #bytes = 0;

  keep(msgId: string, r: KeptReply, now = Date.now()): void {
    const bytes = r.buffers.reduce((n, b) => n + b.length, 0) + 512;
    this.#byId.set(msgId, { ...r, at: now, bytes });
    this.#bytes += bytes;
    this.prune(-Infinity);
  }

  get(msgId: string): KeptReply | undefined {
    return this.#byId.get(msgId);
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  /** Forget replies sent before `before` (epoch ms), and the oldest beyond the bounds. */
  prune(before: number): void {
    for (const [id, e] of this.#byId) {
      if (e.at >= before && this.#byId.size <= MAX_COUNT && this.#bytes <= MAX_BYTES) return;
      this.#byId.delete(id);
      this.#bytes -= e.bytes;
    }
  }
}
