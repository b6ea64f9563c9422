/**
 * The in-memory TaskStore. Unfinished records are always kept; finished ones
 * are bounded by count and bytes, the oldest culled first, so a long run stays
 * flat in memory. Outcomes (far smaller) outlive their records for dependencies.
 */
import { Fifo } from '../../util/fifo.js';
import type { Outcome, TaskQuery, TaskRecord } from './record.js';
import { matches } from './record.js';
import { OutcomeCache } from './outcomes.js';
import type { RestoredTask, StoreCounts, StoredTask, TaskStore } from './store.js';

export interface MemoryStoreLimits {
  /** finished records kept (default 1024) */
  maxRecords: number;
  /** bytes of finished records' replies and output kept (default 1 GiB) */
  maxBytes: number;
  /** outcomes kept for dependencies (default 200,000) */
  maxOutcomes: number;
}

interface Entry {
  record: TaskRecord;
  reply: Buffer[] | undefined;
  bytes: number;
}

export class MemoryTaskStore implements TaskStore {
  readonly #entries = new Map<string, Entry>();
  /** finished entries, oldest first (purged ones too, skipped when reached) */
  readonly #finished = new Fifo<Entry>();
  #liveFinished = 0;
  #finishedBytes = 0;
  readonly #outcomes: OutcomeCache;
  #submitted = 0;
  #completed = 0;
  readonly limits: MemoryStoreLimits;
  readonly where = 'memory';
  readonly #meta = new Map<string, string>();

  constructor(limits: Partial<MemoryStoreLimits> = {}) {
    this.limits = { maxRecords: 1024, maxBytes: 1024 ** 3, maxOutcomes: 200_000, ...limits };
    this.#outcomes = new OutcomeCache(this.limits.maxOutcomes);
  }

  add(record: TaskRecord): void {
    this.#entries.set(record.msgId, { record, reply: undefined, bytes: 0 });
    this.#submitted++;
  }

  update(_record: TaskRecord): void {
    // records are kept by reference: nothing to write
  }

  finish(record: TaskRecord, reply: readonly Buffer[]): void {
    const e = this.#entries.get(record.msgId);
    if (!e || e.reply !== undefined) return;
    this.#outcomes.remember(record.msgId, record.status === 'done', record.engineId);
    // received frames may be views into a large packed batch: keep copies, not the batch
    e.reply = reply.map((f) => (f.byteOffset === 0 && f.buffer.byteLength === f.byteLength ? f : Buffer.from(f)));
    e.bytes = record.stdout.length + record.stderr.length + e.reply.reduce((n, f) => n + f.length, 0);
    this.#completed++;
    this.#finished.push(e);
    this.#finishedBytes += e.bytes;
    this.#liveFinished++;
    this.#cull();
  }

  #cull(): void {
    const { maxRecords, maxBytes } = this.limits;
    while (this.#liveFinished > maxRecords || (this.#finishedBytes > maxBytes && this.#liveFinished > 1)) {
      const old = this.#finished.shift()!;
      if (this.#entries.get(old.record.msgId) !== old) continue; // purged already
      this.#drop(old);
    }
  }

  #drop(e: Entry): void {
    this.#entries.delete(e.record.msgId);
    this.#finishedBytes -= e.bytes;
    this.#liveFinished--;
  }

  get(msgId: string): StoredTask | undefined {
    const e = this.#entries.get(msgId);
    return e && { record: e.record, reply: e.reply };
  }

  outcome(msgId: string): Outcome | 'pending' | undefined {
    const o = this.#outcomes.get(msgId);
    if (o) return o;
    return this.#entries.has(msgId) ? 'pending' : undefined;
  }

  query(q: TaskQuery): TaskRecord[] {
    const out: TaskRecord[] = [];
    for (const e of this.#entries.values()) if (matches(e.record, q)) out.push(e.record);
    out.sort((a, b) => a.submitted - b.submitted);
    return q.limit !== undefined && out.length > q.limit ? out.slice(out.length - q.limit) : out;
  }

  purge(msgIds: readonly string[] | 'all'): number {
    let n = 0;
    const ids = msgIds === 'all' ? [...this.#entries.keys()] : msgIds;
    for (const id of ids) {
      const e = this.#entries.get(id);
      if (e?.reply === undefined) continue; // unknown, or unfinished: stays
      this.#drop(e);
      n++;
    }
    return n;
  }

  flush(): void {
    // nothing is written anywhere
  }

  restore(): RestoredTask[] {
    return [];
  }

  getMeta(key: string): string | undefined {
    return this.#meta.get(key);
  }

  setMeta(key: string, value: string): void {
    this.#meta.set(key, value);
  }

  close(): void {
    // nothing to close
  }

  counts(): StoreCounts {
    return { submitted: this.#submitted, completed: this.#completed, records: this.#entries.size };
  }
}
