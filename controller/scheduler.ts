/**
 * The load-balanced queue. Engines are kept in least-recently-used order; a
 * task goes to an engine with load < hwm (0 = unlimited) inside its targets,
 * chosen by the scheme among those. Sending adds 1 to the engine's load and
 * moves it to the end; a reply subtracts 1.
 */
import type { PickEngine } from './schemes/index.js';
import type { TaskRecord } from './records.js';

export interface SchedEngine {
  id: number;
  load: number;
}

/** How far past an unplaceable task the scheduler looks for one it can place. */
const MAX_SKIP = 1000;

export class Scheduler<E extends SchedEngine> {
  /** least recently used first */
  readonly order: E[] = [];
  #queue: (TaskRecord | undefined)[] = [];
  #head = 0;
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
    this.#queue.push(task);
    this.#queued++;
    this.schedule();
  }

  /** Remove a queued task (lazy: it is skipped when reached). */
  remove(task: TaskRecord): boolean {
    if (task.dequeued || task.status !== 'queued') return false;
    task.dequeued = true;
    this.#queued--;
    return true;
  }

  /** Queued tasks, oldest first. */
  *pending(): Generator<TaskRecord> {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const t = this.#queue[i];
      if (t && !t.dequeued) yield t;
    }
  }

  /** An engine's load changed or an engine joined: place what can be placed. */
  schedule(): void {
    let skipped = 0;
    let i = this.#head;
    while (i < this.#queue.length && this.#queued > 0) {
      const task = this.#queue[i];
      if (task === undefined || task.dequeued) {
        if (i === this.#head) this.#advanceHead();
        i++;
        continue;
      }
      const engine = this.#choose(task);
      if (engine === undefined) {
        // nothing free at all: no later task can be placed either
        if (task.targets === undefined || !this.#anyFree()) break;
        if (++skipped > MAX_SKIP) break;
        i++;
        continue;
      }
      task.dequeued = true;
      this.#queued--;
      if (i === this.#head) this.#advanceHead();
      engine.load++;
      const at = this.order.indexOf(engine);
      this.order.splice(at, 1);
      this.order.push(engine);
      this.assign(task, engine);
      i++;
    }
    this.#compact();
  }

  #advanceHead(): void {
    this.#queue[this.#head++] = undefined;
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #free(e: E): boolean {
    return this.hwm === 0 || e.load < this.hwm;
  }

  #anyFree(): boolean {
    for (const e of this.order) if (this.#free(e)) return true;
    return false;
  }

  #choose(task: TaskRecord): E | undefined {
    const eligible = this.#eligible;
    const loads = this.#loads;
    eligible.length = 0;
    loads.length = 0;
    for (const e of this.order) {
      if (!this.#free(e)) continue;
      if (task.targets !== undefined && !task.targets.includes(e.id)) continue;
      eligible.push(e);
      loads.push(e.load);
    }
    if (eligible.length === 0) return undefined;
    if (eligible.length === 1) return eligible[0];
    const k = this.pick(loads, this.random);
    return eligible[k >= 0 && k < eligible.length ? k : 0];
  }
}
