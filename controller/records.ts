/**
 * The hub's task records: one per task, kept in memory. Finished records are
 * bounded (count and bytes); the oldest finished ones are culled first, so a
 * long run stays flat in memory. Pending records are never culled.
 */
import type { Header, RawMessage } from '../protocol/index.js';

export type TaskStatus = 'queued' | 'running' | 'ok' | 'error';

export interface TaskRecord {
  msgId: string;
  header: Header;
  /** routing identity of the submitting client */
  client: Buffer;
  /** the request as received, forwarded untouched; dropped once the task is done */
  request: RawMessage | undefined;
  route: 'direct' | 'lb';
  targets: number[] | undefined;
  label: string | undefined;
  engineId: number | null;
  submitted: number;
  sent: number | null;
  completed: number | null;
  status: TaskStatus;
  /** reply frames from the delimiter on, kept for later queries */
  reply: Buffer[] | undefined;
  bytes: number;
  stdout: string;
  stderr: string;
  /** removed from the load-balanced queue (lazy deletion) */
  dequeued: boolean;
}

export interface RecordLimits {
  maxRecords: number;
  maxBytes: number;
}

export class RecordStore {
  readonly #records = new Map<string, TaskRecord>();
  #finished: (TaskRecord | undefined)[] = [];
  #head = 0;
  #finishedBytes = 0;
  submitted = 0;
  completed = 0;

  constructor(readonly limits: RecordLimits = { maxRecords: 1024, maxBytes: 1024 ** 3 }) {}

  get size(): number {
    return this.#records.size;
  }

  get pending(): number {
    return this.submitted - this.completed;
  }

  get(msgId: string): TaskRecord | undefined {
    return this.#records.get(msgId);
  }

  has(msgId: string): boolean {
    return this.#records.has(msgId);
  }

  add(r: TaskRecord): void {
    this.#records.set(r.msgId, r);
    this.submitted++;
  }

  /** Mark a record finished and cull the oldest finished ones past the limits. */
  finish(r: TaskRecord, status: 'ok' | 'error', reply: Buffer[] | undefined): void {
    r.status = status;
    r.completed = Date.now();
    r.request = undefined;
    // received frames may be views into a large packed batch: keep copies, not the batch
    r.reply = reply?.map((f) => (f.byteOffset === 0 && f.buffer.byteLength === f.byteLength ? f : Buffer.from(f)));
    let bytes = r.stdout.length + r.stderr.length;
    if (r.reply) for (const f of r.reply) bytes += f.length;
    r.bytes = bytes;
    this.completed++;
    this.#finished.push(r);
    this.#finishedBytes += bytes;
    const finishedCount = (): number => this.#finished.length - this.#head;
    while (finishedCount() > this.limits.maxRecords || (this.#finishedBytes > this.limits.maxBytes && finishedCount() > 1)) {
      const old = this.#finished[this.#head]!;
      this.#finished[this.#head++] = undefined;
      this.#finishedBytes -= old.bytes;
      this.#records.delete(old.msgId);
    }
    if (this.#head > 4096 && this.#head * 2 > this.#finished.length) {
      this.#finished = this.#finished.slice(this.#head);
      this.#head = 0;
    }
  }
}
