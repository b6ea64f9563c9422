/**
 * The client's side of tasks: the state of each task it submitted or asked
 * for (getResult), settled by the replies, records and output that arrive.
 * No state is kept for a task once it has settled.
 */
import { ConnectionLost, ProtocolError, SerializationError, TaskAborted, TaskTimeout, errorFromReply } from '../errors/index.js';
import { ApplyReplyContentSchema, deserialize } from '../protocol/index.js';
import type { ContentOf, Message } from '../protocol/index.js';
import type { TaskState } from './asyncresult.js';
import type { Connection } from './connection.js';
import type { TaskRequest } from './submitter.js';
import { randomUUID } from 'node:crypto';
import { DIRECT_MIN_BYTES } from './data-links.js';
import { DEFAULT_SUBMIT_WINDOW, SendWindow } from './flow.js';
import { SentRequests } from './resend.js';

/** What the task table needs of the client's data links. */
export interface DirectData {
  send(engineId: number, msgId: string, frames: Buffer[], bytes: number): boolean;
  outTo(): string | undefined;
  wake(): void;
}
const NO_DIRECT_DATA: DirectData = { send: () => false, outTo: () => undefined, wake: () => undefined };

function isDataOut(meta: object): boolean {
  return typeof (meta as { data_out?: unknown }).data_out === 'object' && (meta as { data_out?: unknown }).data_out !== null;
}

/** The metadata an apply_reply carries. */
interface ReplyMeta {
  engine_id?: number | null;
  started?: string | null;
  completed?: string | null;
  attempts?: { engine_id: number | null; ename: string }[];
}

export class TaskTable {
  /** tasks this client submitted, until they settle */
  readonly #tasks = new Map<string, TaskState>();
  /** tasks asked for with getResult, by msg_id */
  readonly #lookups = new Map<string, TaskState[]>();
  /** print remote output as it arrives, prefixed by `[engine N]` */
  echo = false;

  /** clear requests in flight, by engine: a payload sent directly meanwhile could reach the worker being replaced */
  readonly #clearing = new Map<number, Set<string>>();

  /** results that came over a data link before their reply */
  readonly #early = new Map<string, Buffer[]>();
  /** tasks whose reply came and whose result is still on its way over a data link */
  readonly #late = new Map<string, { t: TaskState; timer: NodeJS.Timeout }>();

  readonly #window: SendWindow;
  /** sent and not settled: what a restarted controller may lack */
  readonly #sent = new SentRequests();

  /**
   * @param direct the data links: send a payload to an engine's data endpoint (false when it cannot: it then goes
   * with the request); the routing id large results may be sent to; wake the links' receivers
   * @param submitWindow most of this client's tasks at the controller at once (client/flow.ts)
   */
  constructor(
    private readonly conn: () => Connection,
    private readonly abort: (msgIds: string[]) => Promise<number>,
    private readonly direct: DirectData = NO_DIRECT_DATA,
    submitWindow = DEFAULT_SUBMIT_WINDOW,
  ) {
    this.#window = new SendWindow(submitWindow);
  }

  /**
   * Submit a task: its state now, its apply_request when the send window has room
   * (client/flow.ts); the state settles when the reply arrives.
   */
  submit(r: TaskRequest): TaskState {
    const msgId = randomUUID();
    const t = this.#track(msgId);
    this.#untrackOnThrow([msgId], () => {
      // a channel's values follow its request at once on the same connection: it is never held
      if (r.channel !== undefined) this.#sendOne(r, msgId, 0);
      else this.#window.offer({ ids: [msgId], send: (live, heldMs) => this.#expired(r, live, heldMs) || this.#sendOne(r, msgId, heldMs) });
    });
    return t;
  }

  /**
   * One apply_request for many engines: the controller makes a task per target, each under its own msg_id
   * (`metadata.fanout`, in target order), so the client sends the request, and its payload, once. A large
   * payload goes instead over the data link of each engine that has one (one hop, in parallel: faster than
   * through the controller), and once, in a broadcast, to the others.
   */
  broadcast(r: TaskRequest & { targets: number[] }): TaskState[] {
    const ids = r.targets.map(() => randomUUID());
    const states = ids.map((id) => this.#track(id));
    this.#untrackOnThrow(ids, () =>
      this.#window.offer({ ids, send: (live, heldMs) => this.#expired(r, live, heldMs) || this.#sendMany(r, ids, new Set(live), heldMs) }),
    );
    return states;
  }

  /** Run `send`; if it throws (the connection is lost or closed), forget the tasks `ids` (nothing waits on them) and rethrow. */
  #untrackOnThrow(ids: string[], send: () => void): void {
    try {
      send();
    } catch (e) {
      for (const id of ids) {
        this.#tasks.delete(id);
        this.#window.settled(id);
      }
      throw e;
    }
  }

  #track(msgId: string): TaskState {
    const t = this.newState(msgId);
    this.#tasks.set(msgId, t);
    return t;
  }

  /** The request's metadata; a task that waited in the send window has that much less of its timeout left. */
  #metadata(r: TaskRequest, heldMs: number, targets: number[] | undefined): Record<string, unknown> {
    const metadata: Record<string, unknown> = { route: r.route, ...r.options };
    if (targets !== undefined) metadata.targets = targets;
    if (r.channel !== undefined) metadata.channel = r.channel;
    if (heldMs > 0 && typeof metadata.timeout_ms === 'number') metadata.timeout_ms = Math.max(1, metadata.timeout_ms - heldMs);
    return metadata;
  }

  /** Tasks whose timeout ran out while they waited in the send window end here with TaskTimeout; true if so. */
  #expired(r: TaskRequest, live: string[], heldMs: number): boolean {
    const ms = r.options.timeout_ms;
    if (ms === undefined || heldMs < ms) return false;
    for (const id of live) {
      const t = this.#tasks.get(id);
      const why = `the task did not finish within its timeout of ${ms} ms (it waited ${heldMs} ms in this client's submit window)`;
      if (t) this.#settle(t, undefined, new TaskTimeout('TaskTimeout', why, [], null, id));
    }
    return true;
  }

  #sendOne(r: TaskRequest, msgId: string, heldMs: number): void {
    const metadata = this.#metadata(r, heldMs, r.targets);
    let buffers = r.buffers;
    const one = r.route === 'direct' && r.targets?.length === 1 ? r.targets[0] : undefined;
    if (one !== undefined) {
      if (r.content.kind === 'clear') this.#noteClear(one, msgId);
      const bytes = buffers.reduce((n, b) => n + b.byteLength, 0);
      if (this.#sendDirect(one, msgId, buffers, bytes)) {
        metadata.data_in = { frames: buffers.length, bytes };
        buffers = [];
      }
    }
    this.#send(r.content, metadata, buffers, msgId);
  }

  /**
   * Send a payload of `bytes` over the engine's data link, when it is large and the link is up (and no clear to
   * that engine is in flight: its worker is being replaced). False when it goes with the request instead.
   */
  #sendDirect(engine: number, msgId: string, buffers: Buffer[], bytes: number): boolean {
    return bytes >= DIRECT_MIN_BYTES && !this.#clearing.has(engine) && this.direct.send(engine, msgId, buffers, bytes);
  }

  #sendMany(r: TaskRequest & { targets: number[] }, ids: string[], live: Set<string>, heldMs: number): void {
    const bytes = r.buffers.reduce((n, b) => n + b.byteLength, 0);
    /** indices of the targets still to reach: a large payload went to those it could over their data links */
    const rest = r.targets
      .flatMap((_, i) => (live.has(ids[i]!) ? [i] : []))
      .filter((i) => {
        const [engine, id] = [r.targets[i]!, ids[i]!];
        if (!this.#sendDirect(engine, id, r.buffers, bytes)) return true;
        this.#send(r.content, { ...this.#metadata(r, heldMs, [engine]), data_in: { frames: r.buffers.length, bytes } }, [], id);
        return false;
      });
    if (rest.length === 0) return;
    const targets = rest.map((i) => r.targets[i]!);
    const fanout = rest.map((i) => ids[i]!);
    if (r.content.kind === 'clear') targets.forEach((engine, i) => this.#noteClear(engine, fanout[i]!));
    this.#send(r.content, { ...this.#metadata(r, heldMs, targets), fanout }, r.buffers, randomUUID());
  }

  /** Send one apply_request under `msgId`. */
  #send(content: TaskRequest['content'], metadata: Record<string, unknown>, buffers: Buffer[], msgId: string): void {
    const outTo = this.direct.outTo();
    if (outTo !== undefined) metadata.data_out_to = outTo;
    this.conn().send('apply_request', content, { metadata, buffers, msgId });
    this.#sent.note(msgId, content, metadata, buffers);
    this.conn().wake();
    if (outTo !== undefined) this.direct.wake();
  }

  /** Msg ids of tasks sent to the controller and not settled (a restarted controller is asked about them). */
  sentIds(): string[] {
    return this.#sent.ids();
  }

  /** Send again, under the same msg_ids, the requests a restarted controller never received. Returns how many went. */
  resend(ids: readonly string[]): number {
    const again = this.#sent.get(ids);
    for (const r of again) {
      this.conn().send('apply_request', r.content, { metadata: r.metadata, buffers: r.buffers, msgId: r.msgId });
    }
    if (again.length > 0) this.conn().wake();
    return again.length;
  }

  /**
   * Take back tasks still waiting in the send window (all, or those among `ids`): they end with TaskAborted
   * without reaching the controller. Returns their ids.
   */
  abortHeld(ids?: readonly string[]): string[] {
    const taken = this.#window.take(ids);
    for (const id of taken) {
      const t = this.#tasks.get(id);
      if (t) this.#settle(t, undefined, new TaskAborted('TaskAborted', 'the task was aborted by this client before it was sent', [], null, id));
    }
    return taken;
  }

  /** A task's result frames, straight from its engine: settle it if its reply came, else keep them for the reply. */
  onDataResult(msgId: string, buffers: Buffer[]): void {
    const late = this.#late.get(msgId);
    if (late) {
      this.#late.delete(msgId);
      clearTimeout(late.timer);
      this.#settleValue(late.t, buffers);
    } else if (this.#tasks.has(msgId)) this.#early.set(msgId, buffers);
  }

  #noteClear(engineId: number, msgId: string): void {
    const set = this.#clearing.get(engineId) ?? new Set<string>();
    set.add(msgId);
    this.#clearing.set(engineId, set);
  }

  #clearDone(msgId: string): void {
    for (const [engine, set] of this.#clearing) if (set.delete(msgId) && set.size === 0) this.#clearing.delete(engine);
  }

  newState(msgId: string): TaskState {
    return {
      info: {
        msgId,
        engineId: null,
        submitted: new Date(),
        started: null,
        completed: null,
        received: null,
        status: 'pending',
        stdout: '',
        stderr: '',
        attempts: [],
      },
      done: false,
      value: undefined,
      error: undefined,
      listeners: [],
      abort: this.abort,
    };
  }

  /** States for tasks by msg_id: this client's own, or records asked of the controller. */
  lookup(ids: readonly string[]): TaskState[] {
    const ask: string[] = [];
    const states = ids.map((id) => {
      const own = this.#tasks.get(id);
      if (own) return own;
      const t = this.newState(id);
      const waiting = this.#lookups.get(id);
      if (waiting) waiting.push(t);
      else {
        this.#lookups.set(id, [t]);
        ask.push(id);
      }
      return t;
    });
    if (ask.length > 0) {
      this.conn().send('result_request', { msg_ids: ask });
      this.conn().wake();
    }
    return states;
  }

  onReply(msg: Message<'apply_reply'>): void {
    const parentId = 'msg_id' in msg.parent ? msg.parent.msg_id : undefined;
    const t = parentId === undefined ? undefined : this.#tasks.get(parentId);
    if (!t) return;
    if (msg.content.status === 'ok' && isDataOut(msg.metadata)) {
      // the result comes over the data link: now, or soon
      this.#noteReply(t, msg.metadata);
      const early = this.#early.get(t.info.msgId);
      if (early) {
        this.#early.delete(t.info.msgId);
        this.#settleValue(t, early);
        return;
      }
      const timer = setTimeout(() => {
        this.#late.delete(t.info.msgId);
        this.#settle(
          t,
          undefined,
          new ProtocolError(`the result of task ${t.info.msgId} was sent over the data link and did not arrive within 60 s`, 'framing'),
        );
      }, 60_000);
      this.#late.set(t.info.msgId, { t, timer });
      return;
    }
    this.#onReply(t, msg.content, msg.metadata, msg.buffers);
  }

  onResult(msg: Message<'result_reply'>): void {
    const c = msg.content;
    const states = this.#lookups.get(c.msg_id);
    if (!states) return;
    this.#lookups.delete(c.msg_id);
    for (const t of states) this.#onResult(t, c, msg.buffers);
  }

  onStream(msg: Message<'stream'>): void {
    const parentId = 'msg_id' in msg.parent ? msg.parent.msg_id : undefined;
    const t = parentId === undefined ? undefined : this.#tasks.get(parentId);
    if (!t) return;
    const c = msg.content;
    t.info[c.name] += c.text;
    if (!this.echo) return;
    const id = (msg.metadata as { engine_id?: number | null }).engine_id ?? t.info.engineId;
    const prefix = `[engine ${id ?? '?'}] `;
    const text = c.text.endsWith('\n') ? c.text.slice(0, -1) : c.text;
    (c.name === 'stderr' ? process.stderr : process.stdout).write(`${prefix}${text.split('\n').join(`\n${prefix}`)}\n`);
  }

  /** Does the client wait for any task or record? */
  waiting(): boolean {
    return this.#tasks.size > 0 || this.#lookups.size > 0;
  }

  /** Msg ids of this client's tasks that have not settled. */
  pendingIds(): string[] {
    return [...this.#tasks.keys()];
  }

  /** Settle everything pending with `err`. */
  failAll(err: ConnectionLost): void {
    this.#window.clear();
    this.#sent.clear();
    for (const t of this.#tasks.values()) this.#settle(t, undefined, err);
    this.#tasks.clear();
    for (const states of this.#lookups.values()) for (const t of states) this.#settle(t, undefined, err);
    this.#lookups.clear();
  }

  #onResult(t: TaskState, c: ContentOf<'result_reply'>, buffers: Buffer[]): void {
    if (c.status === 'unknown') {
      this.#settle(
        t,
        undefined,
        new Error(`the controller has no record of task ${c.msg_id}: never submitted, or culled (it keeps the last 1024 finished tasks) or purged`),
      );
      return;
    }
    if (c.submitted) t.info.submitted = new Date(c.submitted);
    t.info.stdout = c.stdout ?? '';
    t.info.stderr = c.stderr ?? '';
    const content = ApplyReplyContentSchema.safeParse(c.reply_content);
    if (!content.success) {
      this.#settle(t, undefined, new ProtocolError(`the record of task ${c.msg_id} has an unreadable reply`, 'schema'));
      return;
    }
    this.#onReply(t, content.data, c.reply_metadata ?? {}, buffers);
  }

  #noteReply(t: TaskState, meta: ReplyMeta): void {
    t.info.engineId = meta.engine_id ?? null;
    if (Array.isArray(meta.attempts)) t.info.attempts = meta.attempts.map((a) => ({ engineId: a.engine_id, ename: a.ename }));
    t.info.started = meta.started ? new Date(meta.started) : null;
    t.info.completed = meta.completed ? new Date(meta.completed) : null;
    t.info.received = new Date();
  }

  #onReply(t: TaskState, c: ContentOf<'apply_reply'>, meta: ReplyMeta, buffers: Buffer[]): void {
    this.#noteReply(t, meta);
    if (c.status === 'error') {
      this.#settle(t, undefined, errorFromReply(c, c.engine_info?.engine_id ?? t.info.engineId, t.info.msgId));
      return;
    }
    if (isDataOut(meta)) {
      // a record (getResult) of a result that went straight to the client that submitted the task
      this.#settle(
        t,
        undefined,
        new Error(
          `the result of task ${t.info.msgId} went straight to the client that submitted it (a large result over its data link); the controller does not keep it`,
        ),
      );
      return;
    }
    this.#settleValue(t, buffers);
  }

  #settleValue(t: TaskState, buffers: Buffer[]): void {
    let value: unknown;
    try {
      value = deserialize(buffers);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.#settle(t, undefined, new SerializationError(`cannot read the result of task ${t.info.msgId}: ${why}`, 'unknown', 'result'));
      return;
    }
    this.#settle(t, value, undefined);
  }

  #settle(t: TaskState, value: unknown, error: Error | undefined): void {
    if (t.done) return;
    this.#tasks.delete(t.info.msgId);
    this.#early.delete(t.info.msgId);
    const late = this.#late.get(t.info.msgId);
    if (late) {
      clearTimeout(late.timer);
      this.#late.delete(t.info.msgId);
    }
    if (this.#clearing.size > 0) this.#clearDone(t.info.msgId);
    this.#window.settled(t.info.msgId);
    this.#sent.settled(t.info.msgId);
    t.done = true;
    t.value = value;
    t.error = error;
    t.info.status = error ? 'error' : 'ok';
    for (const l of t.listeners) l(t);
    t.listeners = [];
  }
}
