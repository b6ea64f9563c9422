/**
 * The load-balanced queue. Engines are kept in least-recently-used order; a
 * task goes to an engine with load < hwm (0 = unlimited), inside its allowed
 * engines, not blacklisted for it, chosen by the scheme among those.
 *
 * The scheduler only decides: `schedule()` returns placements, and the caller
 * starts each task and raises its engine's load (before it schedules again).
 * Tasks wait in one FIFO per priority; higher priorities are served first.
 */
import { Fifo } from '../util/fifo.js';
import type { PickEngine } from './schemes/index.js';

/** What the scheduler sees of a task. */
export interface SchedTask {
  readonly priority: number;
  /** only these engines (undefined: any) */
  readonly targets: readonly number[] | undefined;
  /** engines it failed on */
  readonly blacklist: ReadonlySet<number> | undefined;
}

/** What the scheduler sees of an engine. */
export interface SchedEngine {
  readonly id: number;
  /** tasks it holds now */
  readonly load: number;
}

export interface Placement<T, E> {
  task: T;
  engine: E;
}

/**
 * A place in a priority FIFO. A task placed from behind the head leaves its
 * entry behind; if the task is queued again (a retry), the old entry must not
 * come alive with it: only the entry of the task's latest submission counts.
 */
interface Entry<T> {
  task: T;
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
interface Bucket<T> {
  open: Fifo<Entry<T>>;
  restricted: Fifo<Entry<T>>;
}

export class Scheduler<T extends SchedTask, E extends SchedEngine> {
  /** least recently used first */
  readonly order: E[] = [];
  readonly #buckets = new Map<number, Bucket<T>>();
  /** queued tasks and the sequence number of their latest submission */
  readonly #seq = new Map<T, number>();
  #nextSeq = 0;
  /** priorities with a bucket, highest first */
  #priorities: number[] = [];
  /** load placed on each engine during the current schedule() */
  readonly #extra = new Map<E, number>();
  readonly #eligible: E[] = [];
  readonly #loads: number[] = [];

  constructor(
    readonly pick: PickEngine,
    readonly hwm: number,
    readonly random: () => number = Math.random,
  ) {}

  /** Tasks waiting to be placed. */
  get queued(): number {
    return this.#seq.size;
  }

  /** New engines enter at the front, so they take work at once. */
  addEngine(e: E): void {
    this.order.unshift(e);
  }

  removeEngine(e: E): void {
    const i = this.order.indexOf(e);
    if (i >= 0) this.order.splice(i, 1);
  }

  /** Queue a task (place it with the next schedule()). */
  submit(task: T): void {
    let b = this.#buckets.get(task.priority);
    if (!b) {
      b = { open: new Fifo<Entry<T>>(), restricted: new Fifo<Entry<T>>() };
      this.#buckets.set(task.priority, b);
      this.#priorities.push(task.priority);
      this.#priorities.sort((x, y) => y - x);
    }
    const seq = this.#nextSeq++;
    this.#seq.set(task, seq);
    (task.targets === undefined && task.blacklist === undefined ? b.open : b.restricted).push({ task, seq });
  }

  /** Take a queued task out (its entry is skipped when reached). False when it was not queued. */
  remove(task: T): boolean {
    return this.#seq.delete(task);
  }

  /** Queued tasks, in the order they would be served. */
  *pending(): Generator<T> {
    for (const p of this.#priorities) {
      const b = this.#buckets.get(p)!;
      const all = [...b.open, ...b.restricted].filter((e) => this.#live(e)).sort((x, y) => x.seq - y.seq);
      for (const e of all) yield e.task;
    }
  }

  /** Could this task ever be placed on the engines registered now? */
  placeable(task: SchedTask): boolean {
    return this.order.some((e) => allowed(task, e));
  }

  /** Place what can be placed now. The caller must start each placement (raising its engine's load). */
  schedule(): Placement<T, E>[] {
    const out: Placement<T, E>[] = [];
    if (this.#seq.size === 0) return out;
    this.#extra.clear();
    for (const p of [...this.#priorities]) {
      const b = this.#buckets.get(p)!;
      for (;;) {
        if (this.#seq.size === 0 || !this.#anyFree()) return this.#finish(out);
        while (b.open.length > 0 && !this.#live(b.open.peek()!)) b.open.shift();
        const open = b.open.peek();
        const restricted = this.#firstPlaceable(b.restricted, open?.seq ?? Infinity);
        if (open !== undefined && (restricted === undefined || open.seq < restricted.entry.seq)) {
          b.open.shift();
          out.push(this.#place(open.task, this.#choose(open.task)!));
        } else if (restricted !== undefined) {
          if (restricted.index === 0) b.restricted.shift();
          out.push(this.#place(restricted.entry.task, restricted.engine));
        } else break; // nothing of this priority can be placed now
      }
    }
    return this.#finish(out);
  }

  #finish(out: Placement<T, E>[]): Placement<T, E>[] {
    this.#dropEmpty();
    this.#extra.clear();
    return out;
  }

  #live(e: Entry<T>): boolean {
    return this.#seq.get(e.task) === e.seq;
  }

  /**
   * The first restricted task (submitted before `before`) that a free engine may
   * take, looking past at most MAX_SKIP that cannot be placed. Dead entries at
   * the head are dropped; placed ones further in are skipped (and dropped later).
   */
  #firstPlaceable(q: Fifo<Entry<T>>, before: number): { entry: Entry<T>; index: number; engine: E } | undefined {
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

  #place(task: T, engine: E): Placement<T, E> {
    this.#seq.delete(task);
    this.#extra.set(engine, (this.#extra.get(engine) ?? 0) + 1);
    this.order.splice(this.order.indexOf(engine), 1);
    this.order.push(engine);
    return { task, engine };
  }

  #dropEmpty(): void {
    for (const p of this.#priorities) {
      const b = this.#buckets.get(p)!;
      for (const q of [b.open, b.restricted]) while (q.length > 0 && !this.#live(q.peek()!)) q.shift();
      if (b.open.length === 0 && b.restricted.length === 0) this.#buckets.delete(p);
    }
    if (this.#buckets.size !== this.#priorities.length) this.#priorities = this.#priorities.filter((p) => this.#buckets.has(p));
  }

  #load(e: E): number {
    return e.load + (this.#extra.get(e) ?? 0);
  }

  #free(e: E): boolean {
    return this.hwm === 0 || this.#load(e) < this.hwm;
  }

  #anyFree(): boolean {
    for (const e of this.order) if (this.#free(e)) return true;
    return false;
  }

  #choose(task: T): E | undefined {
    const eligible = this.#eligible;
    const loads = this.#loads;
    eligible.length = 0;
    loads.length = 0;
    for (const e of this.order) {
      if (!this.#free(e) || !allowed(task, e)) continue;
      eligible.push(e);
      loads.push(this.#load(e));
    }
    if (eligible.length === 0) return undefined;
    if (eligible.length === 1) return eligible[0];
    const k = this.pick(loads, this.random);
    return eligible[k >= 0 && k < eligible.length ? k : 0];
  }
}

function allowed(task: SchedTask, e: SchedEngine): boolean {
  return (task.targets === undefined || task.targets.includes(e.id)) && !task.blacklist?.has(e.id);
}
