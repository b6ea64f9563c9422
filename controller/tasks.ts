/**
 * The tasks the hub holds: from an apply_request to the reply that ends it.
 * Routes direct tasks to their engine and load-balanced ones through
 * dependencies and the scheduler; forwards requests to engines and replies
 * and output to clients; retries, times out, aborts and fails tasks. Every
 * status change goes through `transition` (controller/lifecycle.ts).
 */
import { DELIMITER, parseFrame } from '../protocol/index.js';
import type { Endpoint, Incoming, TaskMetadata } from '../protocol/index.js';
import { ProtocolError } from '../errors/index.js';
import type { SystemErrorName } from '../errors/index.js';
import type { Logger } from '../util/log.js';
import { setLongTimeout } from '../util/timers.js';
import { Dependents, evaluate } from './dependencies.js';
import { transition } from './lifecycle.js';
import type { EngineRegistry, EngineState } from './registry.js';
import type { Scheduler } from './scheduler.js';
import type { TaskRecord, TaskStatus } from './store/record.js';
import type { TaskStore } from './store/store.js';
import { Task } from './task.js';
import { stealsFor } from './steal.js';
import { enameOf, failureReply, metadataOf, parentIdOf } from './replies.js';

export interface TaskManagerOptions {
  store: TaskStore;
  registry: EngineRegistry;
  scheduler: Scheduler<Task, EngineState>;
  /** the endpoint of clients (replies and output go out here) */
  clients: Endpoint;
  /** the endpoint of engines (requests go out here) */
  engines: Endpoint;
  log: Logger;
  /** a task finished; its record and reply are in the store */
  onFinished: (task: Task) => void;
  /** engines prefetch: ask ready tasks back for idle engines (controller/steal.ts) */
  steal?: boolean;
}

/**
 * Sees every task come and every status change (the dashboard's metrics).
 * Called in the hot path: an observer counts in place and keeps nothing per task.
 */
export interface TaskObserver {
  submitted(r: TaskRecord): void;
  /** `r` has just moved from `from` to `r.status` (its times stamped) */
  moved(r: TaskRecord, from: TaskStatus): void;
}

/** Why a task taken up after a restart may lack its payload (controller/recovery.ts says it too). */
export const PAYLOAD_NOT_KEPT =
  'the controller restarted, and its store does not keep request payloads over --store-request-max-bytes (1 MiB by default)';
/** Why such a task cannot go to an engine again. */
const PAYLOAD_LOST = `${PAYLOAD_NOT_KEPT}, so it could not send this task again: submit it again`;

/** Output kept in a task's record, per stream (the client gets every byte). */
const OUTPUT_CAP = 1024 * 1024;

export class TaskManager {
  readonly #o: TaskManagerOptions;
  /** unfinished tasks */
  readonly #pending = new Map<string, Task>();
  readonly #dependents = new Dependents<Task>();
  /** set once (the dashboard's monitor), before tasks arrive */
  observer: TaskObserver | undefined = undefined;

  constructor(o: TaskManagerOptions) {
    this.#o = o;
  }

  /** Where the records are. */
  get store(): TaskStore {
    return this.#o.store;
  }

  /** An unfinished task. */
  get(msgId: string): Task | undefined {
    return this.#pending.get(msgId);
  }

  /** How many tasks are unfinished. */
  get unfinished(): number {
    return this.#pending.size;
  }

  /** Tasks submitted since start (util/memory-return.ts reads it: work came in). */
  submitted = 0;

  /** Unfinished tasks. */
  pending(): IterableIterator<Task> {
    return this.#pending.values();
  }

  /** Is this msg_id taken (by a task unfinished or on record)? */
  known(msgId: string): boolean {
    return this.#pending.has(msgId) || this.#o.store.outcome(msgId) !== undefined;
  }

  // ------------------------------------------------------------------ submission

  /** A new task from a verified apply_request (or one part of a broadcast) whose metadata passed its schema. */
  submit(m: Pick<Incoming, 'header' | 'raw'>, client: Buffer, meta: TaskMetadata): void {
    this.submitted++;
    const task = Task.fromRequest(m.header, meta, client, m.raw);
    this.#pending.set(task.msgId, task);
    const r = m.raw;
    this.#o.store.add(task.record, { frames: [r.signature, r.header, r.parent, r.metadata, r.content, ...r.buffers], client });
    this.observer?.submitted(task.record);
    if (meta.timeout_ms !== undefined) {
      const ms = meta.timeout_ms;
      task.timer = setLongTimeout(() => this.stop(task, 'TaskTimeout', `the task did not finish within its timeout of ${ms} ms`), ms);
    }
    if (meta.route === 'direct') {
      this.#submitDirect(task);
      return;
    }
    for (const dep of [task.record.after, task.record.follow]) {
      const unknown = dep?.ids.find((id) => id === task.msgId || this.#o.store.outcome(id) === undefined);
      if (unknown !== undefined) {
        const why =
          unknown === task.msgId
            ? 'a task cannot depend on itself'
            : `dependency ${unknown} is not a task this controller knows (never submitted, or its record was culled)`;
        this.fail(task, 'InvalidDependency', why, null);
        return;
      }
    }
    this.#release(task);
  }

  #submitDirect(task: Task): void {
    const id = task.targets?.[0];
    const engine = id === undefined ? undefined : this.#o.registry.get(id);
    if (engine === undefined) {
      this.fail(task, 'EngineError', `engine ${id ?? '(none given)'} is not registered (registered: ${this.#o.registry.idList()})`, null);
      return;
    }
    if (engine.retiring !== undefined) {
      this.fail(task, 'EngineError', `engine ${engine.id} takes no new tasks: it retires (${engine.retiring})`, null);
      return;
    }
    this.#start(task, engine);
  }

  /** Queue a load-balanced task whose dependencies are met, wait for them, or fail it if they never can be. */
  #release(task: Task): void {
    const r = task.record;
    let engines: number[] | undefined;
    let waiting = false;
    for (const [dep, location] of [
      [r.after, false],
      [r.follow, true],
    ] as const) {
      if (!dep) continue;
      const st = evaluate(dep, (id) => this.#o.store.outcome(id), location);
      if (st.kind === 'impossible') {
        this.fail(task, 'ImpossibleDependency', st.why, null);
        return;
      }
      if (st.kind === 'wait') waiting = true;
      else if (st.engines) engines = st.engines;
    }
    if (waiting) {
      const ids = [...(r.after?.ids ?? []), ...(r.follow?.ids ?? [])].filter((id) => this.#o.store.outcome(id) === 'pending');
      this.#dependents.add(task, ids);
      if (r.status !== 'waiting') this.#to(task, 'waiting');
      return;
    }
    if (engines) {
      const allowed = r.targets ? engines.filter((e) => r.targets!.includes(e)) : engines;
      if (allowed.length === 0) {
        this.fail(
          task,
          'ImpossibleDependency',
          `the engines to follow (${engines.join(', ')}) are not among the targets [${r.targets!.join(', ')}]`,
          null,
        );
        return;
      }
      r.targets = allowed;
    }
    if (!this.#checkPlaceable(task)) return;
    this.#to(task, 'queued');
    this.#o.scheduler.submit(task);
    this.schedule();
  }

  /** Fail a task no registered engine may take; true when it can be placed. */
  #checkPlaceable(task: Task): boolean {
    if (this.#o.scheduler.placeable(task)) return true;
    // with no targets and no blacklist, an engine that joins later takes it
    if (task.targets === undefined && task.blacklist === undefined) return true;
    const reg = this.#o.registry;
    if (task.record.follow) {
      this.fail(task, 'ImpossibleDependency', `no registered engine can run it: the engines to follow (${task.targets?.join(', ')}) are gone`, null);
    } else if (task.targets !== undefined && !task.targets.some((t) => reg.get(t) !== undefined && !task.blacklist?.has(t))) {
      this.fail(
        task,
        'NoEnginesRegistered',
        `none of the target engines [${task.targets.join(', ')}] is registered and untried (registered: ${reg.idList()})`,
        null,
      );
    } else {
      const last = task.record.attempts.at(-1);
      this.fail(
        task,
        (last?.ename as SystemErrorName | undefined) ?? 'EngineError',
        `the task failed on every registered engine it could run on (${task.record.attempts.length} attempts)`,
        null,
      );
    }
    return false;
  }

  /** Start what the scheduler can place now; with prefetch and nothing queued, ask ready tasks back for idle engines. */
  schedule(): void {
    for (const { task, engine } of this.#o.scheduler.schedule()) this.#start(task, engine);
    if (this.#o.steal && this.#o.scheduler.queued === 0) this.#steal();
  }

  #steal(): void {
    for (const { victim, task } of stealsFor(this.#o.scheduler.order)) {
      victim.stealing = true;
      this.#o.registry.send(victim, 'steal_request', { msg_ids: [task.msgId] });
    }
  }

  /** An engine's steal_reply: the tasks it handed back go to the queue again (an idle engine takes them). */
  stolen(e: EngineState, returned: readonly string[]): void {
    e.stealing = false;
    this.handedBack(e, returned, 'stolen');
  }

  #start(task: Task, engine: EngineState): void {
    if (task.request === undefined) return;
    task.record.engineId = engine.id;
    this.#to(task, 'running');
    engine.load++;
    engine.lastBusy = Date.now();
    engine.inFlight.add(task);
    // an engine that has not come back since the controller restarted gets it when it does (resumed)
    if (engine.absent === undefined) this.#forward(task, engine);
  }

  /**
   * Send the task's request to its engine. A retry may go to an engine process
   * that received this request before (declared dead, then registered again):
   * unchanged, its replay history would drop it. Marked with the attempt and
   * signed anew, it is fresh.
   */
  #forward(task: Task, engine: EngineState): void {
    let raw = task.request;
    if (raw === undefined) return;
    const tries = task.record.attempts.length;
    if (tries > 0) {
      const metadata = Buffer.from(JSON.stringify({ ...metadataOf(raw), attempt: tries }));
      raw = { ...raw, metadata, signature: this.#o.engines.session.signer.sign(raw.header, raw.parent, metadata, raw.content) };
    }
    this.#o.engines.forward(engine.identity, raw);
  }

  // ------------------------------------------------------------------ after a controller restart

  /**
   * A task the previous controller left unfinished (controller/recovery.ts):
   * it takes up where its record says. Running on an engine: it stays there
   * (the engine says what it holds when it comes back); queued or waiting: it
   * is queued again; submitted direct: it goes to its engine.
   */
  adopt(task: Task): void {
    this.#pending.set(task.msgId, task);
    const r = task.record;
    if (r.status === 'running') {
      const e = r.engineId === null ? undefined : this.#o.registry.get(r.engineId);
      if (e === undefined) {
        this.fail(task, 'EngineError', `engine ${r.engineId} ran this task and did not come back after the controller restarted`, null);
        return;
      }
      e.load++;
      e.inFlight.add(task);
      return;
    }
    if (r.route === 'direct') this.#submitDirect(task);
    else if (r.status === 'queued' || r.status === 'retrying') {
      if (r.status === 'retrying') this.#to(task, 'queued');
      this.#o.scheduler.submit(task);
    } else this.#release(task);
  }

  /**
   * An engine came back after the controller restarted, holding `holds`
   * (running or waiting to run there) and having finished `finished`
   * recently. Tasks on record as on it that it holds stay; those it finished
   * are asked for (the returned ids: it sends their replies again); those it
   * never received are sent now. None runs twice.
   */
  resumed(e: EngineState, holds: ReadonlySet<string>, finished: ReadonlySet<string>): string[] {
    const want: string[] = [];
    const lost: Task[] = [];
    for (const task of e.inFlight) {
      if (holds.has(task.msgId)) continue;
      if (finished.has(task.msgId)) want.push(task.msgId);
      else if (task.payloadMissing) lost.push(task);
      else this.#forward(task, e);
    }
    for (const task of lost) {
      e.inFlight.delete(task);
      e.load--;
      this.fail(task, 'EngineError', `engine ${e.id} never received this task; ${PAYLOAD_LOST}`, e);
    }
    return want;
  }

  // ------------------------------------------------------------------ replies and output

  /** An engine's apply_reply: finish the task (or retry it) and forward the reply to its client. */
  onReply(engine: EngineState, m: Incoming): void {
    let parentId: string;
    let meta: Record<string, unknown>;
    try {
      parentId = parentIdOf(m);
      const json = parseFrame(m.raw.metadata, 'metadata');
      if (json === null || typeof json !== 'object') throw new ProtocolError('apply_reply metadata is not an object', 'schema');
      meta = json as Record<string, unknown>;
    } catch (e) {
      this.#o.engines.drop(e, m.frames);
      return;
    }
    const task = this.#pending.get(parentId);
    if (task === undefined || task.record.status !== 'running' || task.record.engineId !== engine.id) {
      this.dropReply(m, `from engine ${engine.id}, which does not run it`, parentId);
      return;
    }
    engine.inFlight.delete(task);
    engine.load--;
    engine.lastBusy = Date.now();
    engine.completed++;
    const ok = meta.status === 'ok';
    if (!ok && task.record.retries > 0 && task.abort === undefined && this.#retry(task, engine, enameOf(m))) return;
    const raw = m.raw;
    if (task.record.attempts.length > 0) {
      // tell the client about the earlier runs: the metadata changes, so the controller signs anew
      raw.metadata = Buffer.from(JSON.stringify({ ...meta, attempts: task.record.attempts }));
      raw.signature = this.#o.clients.session.signer.sign(raw.header, raw.parent, raw.metadata, raw.content);
    }
    if (!ok) task.record.ename = enameOf(m);
    this.#finish(task, ok ? 'done' : 'failed', [DELIMITER, raw.signature, raw.header, raw.parent, raw.metadata, raw.content, ...raw.buffers]);
    this.#o.clients.forward(task.clientIdentity, raw);
    if (task.record.route === 'lb' || this.#o.scheduler.queued > 0) this.schedule();
  }

  /**
   * Drop a reply that does not end a running task, counted as `late` when it
   * is for a task this hub knows (failed over, retried elsewhere, or its engine
   * was declared dead: never delivered twice), else as a schema error.
   */
  dropReply(m: Incoming, why: string, parentId?: string): void {
    let id = parentId;
    try {
      id ??= parentIdOf(m);
    } catch (e) {
      this.#o.engines.drop(e, m.frames);
      return;
    }
    const reason = this.known(id) ? 'late' : 'schema';
    this.#o.engines.drop(new ProtocolError(`apply_reply for task ${id} ${why}`, reason), m.frames);
  }

  /** Output of a running task: keep a bounded copy in its record, pass every byte to its client. */
  onStream(m: Incoming): void {
    let parentId: string;
    try {
      parentId = parentIdOf(m);
    } catch (e) {
      this.#o.engines.drop(e, m.frames);
      return;
    }
    const task = this.#pending.get(parentId);
    if (task === undefined) return;
    try {
      const c = parseFrame(m.raw.content, 'content') as { name?: unknown; text?: unknown };
      if (typeof c.text === 'string') {
        const r = task.record;
        if (c.name === 'stderr') r.stderr = (r.stderr + c.text).slice(-OUTPUT_CAP);
        else r.stdout = (r.stdout + c.text).slice(-OUTPUT_CAP);
      }
    } catch {
      // the text is for the client; a bad record copy is no reason to drop it
    }
    this.#o.clients.forward(task.clientIdentity, m.raw);
  }

  /** Resubmit a failed load-balanced task elsewhere; false when no engine is left to try. */
  #retry(task: Task, engine: EngineState, ename: string): boolean {
    if (task.payloadMissing) return false;
    const blacklist = new Set(task.blacklist ?? []).add(engine.id);
    const candidate = { priority: task.priority, targets: task.targets, blacklist };
    // nowhere left to run it: the caller reports this failure as the final one
    if (!this.#o.scheduler.placeable(candidate) && (task.targets !== undefined || this.#o.registry.size > 0)) return false;
    const r = task.record;
    r.retries--;
    r.attempts.push({ engine_id: engine.id, ename });
    task.blacklist = blacklist;
    this.#to(task, 'retrying');
    this.#o.log.info(`task ${task.msgId} failed on engine ${engine.id} (${ename}); retrying (${r.retries} retries left)`);
    this.#to(task, 'queued');
    this.#o.scheduler.submit(task);
    this.schedule();
    return true;
  }

  // ------------------------------------------------------------------ stopping and failing

  /**
   * Stop a task that has not finished: a waiting or queued one fails now; a
   * running one is interrupted on its engine, which replies with the error.
   * False when there was nothing to stop.
   */
  stop(task: Task, ename: 'TaskTimeout' | 'TaskAborted', evalue: string): boolean {
    switch (task.record.status) {
      case 'waiting':
      case 'queued':
        this.#o.scheduler.remove(task);
        this.fail(task, ename, evalue, null);
        return true;
      case 'running': {
        if (task.abort) return false;
        task.abort = { ename, evalue };
        const e = task.record.engineId === null ? undefined : this.#o.registry.get(task.record.engineId);
        if (e) this.#o.registry.send(e, 'abort_request', { msg_ids: [task.msgId], ename, evalue });
        return true;
      }
      default:
        return false;
    }
  }

  /** End a task with an error the hub reports (its reply is built and signed here). */
  fail(task: Task, ename: SystemErrorName, evalue: string, engine: EngineState | null): void {
    const r = task.record;
    const { content, metadata } = failureReply(r, ename, evalue, engine);
    engine?.inFlight.delete(task);
    r.ename = ename;
    const { frames } = this.#o.clients.session.build([task.clientIdentity], 'apply_reply', content, { parent: task.header, metadata });
    this.#finish(task, 'failed', frames.slice(1));
    this.#o.clients.sendFrames(frames);
  }

  /**
   * An engine takes no new tasks (its lifetime ended, or the adapter retires
   * it): the scheduler forgets it, direct tasks for it fail at once; what it
   * runs finishes there.
   */
  retire(e: EngineState, reason: string): void {
    if (e.retiring !== undefined) return;
    e.retiring = reason;
    this.#o.scheduler.removeEngine(e);
    this.#o.log.info(`engine ${e.id} (pid ${e.pid}) retires: ${reason}; it takes no new tasks`);
  }

  /**
   * Tasks a retiring engine handed back without starting them: load-balanced
   * ones are queued again (no retry is used up: they never ran), direct ones
   * fail with EngineError, aborted ones end as asked. Ids it does not hold
   * (finished, failed over meanwhile) are ignored, so none runs twice.
   */
  handedBack(e: EngineState, msgIds: readonly string[], why: 'retiring' | 'stolen' = 'retiring'): void {
    let requeued = 0;
    for (const id of msgIds) {
      const task = this.#pending.get(id);
      if (task === undefined || task.record.status !== 'running' || task.record.engineId !== e.id || !e.inFlight.has(task)) continue;
      e.inFlight.delete(task);
      e.load--;
      e.lastBusy = Date.now();
      if (task.abort !== undefined) this.fail(task, task.abort.ename, task.abort.evalue, e);
      else if (task.record.route === 'direct')
        this.fail(task, 'EngineError', `engine ${e.id} retired before it started this task (${e.retiring ?? 'retiring'})`, e);
      else if (task.payloadMissing) this.fail(task, 'EngineError', `engine ${e.id} handed this task back unstarted; ${PAYLOAD_LOST}`, e);
      else {
        this.#to(task, 'retrying');
        if (!this.#checkPlaceable(task)) continue;
        this.#to(task, 'queued');
        this.#o.scheduler.submit(task);
        requeued++;
      }
    }
    if (requeued > 0 && why === 'retiring') this.#o.log.info(`engine ${e.id} handed back ${requeued} task(s) it had not started; queued again`);
    this.schedule();
  }

  /** An engine is gone: its in-flight tasks retry or fail with EngineError; tasks only it could take fail. */
  engineGone(e: EngineState, reason: string): void {
    this.#o.scheduler.removeEngine(e);
    const inFlight = [...e.inFlight];
    e.inFlight.clear();
    for (const task of inFlight) {
      if (task.record.retries > 0 && task.abort === undefined && this.#retry(task, e, 'EngineError')) continue;
      this.fail(task, 'EngineError', `engine ${e.id} (pid ${e.pid} on ${e.hostname}) ${reason} while this task was on it`, e);
    }
    // queued tasks that only this engine could take now never can
    for (const task of [...this.#o.scheduler.pending()]) {
      if (task.targets !== undefined && !this.#o.scheduler.placeable(task)) {
        this.#o.scheduler.remove(task);
        this.#checkPlaceable(task);
      }
    }
    this.schedule();
  }

  /** Record the end of a task, then release what waits on it. */
  #finish(task: Task, status: 'done' | 'failed', reply: readonly Buffer[]): void {
    this.#to(task, status);
    task.timer?.clear();
    task.timer = undefined;
    task.request = undefined;
    this.#pending.delete(task.msgId);
    this.#o.store.finish(task.record, reply);
    this.#o.onFinished(task);
    for (const t of this.#dependents.take(task.msgId)) if (t.record.status === 'waiting') this.#release(t);
  }

  #to(task: Task, status: TaskStatus): void {
    const from = task.record.status;
    transition(task.record, status);
    this.#o.store.update(task.record);
    this.observer?.moved(task.record, from);
  }
}
