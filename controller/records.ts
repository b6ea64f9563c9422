/**
 * The hub's task records: one per task, kept in memory. Finished records are
 * bounded (count and bytes); the oldest finished ones are culled first, so a
 * long run stays flat in memory. Pending records are never culled.
 */
import { Fifo } from '../util/fifo.js';
import type { Header, RawMessage } from '../protocol/index.js';

/** waiting: on dependencies; queued: in the scheduler; running: sent to an engine */
export type TaskStatus = 'waiting' | 'queued' | 'running' | 'ok' | 'error';

/** A dependency as the controller keeps it. */
export interface DepSpec {
  ids: string[];
  all: boolean;
  success: boolean;
  failure: boolean;
}

/** One run of a task that failed and was retried. */
export interface Attempt {
  engine_id: number | null;
  ename: string;
}

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
  /** higher runs first; FIFO among equals */
  priority: number;
  /** resubmissions left after an error or an engine death */
  retries: number;
  /** failed runs so far */
  attempts: Attempt[];
  /** engines this task failed on, not to be tried again */
  blacklist: Set<number> | undefined;
  after: DepSpec | undefined;
  follow: DepSpec | undefined;
  timer: NodeJS.Timeout | undefined;
  /** why the engine was asked to stop this task, given to the reply */
  abort: { ename: string; evalue: string } | undefined;
  /** clients that asked for this task's result before it finished */
  watchers: Buffer[] | undefined;
}

/** What a finished task left behind for dependencies, kept longer than records. */
export interface Outcome {
  ok: boolean;
  engineId: number | null;
}

export interface RecordLimits {
  maxRecords: number;
  maxBytes: number;
}

export class RecordStore {
  readonly #records = new Map<string, TaskRecord>();
  /** finished records, oldest first (purged ones too, skipped when reached) */
  readonly #finished = new Fifo<TaskRecord>();
  #liveFinished = 0;
  #finishedBytes = 0;
  /** outcomes of finished tasks, for dependencies: far smaller than records, so many more are kept */
  readonly #outcomes = new Map<string, Outcome>();
  readonly #outcomeOrder = new Fifo<string>();
  submitted = 0;
  completed = 0;

  constructor(
    readonly limits: RecordLimits = { maxRecords: 1024, maxBytes: 1024 ** 3 },
    readonly maxOutcomes = 200000,
  ) {}

  /** A finished task's outcome, 'pending' for a known unfinished one, undefined if unknown. */
  outcome(msgId: string): Outcome | 'pending' | undefined {
    const o = this.#outcomes.get(msgId);
    if (o) return o;
    const r = this.#records.get(msgId);
    return r ? 'pending' : undefined;
  }

  get size(): number {
    return this.#records.size;
  }

  get pending(): number {
    return this.submitted - this.completed;
  }

  /** Remove finished records (all, or those named); pending ones stay. Returns how many went. */
  purge(msgIds: readonly string[] | 'all'): number {
    let n = 0;
    const drop = (r: TaskRecord): void => {
      if (r.completed === null) return;
      this.#records.delete(r.msgId);
      this.#finishedBytes -= r.bytes;
      this.#liveFinished--;
      n++;
    };
    if (msgIds === 'all') for (const r of [...this.#records.values()]) drop(r);
    else for (const id of msgIds) {
      const r = this.#records.get(id);
      if (r) drop(r);
    }
    return n;
  }

  /** Records of tasks not finished yet. */
  *pendingRecords(): Generator<TaskRecord> {
    for (const r of this.#records.values()) if (r.completed === null) yield r;
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
    clearTimeout(r.timer);
    r.timer = undefined;
    this.#outcomes.set(r.msgId, { ok: status === 'ok', engineId: r.engineId });
    this.#outcomeOrder.push(r.msgId);
    if (this.#outcomeOrder.length > this.maxOutcomes) this.#outcomes.delete(this.#outcomeOrder.shift()!);
    r.request = undefined;
    // received frames may be views into a large packed batch: keep copies, not the batch
    r.reply = reply?.map((f) => (f.byteOffset === 0 && f.buffer.byteLength === f.byteLength ? f : Buffer.from(f)));
    let bytes = r.stdout.length + r.stderr.length;
    if (r.reply) for (const f of r.reply) bytes += f.length;
    r.bytes = bytes;
    this.completed++;
    this.#finished.push(r);
    this.#finishedBytes += bytes;
    this.#liveFinished++;
    while (this.#liveFinished > this.limits.maxRecords || (this.#finishedBytes > this.limits.maxBytes && this.#liveFinished > 1)) {
      const old = this.#finished.shift()!;
      if (this.#records.get(old.msgId) !== old) continue; // purged already
      this.#finishedBytes -= old.bytes;
      this.#records.delete(old.msgId);
      this.#liveFinished--;
    }
  }
}
