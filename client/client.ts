/**
 * Client: a connection from the user's process to a cluster's controller.
 * No background process: one socket (client/connection.ts), the state of its
 * tasks (client/tasks.ts), and the views that submit them (client/views.ts).
 */
import { ConnectionLost } from '../errors/index.js';
import type { AnyMessage, ContentOf, EngineInfo } from '../protocol/index.js';
import { controllerRuns, readConnectionFile } from '../profiles/index.js';
import { AsyncResult } from './asyncresult.js';
import { ChannelTable } from './channel.js';
import type { DirectChannelStats } from './channel.js';
import { Connection, isLocal } from './connection.js';
import type { Submitter } from './submitter.js';
import { fromWire, toQueryRequest } from './query.js';
import type { TaskQuery, TaskRecordInfo } from './query.js';
import { DataLinks } from './data-links.js';
import { sharedObjects } from './shared.js';
import { SharedBatcher } from './shared-batch.js';
import type { SharedDict, SharedEvent, SharedLock, SharedObjects, SharedQueue, SharedTransport } from './shared.js';
import type { DataLinkStats } from './data-links.js';
import { TaskTable } from './tasks.js';
import { openTunnel } from './tunnel.js';
import type { Tunnel } from './tunnel.js';
import { checkOptionKeys, checkTargets, msgIdList, show } from './validate.js';
import { checkConnectOptions, staleFile } from './connect-options.js';
import type { ConnectOptions } from './connect-options.js';
import { displayEngines } from './display.js';
import { EngineSet } from './engines.js';
import type { EngineEvent } from './engines.js';
import { DirectView, LoadBalancedView } from './views.js';

/** Per-engine queue counts, plus tasks not yet assigned to any engine. */
export interface QueueStatus {
  engines: Record<number, { queued: number; running: number; completed: number }>;
  unassigned: number;
}

/** How long `connect` waits for its checks of the engines' direct endpoints (unreachable ones then go on in the background). */
const LINK_SETTLE_MS = 300;
/** most that waitForEngines waits, once the engines are registered, for their data endpoints and links */
const LINK_READY_MS = 3000;
/** How long requests to the controller (queue status, stats, abort...) may take. */
const REQUEST_TIMEOUT_MS = 10000;
/** How long a shared-object call may take beyond the wait the controller holds it for (values may be large). */
const SHARED_SLACK_MS = 60000;

export class Client {
  #conn!: Connection;
  readonly #file: string;
  readonly #engines = new EngineSet(() => this.#links);
  readonly #tasks: TaskTable;
  readonly #channels = new ChannelTable(
    () => this.#conn,
    () => this.#links,
  );
  readonly #submitter: Submitter;
  /** the controller's connect reply */
  #hub!: ContentOf<'connect_reply'>;
  /** the ssh tunnel to the controller, with `sshServer` */
  #tunnel: Tunnel | undefined;
  /** direct links to the engines' data endpoints (directData) */
  #links: DataLinks | undefined;
  /** handles on the controller's shared objects */
  readonly #shared: SharedObjects;
  /** their calls, gathered into shared_batch messages */
  readonly #sharedCalls: SharedBatcher;

  private constructor(file: string, submitWindow: number | undefined) {
    this.#file = file;
    this.#tasks = new TaskTable(
      () => this.#conn,
      (ids) => this.abort(ids),
      {
        send: (engineId, msgId, frames, bytes) => {
          const e = this.#engines.get(engineId);
          return e !== undefined && this.#links !== undefined && this.#links.send(e, msgId, frames, bytes);
        },
        outTo: () => (this.#links?.anyUp ? this.#links.routingId : undefined),
        wake: () => this.#links?.wake(),
      },
      submitWindow,
    );
    this.#sharedCalls = new SharedBatcher({
      request: async (req, buffers, timeoutMs) => {
        const r = await this.#conn.request('shared_request', req, timeoutMs, buffers);
        return { content: r.content, buffers: r.buffers };
      },
      send: (content, buffers) => {
        const header = this.#conn.send('shared_batch', content, { buffers });
        this.#conn.wake();
        return header.msg_id;
      },
    });
    const transport: SharedTransport = {
      call: (req, buffers, waitMs) => this.#sharedCalls.call(req, buffers, waitMs === null ? Infinity : waitMs + SHARED_SLACK_MS),
    };
    this.#shared = sharedObjects(transport);
    this.#submitter = {
      ids: () => this.ids,
      adaptive: () => this.#hub.adaptive === true,
      submit: (r) => this.#tasks.submit(r),
      broadcast: (r) => this.#tasks.broadcast(r),
      channel: (r, engineId) => {
        // with a stream link up, the engine sends the channel's messages straight back
        const replyTo = this.#channels.replyTo(engineId);
        const req = replyTo === undefined ? r : { ...r, channel: { ...r.channel, reply_to: replyTo } };
        return this.#channels.open(this.#tasks.submit(req), engineId, r.channel, replyTo !== undefined);
      },
      abort: (ids) => this.abort(ids),
    };
  }

  /**
   * Connect to a running cluster through its client connection file.
   * @example
   * const rc = await Client.connect();                       // profile 'default'
   * const rc2 = await Client.connect({ profile: 'big', clusterId: 'a' });
   */
  static async connect(opts: ConnectOptions = {}): Promise<Client> {
    checkConnectOptions(opts);
    const { info, path } = readConnectionFile('client', opts);
    if (opts.sshServer === undefined && isLocal(info.ip) && !controllerRuns(info)) throw staleFile(info, path);
    const c = new Client(path, opts.submitWindow);
    const timeoutMs = opts.timeoutMs ?? 10000;
    c.#tunnel = opts.sshServer === undefined ? undefined : await openTunnel(opts.sshServer, opts.sshOptions ?? {}, info, timeoutMs);
    const t = c.#tunnel;
    const via =
      t && opts.sshServer ? { ip: t.ip, port: t.port, what: `through an ssh tunnel via ${opts.sshServer}, local port ${t.port}` } : undefined;
    const opened = Connection.open(
      info,
      path,
      { timeoutMs, lostAfterMs: opts.lostAfterMs ?? 10000, graceMs: opts.controllerGraceMs ?? 60_000, ...(via ? { via } : {}) },
      {
        onMessage: (m) => c.#onMessage(m),
        onLost: (err) => {
          c.#tasks.failAll(err);
          c.#sharedCalls.failAll(err);
          c.#tunnel?.close();
        },
        busy: () => c.#tasks.waiting() || c.#engines.waiting || c.#sharedCalls.waiting,
        onRestart: (hub) => void c.#resync(hub),
      },
    );
    const { conn, hub } = await opened.catch((e: unknown) => {
      c.#tunnel?.close();
      throw e;
    });
    c.#conn = conn;
    c.#hub = hub;
    if (opts.directData ?? opts.sshServer === undefined) {
      c.#links = new DataLinks(info.key, {
        onResult: (id, buffers) => c.#tasks.onDataResult(id, buffers),
        onChannel: (msg) => c.#channels.onMessage(msg, true),
        busy: () => c.#tasks.waiting(),
      });
    }
    for (const e of hub.engines) c.#engines.add(e);
    // the engines' endpoints answer a TCP connect in well under a millisecond where they are reachable
    await c.#links?.settled(LINK_SETTLE_MS);
    c.#tasks.echo = opts.echo ?? process.env.JPY_PARENT_PID !== undefined;
    return c;
  }

  /**
   * The controller was restarted by its supervisor and answers again: tell it
   * which tasks this client still waits for; it sends again the replies it
   * holds, and the requests it never received go again (same msg_ids, so
   * each result arrives once).
   */
  async #resync(hub: ContentOf<'connect_reply'>): Promise<void> {
    this.#hub = hub;
    const ids = this.#tasks.sentIds();
    if (ids.length === 0) return;
    try {
      const r = await this.#conn.request('resync_request', { msg_ids: ids }, 60_000);
      this.#tasks.resend(r.content.unknown);
    } catch (e) {
      process.emitWarning(
        `tscluster client: could not take up its tasks with the restarted controller: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  /**
   * Print remote output here as it arrives, each line prefixed by `[engine N]`
   * (default: on inside a Jupyter kernel, off elsewhere).
   * @example rc.echo = true;
   */
  get echo(): boolean {
    return this.#tasks.echo;
  }

  set echo(on: boolean) {
    this.#tasks.echo = on;
  }

  /**
   * What went past the controller (`directData`): payloads sent straight to
   * engines' data endpoints (requests and bytes), results that came back that
   * way, and channel messages over stream links; null when direct data is off.
   */
  get directData(): (DataLinkStats & { channels: DirectChannelStats }) | null {
    return this.#links ? { ...this.#links.stats, channels: this.#channels.directStats } : null;
  }

  /** Registered engine ids, ascending. */
  get ids(): number[] {
    return this.#engines.ids();
  }

  /** Registered engines with their pid and host. */
  get engines(): EngineInfo[] {
    return this.#engines.list();
  }

  /** The profile, cluster id, scheme and hwm of the connected cluster, and the connection file used. */
  get cluster(): { profile: string; clusterId: string; scheme: string; hwm: number; controllerPid: number; connectionFile: string } {
    const h = this.#hub;
    return { profile: h.profile, clusterId: h.cluster_id, scheme: h.scheme, hwm: h.hwm, controllerPid: h.controller_pid, connectionFile: this.#file };
  }

  /**
   * Resolve once at least `n` engines are registered and the direct data
   * links to them are up (an engine opens its data endpoint just after it
   * registers: waiting at most LINK_READY_MS for that, so the first large
   * push goes straight to the engine, not through the controller).
   * @example await rc.waitForEngines(4, { timeoutMs: 30000 });
   */
  async waitForEngines(n: number, { timeoutMs = 60000 }: { timeoutMs?: number } = {}): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    const ids = await this.#engines.waitFor(n, timeoutMs, () => this.#conn.wake());
    await this.#links?.ready(() => this.#engines.list(), Math.min(LINK_READY_MS, Math.max(0, deadline - Date.now())));
    return ids;
  }

  /**
   * Listen to engines joining and leaving. Returns a function that stops listening.
   * @example const off = rc.onEngine((e) => console.log(e.type, e.engine.id));
   */
  onEngine(listener: (e: EngineEvent) => void): () => void {
    return this.#engines.listen(listener);
  }

  /**
   * A view that runs each call on the given engine(s).
   * A number gives single results; an array or nothing (all engines) gives arrays.
   * @example const r = await rc.directView(0).apply(() => process.pid);
   */
  directView(target: number): DirectView<true>;
  directView(targets?: number[]): DirectView;
  directView(targets?: number | number[]): DirectView<boolean> {
    return new DirectView(this.#submitter, targets === undefined ? undefined : checkTargets('directView: targets', targets), {});
  }

  /**
   * A view whose tasks the scheduler places, optionally only on `targets`.
   * @example const lb = rc.loadBalancedView();
   */
  loadBalancedView(targets?: number | number[]): LoadBalancedView {
    return new LoadBalancedView(this.#submitter, targets === undefined ? undefined : checkTargets('loadBalancedView: targets', targets), {});
  }

  /**
   * Per-engine queued / running / completed counts and unassigned tasks.
   * @example console.log(await rc.queueStatus());
   */
  async queueStatus(): Promise<QueueStatus> {
    const r = await this.#conn.request('queue_request', {}, REQUEST_TIMEOUT_MS);
    const engines: QueueStatus['engines'] = {};
    for (const [k, v] of Object.entries(r.content.engines)) engines[Number(k)] = v;
    return { engines, unassigned: r.content.unassigned };
  }

  /**
   * Show the engines (id, host, pid, registered) with their queued, running
   * and completed tasks: an HTML table in a Jupyter kernel, text on `stream`
   * (default stdout) elsewhere.
   * @example await rc.display();
   */
  async display(stream?: NodeJS.WritableStream): Promise<void> {
    displayEngines(this.engines, (await this.queueStatus()).engines, stream);
  }

  /**
   * Abort tasks: by msg_id, every unfinished task of this client (no
   * argument), of another client (`{ client: id }`, its `rc.id`), or of every
   * client (`{ all: true }`: clears others' work on purpose). Queued tasks are
   * removed; running ones are interrupted on their engines (whose namespaces
   * are reset). They end with TaskAborted. Resolves with how many the
   * controller stopped.
   * @example await rc.abort();            // everything this client has pending
   * @example await rc.abort(ar.msgIds);
   * @example await rc.abort({ all: true });
   */
  async abort(which?: readonly string[] | { all?: boolean; client?: string }): Promise<number> {
    let content: ContentOf<'abort_request'>;
    if (which === undefined) content = {};
    else if (Array.isArray(which)) content = { msg_ids: msgIdList('abort', which) };
    else {
      const o = checkOptionKeys('abort', which, ['all', 'client']) as { all?: unknown; client?: unknown };
      if (o.all !== undefined && typeof o.all !== 'boolean') throw new TypeError(`abort: all must be true or false, got ${show(o.all)}`);
      if (o.client !== undefined && (typeof o.client !== 'string' || o.client === ''))
        throw new TypeError(`abort: client must be a client id (a string), got ${show(o.client)}`);
      content = { ...(o.all ? { all: true } : {}), ...(typeof o.client === 'string' ? { client: o.client } : {}) };
      if (!o.all && o.client === undefined) throw new TypeError('abort takes msg ids, { all: true } or { client: id }');
    }
    // tasks still in the send window end here; the controller stops the others
    let held = 0;
    if (content.msg_ids) {
      const taken = new Set(this.#tasks.abortHeld(content.msg_ids));
      held = taken.size;
      if (held > 0) content = { msg_ids: content.msg_ids.filter((id) => !taken.has(id)) };
      if (content.msg_ids!.length === 0) return held;
    } else if (content.all || content.client === undefined || content.client === this.id) held = this.#tasks.abortHeld().length;
    const r = await this.#conn.request('abort_request', content, REQUEST_TIMEOUT_MS);
    return held + r.content.aborted;
  }

  /** This client's id (its session id): what `tscluster tasks` shows and `rc.abort({ client })` takes. */
  get id(): string {
    return this.#conn.sessionId;
  }

  /** Msg ids of this client's tasks that have not finished (ipyparallel's `outstanding`). */
  get outstanding(): ReadonlySet<string> {
    return new Set(this.#tasks.pendingIds());
  }

  /**
   * The result of tasks by msg_id, also of tasks another client submitted,
   * from the controller's records (the last 1024 finished tasks, or 1 GiB, are
   * kept). A pending task's result arrives when it finishes.
   * @example const ar = rc.getResult(msgId); console.log(await ar, ar.metadata.engineId);
   */
  getResult(msgId: string): AsyncResult<unknown>;
  getResult(msgIds: readonly string[]): AsyncResult<unknown[], false>;
  getResult(ids: string | readonly string[]): AsyncResult<unknown, boolean> {
    const list = msgIdList('getResult', ids);
    if (list.length === 0) return new AsyncResult([], false, () => []);
    const states = this.#tasks.lookup(list);
    return typeof ids === 'string' ? new AsyncResult(states, true, (v) => v[0]) : new AsyncResult(states, false, (v) => v);
  }

  /**
   * Drop finished task records from the controller (pending ones stay). Resolves with how many went.
   * @example await rc.purgeResults('all');
   */
  async purgeResults(msgIds: readonly string[] | 'all'): Promise<number> {
    const given: unknown = msgIds;
    if (given !== 'all' && !Array.isArray(given)) throw new TypeError(`purgeResults takes an array of msg ids or 'all', got ${show(given)}`);
    const content = msgIds === 'all' ? { all: true } : { msg_ids: msgIdList('purgeResults', msgIds) };
    const r = await this.#conn.request('purge_request', content, REQUEST_TIMEOUT_MS);
    return r.content.purged;
  }

  /**
   * Task records the controller keeps (ipyparallel's db_query): the
   * unfinished ones and the last finished ones (1024, or 1 GiB), oldest first.
   * @example const failed = await rc.dbQuery({ status: 'failed', label: 'nightly' });
   */
  async dbQuery(q: TaskQuery = {}): Promise<TaskRecordInfo[]> {
    const r = await this.#conn.request('query_request', toQueryRequest(q), REQUEST_TIMEOUT_MS);
    return r.content.records.map(fromWire);
  }

  /**
   * Shared objects the controller hosts, by name, reachable from every client
   * and from remote code on every engine (the global `tscluster` there): a
   * FIFO `queue` (`maxsize` bounds it; 0: unbounded), a `dict` (atomic
   * `setIfAbsent` and `increment`), an `event`, a `lock` (released when this
   * client's connection closes or is lost).
   * @example
   * await rc.queue<number>('jobs', { maxsize: 100 }).put(1);
   * await rc.dict<number>('counts').increment('done');
   * if (await rc.lock('db').acquire({ timeoutMs: 5000 })) ...
   */
  queue<T = unknown>(name: string, o: { maxsize?: number } = {}): SharedQueue<T> {
    return this.#shared.queue<T>(name, o);
  }

  /** A shared dict (see `queue`). */
  dict<V = unknown>(name: string): SharedDict<V> {
    return this.#shared.dict<V>(name);
  }

  /** A shared event (see `queue`). */
  event(name: string): SharedEvent {
    return this.#shared.event(name);
  }

  /** A shared lock (see `queue`). */
  lock(name: string): SharedLock {
    return this.#shared.lock(name);
  }

  /**
   * Shared-object messages this client sent and the calls they carried:
   * calls made together (not awaited one by one) travel as one message.
   */
  get sharedTraffic(): { messages: number; calls: number } {
    return this.#sharedCalls.sent;
  }

  /** Controller counters: dropped messages by reason, tasks, engines, clients. */
  async stats(): Promise<ContentOf<'stats_reply'>> {
    const r = await this.#conn.request('stats_request', {}, REQUEST_TIMEOUT_MS);
    return r.content;
  }

  /**
   * Stop engines, and the controller too with `hub: true`.
   * @example await rc.shutdown({ hub: true });
   */
  async shutdown({ hub = false, targets }: { hub?: boolean; targets?: number[] } = {}): Promise<void> {
    await this.#conn.request('shutdown_request', { hub, ...(targets ? { targets } : {}) }, REQUEST_TIMEOUT_MS);
    if (hub) await this.close();
  }

  /**
   * Close the connection. Pending results reject with ConnectionLost; open
   * channels are closed on their engines (their functions' receive rejects with ChannelClosed).
   */
  async close(): Promise<void> {
    if (this.#conn.closed) return;
    this.#channels.closeAll();
    await this.#conn.close();
    this.#sharedCalls.failAll(new ConnectionLost('the client was closed before the reply arrived'));
    this.#links?.close();
    this.#tunnel?.close();
    this.#tasks.failAll(new ConnectionLost('the client was closed before the result arrived'));
  }

  #onMessage(msg: AnyMessage): void {
    switch (msg.type) {
      case 'apply_reply': {
        this.#tasks.onReply(msg);
        return;
      }
      case 'result_reply': {
        this.#tasks.onResult(msg);
        return;
      }
      case 'stream': {
        this.#tasks.onStream(msg);
        return;
      }
      case 'channel_data':
      case 'channel_ack':
      case 'channel_close': {
        this.#channels.onMessage(msg);
        return;
      }
      case 'engine_event': {
        this.#engines.onEvent(msg.content);
        return;
      }
      case 'shared_batch_reply': {
        this.#sharedCalls.onReply(msg);
        return;
      }
      case 'error_reply': {
        // a shared_batch refused as a whole (other requests' error_replies answer their pending request)
        if ('msg_id' in msg.parent) this.#sharedCalls.onRefused(msg.parent.msg_id, msg.content);
        return;
      }
      default:
        return; // heartbeats, and replies nobody waits for any more
    }
  }
}
