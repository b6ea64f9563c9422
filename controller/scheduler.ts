/**
 * The load-balanced queue. Engines are kept in least-recently-used order; a
 * task goes to an engine with load < hwm (0 = unlimited), inside its allowed
 * engines, not blacklisted for it, chosen by the scheme among those. Sending
 * adds 1 to the engine's load and moves it to the end; a reply subtracts 1.
 *
 * Tasks wait in one FIFO per priority; higher priorities are served first.
 */
import { Fifo } from '../util/fifo.js';
import type { PickEngine } from './schemes/index.js';
import type { TaskRecord } from './records.js';

export interface SchedEngine {
  id: number;
  load: number;
}

/**
 * A place in a priority FIFO. A task placed from behind the head leaves its
 * entry behind; if the task is queued again (a retry), the old entry must not
 * come alive with it: only the entry of the task's latest submission counts.
 */
interface Entry {
  task: TaskRecord;
  seq: number;
}

/** How far past unplaceable restricted tasks the scheduler looks for one it can place, per placement. */
const MAX_SKIP = 1000;

/**
 * The tasks of one priority. Open tasks (no targets, no blacklist) can go to
 * any free engine; restricted ones only to some. Kept apart, so an open task
 * never waits behind restricted ones that cannot be placed; between the two,
 * the earlier submission goes first.
 */
interface Bucket {
  open: Fifo<Entry>;
  restricted: Fifo<Entry>;
}

export class Scheduler<E extends SchedEngine> {
  /** least recently used first */
  readonly order: E[] = [];
  readonly #buckets = new Map<number, Bucket>();
  /** the latest submission of each queued task */
  readonly #seq = new WeakMap<TaskRecord, number>();
  #nextSeq = 0;
  /** priorities with a bucket, highest first */
  #priorities: number[] = [];
  #queued = 0;
  readonly #eligible: E[] = [];
  readonly #loads: number[] = [];

  constructor(
    readonly pick: PickEngine,
    readonly hwm: number,
    readonly assign: (task: TaskRecord, engine: E) => void,
    readonly random: () => number = Math.random,
  ) {}

  get queued(): number {
    return this.#queued;
  }

  /** New engines enter at the front, so they take work at once. */
  addEngine(e: E): void {
    this.order.unshift(e);
    this.schedule();
  }

  removeEngine(e: E): void {
    const i = this.order.indexOf(e);
    if (i >= 0) this.order.splice(i, 1);
  }

  submit(task: TaskRecord): void {
    task.status = 'queued';
    task.dequeued = false;
    let b = this.#buckets.get(task.priority);
    if (!b) {
      b = { open: new Fifo<Entry>(), restricted: new Fifo<Entry>() };
      this.#buckets.set(task.priority, b);
      this.#priorities.push(task.priority);
      this.#priorities.sort((x, y) => y - x);
    }
    const seq = this.#nextSeq++;
    this.#seq.set(task, seq);
    (task.targets === undefined && task.blacklist === undefined ? b.open : b.restricted).push({ task, seq });
    this.#queued++;
    this.schedule();
  }

  #live(e: Entry): boolean {
    return !e.task.dequeued && this.#seq.get(e.task) === e.seq;
  }

  /** Remove a queued task (lazily: it is skipped when reached). */
  remove(task: TaskRecord): boolean {
    if (task.dequeued || task.status !== 'queued') return false;
    task.dequeued = true;
    this.#queued--;
    return true;
  }

  /** Queued tasks, in the order they would be served. */
  *pending(): Generator<TaskRecord> {
    for (const p of this.#priorities) {
      const b = this.#buckets.get(p)!;
      const all = [...b.open, ...b.restricted].filter((e) => this.#live(e)).sort((x, y) => x.seq - y.seq);
      for (const e of all) yield e.task;
    }
  }

  /** Could this task ever be placed on the engines registered now? */
  placeable(task: TaskRecord): boolean {
    return this.order.some((e) => this.#allowed(task, e));
  }

  /** An engine's load changed or an engine joined: place what can be placed. */
  schedule(): void {
    if (this.#queued === 0) return;
    for (const p of [...this.#priorities]) {
      const b = this.#buckets.get(p)!;
      for (;;) {
        if (this.#queued === 0 || !this.#anyFree()) return this.#dropEmpty();
        while (b.open.length > 0 && !this.#live(b.open.peek()!)) b.open.shift();
        const open = b.open.peek();
        const restricted = this.#firstPlaceable(b.restricted, open?.seq ?? Infinity);
        if (open !== undefined && (restricted === undefined || open.seq < restricted.entry.seq)) {
          b.open.shift();
          this.#place(open.task, this.#choose(open.task)!);
        } else if (restricted !== undefined) {
          if (restricted.index === 0) b.restricted.shift();
          this.#place(restricted.entry.task, restricted.engine);
        } else break; // nothing of this priority can be placed now
      }
    }
    this.#dropEmpty();
  }

  /**
   * The first restricted task (submitted before `before`) that a free engine may
   * take, looking past at most MAX_SKIP that cannot be placed. Dead entries at
   * the head are dropped; placed ones further in are skipped (and dropped later).
   */
  #firstPlaceable(q: Fifo<Entry>, before: number): { entry: Entry; index: number; engine: E } | undefined {
    while (q.length > 0 && !this.#live(q.peek()!)) q.shift();
    let skipped = 0;
    for (let i = 0; i < q.length; i++) {
      const entry = q.at(i)!;
      if (entry.seq > before) return undefined;
      if (!this.#live(entry)) continue;
      const engine = this.#choose(entry.task);
      if (engine !== undefined) return { entry, index: i, engine };
      if (++skipped > MAX_SKIP) return undefined;
    }
    return undefined;
  }

  #place(task: TaskRecord, engine: E): void {
    task.dequeued = true;
    this.#queued--;
    engine.load++;
    this.order.splice(this.order.indexOf(engine), 1);
    this.order.push(engine);
    this.assign(task, engine);
  }

  #dropEmpty(): void {
    for (const p of this.#priorities) {
      const b = this.#buckets.get(p)!;
      for (const q of [b.open, b.restricted]) while (q.length > 0 && !this.#live(q.peek()!)) q.shift();
      if (b.open.length === 0 && b.restricted.length === 0) this.#buckets.delete(p);
    }
    if (this.#buckets.size !== this.#priorities.length) this.#priorities = this.#priorities.filter((p) => this.#buckets.has(p));
  }

  #free(e: E): boolean {
    return this.hwm === 0 || e.load < this.hwm;
  }

  #anyFree(): boolean {
    for (const e of this.order) if (this.#free(e)) return true;
    return false;
  }

  #allowed(task: TaskRecord, e: E): boolean {
    return (task.targets === undefined || task.targets.includes(e.id)) && !task.blacklist?.has(e.id);
  }

  #choose(task: TaskRecord): E | undefined {
    const eligible = this.#eligible;
    const loads = this.#loads;
    eligible.length = 0;
    loads.length = 0;
    for (const e of this.order) {
      if (!this.#free(e) || !this.#allowed(task, e)) continue;
      eligible.push(e);
      loads.push(e.load);
    }
    if (eligible.length === 0) return undefined;
    if (eligible.length === 1) return eligible[0];
    const k = this.pick(loads, this.random);
    return eligible[k >= 0 && k < eligible.length ? k : 0];
  }
}
