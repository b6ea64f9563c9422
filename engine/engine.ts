/**
 * An engine's main thread: owns the socket, registers, heartbeats, keeps the
 * task queue and one execution worker. User code never runs here, so the
 * engine answers heartbeats while a task computes. A worker that dies
 * (process.exit, out of memory) fails its task and is replaced; the engine
 * stays registered.
 */
import { hostname } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { v4 as uuidv4 } from 'uuid';
import { Dealer } from 'zeromq';
import { SendQueue, Session, parseVerified, receiveLoop, serialize } from '../protocol/index.js';
import type { ApplyReplyMetadata, ContentOf, ErrorContent, Message, MsgType } from '../protocol/index.js';
import type { Logger } from '../util/log.js';
import type { ConnectionInfo } from '../profiles/index.js';
import { curveClient, endpointOf } from '../profiles/index.js';
import type { CancelToWorker, FromWorker, TaskError, ToWorker } from './worker-messages.js';

export interface EngineOptions {
  info: ConnectionInfo;
  /** the file the info came from, for messages */
  file: string;
  log: Logger;
  /** how long to wait for the controller to answer registration */
  registrationTimeoutMs: number;
  /** exit when the controller is silent this long (default: its dead_after_ms x 2, at least 10 s) */
  controllerTimeoutMs?: number;
  /** called when the engine has stopped; the process should exit with the code */
  onExit: (code: number) => void;
  /**
   * heap limit of the execution worker, MB (default: the engine process's own limit). With an
   * explicit limit, a task that exhausts memory ends its worker only, not the engine.
   */
  maxMemoryMb?: number;
}

interface Task {
  /** set when the controller asked to stop this task while it runs */
  abort?: TaskError;
  msgId: string;
  /** the request's header frame, the reply's parent */
  parent: Buffer;
  content: ContentOf<'apply_request'>;
  buffers: Buffer[];
}

const STREAM_FLUSH_BYTES = 64 * 1024;
/** tasks handed to the worker ahead of time, so it goes from one to the next without a round trip */
const PIPELINE = 32;

export class Engine {
  readonly uuid = uuidv4();
  id = -1;
  readonly #o: EngineOptions;
  readonly #session: Session;
  readonly #sock: Dealer;
  readonly #q: SendQueue;
  /** tasks not yet handed to the worker */
  #queue: Task[] = [];
  /** tasks handed to the worker, in order; the first is running */
  #posted: Task[] = [];
  #worker: Worker | undefined;
  /** cancellations for the worker, read synchronously there */
  #control: MessagePort | undefined;
  #workerReady = false;
  #lastController = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #controllerTimeoutMs = 10000;
  #stopped = false;
  #registered: ((r: ContentOf<'registration_reply'>) => void) | undefined;
  /** output not yet sent, per task */
  readonly #pending = new Map<string, { stdout: string; stderr: string; parent: Buffer }>();
  #flushScheduled = false;

  constructor(o: EngineOptions) {
    this.#o = o;
    // requests may have waited in the controller's queue; the controller checked their age on arrival
    this.#session = new Session(o.info.key, { replayHorizon: false });
    this.#sock = new Dealer({ routingId: this.uuid, linger: 1000, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...curveClient(o.info.curve_serverkey) });
    this.#q = new SendQueue(this.#sock, (err) => {
      if (!this.#stopped) o.log.warn(`send failed: ${String(err)}`);
    });
  }

  /** Connect, start the worker, register. Resolves with the engine id. */
  async start(): Promise<number> {
    const endpoint = endpointOf(this.#o.info);
    this.#sock.connect(endpoint);
    void receiveLoop(this.#sock, (f) => this.#onMessage(f), (e) => this.#o.log.error(`receive: ${String(e)}`));
    const workerUp = this.#startWorker();
    const reply = await new Promise<ContentOf<'registration_reply'>>((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `no registration reply from the controller at ${endpoint} within ${this.#o.registrationTimeoutMs} ms (engine connection file ${this.#o.file}). ` +
                'Is the controller running (`tscluster list`)? If it was restarted, the file is stale: start engines with `tscluster engines -n N`.',
            ),
          ),
        this.#o.registrationTimeoutMs,
      );
      this.#registered = (r) => {
        clearTimeout(t);
        resolve(r);
      };
      this.#send('registration_request', { uuid: this.uuid, pid: process.pid, hostname: hostname(), cwd: process.cwd() });
    });
    if (reply.status !== 'ok') throw new Error(`the controller refused registration: ${reply.evalue}`);
    this.id = reply.id;
    this.#controllerTimeoutMs = this.#o.controllerTimeoutMs ?? Math.max(10000, reply.dead_after_ms * 2);
    this.#lastController = Date.now();
    this.#timer = setInterval(() => this.#beat(), reply.heartbeat_ms);
    await workerUp;
    return this.id;
  }

  stop(code = 0): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#control?.close();
    void this.#worker?.terminate();
    void this.#q.flush(500).then(() => {
      // everything was flushed: nothing left for a linger to wait for at exit
      this.#sock.linger = 0;
      this.#sock.close();
      this.#o.log.info(`stopped (exit code ${code})`);
      this.#o.onExit(code);
    });
  }

  #beat(): void {
    const silent = Date.now() - this.#lastController;
    if (silent > this.#controllerTimeoutMs) {
      this.#o.log.error(`the controller has been silent for ${Math.round(silent / 1000)} s: it is gone; exiting`);
      this.stop(1);
      return;
    }
    this.#send('heartbeat', {});
  }

  #send<T extends MsgType>(type: T, content: ContentOf<T>, parent?: Buffer, metadata?: Record<string, unknown>, buffers?: Buffer[]): void {
    const opts = { ...(parent ? { parent } : {}), ...(metadata ? { metadata } : {}), ...(buffers ? { buffers } : {}) };
    this.#q.send(this.#session.build([], type, content, opts).frames);
  }

  #onMessage(frames: Buffer[]): void {
    let msg: Message;
    let verified: ReturnType<Session['verify']> | undefined;
    try {
      verified = this.#session.verify(frames);
      msg = parseVerified(verified.raw, verified.header);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.#o.log.warn(`dropped a message: ${why}`);
      // a signed request that cannot be read is answered, so its task does not wait forever
      if (verified?.header.msg_type === 'apply_request') {
        const metadata: ApplyReplyMetadata = { engine_id: this.id, engine_uuid: this.uuid, status: 'error', started: null, completed: new Date().toISOString() };
        this.#send('apply_reply', { status: 'error', ename: 'ProtocolError', evalue: `the engine could not read the request: ${why}`, traceback: [] }, verified.raw.header, metadata);
      }
      return;
    }
    this.#lastController = Date.now();
    switch (msg.header.msg_type) {
      case 'apply_request':
        return this.#onApply(msg as Message<'apply_request'>);
      case 'heartbeat':
        return;
      case 'abort_request':
        return this.#onAbort(msg.content as ContentOf<'abort_request'>);
      case 'registration_reply':
        this.#registered?.(msg.content as ContentOf<'registration_reply'>);
        this.#registered = undefined;
        return;
      case 'shutdown_request':
        this.#o.log.info('shutdown requested by the controller');
        return this.stop(0);
      default:
        this.#o.log.warn(`ignored an unexpected ${msg.header.msg_type}`);
    }
  }

  #onApply(msg: Message<'apply_request'>): void {
    // the session validated the content against its schema
    this.#queue.push({ msgId: msg.header.msg_id, parent: msg.raw.header, content: msg.content, buffers: msg.buffers });
    this.#next();
  }

  get #running(): Task | undefined {
    return this.#posted[0];
  }

  /**
   * Stop tasks: one not yet with the worker fails at once; one queued in the
   * worker is skipped there; the running one ends with its worker, which is
   * replaced (the namespace is reset).
   */
  #onAbort(c: ContentOf<'abort_request'>): void {
    const error: TaskError = { ename: c.ename ?? 'TaskAborted', evalue: c.evalue ?? 'the task was aborted', traceback: [] };
    for (const id of c.msg_ids ?? []) {
      const qi = this.#queue.findIndex((t) => t.msgId === id);
      if (qi >= 0) {
        const [task] = this.#queue.splice(qi, 1);
        this.#finish(task!, { ok: false, error, started: new Date().toISOString() });
        continue;
      }
      const pi = this.#posted.findIndex((t) => t.msgId === id);
      if (pi > 0) {
        // read by the worker synchronously before it starts each task: a message event could come too late
        this.#control?.postMessage({ type: 'cancel', msgId: id, error } satisfies CancelToWorker);
      } else if (pi === 0) {
        this.#posted[0]!.abort = error;
        this.#o.log.info(`interrupting task ${id} (${error.ename}): replacing the execution worker`);
        void this.#worker?.terminate();
      }
    }
  }

  #next(): void {
    while (this.#workerReady && this.#queue.length > 0 && this.#posted.length < PIPELINE) {
      const task = this.#queue[0]!;
      if (task.content.kind === 'clear') {
        // a fresh worker is a fresh namespace: wait until the worker is idle
        if (this.#posted.length > 0) return;
        this.#queue.shift();
        this.#posted.push(task);
        const started = new Date().toISOString();
        void this.#restartWorker().then(() => this.#finish(task, { ok: true, frames: serialize(undefined), started }));
        return;
      }
      this.#queue.shift();
      this.#posted.push(task);
      const frames = task.buffers.map(own);
      const m: ToWorker = { type: 'task', msgId: task.msgId, content: task.content, frames };
      this.#worker!.postMessage(m, transferable(frames));
    }
  }

  #finish(task: Task, r: { ok: true; frames: Uint8Array[]; started: string } | { ok: false; error: TaskError; started: string }): void {
    this.#flushStreams(task.msgId);
    const metadata: ApplyReplyMetadata = {
      engine_id: this.id,
      engine_uuid: this.uuid,
      status: r.ok ? 'ok' : 'error',
      started: r.started,
      completed: new Date().toISOString(),
    };
    if (r.ok) {
      const buffers = r.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength));
      this.#send('apply_reply', { status: 'ok' }, task.parent, metadata, buffers);
    } else {
      const content: ErrorContent = {
        status: 'error',
        ...r.error,
        engine_info: { engine_id: this.id, engine_uuid: this.uuid, method: task.content.kind },
      };
      this.#send('apply_reply', content, task.parent, metadata);
    }
    if (this.#posted[0] === task) this.#posted.shift();
    this.#next();
  }

  // ------------------------------------------------------------------ worker

  #startWorker(): Promise<void> {
    this.#workerReady = false;
    const control = new MessageChannel();
    const w = new Worker(new URL('./worker.js', import.meta.url), {
      stdout: false,
      stderr: false,
      resourceLimits: { maxOldGenerationSizeMb: this.#o.maxMemoryMb ?? Math.floor(getHeapStatistics().heap_size_limit / 1024 / 1024) },
      workerData: { control: control.port2 },
      transferList: [control.port2],
    });
    this.#worker = w;
    this.#control?.close();
    this.#control = control.port1;
    return new Promise<void>((resolve) => {
      w.on('message', (m: FromWorker) => {
        if (w !== this.#worker) return;
        switch (m.type) {
          case 'ready':
            this.#workerReady = true;
            resolve();
            this.#next();
            return;
          case 'stream':
            return this.#onStream(m.msgId ?? this.#running?.msgId ?? null, m.name, m.text);
          case 'done': {
            const task = this.#running;
            if (!task || task.msgId !== m.msgId) return;
            return this.#finish(task, m.ok ? { ok: true, frames: m.frames, started: m.started } : { ok: false, error: m.error, started: m.started });
          }
        }
      });
      let failure: Error | undefined;
      w.on('error', (e) => {
        failure = e;
      });
      w.on('exit', (code) => {
        if (w !== this.#worker || this.#stopped) return;
        const task = this.#running;
        // tasks behind the running one never started: they go to the fresh worker
        this.#queue = [...this.#posted.slice(1), ...this.#queue];
        this.#posted = task ? [task] : [];
        void this.#startWorker();
        if (task?.abort) {
          this.#finish(task, { ok: false, started: new Date().toISOString(), error: task.abort });
          return;
        }
        const why = failure
          ? (failure as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? 'ran out of memory'
            : `crashed: ${failure.message}`
          : `was ended by process.exit(${code})`;
        this.#o.log.warn(`the execution worker ${why}; started a fresh one`);
        if (task) {
          this.#finish(task, {
            ok: false,
            started: new Date().toISOString(),
            error: {
              ename: 'WorkerExited',
              evalue: `the task's execution worker ${why}; engine ${this.id} started a fresh worker (its namespace is reset) and stays registered`,
              traceback: [],
            },
          });
        }
      });
    });
  }

  async #restartWorker(): Promise<void> {
    const old = this.#worker;
    this.#worker = undefined;
    await old?.terminate();
    await this.#startWorker();
  }

  // ------------------------------------------------------------------ output

  #onStream(msgId: string | null, name: 'stdout' | 'stderr', text: string): void {
    if (msgId === null) return;
    let p = this.#pending.get(msgId);
    if (!p) {
      const task = this.#running?.msgId === msgId ? this.#running : undefined;
      if (!task) return;
      p = { stdout: '', stderr: '', parent: task.parent };
      this.#pending.set(msgId, p);
    }
    p[name] += text;
    if (p.stdout.length + p.stderr.length > STREAM_FLUSH_BYTES) this.#flushStreams(msgId);
    else if (!this.#flushScheduled) {
      // coalesce a burst of writes into one message, still sent while the task runs
      this.#flushScheduled = true;
      setTimeout(() => {
        this.#flushScheduled = false;
        for (const id of [...this.#pending.keys()]) this.#flushStreams(id);
      }, 5);
    }
  }

  #flushStreams(msgId: string): void {
    const p = this.#pending.get(msgId);
    if (!p) return;
    this.#pending.delete(msgId);
    const meta = { engine_id: this.id };
    if (p.stdout) this.#send('stream', { name: 'stdout', text: p.stdout }, p.parent, meta);
    if (p.stderr) this.#send('stream', { name: 'stderr', text: p.stderr }, p.parent, meta);
  }
}


/**
 * Frames for the worker, in buffers of their own. A slice of a packed message
 * would clone its whole underlying buffer; a large frame received from ZeroMQ
 * is external memory that cannot be transferred, and posting it would copy it
 * twice (structured clone on each side): one copy here, then a transfer.
 */
function own(f: Buffer): Buffer {
  if (f.byteLength >= 65536) {
    const b = Buffer.allocUnsafeSlow(f.byteLength);
    f.copy(b);
    return b;
  }
  return f.byteOffset === 0 && f.buffer.byteLength === f.byteLength ? f : Buffer.from(f);
}

/** Whole ArrayBuffers among the frames can move to the worker without a copy. */
function transferable(frames: Buffer[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const seen = new Set<ArrayBufferLike>();
  for (const f of frames) {
    if (f.byteLength >= 65536 && f.byteOffset === 0 && f.buffer.byteLength === f.byteLength && !seen.has(f.buffer) && f.buffer instanceof ArrayBuffer) {
      seen.add(f.buffer);
      out.push(f.buffer);
    }
  }
  return out;
}
