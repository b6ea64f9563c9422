/**
 * Client: a connection from the user's process to a cluster's controller.
 * No background process: one DEALER socket and this object.
 */
import { Dealer } from 'zeromq';
import {
  AUTH_ERROR, ApplyReplyContentSchema, SendQueue, Session, deserialize, receiveLoop, splitFrames,
} from '../protocol/index.js';
import type { ContentOf, EngineInfo, Message, MsgType } from '../protocol/index.js';
import { curveClient, endpointOf, readConnectionFile } from '../profiles/index.js';
import { pidAlive } from '../util/proc.js';
import type { ConnectionInfo } from '../profiles/index.js';
import { AsyncResult } from './asyncresult.js';
import { ProtocolError } from '../errors/index.js';
import type { TaskState } from './asyncresult.js';
import {
  ConnectionLost, EngineError, ImpossibleDependency, InvalidDependency, NoEnginesRegistered, RemoteError, SerializationError, TaskAborted, TaskTimeout, TimeoutError,
} from '../errors/index.js';
import type { TaskError } from '../errors/index.js';
import type { Submitter, TaskRequest } from './submitter.js';
import { DirectView, LoadBalancedView } from './views.js';

export interface ConnectOptions {
  /** profile name (default `default`) */
  profile?: string;
  /** cluster id within the profile (default empty) */
  clusterId?: string;
  /** explicit client connection file; overrides profile and clusterId */
  connectionFile?: string;
  /** how long to wait for the controller (default 10000) */
  timeoutMs?: number;
  /**
   * print remote output here as it arrives, each line prefixed by `[engine N]`
   * (default: on inside a Jupyter kernel, off elsewhere; `ar.stdout` has it either way)
   */
  echo?: boolean;
  /** reject pending work with ConnectionLost after this long without a word from the controller (default 10000) */
  lostAfterMs?: number;
}

/** Per-engine queue counts, plus tasks not yet assigned to any engine. */
export interface QueueStatus {
  engines: Record<number, { queued: number; running: number; completed: number }>;
  unassigned: number;
}

export type EngineEvent = { type: 'registered' | 'unregistered'; engine: EngineInfo; reason?: string };

/** Errors the controller or an engine reports by name, other than user code's. */
const TASK_ERRORS: Record<string, new (...a: ConstructorParameters<typeof TaskError>) => TaskError> = {
  EngineError, TaskTimeout, TaskAborted, InvalidDependency, ImpossibleDependency,
};

const LOCAL = /^(127\.|localhost$|::1$|0\.0\.0\.0$)/;

export class Client {
  readonly #session: Session;
  readonly #sock: Dealer;
  readonly #q: SendQueue;
  readonly #info: ConnectionInfo;
  readonly #file: string;
  readonly #engines = new Map<number, EngineInfo>();
  readonly #tasks = new Map<string, TaskState>();
  /** tasks asked for with getResult, by msg_id */
  readonly #lookups = new Map<string, TaskState[]>();
  readonly #requests = new Map<string, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  readonly #engineListeners = new Set<(e: EngineEvent) => void>();
  #closed = false;
  #lastHeard = Date.now();
  #watch: NodeJS.Timeout | undefined;
  #echo = false;
  readonly #submitter: Submitter;
  /** the controller's connect reply */
  #hub: ContentOf<'connect_reply'> | undefined;

  private constructor(info: ConnectionInfo, file: string) {
    this.#info = info;
    this.#file = file;
    this.#session = new Session(info.key);
    this.#sock = new Dealer({ linger: 1000, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...curveClient(info.curve_serverkey) });
    this.#q = new SendQueue(this.#sock, (err) => {
      if (!this.#closed) process.emitWarning(`tscluster client: send failed: ${String(err)}`);
    });
    this.#submitter = { ids: () => this.ids, submit: (r) => this.#submit(r), abort: (ids) => this.abort(ids) };
  }

  /**
   * Connect to a running cluster through its client connection file.
   * @example
   * const rc = await Client.connect();                       // profile 'default'
   * const rc2 = await Client.connect({ profile: 'big', clusterId: 'a' });
   */
  static async connect(opts: ConnectOptions = {}): Promise<Client> {
    const { info, path } = readConnectionFile('client', opts);
    if (LOCAL.test(info.ip) && !pidAlive(info.controller_pid)) {
      throw new ConnectionLost(
        `the controller of ${path} (pid ${info.controller_pid}) is not running: the file is left from a cluster that did not stop cleanly. ` +
          'Clean it with `tscluster stop' + (info.profile === 'default' ? '' : ` --profile ${info.profile}`) + (info.cluster_id ? ` --cluster-id ${info.cluster_id}` : '') + '` and start a new cluster.',
      );
    }
    const c = new Client(info, path);
    // a failed security handshake (CurveZMQ key mismatch, or plain text to a CurveZMQ server) shows in socket events
    let handshakeError: string | undefined;
    void (async () => {
      try {
        for await (const ev of c.#sock.events) {
          if (ev.type.startsWith('handshake:error')) handshakeError = ev.type;
          if (c.#hub || c.#closed) return;
        }
      } catch {
        // closed
      }
    })();
    c.#sock.connect(endpointOf(info));
    void receiveLoop(c.#sock, (f) => c.#onMessage(f), () => undefined);
    const timeoutMs = opts.timeoutMs ?? 10000;
    try {
      const reply = (await c.#request('connect_request', {}, timeoutMs)) as Message<'connect_reply'>;
      c.#hub = reply.content;
      for (const e of reply.content.engines) c.#engines.set(e.id, e);
      c.#echo = opts.echo ?? process.env.JPY_PARENT_PID !== undefined;
      c.#watchController(opts.lostAfterMs ?? 10000);
    } catch (e) {
      // nothing queued for a controller that never answered is worth waiting for at exit
      c.#sock.linger = 0;
      c.#closeSocket();
      if (e instanceof TimeoutError) {
        const curve = info.curve_serverkey
          ? ' The cluster uses CurveZMQ: the curve_serverkey in the file must be the running controller\'s.'
          : ' If the controller was started with --curve, this file lacks its curve_serverkey: use the file that controller wrote.';
        throw new TimeoutError(
          `no reply from the controller at ${endpointOf(info)} within ${timeoutMs} ms (connection file ${path}, controller pid ${info.controller_pid}).` +
            (handshakeError ? ` The security handshake failed (${handshakeError}).${curve}` : ` Is it running and reachable? \`tscluster list\` shows the clusters.${curve}`),
        );
      }
      throw e;
    }
    return c;
  }

  /**
   * Print remote output here as it arrives, each line prefixed by `[engine N]`
   * (default: on inside a Jupyter kernel, off elsewhere).
   * @example rc.echo = true;
   */
  get echo(): boolean {
    return this.#echo;
  }

  set echo(on: boolean) {
    this.#echo = on;
  }

  /** Registered engine ids, ascending. */
  get ids(): number[] {
    return [...this.#engines.keys()].sort((a, b) => a - b);
  }

  /** Registered engines with their pid and host. */
  get engines(): EngineInfo[] {
    return this.ids.map((id) => this.#engines.get(id)!);
  }

  /** The profile, cluster id, scheme and hwm of the connected cluster, and the connection file used. */
  get cluster(): { profile: string; clusterId: string; scheme: string; hwm: number; controllerPid: number; connectionFile: string } {
    const h = this.#hub!;
    return { profile: h.profile, clusterId: h.cluster_id, scheme: h.scheme, hwm: h.hwm, controllerPid: h.controller_pid, connectionFile: this.#file };
  }

  /**
   * Resolve once at least `n` engines are registered.
   * @example await rc.waitForEngines(4, { timeoutMs: 30000 });
   */
  waitForEngines(n: number, { timeoutMs = 60000 }: { timeoutMs?: number } = {}): Promise<number[]> {
    if (this.#engines.size >= n) return Promise.resolve(this.ids);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#engines.size >= n) {
          cleanup();
          resolve(this.ids);
        }
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`${this.#engines.size} of ${n} engines registered after ${timeoutMs} ms; add engines with \`tscluster engines -n ${n - this.#engines.size}\``));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(t);
        this.#engineListeners.delete(check);
      };
      this.#engineListeners.add(check);
    });
  }

  /**
   * Listen to engines joining and leaving. Returns a function that stops listening.
   * @example const off = rc.onEngine((e) => console.log(e.type, e.engine.id));
   */
  onEngine(listener: (e: EngineEvent) => void): () => void {
    this.#engineListeners.add(listener);
    return () => this.#engineListeners.delete(listener);
  }

  /**
   * A view that runs each call on the given engine(s).
   * A number gives single results; an array or nothing (all engines) gives arrays.
   * @example const r = await rc.directView(0).apply(() => process.pid);
   */
  directView(target: number): DirectView<true>;
  directView(targets?: number[]): DirectView<false>;
  directView(targets?: number | number[]): DirectView<boolean> {
    return new DirectView(this.#submitter, targets, {});
  }

  /**
   * A view whose tasks the scheduler places, optionally only on `targets`.
   * @example const lb = rc.loadBalancedView();
   */
  loadBalancedView(targets?: number | number[]): LoadBalancedView {
    return new LoadBalancedView(this.#submitter, targets, {});
  }

  /**
   * Per-engine queued / running / completed counts and unassigned tasks.
   * @example console.log(await rc.queueStatus());
   */
  async queueStatus(): Promise<QueueStatus> {
    const r = (await this.#request('queue_request', {}, 10000)) as Message<'queue_reply'>;
    const engines: QueueStatus['engines'] = {};
    for (const [k, v] of Object.entries(r.content.engines)) engines[Number(k)] = v;
    return { engines, unassigned: r.content.unassigned };
  }

  /**
   * Abort tasks by msg_id, or every unfinished task of this client. Queued
   * tasks are removed; running ones are interrupted on their engines (whose
   * namespaces are reset). They end with TaskAborted. Resolves with how many
   * the controller stopped.
   * @example await rc.abort();            // everything this client has pending
   * @example await rc.abort(ar.msgIds);
   */
  async abort(msgIds?: readonly string[]): Promise<number> {
    const r = (await this.#request('abort_request', msgIds === undefined ? {} : { msg_ids: [...msgIds] }, 10000)) as Message<'abort_reply'>;
    return r.content.aborted;
  }

  /**
   * The result of tasks by msg_id, also of tasks another client submitted,
   * from the controller's records (the last 1024 finished tasks, or 1 GiB, are
   * kept). A pending task's result arrives when it finishes.
   * @example const ar = rc.getResult(msgId); console.log(await ar, ar.metadata.engineId);
   */
  getResult(msgId: string): AsyncResult<unknown, true>;
  getResult(msgIds: readonly string[]): AsyncResult<unknown[], false>;
  getResult(ids: string | readonly string[]): AsyncResult<unknown, boolean> {
    const list = typeof ids === 'string' ? [ids] : [...ids];
    if (list.length === 0) return new AsyncResult([], false, () => []);
    const states = list.map((id) => {
      const own = this.#tasks.get(id);
      if (own) return own;
      const t = this.#newState(id);
      const waiting = this.#lookups.get(id);
      if (waiting) waiting.push(t);
      else this.#lookups.set(id, [t]);
      return t;
    });
    const ask = list.filter((id) => !this.#tasks.has(id));
    if (ask.length > 0) {
      if (this.#closed) throw new ConnectionLost('the client is closed');
      this.#q.send(this.#session.build([], 'result_request', { msg_ids: ask }).frames);
    }
    return typeof ids === 'string' ? new AsyncResult(states, true, (v) => v[0]) : new AsyncResult(states, false, (v) => v);
  }

  /**
   * Drop finished task records from the controller (pending ones stay). Resolves with how many went.
   * @example await rc.purgeResults('all');
   */
  async purgeResults(msgIds: readonly string[] | 'all'): Promise<number> {
    const content = msgIds === 'all' ? { all: true } : { msg_ids: [...msgIds] };
    const r = (await this.#request('purge_request', content, 10000)) as Message<'purge_reply'>;
    return r.content.purged;
  }

  /** Controller counters: dropped messages by reason, tasks, engines, clients. */
  async stats(): Promise<ContentOf<'stats_reply'>> {
    const r = (await this.#request('stats_request', {}, 10000)) as Message<'stats_reply'>;
    return r.content;
  }

  /**
   * Stop engines, and the controller too with `hub: true`.
   * @example await rc.shutdown({ hub: true });
   */
  async shutdown({ hub = false, targets }: { hub?: boolean; targets?: number[] } = {}): Promise<void> {
    await this.#request('shutdown_request', { hub, ...(targets ? { targets } : {}) }, 10000);
    if (hub) await this.close();
  }

  /** Close the connection. Pending results reject with ConnectionLost. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#q.flush(1000);
    this.#closeSocket();
    this.#failPending(new ConnectionLost('the client was closed before the result arrived'));
  }

  /**
   * Notice a controller that is gone: silent too long (it heartbeats every
   * second), or a dropped connection whose local controller process has exited.
   */
  #watchController(lostAfterMs: number): void {
    const pid = this.#info.controller_pid;
    const local = LOCAL.test(this.#info.ip);
    const period = Math.min(1000, lostAfterMs / 2);
    let lastTick = Date.now();
    this.#watch = setInterval(() => {
      const now = Date.now();
      // this process was blocked (synchronous user code): messages may be waiting unread, so listen again first
      if (now - lastTick > 2 * period) this.#lastHeard = now;
      lastTick = now;
      const silent = now - this.#lastHeard;
      if (local && !pidAlive(pid)) this.#lost(`the controller (pid ${pid}) has exited`);
      else if (silent > lostAfterMs) this.#lost(`no word from the controller at ${endpointOf(this.#info)} for ${Math.round(silent / 1000)} s`);
    }, period);
    this.#watch.unref();
    void (async () => {
      try {
        for await (const ev of this.#sock.events) {
          if (ev.type === 'disconnect' && local && !pidAlive(pid)) this.#lost(`the controller (pid ${pid}) has exited`);
        }
      } catch {
        // socket closed
      }
    })();
  }

  /** The controller is gone: everything pending fails with ConnectionLost and the client closes. */
  #lost(why: string): void {
    if (this.#closed) return;
    this.#sock.linger = 0;
    this.#closeSocket();
    this.#failPending(new ConnectionLost(`${why}: the cluster is gone (\`tscluster list\` shows it; \`tscluster stop\` cleans up after it)`));
  }

  #failPending(err: Error): void {
    for (const t of this.#tasks.values()) this.#settle(t, undefined, err);
    this.#tasks.clear();
    for (const states of this.#lookups.values()) for (const t of states) this.#settle(t, undefined, err);
    this.#lookups.clear();
    for (const r of this.#requests.values()) r.reject(err);
    this.#requests.clear();
  }

  #closeSocket(): void {
    clearInterval(this.#watch);
    this.#closed = true;
    this.#q.close();
    this.#sock.close();
  }

  // ------------------------------------------------------------------ sending

  #submit(r: TaskRequest): TaskState {
    if (this.#closed) throw new ConnectionLost('the client is closed');
    const metadata: Record<string, unknown> = { route: r.route, ...r.options };
    if (r.targets !== undefined) metadata.targets = r.targets;
    const { frames, header } = this.#session.build([], 'apply_request', r.content, { metadata, buffers: r.buffers });
    const t = this.#newState(header.msg_id);
    this.#tasks.set(header.msg_id, t);
    this.#q.send(frames);
    return t;
  }

  #newState(msgId: string): TaskState {
    return {
      info: { msgId, engineId: null, submitted: new Date(), started: null, completed: null, received: null, status: 'pending', stdout: '', stderr: '', attempts: [] },
      done: false,
      value: undefined,
      error: undefined,
      listeners: [],
      abort: this.#submitter.abort,
    };
  }

  #request<T extends MsgType>(type: T, content: ContentOf<T>, timeoutMs: number): Promise<Message> {
    if (this.#closed) return Promise.reject(new ConnectionLost('the client is closed'));
    const { frames, header } = this.#session.build([], type, content);
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(header.msg_id);
        reject(new TimeoutError(`no ${type.replace('_request', '_reply')} from the controller within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#requests.set(header.msg_id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#q.send(frames);
    });
  }

  // ------------------------------------------------------------------ receiving

  #onMessage(frames: Buffer[]): void {
    let msg: Message;
    try {
      msg = this.#session.parse(frames);
    } catch (e) {
      if (e instanceof ProtocolError && e.reason === 'signature') this.#maybeAuthError(frames);
      return;
    }
    this.#lastHeard = Date.now();
    const parentId = 'msg_id' in msg.parent ? msg.parent.msg_id : undefined;
    switch (msg.header.msg_type) {
      case 'apply_reply': {
        const t = parentId === undefined ? undefined : this.#tasks.get(parentId);
        if (t) this.#onReply(t, (msg as Message<'apply_reply'>).content, msg.metadata, msg.buffers);
        return;
      }
      case 'result_reply': {
        const c = msg.content as ContentOf<'result_reply'>;
        const states = this.#lookups.get(c.msg_id);
        if (!states) return;
        this.#lookups.delete(c.msg_id);
        for (const t of states) this.#onResult(t, c, msg.buffers);
        return;
      }
      case 'stream': {
        const t = parentId === undefined ? undefined : this.#tasks.get(parentId);
        if (!t) return;
        const c = msg.content as ContentOf<'stream'>;
        t.info[c.name] += c.text;
        if (this.#echo) {
          const id = (msg.metadata as { engine_id?: number | null }).engine_id ?? t.info.engineId;
          const prefix = `[engine ${id ?? '?'}] `;
          const text = c.text.endsWith('\n') ? c.text.slice(0, -1) : c.text;
          (c.name === 'stderr' ? process.stderr : process.stdout).write(`${prefix}${text.split('\n').join(`\n${prefix}`)}\n`);
        }
        return;
      }
      case 'heartbeat':
        return;
      case 'engine_event': {
        const c = msg.content as ContentOf<'engine_event'>;
        if (c.event === 'registered') this.#engines.set(c.engine.id, c.engine);
        else this.#engines.delete(c.engine.id);
        const ev: EngineEvent = { type: c.event, engine: c.engine, ...(c.reason ? { reason: c.reason } : {}) };
        for (const l of [...this.#engineListeners]) l(ev);
        return;
      }
      default: {
        const r = parentId === undefined ? undefined : this.#requests.get(parentId);
        if (r) {
          this.#requests.delete(parentId!);
          r.resolve(msg);
        }
      }
    }
  }

  #maybeAuthError(frames: Buffer[]): void {
    try {
      const raw = splitFrames(frames);
      if (raw.signature.length !== 0) return;
      const h = JSON.parse(raw.header.toString('utf8')) as { msg_type?: unknown };
      const p = JSON.parse(raw.parent.toString('utf8')) as { msg_id?: unknown };
      if (h.msg_type !== AUTH_ERROR || typeof p.msg_id !== 'string') return;
      const r = this.#requests.get(p.msg_id);
      if (!r) return;
      this.#requests.delete(p.msg_id);
      r.reject(
        new ProtocolError(
          `the controller at ${endpointOf(this.#info)} refused this client's signature: the key in ${this.#file} does not match the running controller's. ` +
            'The file is stale or was changed; use the connection file the running controller wrote (or restart the cluster).',
          'signature',
        ),
      );
    } catch {
      // not an auth error: dropped like any unsigned message
    }
  }

  #onResult(t: TaskState, c: ContentOf<'result_reply'>, buffers: Buffer[]): void {
    if (c.status === 'unknown') {
      return this.#settle(t, undefined, new Error(`the controller has no record of task ${c.msg_id}: never submitted, or culled (it keeps the last 1024 finished tasks) or purged`));
    }
    if (c.submitted) t.info.submitted = new Date(c.submitted);
    t.info.stdout = c.stdout ?? '';
    t.info.stderr = c.stderr ?? '';
    const content = ApplyReplyContentSchema.safeParse(c.reply_content);
    if (!content.success) return this.#settle(t, undefined, new ProtocolError(`the record of task ${c.msg_id} has an unreadable reply`, 'schema'));
    this.#onReply(t, content.data, c.reply_metadata ?? {}, buffers);
  }

  #onReply(t: TaskState, c: ContentOf<'apply_reply'>, metadata: Record<string, unknown>, buffers: Buffer[]): void {
    const meta = metadata as { engine_id?: number | null; started?: string | null; completed?: string | null; attempts?: { engine_id: number | null; ename: string }[] };
    t.info.engineId = meta.engine_id ?? null;
    if (Array.isArray(meta.attempts)) t.info.attempts = meta.attempts.map((a) => ({ engineId: a.engine_id, ename: a.ename }));
    t.info.started = meta.started ? new Date(meta.started) : null;
    t.info.completed = meta.completed ? new Date(meta.completed) : null;
    t.info.received = new Date();
    if (c.status === 'ok') {
      let value: unknown;
      try {
        value = deserialize(buffers);
      } catch (e) {
        return this.#settle(t, undefined, new SerializationError(`cannot read the result of task ${t.info.msgId}: ${(e as Error).message}`, 'unknown', 'result'));
      }
      return this.#settle(t, value, undefined);
    }
    const engineId = c.engine_info?.engine_id ?? t.info.engineId;
    let err: Error;
    const Kind = TASK_ERRORS[c.ename];
    if (Kind) err = new Kind(c.ename, c.evalue, c.traceback, engineId, t.info.msgId);
    else if (c.ename === 'NoEnginesRegistered') err = new NoEnginesRegistered(c.evalue);
    else if (c.ename === 'SerializationError' && c.detail) {
      err = new SerializationError(`${c.evalue} [engine ${engineId}]`, String(c.detail.typeName), String(c.detail.path));
    } else err = new RemoteError(c.ename, c.evalue, c.traceback, engineId, t.info.msgId);
    this.#settle(t, undefined, err);
  }

  #settle(t: TaskState, value: unknown, error: Error | undefined): void {
    if (t.done) return;
    this.#tasks.delete(t.info.msgId);
    t.done = true;
    t.value = value;
    t.error = error;
    t.info.status = error ? 'error' : 'ok';
    for (const l of t.listeners) l(t);
    t.listeners = [];
  }
}
