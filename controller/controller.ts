/**
 * The controller hub: engine registration and heartbeats, the direct queue,
 * the load-balanced scheduler, output relay, notifications, task records and
 * queries. One Node process, two ROUTER sockets:
 * - client: clients' DEALERs (requests, replies, streams, notifications)
 * - engine: engines' DEALERs (registration, heartbeats, tasks, replies, streams)
 * It parses headers and metadata only; argument and result frames pass through.
 */
import { Router } from 'zeromq';
import {
  AUTH_ERROR, DELIMITER, SendQueue, Session, TaskMetadataSchema, parseFrame, parseVerified, receiveLoop, splitFrames,
} from '../protocol/index.js';
import type { ApplyReplyMetadata, ContentOf, EngineInfo, ErrorContent, Header, MsgType, RawMessage } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import type { SchemeName } from '../profiles/config.js';
import { evaluate } from './dependencies.js';
import { ProtocolError } from '../errors/index.js';
import { RecordStore } from './records.js';
import type { TaskRecord } from './records.js';
import { Scheduler } from './scheduler.js';
import { schemes } from './schemes/index.js';

export interface ControllerOptions {
  key: string;
  ip: string;
  /** 0 = a random free port */
  clientPort: number;
  enginePort: number;
  scheme: SchemeName;
  /** most outstanding load-balanced tasks per engine; 0 = unlimited */
  hwm: number;
  heartbeatMs: number;
  /** an engine silent this long is declared dead */
  deadAfterMs: number;
  profile: string;
  clusterId: string;
  log: Logger;
  /** called once the controller has stopped after a shutdown request */
  onShutdown?: () => void;
  /** CurveZMQ: the server's secret key (Z85); clients and engines must know its public key */
  curveSecretKey?: string;
}

interface EngineState extends EngineInfo {
  identity: Buffer;
  lastSeen: number;
  load: number;
  completed: number;
  inFlight: Set<TaskRecord>;
}

const EMPTY = Buffer.from('{}');

export class Controller {
  readonly #o: ControllerOptions;
  readonly #session: Session;
  // mandatory: a send to a gone peer fails instead of vanishing. Pipes are unbounded (hwm 0), so a
  // send can only fail to go through for a peer whose pipe is being torn down: sendTimeout 0 makes
  // that an immediate EAGAIN instead of a wait that would stall every later send.
  readonly #clientSock: Router;
  readonly #engineSock: Router;
  readonly #toClients: SendQueue;
  readonly #toEngines: SendQueue;
  readonly #engines = new Map<number, EngineState>();
  readonly #byIdentity = new Map<string, EngineState>();
  readonly #clients = new Map<string, Buffer>();
  readonly #records = new RecordStore();
  /** msg_id -> tasks waiting for it to finish */
  readonly #dependents = new Map<string, Set<TaskRecord>>();
  readonly #scheduler: Scheduler<EngineState>;
  readonly #dropped: Record<string, number> = {};
  #nextId = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  #authErrors = { second: 0, count: 0 };
  clientPort = 0;
  enginePort = 0;

  private constructor(o: ControllerOptions) {
    this.#o = o;
    const curve = o.curveSecretKey ? { curveServer: true, curveSecretKey: o.curveSecretKey } : {};
    this.#clientSock = new Router({ mandatory: true, sendHighWaterMark: 0, receiveHighWaterMark: 0, linger: 0, sendTimeout: 0, ...curve });
    this.#engineSock = new Router({ mandatory: true, sendHighWaterMark: 0, receiveHighWaterMark: 0, linger: 0, sendTimeout: 0, ...curve });
    this.#session = new Session(o.key);
    this.#toClients = new SendQueue(this.#clientSock, (err, msgs) => this.#clientSendFailed(err, msgs), true);
    this.#toEngines = new SendQueue(this.#engineSock, (err, msgs) => this.#engineSendFailed(err, msgs), true);
    this.#scheduler = new Scheduler<EngineState>(schemes[o.scheme], o.hwm, (task, engine) => this.#sendToEngine(task, engine));
  }

  /** Bind both sockets and start serving. */
  static async start(o: ControllerOptions): Promise<Controller> {
    const c = new Controller(o);
    await c.#clientSock.bind(`tcp://${o.ip}:${o.clientPort || '*'}`);
    await c.#engineSock.bind(`tcp://${o.ip}:${o.enginePort || '*'}`);
    c.clientPort = portOf(c.#clientSock.lastEndpoint);
    c.enginePort = portOf(c.#engineSock.lastEndpoint);
    const onErr = (err: unknown): void => o.log.error(`receive: ${String(err)}`);
    void receiveLoop(c.#clientSock, (f) => c.#onClient(f), onErr, { router: true, onBad: (e, f) => c.#drop('client', e, f) });
    void receiveLoop(c.#engineSock, (f) => c.#onEngine(f), onErr, { router: true, onBad: (e, f) => c.#drop('engine', e, f) });
    void c.#watchDisconnects();
    c.#timer = setInterval(() => c.#heartbeat(), o.heartbeatMs);
    o.log.info(`listening: clients tcp://${o.ip}:${c.clientPort}, engines tcp://${o.ip}:${c.enginePort}; scheme ${o.scheme}, hwm ${o.hwm}`);
    return c;
  }

  get engineCount(): number {
    return this.#engines.size;
  }

  /** Stop serving: engines are told to shut down when `engines` is set. */
  async stop({ engines = false }: { engines?: boolean } = {}): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#timer);
    if (engines) {
      for (const e of this.#engines.values()) this.#sendEngine(e, 'shutdown_request', { hub: false });
      // an engine that has exited fails a probe with EHOSTUNREACH and is unregistered
      const deadline = Date.now() + 3000;
      while (this.#engines.size > 0 && Date.now() < deadline) {
        await sleep(20);
        for (const e of this.#engines.values()) this.#sendEngine(e, 'heartbeat', {});
      }
    }
    await this.#toClients.flush(500);
    await this.#toEngines.flush(500);
    this.#toClients.close();
    this.#toEngines.close();
    this.#clientSock.close();
    this.#engineSock.close();
    this.#o.log.info('stopped');
  }

  // ------------------------------------------------------------------ clients

  #onClient(frames: Buffer[]): void {
    let header: Header;
    let raw;
    try {
      ({ raw, header } = this.#session.verify(frames));
    } catch (e) {
      this.#drop('client', e, frames);
      return;
    }
    const identity = raw.identities[0];
    if (identity === undefined) return this.#drop('client', new ProtocolError('no routing identity', 'framing'), frames);
    switch (header.msg_type) {
      case 'apply_request':
        return this.#onApply(frames, raw, header, identity);
      case 'connect_request':
        this.#clients.set(identity.toString('latin1'), identity);
        return this.#reply(identity, header, 'connect_reply', {
          engines: [...this.#engines.values()].map(engineInfo),
          scheme: this.#o.scheme,
          hwm: this.#o.hwm,
          profile: this.#o.profile,
          cluster_id: this.#o.clusterId,
          controller_pid: process.pid,
        });
      case 'queue_request':
        return this.#reply(identity, header, 'queue_reply', this.queueStatus());
      case 'result_request':
      case 'purge_request': {
        const content = this.#content('client', raw, header, frames);
        if (content === undefined) return;
        if (header.msg_type === 'purge_request') {
          const c = content as ContentOf<'purge_request'>;
          return this.#reply(identity, header, 'purge_reply', { purged: this.#records.purge(c.all ? 'all' : (c.msg_ids ?? [])) });
        }
        for (const id of (content as ContentOf<'result_request'>).msg_ids) this.#sendResult(identity, header, id);
        return;
      }
      case 'abort_request': {
        const content = this.#content('client', raw, header, frames);
        if (content === undefined) return;
        return this.#onAbort(identity, header, content as ContentOf<'abort_request'>);
      }
      case 'stats_request':
        return this.#reply(identity, header, 'stats_reply', this.stats());
      case 'shutdown_request': {
        const content = this.#content('client', raw, header, frames);
        if (content === undefined) return;
        return this.#onShutdown(identity, header, content as ContentOf<'shutdown_request'>);
      }
      default:
        return this.#drop('client', new ProtocolError(`unexpected msg_type '${header.msg_type}' from a client`, 'schema'), frames);
    }
  }

  #onApply(frames: Buffer[], raw: ReturnType<typeof splitFrames>, header: Header, client: Buffer): void {
    // parent and content are checked here, not only at the engine: a request the engine would refuse
    // must not become a task that never ends (payload buffers still pass through unread)
    let meta;
    try {
      const m = TaskMetadataSchema.safeParse(parseVerified(raw, header).metadata);
      if (!m.success) throw new ProtocolError(`invalid apply_request metadata: ${m.error.issues[0]?.path.join('.')} ${m.error.issues[0]?.message}`, 'schema');
      meta = m.data;
    } catch (e) {
      return this.#drop('client', e, frames);
    }
    if (this.#records.has(header.msg_id)) {
      return this.#drop('client', new ProtocolError(`duplicate msg_id ${header.msg_id}`, 'replay'), frames);
    }
    const task: TaskRecord = {
      msgId: header.msg_id,
      header,
      client,
      request: raw,
      route: meta.route,
      targets: meta.targets,
      label: meta.label,
      engineId: null,
      submitted: Date.now(),
      sent: null,
      completed: null,
      status: 'waiting',
      reply: undefined,
      bytes: 0,
      stdout: '',
      stderr: '',
      dequeued: true,
      priority: meta.priority ?? 0,
      retries: meta.route === 'lb' ? (meta.retries ?? 0) : 0,
      attempts: [],
      blacklist: undefined,
      after: meta.after,
      follow: meta.follow,
      timer: undefined,
      abort: undefined,
      watchers: undefined,
    };
    this.#records.add(task);
    if (meta.timeout_ms !== undefined) {
      task.timer = setTimeout(() => this.#stop(task, 'TaskTimeout', `the task did not finish within its timeout of ${meta.timeout_ms} ms`), meta.timeout_ms);
    }
    if (meta.route === 'direct') {
      const id = meta.targets?.[0];
      const engine = id === undefined ? undefined : this.#engines.get(id);
      if (engine === undefined) {
        return this.#failTask(task, 'EngineError', `engine ${id ?? '(none given)'} is not registered (registered: ${this.#idList()})`, null);
      }
      engine.load++;
      return this.#sendToEngine(task, engine);
    }
    for (const dep of [task.after, task.follow]) {
      const unknown = dep?.ids.find((id) => id === task.msgId || this.#records.outcome(id) === undefined);
      if (unknown !== undefined) {
        return this.#failTask(task, 'InvalidDependency', unknown === task.msgId ? 'a task cannot depend on itself' : `dependency ${unknown} is not a task this controller knows (never submitted, or its record was culled)`, null);
      }
    }
    this.#release(task);
  }

  /** Queue a load-balanced task whose dependencies are met, wait for them, or fail it if they never can be. */
  #release(task: TaskRecord): void {
    if (task.status !== 'waiting') return;
    const outcome = (id: string): ReturnType<RecordStore['outcome']> => this.#records.outcome(id);
    let engines: number[] | undefined;
    let waiting = false;
    for (const [dep, location] of [[task.after, false], [task.follow, true]] as const) {
      if (!dep) continue;
      const st = evaluate(dep, outcome, location);
      if (st.kind === 'impossible') return this.#failTask(task, 'ImpossibleDependency', st.why, null);
      if (st.kind === 'wait') waiting = true;
      else if (st.engines) engines = st.engines;
    }
    if (waiting) {
      for (const dep of [task.after, task.follow]) {
        for (const id of dep?.ids ?? []) {
          if (this.#records.outcome(id) !== 'pending') continue;
          let set = this.#dependents.get(id);
          if (!set) this.#dependents.set(id, (set = new Set()));
          set.add(task);
        }
      }
      return;
    }
    if (engines) {
      const allowed = task.targets ? engines.filter((e) => task.targets!.includes(e)) : engines;
      if (allowed.length === 0) return this.#failTask(task, 'ImpossibleDependency', `the engines to follow (${engines.join(', ')}) are not among the targets [${task.targets!.join(', ')}]`, null);
      task.targets = allowed;
    }
    if (!this.#checkPlaceable(task)) return;
    this.#scheduler.submit(task);
  }

  /** Fail a task no registered engine may take; true when it can be placed. */
  #checkPlaceable(task: TaskRecord): boolean {
    if (this.#scheduler.placeable(task)) return true;
    // with no targets and no blacklist, an engine that joins later takes it
    if (task.targets === undefined && task.blacklist === undefined) return true;
    if (task.follow) {
      this.#failTask(task, 'ImpossibleDependency', `no registered engine can run it: the engines to follow (${task.targets?.join(', ')}) are gone`, null);
    } else if (task.targets !== undefined && !task.targets.some((t) => this.#engines.has(t) && !task.blacklist?.has(t))) {
      this.#failTask(task, 'NoEnginesRegistered', `none of the target engines [${task.targets.join(', ')}] is registered and untried (registered: ${this.#idList()})`, null);
    } else {
      const last = task.attempts.at(-1);
      this.#failTask(task, last?.ename ?? 'EngineError', `the task failed on every registered engine it could run on (${task.attempts.length} attempts)`, null);
    }
    return false;
  }

  /**
   * Stop a task that has not finished: a waiting or queued one fails now; a
   * running one is interrupted on its engine, which replies with the error.
   */
  #stop(task: TaskRecord, ename: 'TaskTimeout' | 'TaskAborted', evalue: string): boolean {
    switch (task.status) {
      case 'waiting':
      case 'queued':
        this.#scheduler.remove(task);
        this.#failTask(task, ename, evalue, null);
        return true;
      case 'running': {
        if (task.abort) return false;
        task.abort = { ename, evalue };
        const e = task.engineId === null ? undefined : this.#engines.get(task.engineId);
        if (e) this.#sendEngine(e, 'abort_request', { msg_ids: [task.msgId], ename, evalue });
        return true;
      }
      default:
        return false;
    }
  }

  #onAbort(identity: Buffer, header: Header, req: ContentOf<'abort_request'>): void {
    let ids = req.msg_ids;
    if (ids === undefined) {
      ids = [];
      for (const t of this.#records.pendingRecords()) if (t.client.equals(identity)) ids.push(t.msgId);
    }
    let aborted = 0;
    for (const id of ids) {
      const t = this.#records.get(id);
      if (t && this.#stop(t, 'TaskAborted', 'the task was aborted by a client')) aborted++;
    }
    this.#reply(identity, header, 'abort_reply', { aborted });
  }

  #sendToEngine(task: TaskRecord, engine: EngineState): void {
    const raw = task.request;
    if (raw === undefined) return;
    task.status = 'running';
    task.engineId = engine.id;
    task.sent = Date.now();
    engine.inFlight.add(task);
    this.#toEngines.send([engine.identity, DELIMITER, raw.signature, raw.header, raw.parent, raw.metadata, raw.content, ...raw.buffers]);
  }

  #onShutdown(identity: Buffer, header: Header, req: ContentOf<'shutdown_request'>): void {
    this.#reply(identity, header, 'shutdown_reply', { status: 'ok' });
    if (req.hub) {
      // stop() tells every engine
      this.#o.log.info('shutdown requested by a client');
      void this.stop({ engines: true }).then(() => this.#o.onShutdown?.());
      return;
    }
    for (const id of req.targets ?? [...this.#engines.keys()]) {
      const e = this.#engines.get(id);
      if (e) this.#sendEngine(e, 'shutdown_request', { hub: false });
    }
  }

  // ------------------------------------------------------------------ engines

  #onEngine(frames: Buffer[]): void {
    let header: Header;
    let raw;
    try {
      ({ raw, header } = this.#session.verify(frames));
    } catch (e) {
      this.#drop('engine', e, frames);
      return;
    }
    const identity = raw.identities[0];
    if (identity === undefined) return this.#drop('engine', new ProtocolError('no routing identity', 'framing'), frames);
    const engine = this.#byIdentity.get(identity.toString('latin1'));
    if (engine) engine.lastSeen = Date.now();
    switch (header.msg_type) {
      case 'apply_reply':
        if (!engine) return this.#drop('engine', new ProtocolError('apply_reply from an unregistered engine', 'schema'), frames);
        return this.#onReply(frames, raw, engine);
      case 'stream':
        if (!engine) return;
        return this.#onStream(frames, raw);
      case 'heartbeat':
        return;
      case 'registration_request': {
        const content = this.#content('engine', raw, header, frames);
        if (content === undefined) return;
        return this.#register(identity, header, content as ContentOf<'registration_request'>);
      }
      default:
        return this.#drop('engine', new ProtocolError(`unexpected msg_type '${header.msg_type}' from an engine`, 'schema'), frames);
    }
  }

  #register(identity: Buffer, header: Header, req: ContentOf<'registration_request'>): void {
    const key = identity.toString('latin1');
    if (req.uuid !== identity.toString('utf8')) {
      this.#sendRaw(this.#toEngines, identity, header, 'registration_reply', { status: 'error', evalue: 'the engine uuid must be its routing identity' });
      return;
    }
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
      identity,
      lastSeen: Date.now(),
      load: 0,
      completed: 0,
      inFlight: new Set(),
    };
    this.#engines.set(e.id, e);
    this.#byIdentity.set(key, e);
    this.#sendRaw(this.#toEngines, identity, header, 'registration_reply', {
      status: 'ok',
      id: e.id,
      heartbeat_ms: this.#o.heartbeatMs,
      dead_after_ms: this.#o.deadAfterMs,
    });
    this.#o.log.info(`engine ${e.id} registered (pid ${e.pid} on ${e.hostname}, uuid ${e.uuid})`);
    this.#notify({ event: 'registered', engine: engineInfo(e) });
    this.#scheduler.addEngine(e);
  }

  #onReply(frames: Buffer[], raw: ReturnType<typeof splitFrames>, engine: EngineState): void {
    let parentId: string;
    let meta: Record<string, unknown>;
    try {
      const parent = parseFrame(raw.parent, 'parent_header') as { msg_id?: unknown };
      if (typeof parent?.msg_id !== 'string') throw new ProtocolError('apply_reply without a parent msg_id', 'schema');
      parentId = parent.msg_id;
      meta = parseFrame(raw.metadata, 'metadata') as Record<string, unknown>;
      if (meta === null || typeof meta !== 'object') throw new ProtocolError('apply_reply metadata is not an object', 'schema');
    } catch (e) {
      return this.#drop('engine', e, frames);
    }
    const ok = meta.status === 'ok';
    const task = this.#records.get(parentId);
    if (task === undefined || task.status !== 'running' || task.engineId !== engine.id) {
      return this.#drop('engine', new ProtocolError(`apply_reply for unknown or finished task ${parentId}`, 'schema'), frames);
    }
    engine.inFlight.delete(task);
    engine.load--;
    engine.completed++;
    if (!ok && task.retries > 0 && task.abort === undefined) {
      let ename = 'Error';
      try {
        ename = String((parseFrame(raw.content, 'content') as { ename?: unknown }).ename ?? 'Error');
      } catch {
        // an unreadable error is still an error to retry
      }
      if (this.#retry(task, engine, ename)) return;
    }
    if (task.attempts.length > 0) {
      // tell the client about the earlier runs: the metadata changes, so the controller signs anew
      raw.metadata = Buffer.from(JSON.stringify({ ...meta, attempts: task.attempts }));
      raw.signature = this.#session.signer.sign(raw.header, raw.parent, raw.metadata, raw.content);
      frames = [task.client, DELIMITER, raw.signature, raw.header, raw.parent, raw.metadata, raw.content, ...raw.buffers];
    } else {
      frames[0] = task.client;
    }
    this.#done(task, ok ? 'ok' : 'error', frames.slice(1));
    this.#toClients.send(frames);
    if (task.route === 'lb' || this.#scheduler.queued > 0) this.#scheduler.schedule();
  }

  /** Resubmit a failed load-balanced task elsewhere; false when no engine is left to try. */
  #retry(task: TaskRecord, engine: EngineState, ename: string): boolean {
    task.retries--;
    task.attempts.push({ engine_id: engine.id, ename });
    (task.blacklist ??= new Set()).add(engine.id);
    task.status = 'waiting';
    task.engineId = null;
    task.sent = null;
    this.#o.log.info(`task ${task.msgId} failed on engine ${engine.id} (${ename}); retrying (${task.retries} retries left)`);
    if (!this.#scheduler.placeable(task) && (task.targets !== undefined || this.#engines.size > 0)) {
      // nowhere left to run it: the caller reports this failure as the final one
      task.attempts.pop();
      task.retries++;
      task.status = 'running';
      task.engineId = engine.id;
      return false;
    }
    this.#scheduler.submit(task);
    return true;
  }

  /**
   * Send a task's record to a client (any client: results are shared). A
   * pending task's record is sent when it finishes.
   */
  #sendResult(identity: Buffer, parent: Header | undefined, msgId: string): void {
    const r = this.#records.get(msgId);
    if (r === undefined) {
      return this.#sendRaw(this.#toClients, identity, parent, 'result_reply', { msg_id: msgId, status: 'unknown' });
    }
    if (r.reply === undefined) {
      (r.watchers ??= []).push(identity);
      return;
    }
    let metadata: Record<string, unknown> = {};
    let content: Record<string, unknown> = {};
    try {
      metadata = parseFrame(r.reply[4]!, 'metadata') as Record<string, unknown>;
      content = parseFrame(r.reply[5]!, 'content') as Record<string, unknown>;
    } catch {
      // stored frames were verified on arrival; unreadable ones are reported as empty
    }
    const result: ContentOf<'result_reply'> = {
      msg_id: msgId,
      status: r.status === 'ok' ? 'ok' : 'error',
      reply_content: content,
      reply_metadata: metadata,
      submitted: new Date(r.submitted).toISOString(),
      stdout: r.stdout,
      stderr: r.stderr,
    };
    this.#toClients.send(this.#session.build([identity], 'result_reply', result, { ...(parent ? { parent } : {}), buffers: r.reply.slice(6) }).frames);
  }

  /** Record the end of a task, answer clients waiting for its record, release what waits on it. */
  #done(task: TaskRecord, status: 'ok' | 'error', reply: Buffer[]): void {
    this.#records.finish(task, status, reply);
    if (task.watchers) {
      for (const w of task.watchers) this.#sendResult(w, undefined, task.msgId);
      task.watchers = undefined;
    }
    const waiting = this.#dependents.get(task.msgId);
    if (!waiting) return;
    this.#dependents.delete(task.msgId);
    for (const t of waiting) this.#release(t);
  }

  #onStream(frames: Buffer[], raw: ReturnType<typeof splitFrames>): void {
    let parentId: string | undefined;
    try {
      const parent = parseFrame(raw.parent, 'parent_header') as { msg_id?: unknown };
      parentId = typeof parent?.msg_id === 'string' ? parent.msg_id : undefined;
    } catch (e) {
      return this.#drop('engine', e, frames);
    }
    const task = parentId === undefined ? undefined : this.#records.get(parentId);
    if (task === undefined) return;
    try {
      const c = parseFrame(raw.content, 'content') as { name?: unknown; text?: unknown };
      if (typeof c.text === 'string') {
        // keep the record's copy bounded; the client gets every byte
        const cap = 1024 * 1024;
        if (c.name === 'stderr') task.stderr = (task.stderr + c.text).slice(-cap);
        else task.stdout = (task.stdout + c.text).slice(-cap);
      }
    } catch {
      // the text is for the client; a bad record copy is no reason to drop it
    }
    frames[0] = task.client;
    this.#toClients.send(frames);
  }

  /** An engine is gone: fail its in-flight tasks with EngineError and tell the clients. */
  #unregister(e: EngineState, reason: string): void {
    if (!this.#engines.has(e.id)) return;
    this.#engines.delete(e.id);
    this.#byIdentity.delete(e.identity.toString('latin1'));
    this.#scheduler.removeEngine(e);
    this.#o.log.warn(`engine ${e.id} (pid ${e.pid}) unregistered: ${reason}`);
    const inFlight = [...e.inFlight];
    e.inFlight.clear();
    for (const task of inFlight) {
      if (task.retries > 0 && task.abort === undefined && this.#retry(task, e, 'EngineError')) continue;
      this.#failTask(task, 'EngineError', `engine ${e.id} (pid ${e.pid} on ${e.hostname}) ${reason} while this task was on it`, e);
    }
    // queued tasks that only this engine could take now never can
    for (const task of [...this.#scheduler.pending()]) {
      if (task.targets !== undefined && !this.#scheduler.placeable(task)) {
        this.#scheduler.remove(task);
        this.#checkPlaceable(task);
      }
    }
    this.#notify({ event: 'unregistered', engine: engineInfo(e), reason });
    this.#scheduler.schedule();
  }

  #failTask(task: TaskRecord, ename: string, evalue: string, engine: EngineState | null): void {
    const content: ErrorContent = {
      status: 'error',
      ename,
      evalue,
      traceback: [],
      engine_info: { engine_id: engine?.id ?? null, engine_uuid: engine?.uuid ?? null, method: 'apply' },
    };
    const metadata: ApplyReplyMetadata = {
      engine_id: engine?.id ?? null,
      engine_uuid: engine?.uuid ?? null,
      status: 'error',
      started: task.sent === null ? null : new Date(task.sent).toISOString(),
      completed: new Date().toISOString(),
    };
    if (task.attempts.length > 0) metadata.attempts = task.attempts;
    if (engine) {
      engine.inFlight.delete(task);
    }
    const { frames } = this.#session.build([task.client], 'apply_reply', content, { parent: task.header, metadata });
    this.#done(task, 'error', frames.slice(1));
    this.#toClients.send(frames);
  }

  // ------------------------------------------------------------------ heartbeats

  #heartbeat(): void {
    // clients hear the controller is alive even when no task is running
    for (const identity of this.#clients.values()) this.#toClients.send(this.#session.build([identity], 'heartbeat', {}).frames);
    const now = Date.now();
    for (const e of [...this.#engines.values()]) {
      if (now - e.lastSeen > this.#o.deadAfterMs) this.#unregister(e, `sent no heartbeat for ${Math.round((now - e.lastSeen) / 1000)} s`);
      else this.#sendEngine(e, 'heartbeat', {});
    }
  }

  /** A dropped connection: probe every engine now; a gone peer fails with EHOSTUNREACH. */
  async #watchDisconnects(): Promise<void> {
    try {
      for await (const ev of this.#engineSock.events) {
        if (ev.type === 'disconnect') {
          for (const delay of [0, 100, 500]) {
            setTimeout(() => {
              if (this.#stopping) return;
              for (const e of this.#engines.values()) this.#sendEngine(e, 'heartbeat', {});
            }, delay);
          }
        }
      }
    } catch {
      // socket closed
    }
  }

  #engineSendFailed(err: unknown, messages: Buffer[][]): void {
    const code = (err as { code?: string }).code;
    const identity = messages[0]?.[0];
    const e = identity ? this.#byIdentity.get(identity.toString('latin1')) : undefined;
    if (gone(code) && e) {
      this.#unregister(e, 'disconnected');
      // the tasks that were being sent are in e.inFlight and have been failed
      return;
    }
    if (!this.#stopping) this.#o.log.warn(`send to engine failed: ${String(err)}`);
  }

  #clientSendFailed(err: unknown, messages: Buffer[][]): void {
    const code = (err as { code?: string }).code;
    const identity = messages[0]?.[0];
    if (gone(code) && identity) {
      // the client has gone; its results stay in the records for other clients to query
      this.#clients.delete(identity.toString('latin1'));
      return;
    }
    if (!this.#stopping) this.#o.log.warn(`send to client failed: ${String(err)}`);
  }

  // ------------------------------------------------------------------ queries

  queueStatus(): ContentOf<'queue_reply'> {
    const engines: ContentOf<'queue_reply'>['engines'] = {};
    for (const e of this.#engines.values()) {
      const running = Math.min(e.load, 1);
      engines[String(e.id)] = { queued: e.load - running, running, completed: e.completed };
    }
    return { engines, unassigned: this.#scheduler.queued };
  }

  stats(): ContentOf<'stats_reply'> {
    return {
      dropped: { ...this.#dropped },
      tasks: { submitted: this.#records.submitted, completed: this.#records.completed, pending: this.#records.pending },
      engines: this.#engines.size,
      clients: this.#clients.size,
      memory: (({ rss, heapUsed, external }) => ({ rss, heapUsed, external }))(process.memoryUsage()),
      records: this.#records.size,
    };
  }

  // ------------------------------------------------------------------ helpers

  #idList(): string {
    return [...this.#engines.keys()].join(', ') || 'none';
  }

  #notify(event: ContentOf<'engine_event'>): void {
    for (const identity of this.#clients.values()) {
      this.#toClients.send(this.#session.build([identity], 'engine_event', event).frames);
    }
  }

  #reply<T extends MsgType>(identity: Buffer, parent: Header, type: T, content: ContentOf<T>): void {
    this.#sendRaw(this.#toClients, identity, parent, type, content);
  }

  #sendRaw<T extends MsgType>(q: SendQueue, identity: Buffer, parent: Header | undefined, type: T, content: ContentOf<T>): void {
    q.send(this.#session.build([identity], type, content, parent ? { parent } : {}).frames);
  }

  #sendEngine<T extends MsgType>(e: EngineState, type: T, content: ContentOf<T>): void {
    this.#toEngines.send(this.#session.build([e.identity], type, content).frames);
  }

  /** The validated content of a verified message, or undefined (dropped and counted) when it fails its schema. */
  #content(side: 'client' | 'engine', raw: RawMessage, header: Header, frames: Buffer[]): unknown {
    try {
      return parseVerified(raw, header).content;
    } catch (e) {
      this.#drop(side, e, frames);
      return undefined;
    }
  }

  #drop(side: 'client' | 'engine', err: unknown, frames: Buffer[]): void {
    const reason = err instanceof ProtocolError ? err.reason : 'error';
    const key = `${side}.${reason}`;
    const n = (this.#dropped[key] = (this.#dropped[key] ?? 0) + 1);
    if (n <= 10 || n % 1000 === 0) {
      this.#o.log.warn(`dropped a message from a ${side} (${key} #${n}): ${err instanceof Error ? err.message : String(err)}`);
    }
    if (side === 'client' && reason === 'signature') this.#maybeAuthError(frames);
  }

  /** Tell a client whose connect_request is wrongly signed, rate-limited, unsigned, carrying nothing. */
  #maybeAuthError(frames: Buffer[]): void {
    let raw;
    try {
      raw = splitFrames(frames);
    } catch {
      return;
    }
    const identity = raw.identities[0];
    if (!identity || raw.header.length > 4096) return;
    let h: { msg_type?: unknown; msg_id?: unknown };
    try {
      h = JSON.parse(raw.header.toString('utf8')) as typeof h;
    } catch {
      return;
    }
    if (h?.msg_type !== 'connect_request' || typeof h.msg_id !== 'string') return;
    const second = Math.floor(Date.now() / 1000);
    if (this.#authErrors.second !== second) this.#authErrors = { second, count: 0 };
    if (++this.#authErrors.count > 20) return;
    const header = Buffer.from(JSON.stringify({ ...this.#session.newHeader('heartbeat'), msg_type: AUTH_ERROR }));
    const parent = Buffer.from(JSON.stringify({ msg_id: h.msg_id }));
    const content = Buffer.from(JSON.stringify({ evalue: 'the message signature does not match the key of this controller' }));
    this.#toClients.send([identity, DELIMITER, Buffer.alloc(0), header, parent, EMPTY, content]);
  }
}

/** A send failed because its peer is gone or going (see the socket options). */
function gone(code: string | undefined): boolean {
  return code === 'EHOSTUNREACH' || code === 'EAGAIN';
}

function engineInfo(e: EngineState): EngineInfo {
  return { id: e.id, uuid: e.uuid, pid: e.pid, hostname: e.hostname, registered: e.registered };
}

function portOf(endpoint: string | null): number {
  const m = /:(\d+)$/.exec(endpoint ?? '');
  if (!m) throw new Error(`cannot read the bound port from ${endpoint}`);
  return Number(m[1]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
