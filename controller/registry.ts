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
  /** registered with the controller that died; until this time (epoch ms) it may come back (controller/recovery.ts) */
  absent?: number;
}

export interface RegistryOptions {
  endpoint: Endpoint;
  heartbeatMs: number;
  deadAfterMs: number;
  log: Logger;
  onJoin: (e: EngineState) => void;
  onLeave: (e: EngineState, reason: string) => void;
  /** an absent engine came back (after a controller restart); returns the finished tasks whose replies it should send again */
  onResume: (e: EngineState, holds: ReadonlySet<string>, finished: ReadonlySet<string>) => string[];
}

/** What a restarted controller knows of the engines its predecessor had (kept in the store). */
export type KnownEngine = EngineInfo & { job?: string | undefined };

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

  /**
   * A restarted controller: the engines its predecessor had, absent until
   * they register again (resuming) or `untilMs` passes. Their ids stay theirs.
   */
  expect(known: readonly KnownEngine[], nextId: number, untilMs: number): EngineState[] {
    this.#nextId = Math.max(this.#nextId, nextId, ...known.map((k) => k.id + 1));
    const out: EngineState[] = [];
    for (const k of known) {
      const e = this.#state(Buffer.from(k.uuid), k.id, k, k.registered);
      e.absent = untilMs;
      this.#engines.set(e.id, e);
      out.push(e);
    }
    return out;
  }

  /** The id the next new engine gets (kept in the store, so a restarted controller never gives one twice). */
  get nextId(): number {
    return this.#nextId;
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
    const back = req.resume ? this.#engines.get(req.resume.id) : undefined;
    if (back?.absent !== undefined && back.uuid === req.uuid && req.resume) {
      this.#resume(back, identity, parent, req, req.resume);
      return;
    }
    const e = this.#state(identity, this.#nextId++, req, new Date().toISOString());
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

  #resume(
    e: EngineState,
    identity: Buffer,
    parent: Header,
    req: ContentOf<'registration_request'>,
    r: NonNullable<ContentOf<'registration_request'>['resume']>,
  ): void {
    e.absent = undefined;
    e.identity = identity;
    e.pid = req.pid;
    e.data = req.data ?? e.data;
    e.lastSeen = Date.now();
    this.#byIdentity.set(identity.toString('latin1'), e);
    const want = this.#o.onResume(e, new Set(r.holds), new Set(r.finished));
    this.#o.endpoint.send(
      identity,
      'registration_reply',
      { status: 'ok', id: e.id, heartbeat_ms: this.#o.heartbeatMs, dead_after_ms: this.#o.deadAfterMs, resumed: true, want },
      { parent },
    );
    this.#o.log.info(
      `engine ${e.id} (pid ${e.pid}) came back after the controller restarted: it holds ${r.holds.length} task(s), sends ${want.length} reply(ies) again`,
    );
  }

  #state(
    identity: Buffer,
    id: number,
    req: Pick<ContentOf<'registration_request'>, 'uuid' | 'pid' | 'hostname' | 'mpi' | 'data' | 'job'>,
    registered: string,
  ): EngineState {
    return {
      id,
      uuid: req.uuid,
      pid: req.pid,
      hostname: req.hostname,
      registered,
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
      if (e.absent !== undefined) {
        if (now > e.absent) this.unregister(e, 'it did not come back after the controller restarted');
      } else if (now - e.lastSeen > this.#o.deadAfterMs) this.unregister(e, `sent no heartbeat for ${Math.round((now - e.lastSeen) / 1000)} s`);
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
    const uuid = identity.toString('utf8');
    const expected = [...this.#engines.values()].some((e) => e.absent !== undefined && e.uuid === uuid);
    this.#o.endpoint.send(
      identity,
      'engine_unknown',
      expected
        ? { reason: 'the controller was restarted: register again', restarted: true }
        : { reason: 'this engine is not registered (it was declared dead): register again' },
    );
  }

  /** Probe every engine now: a gone one fails the send and is unregistered (see sendFailed). */
  probe(): void {
    for (const e of this.#engines.values()) if (e.absent === undefined) this.send(e, 'heartbeat', {});
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
    if (this.#engines.get(e.id) !== e) return;
    this.#engines.delete(e.id);
    if (this.#byIdentity.get(e.identity.toString('latin1')) === e) this.#byIdentity.delete(e.identity.toString('latin1'));
    this.#o.log.warn(`engine ${e.id} (pid ${e.pid}) unregistered: ${reason}`);
    this.#o.onLeave(e, reason);
  }

  /** Ask every engine to shut down and wait (up to `timeoutMs`) until all are gone. */
  async stopAll(timeoutMs: number): Promise<void> {
    for (const e of [...this.#engines.values()]) {
      if (e.absent !== undefined) this.unregister(e, 'the controller stops');
      else this.send(e, 'shutdown_request', { hub: false });
    }
    // an engine that has exited fails a probe with EHOSTUNREACH and is unregistered
    const deadline = Date.now() + timeoutMs;
    while (this.#engines.size > 0 && Date.now() < deadline) {
      await sleep(20);
      this.probe();
    }
  }
}
