/**
 * The engine registry: registration, heartbeats both ways, and death. An
 * engine is declared dead when a send to it finds its connection gone (fast:
 * a dropped connection triggers probes) or when it has been silent for
 * `deadAfterMs`. Whoever holds its tasks hears of it through `onLeave`.
 */
import type { ContentOf, Endpoint, EngineInfo, Header, Heartbeat } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import { sleep } from '../util/sleep.js';
import type { Task } from './task.js';

export interface EngineState extends EngineInfo {
  /** its routing identity (its uuid) */
  identity: Buffer;
  lastSeen: number;
  /** tasks sent to it and not finished */
  load: number;
  completed: number;
  inFlight: Set<Task>;
  /** the batch job it runs in (Slurm), if it said */
  job: string | undefined;
  /** when its load last changed (it is idle since then when its load is 0) */
  lastBusy: number;
  /** why it takes no new tasks (it retires), once it does not */
  retiring: string | undefined;
  /** a steal_request to it is unanswered (one at a time) */
  stealing: boolean;
  /** CPU (percent of one core) and resident memory (bytes) of its process, from its last heartbeat; null until it says */
  cpu: number | null;
  rss: number | null;
}

export interface RegistryOptions {
  endpoint: Endpoint;
  heartbeatMs: number;
  deadAfterMs: number;
  log: Logger;
  onJoin: (e: EngineState) => void;
  onLeave: (e: EngineState, reason: string) => void;
}

export class EngineRegistry {
  readonly #o: RegistryOptions;
  readonly #engines = new Map<number, EngineState>();
  readonly #byIdentity = new Map<string, EngineState>();
  #nextId = 0;
  #lastTick = Date.now();
  /** when each unknown identity was last told to register again */
  readonly #told = new Map<string, number>();

  constructor(o: RegistryOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#engines.size;
  }

  get(id: number): EngineState | undefined {
    return this.#engines.get(id);
  }

  /** The registered engine with this routing identity. */
  find(identity: Buffer): EngineState | undefined {
    return this.#byIdentity.get(identity.toString('latin1'));
  }

  all(): IterableIterator<EngineState> {
    return this.#engines.values();
  }

  /** Registered ids, ascending, as text for messages ("0, 1, 2" or "none"). */
  idList(): string {
    return [...this.#engines.keys()].sort((a, b) => a - b).join(', ') || 'none';
  }

  info(e: EngineState): EngineInfo {
    return { id: e.id, uuid: e.uuid, pid: e.pid, hostname: e.hostname, registered: e.registered, mpi: e.mpi, data: e.data };
  }

  /** A message from this engine arrived: it is alive. */
  seen(e: EngineState, now = Date.now()): void {
    e.lastSeen = now;
  }

  /** An engine's heartbeat: what it reports of itself (older engines report nothing). */
  heartbeat(e: EngineState, c: Heartbeat): void {
    if (c.cpu !== undefined) e.cpu = c.cpu;
    if (c.rss !== undefined) e.rss = c.rss;
  }

  register(identity: Buffer, parent: Header, req: ContentOf<'registration_request'>): void {
    const ep = this.#o.endpoint;
    if (req.uuid !== identity.toString('utf8')) {
      ep.send(identity, 'registration_reply', { status: 'error', evalue: 'the engine uuid must be its routing identity' }, { parent });
      return;
    }
    const key = identity.toString('latin1');
    if (this.#byIdentity.has(key)) {
      this.#o.log.warn(`engine ${req.uuid} registered twice; keeping the first registration`);
      return;
    }
    const e: EngineState = {
      id: this.#nextId++,
      uuid: req.uuid,
      pid: req.pid,
      hostname: req.hostname,
      registered: new Date().toISOString(),
      mpi: req.mpi ?? null,
      data: req.data ?? null,
      identity,
      lastSeen: Date.now(),
      load: 0,
      completed: 0,
      inFlight: new Set(),
      job: req.job,
      lastBusy: Date.now(),
      retiring: undefined,
      stealing: false,
      cpu: null,
      rss: null,
    };
    this.#engines.set(e.id, e);
    this.#byIdentity.set(key, e);
    ep.send(
      identity,
      'registration_reply',
      { status: 'ok', id: e.id, heartbeat_ms: this.#o.heartbeatMs, dead_after_ms: this.#o.deadAfterMs },
      { parent },
    );
    this.#o.log.info(
      `engine ${e.id} registered (pid ${e.pid} on ${e.hostname}${e.mpi ? `, MPI rank ${e.mpi.rank} of ${e.mpi.size}` : ''}, uuid ${e.uuid})`,
    );
    this.#o.onJoin(e);
  }

  /**
   * Heartbeat every engine; declare dead those silent longer than deadAfterMs.
   * A controller that was itself paused (suspended, stopped) does not count
   * its own pause against the engines: after a gap in its ticks, every engine
   * gets a fresh window.
   */
  tick(now = Date.now()): void {
    const gap = now - this.#lastTick;
    this.#lastTick = now;
    if (gap > 2 * this.#o.heartbeatMs) {
      this.#o.log.warn(`the controller was paused for ${Math.round(gap / 1000)} s: every engine gets a fresh ${this.#o.deadAfterMs} ms to be heard`);
      for (const e of this.#engines.values()) e.lastSeen = now;
    }
    if (this.#told.size > 1000) this.#told.clear();
    for (const e of [...this.#engines.values()]) {
      if (now - e.lastSeen > this.#o.deadAfterMs) this.unregister(e, `sent no heartbeat for ${Math.round((now - e.lastSeen) / 1000)} s`);
      else this.send(e, 'heartbeat', {});
    }
  }

  /**
   * A message from an engine that is not registered (it was declared dead
   * while it was away, paused or cut off): tell it to register again, at
   * most once a second.
   */
  unknown(identity: Buffer, now = Date.now()): void {
    const key = identity.toString('latin1');
    if (now - (this.#told.get(key) ?? 0) < 1000) return;
    this.#told.set(key, now);
    this.#o.endpoint.send(identity, 'engine_unknown', { reason: 'this engine is not registered (it was declared dead): register again' });
  }

  /** Probe every engine now: a gone one fails the send and is unregistered (see sendFailed). */
  probe(): void {
    for (const e of this.#engines.values()) this.send(e, 'heartbeat', {});
  }

  send<T extends 'heartbeat' | 'shutdown_request' | 'abort_request' | 'steal_request'>(e: EngineState, type: T, content: ContentOf<T>): void {
    this.#o.endpoint.send(e.identity, type, content);
  }

  /** A send to an engine failed: a gone peer is unregistered. True when the failure was handled so. */
  sendFailed(identity: Buffer | undefined, gone: boolean): boolean {
    const e = identity ? this.find(identity) : undefined;
    if (!gone || !e) return false;
    this.unregister(e, 'disconnected');
    return true;
  }

  /** An engine is gone: forget it and tell whoever holds its tasks. */
  unregister(e: EngineState, reason: string): void {
    if (!this.#engines.has(e.id)) return;
    this.#engines.delete(e.id);
    this.#byIdentity.delete(e.identity.toString('latin1'));
    this.#o.log.warn(`engine ${e.id} (pid ${e.pid}) unregistered: ${reason}`);
    this.#o.onLeave(e, reason);
  }

  /** Ask every engine to shut down and wait (up to `timeoutMs`) until all are gone. */
  async stopAll(timeoutMs: number): Promise<void> {
    for (const e of this.#engines.values()) this.send(e, 'shutdown_request', { hub: false });
    // an engine that has exited fails a probe with EHOSTUNREACH and is unregistered
    const deadline = Date.now() + timeoutMs;
    while (this.#engines.size > 0 && Date.now() < deadline) {
      await sleep(20);
      this.probe();
    }
  }
}
