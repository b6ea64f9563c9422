/**
 * What the dashboard keeps of finished tasks, bounded and without an
 * allocation per task: a ring of recent task spans (typed arrays and slots
 * that point at strings the records already hold) for the task stream, and
 * per-second counts of finished tasks for the tasks/s chart.
 */
import type { TaskRecord } from '../store/record.js';

/** One finished task as the task stream draws it. */
export interface Span {
  /** its place in the ring's sequence (the stream asks for spans after the last it has) */
  seq: number;
  msgId: string;
  engine: number;
  label: string | null;
  batch: string | null;
  /** epoch ms */
  start: number;
  end: number;
  ok: boolean;
  /** the error it ended with */
  ename: string | null;
}

/** The spans of the last `capacity` tasks that ran on an engine and finished. */
export class SpanRing {
  readonly #cap: number;
  /** spans pushed so far: the next one's seq */
  #seq = 0;
  readonly #start: Float64Array;
  readonly #end: Float64Array;
  readonly #engine: Int32Array;
  readonly #ok: Uint8Array;
  readonly #msgId: string[];
  readonly #label: (string | null)[];
  readonly #batch: (string | null)[];
  readonly #ename: (string | null)[];

  constructor(capacity = 4096) {
    this.#cap = capacity;
    this.#start = new Float64Array(capacity);
    this.#end = new Float64Array(capacity);
    this.#engine = new Int32Array(capacity);
    this.#ok = new Uint8Array(capacity);
    this.#msgId = new Array<string>(capacity).fill('');
    this.#label = new Array<string | null>(capacity).fill(null);
    this.#batch = new Array<string | null>(capacity).fill(null);
    this.#ename = new Array<string | null>(capacity).fill(null);
  }

  /** The seq the next span gets. */
  get next(): number {
    return this.#seq;
  }

  /** A task has finished: keep its span if it ran on an engine. */
  push(r: TaskRecord): void {
    if (r.started === null || r.engineId === null) return;
    const i = this.#seq % this.#cap;
    this.#seq++;
    this.#start[i] = r.started;
    this.#end[i] = r.completed ?? r.started;
    this.#engine[i] = r.engineId;
    this.#ok[i] = r.status === 'done' ? 1 : 0;
    this.#msgId[i] = r.msgId;
    this.#label[i] = r.label;
    this.#batch[i] = r.batch ?? null;
    this.#ename[i] = r.ename;
  }

  /** The spans from seq `from` on (the last `limit` of them, fewer when the ring no longer holds them), oldest first. */
  since(from: number, limit = this.#cap): Span[] {
    const first = Math.max(from, this.#seq - this.#cap, this.#seq - limit, 0);
    const out: Span[] = [];
    for (let seq = first; seq < this.#seq; seq++) {
      const i = seq % this.#cap;
      out.push({
        seq,
        msgId: this.#msgId[i]!,
        engine: this.#engine[i]!,
        label: this.#label[i]!,
        batch: this.#batch[i]!,
        start: this.#start[i]!,
        end: this.#end[i]!,
        ok: this.#ok[i] === 1,
        ename: this.#ename[i]!,
      });
    }
    return out;
  }
}

/** Finished tasks per second over the last `seconds`, for the tasks/s chart. */
export class RateSeries {
  readonly #n: number;
  readonly #done: Uint32Array;
  readonly #failed: Uint32Array;
  /** the epoch second of the newest bucket */
  #sec = Math.floor(Date.now() / 1000);
  /** the first second counted: the series starts there (a young cluster has no history before it) */
  readonly #first = this.#sec;

  constructor(seconds = 600) {
    this.#n = seconds;
    this.#done = new Uint32Array(seconds);
    this.#failed = new Uint32Array(seconds);
  }

  /** Count a finished task at `now` (epoch ms). */
  count(ok: boolean, now: number): void {
    this.#advance(Math.floor(now / 1000));
    const i = this.#sec % this.#n;
    if (ok) this.#done[i]!++;
    else this.#failed[i]!++;
  }

  /** Clear the buckets between the newest one and second `sec`. */
  #advance(sec: number): void {
    if (sec <= this.#sec) return;
    const steps = Math.min(sec - this.#sec, this.#n);
    for (let k = 1; k <= steps; k++) {
      const i = (this.#sec + k) % this.#n;
      this.#done[i] = 0;
      this.#failed[i] = 0;
    }
    this.#sec = sec;
  }

  /** The last `seconds` whole seconds before `now`: their start times (epoch s) and counts, oldest first. */
  series(now: number, seconds = 300): { t: number[]; done: number[]; failed: number[] } {
    const cur = Math.floor(now / 1000);
    this.#advance(cur);
    const n = Math.min(seconds, this.#n - 1, Math.max(60, cur - this.#first));
    const out = { t: new Array<number>(n), done: new Array<number>(n), failed: new Array<number>(n) };
    for (let k = 0; k < n; k++) {
      const sec = cur - n + k;
      const i = ((sec % this.#n) + this.#n) % this.#n;
      out.t[k] = sec;
      out.done[k] = this.#done[i]!;
      out.failed[k] = this.#failed[i]!;
    }
    return out;
  }

  /** Finished tasks per second over the last `seconds` whole seconds. */
  rate(now: number, seconds = 10): number {
    const s = this.series(now, seconds);
    let sum = 0;
    for (let k = 0; k < s.t.length; k++) sum += s.done[k]! + s.failed[k]!;
    return s.t.length > 0 ? sum / s.t.length : 0;
  }
}
