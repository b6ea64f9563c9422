/**
 * Requests this client sent whose tasks have not settled, kept so that a
 * controller restarted after a crash can be asked which it never received
 * (`resync_request`), and those sent again under the same msg_ids. The
 * frames are the ones already held for the send (no copy). A broadcast is
 * kept as one request per target, so each can go again on its own.
 */
import type { TaskRequest } from './submitter.js';

export interface SentRequest {
  msgId: string;
  content: TaskRequest['content'];
  metadata: Record<string, unknown>;
  buffers: Buffer[];
}

export class SentRequests {
  readonly #byId = new Map<string, SentRequest>();

  /** An apply_request went out under `msgId` (a broadcast: its `metadata.fanout` names a msg_id per target). */
  note(msgId: string, content: TaskRequest['content'], metadata: Record<string, unknown>, buffers: Buffer[]): void {
    const fanout = metadata.fanout;
    const targets = metadata.targets;
    if (!Array.isArray(fanout) || !Array.isArray(targets)) {
      this.#byId.set(msgId, { msgId, content, metadata, buffers });
      return;
    }
    const { fanout: _f, ...rest } = metadata;
    fanout.forEach((id, i) => {
      if (typeof id === 'string') this.#byId.set(id, { msgId: id, content, metadata: { ...rest, targets: [targets[i]] }, buffers });
    });
  }

  settled(msgId: string): void {
    this.#byId.delete(msgId);
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  /** The kept requests among `ids`. */
  get(ids: readonly string[]): SentRequest[] {
    return ids.flatMap((id) => this.#byId.get(id) ?? []);
  }

  clear(): void {
    this.#byId.clear();
  }
}
