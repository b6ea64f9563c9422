/**
 * The engine's task runner: tasks wait here in order and are handed to the
 * execution worker a few ahead (so it goes from one to the next without a
 * round trip). A worker that dies (process.exit, out of memory, a crash, an
 * interrupted task) fails the task it ran, is replaced, and the tasks behind
 * it go to the fresh worker.
 */
import type { ChannelWindow, ContentOf } from '../protocol/index.js';
import { serialize } from '../protocol/index.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../util/log.js';
import { ExecutionWorker, describeEnd } from '../executor/execution-worker.js';
import type { WorkerEnd } from '../executor/execution-worker.js';
import type { InboxOptions } from '../executor/data-inbox.js';
import type { ChannelMessage, DoneFromWorker, SharedFromWorker, SharedToWorker, TaskError } from '../executor/messages.js';

export interface RunnerTask {
  msgId: string;
  /** the request's header frame, the reply's parent */
  parent: Buffer;
  content: ContentOf<'apply_request'>;
  buffers: Buffer[];
  /** its payload comes to the worker's data inbox directly from the client: how many frames, how many bytes */
  dataIn?: { frames: number; bytes: number };
  /** a large result goes straight to the client's data link with this routing id, when it is connected here */
  dataOutTo?: string;
  /** set when the controller asked to stop this task while it runs */
  abort?: TaskError;
  /** a channel task: its window; messages for it that came before it went to the worker */
  channel?: { window: ChannelWindow; early: ChannelMessage[] };
}

export type TaskResult =
  { ok: true; frames: Uint8Array[]; started: string; dataOut?: { frames: number } } | { ok: false; error: TaskError; started: string };

export interface RunnerOptions {
  log: Logger;
  maxMemoryMb?: number;
  /** the engine's id, for messages */
  engineId: () => number;
  /** output of a task (msgId null: written between tasks) */
  onStream: (task: RunnerTask, name: 'stdout' | 'stderr', text: string) => void;
  onFinish: (task: RunnerTask, r: TaskResult) => void;
  /** a message of a channel task's function, for its client */
  onChannel: (m: ChannelMessage) => void;
  /** after drain(): tasks handed back unstarted (those the worker had not begun) */
  onHandedBack?: (tasks: RunnerTask[]) => void;
  /** after drain(): nothing is left to run */
  onDrained?: () => void;
  /** give the execution worker a data inbox (bound where start() says; a fresh worker binds the same port again) */
  data?: Omit<InboxOptions, 'bind'>;
  /**
   * shared-object calls of remote code (engine/shared.ts): `call` answers one
   * call of the worker of generation `gen`; `workerGone` says that worker ended
   */
  shared?: { call(gen: number, m: SharedFromWorker): Promise<SharedToWorker>; workerGone(gen: number): void };
}

/** The data inbox as the first worker opened it: its URL, or why there is none. */
export interface DataStatus {
  url?: string;
  error?: string;
}

/** tasks handed to the worker ahead of time */
const PIPELINE = 32;

export class TaskRunner {
  readonly #o: RunnerOptions;
  /** tasks not yet handed to the worker */
  #queue: RunnerTask[] = [];
  /** tasks handed to the worker, in order; the first is running */
  #posted: RunnerTask[] = [];
  #worker: ExecutionWorker | undefined;
  /** the current worker's generation (each fresh worker has the next) */
  #gen = 0;
  #stopped = false;
  #firstReady: ((data: DataStatus | undefined) => void) | undefined;
  /** where the worker's data inbox binds: after the first worker, the port it got */
  #dataBind: string | undefined;
  /** drain(): no task goes to the worker any more */
  #draining = false;
  /** the error a task cancelled by drain() ends with in the worker: no task of a user can end with it */
  readonly #handBack = `HandedBack-${randomUUID()}`;

  constructor(o: RunnerOptions) {
    this.#o = o;
  }

  /**
   * Start the first worker; resolves when it takes tasks, with its data inbox's URL when it has one.
   * @param dataBind where the data inbox binds (`tcp://ip:0`), with the `data` option
   */
  start(dataBind?: string): Promise<DataStatus | undefined> {
    this.#dataBind = dataBind;
    return new Promise((resolve) => {
      this.#firstReady = resolve;
      this.#startWorker();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#worker?.close();
  }

  get #running(): RunnerTask | undefined {
    return this.#posted[0];
  }

  /** Forget the tasks not yet handed to the worker (they run elsewhere now). Returns how many. */
  dropQueued(): number {
    const n = this.#queue.length;
    this.#queue = [];
    return n;
  }

  /** The tasks here: running, handed to the worker, or waiting. */
  holds(): string[] {
    return [...this.#posted, ...this.#queue].map((t) => t.msgId);
  }

  /** Tasks added since start (util/memory-return.ts reads it: work came in). */
  added = 0;

  add(task: RunnerTask): void {
    this.added++;
    this.#queue.push(task);
    this.#next();
  }

  /** Nothing waits and nothing runs. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#posted.length === 0;
  }

  /**
   * Take no more tasks: those not handed to the worker are returned now; those
   * the worker holds but has not begun are cancelled there and come back
   * through onHandedBack (one it began before the cancellation reached it runs
   * to its end, and is reported as usual). The running task finishes.
   * onDrained follows once nothing is left.
   */
  drain(): RunnerTask[] {
    this.#draining = true;
    const back = this.#queue;
    this.#queue = [];
    for (const t of this.#posted.slice(1)) this.#worker?.cancel(t.msgId, { ename: this.#handBack, evalue: 'handed back', traceback: [] });
    queueMicrotask(() => this.#checkDrained());
    return back;
  }

  #checkDrained(): void {
    if (this.#draining && this.idle) this.#o.onDrained?.();
  }

  /**
   * Stop tasks: one not yet with the worker fails at once; one queued in the
   * worker is skipped there; the running one ends with its worker, which is
   * replaced (the namespace is reset).
   */
  abort(ids: readonly string[], error: TaskError): void {
    for (const id of ids) {
      const qi = this.#queue.findIndex((t) => t.msgId === id);
      if (qi >= 0) {
        const [task] = this.#queue.splice(qi, 1);
        this.#finish(task!, { ok: false, error, started: new Date().toISOString() });
        continue;
      }
      const pi = this.#posted.findIndex((t) => t.msgId === id);
      if (pi > 0) this.#worker?.cancel(id, error);
      else if (pi === 0) {
        this.#posted[0]!.abort = error;
        this.#o.log.info(`interrupting task ${id} (${error.ename}): replacing the execution worker`);
        this.#worker?.interrupt();
      }
    }
  }

  /** Give back tasks not handed to the worker yet (a steal): returns the ids given back; the others run here. */
  steal(ids: readonly string[]): string[] {
    const want = new Set(ids);
    const back = this.#queue.filter((t) => want.has(t.msgId) && t.channel === undefined);
    if (back.length > 0) this.#queue = this.#queue.filter((t) => !back.includes(t));
    return back.map((t) => t.msgId);
  }

  /**
   * A message for a channel task's function: to the worker when the task is
   * there, else kept with the task until it goes there. False when no such
   * task is here (it ended).
   */
  channelMessage(m: ChannelMessage): boolean {
    if (this.#posted.some((t) => t.msgId === m.msgId)) {
      this.#worker?.postChannel(m);
      return true;
    }
    const queued = this.#queue.find((t) => t.msgId === m.msgId);
    queued?.channel?.early.push(m);
    return queued?.channel !== undefined;
  }

  #next(): void {
    if (this.#draining) {
      // tasks that came back from a worker that ended, or reached a draining runner: handed back
      const back = this.#queue;
      this.#queue = [];
      if (back.length > 0) this.#o.onHandedBack?.(back);
      this.#checkDrained();
      return;
    }
    // while the worker runs a task, the last one waiting stays here: an idle engine may take it back (a steal)
    while (this.#worker?.ready && this.#queue.length > (this.#posted.length === 0 ? 0 : 1) && this.#posted.length < PIPELINE) {
      const task = this.#queue[0]!;
      if (task.content.kind === 'clear') {
        // a fresh worker is a fresh namespace: clear when the worker is idle
        if (this.#posted.length === 0) this.#clear(this.#queue.shift()!);
        return;
      }
      this.#queue.shift();
      this.#posted.push(task);
      this.#worker.post(task.msgId, task.content, task.buffers, {
        ...(task.dataIn ? { in: task.dataIn } : {}),
        ...(task.dataOutTo !== undefined ? { outTo: task.dataOutTo } : {}),
        ...(task.channel ? { channel: { window: task.channel.window, engineId: this.#o.engineId() } } : {}),
      });
      if (task.channel) for (const m of task.channel.early.splice(0)) this.#worker.postChannel(m);
    }
  }

  #clear(task: RunnerTask): void {
    this.#posted.push(task);
    const started = new Date().toISOString();
    void this.#replaceWorker().then(() => this.#finish(task, { ok: true, frames: serialize(undefined), started }));
  }

  #finish(task: RunnerTask, r: TaskResult): void {
    this.#o.onFinish(task, r);
    if (this.#posted[0] === task) this.#posted.shift();
    this.#next();
  }

  #onDone(m: DoneFromWorker): void {
    const task = this.#running;
    if (task?.msgId !== m.msgId) return;
    if (!m.ok && m.error.ename === this.#handBack) {
      // cancelled by drain() before it began: it never ran
      this.#posted.shift();
      this.#o.onHandedBack?.([task]);
      this.#next();
      return;
    }
    this.#finish(
      task,
      m.ok
        ? { ok: true, frames: m.frames, started: m.started, ...(m.dataOut ? { dataOut: m.dataOut } : {}) }
        : { ok: false, error: m.error, started: m.started },
    );
  }

  #startWorker(): void {
    const gen = ++this.#gen;
    const shared = this.#o.shared;
    const w: ExecutionWorker = new ExecutionWorker(
      {
        onReady: (data) => {
          if (data?.url !== undefined) this.#dataBind = data.url;
          else if (data?.error !== undefined) this.#o.log.warn(`no data endpoint: ${data.error}`);
          this.#firstReady?.(data);
          this.#firstReady = undefined;
          this.#next();
        },
        onDataDrop: (why) => this.#o.log.warn(`dropped a message on the data endpoint (${why})`),
        onStream: (msgId, name, text) => {
          const task = msgId === null ? this.#running : this.#posted.find((t) => t.msgId === msgId);
          if (task) this.#o.onStream(task, name, text);
        },
        onDone: (m) => this.#onDone(m),
        ...(shared ? { onShared: (m: SharedFromWorker) => void shared.call(gen, m).then((r) => w.sharedReply(r)) } : {}),
        onChannel: (m) => this.#o.onChannel(m),
        onEnd: (end) => {
          shared?.workerGone(gen);
          if (w === this.#worker && !this.#stopped) this.#workerEnded(end);
        },
      },
      {
        ...(this.#o.maxMemoryMb === undefined ? {} : { maxMemoryMb: this.#o.maxMemoryMb }),
        ...(this.#o.data && this.#dataBind !== undefined ? { data: { ...this.#o.data, bind: this.#dataBind } } : {}),
      },
    );
    this.#worker = w;
  }

  #workerEnded(end: WorkerEnd): void {
    const task = this.#running;
    // tasks behind the running one never started: they go to the fresh worker
    this.#queue = [...this.#posted.slice(1), ...this.#queue];
    this.#posted = task ? [task] : [];
    this.#startWorker();
    this.#failDataIn(`the execution worker ${describeEnd(end)}`);
    if (task?.abort) {
      this.#finish(task, { ok: false, started: new Date().toISOString(), error: task.abort });
      return;
    }
    const why = describeEnd(end);
    this.#o.log.warn(`the execution worker ${why}; started a fresh one`);
    if (!task) return;
    const evalue = `the task's execution worker ${why}; engine ${this.#o.engineId()} started a fresh worker (its namespace is reset) and stays registered`;
    this.#finish(task, { ok: false, started: new Date().toISOString(), error: { ename: 'WorkerExited', evalue, traceback: [] } });
  }

  /**
   * Tasks whose payload was sent to the data inbox of a worker that is gone
   * (it may have arrived there) cannot run: they fail, saying to send again.
   */
  #failDataIn(why: string): void {
    const lost = this.#queue.filter((t) => t.dataIn);
    if (lost.length === 0) return;
    this.#queue = this.#queue.filter((t) => !t.dataIn);
    const evalue = `${why} and took the data sent to its data endpoint with it; engine ${this.#o.engineId()} is ready again: send the task again`;
    for (const t of lost)
      this.#o.onFinish(t, { ok: false, started: new Date().toISOString(), error: { ename: 'DataLinkError', evalue, traceback: [] } });
  }

  async #replaceWorker(): Promise<void> {
    const old = this.#worker;
    this.#worker = undefined;
    this.#o.shared?.workerGone(this.#gen);
    await old?.close();
    this.#failDataIn('the namespace was cleared (a fresh execution worker)');
    await new Promise<void>((resolve) => {
      this.#firstReady = () => resolve();
      this.#startWorker();
    });
  }
}
