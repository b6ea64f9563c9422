/** The engines a client knows of: kept up to date by the controller's engine events, waited for, listened to. */
import { TimeoutError } from '../errors/index.js';
import type { ContentOf, EngineInfo } from '../protocol/index.js';
import { setLongTimeout } from '../util/timers.js';
import { checkInt, checkMs } from './validate.js';

export type EngineEvent = { type: 'registered' | 'unregistered'; engine: EngineInfo; reason?: string };

/** What the engine set tells the data links. */
export interface EngineLinks {
  probe(e: EngineInfo): void;
  forget(id: number): void;
}

export class EngineSet {
  readonly #engines = new Map<number, EngineInfo>();
  readonly #listeners = new Set<(e: EngineEvent) => void>();
  /** waitFor calls waiting (they keep the process alive; listeners do not) */
  #waiters = 0;

  /** @param links the data links, when there are (told of each engine that comes and goes) */
  constructor(private readonly links: () => EngineLinks | undefined) {}

  get size(): number {
    return this.#engines.size;
  }

  /** Does a waitFor wait? */
  get waiting(): boolean {
    return this.#waiters > 0;
  }

  get(id: number): EngineInfo | undefined {
    return this.#engines.get(id);
  }

  /** Registered engine ids, ascending. */
  ids(): number[] {
    return [...this.#engines.keys()].sort((a, b) => a - b);
  }

  /** Registered engines, by id. */
  list(): EngineInfo[] {
    return this.ids().map((id) => this.#engines.get(id)!);
  }

  /** An engine known at connect. */
  add(e: EngineInfo): void {
    this.#engines.set(e.id, e);
    this.links()?.probe(e);
  }

  /** Resolve with the ids once at least `n` engines are registered; `wake` makes the client receive meanwhile. */
  waitFor(n: number, timeoutMs: number, wake: () => void): Promise<number[]> {
    checkInt('waitForEngines: n', n, 0, 1_000_000);
    checkMs('waitForEngines: timeoutMs', timeoutMs);
    if (this.#engines.size >= n) return Promise.resolve(this.ids());
    this.#waiters++;
    wake();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#engines.size < n) return;
        cleanup();
        resolve(this.ids());
      };
      const t = setLongTimeout(() => {
        cleanup();
        const have = this.#engines.size;
        reject(new TimeoutError(`${have} of ${n} engines registered after ${timeoutMs} ms; add engines with \`tscluster engines -n ${n - have}\``));
      }, timeoutMs);
      const cleanup = (): void => {
        t.clear();
        this.#listeners.delete(check);
        this.#waiters--;
      };
      this.#listeners.add(check);
    });
  }

  /** Listen to engines joining and leaving; returns a function that stops listening. */
  listen(listener: (e: EngineEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The controller's engine_event. */
  onEvent(c: ContentOf<'engine_event'>): void {
    const links = this.links();
    if (c.event === 'data') {
      // its data endpoint opened (after it registered): not an event for listeners
      if (this.#engines.has(c.engine.id)) this.#engines.set(c.engine.id, c.engine);
      links?.probe(c.engine);
      return;
    }
    if (c.event === 'registered') {
      this.#engines.set(c.engine.id, c.engine);
      links?.probe(c.engine);
    } else {
      this.#engines.delete(c.engine.id);
      links?.forget(c.engine.id);
    }
    const ev: EngineEvent = { type: c.event, engine: c.engine, ...(c.reason ? { reason: c.reason } : {}) };
    for (const l of [...this.#listeners]) l(ev);
  }
}
