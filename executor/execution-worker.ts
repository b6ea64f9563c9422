/**
 * One execution worker: the thread that runs user code (executor/thread.ts)
 * in a persistent namespace. The engine runs one; the local executor a pool.
 * Tasks go in with their payload frames moved, not cloned; cancellations go
 * through a control port the thread reads synchronously before each task.
 */
import { getHeapStatistics } from 'node:v8';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { ApplyContent } from '../protocol/index.js';
import type { InboxOptions } from './data-inbox.js';
import { LARGE_FRAME, wholeBuffer } from './frames.js';
import type {
  CancelToWorker,
  ChannelMessage,
  DoneFromWorker,
  FromWorker,
  SharedFromWorker,
  SharedToWorker,
  TaskError,
  TaskToWorker,
  ToWorker,
} from './messages.js';

// from dist/executor/ or from the engine's bundle in dist/bundle/ (tools/bundle-engine.js): the same file
const THREAD_URL = new URL('../executor/thread.js', import.meta.url);
const NO_CONTROLLER = {
  ename: 'SharedObjectError',
  evalue: 'shared objects (tscluster.queue, dict, event, lock) live in a cluster: this code runs in a local executor, which has no controller',
};

/** How a worker ended without being closed. */
export type WorkerEnd = { kind: 'interrupted' } | { kind: 'exit'; code: number } | { kind: 'oom' } | { kind: 'crash'; message: string };

/** The end in words: "ran out of memory", "was ended by process.exit(3)"... */
export function describeEnd(end: WorkerEnd): string {
  switch (end.kind) {
    case 'interrupted':
      return 'was interrupted';
    case 'oom':
      return 'ran out of memory';
    case 'crash':
      return `crashed: ${end.message}`;
    case 'exit':
      return `was ended by process.exit(${end.code})`;
  }
}

export interface WorkerEvents {
  /** the thread takes tasks; with a data inbox, its URL or why it could not open one */
  onReady(data?: { url?: string; error?: string }): void;
  /** a message on the data inbox was dropped */
  onDataDrop?(why: string): void;
  /** output written while a task ran (`msgId` null: between tasks) */
  onStream(msgId: string | null, name: 'stdout' | 'stderr', text: string): void;
  onDone(m: DoneFromWorker): void;
  /**
   * remote code calls a shared object (the global `tscluster`): answer with
   * `sharedReply`. Without it (the local executor), such calls fail at once:
   * shared objects live in a cluster's controller.
   */
  onShared?(m: SharedFromWorker): void;
  /** a message of a channel task's function, for its client */
  onChannel?(m: ChannelMessage): void;
  /** the worker ended on its own (or by interrupt()), not by close() */
  onEnd(end: WorkerEnd): void;
}

export interface WorkerOptions {
  /** heap limit, MB (default: this process's own); a task that exhausts it ends the worker only */
  maxMemoryMb?: number;
  /** node flags for the thread */
  execArgv?: string[];
  /** keep this process alive while the worker is idle (default true) */
  ref?: boolean;
  /** give the thread a data inbox (an engine's): clients send large payloads to it directly */
  data?: InboxOptions;
}

export class ExecutionWorker {
  readonly #w: Worker;
  readonly #control: MessagePort;
  #ready = false;
  #closed = false;
  #interrupted = false;
  /**
   * Set by the thread while ZeroMQ sends a result from the thread's own memory
   * (data inbox): ending the thread then would free memory ZeroMQ still reads,
   * which ends the process. Terminations wait until it is clear.
   */
  readonly #sending = new Int32Array(new SharedArrayBuffer(4));

  constructor(events: WorkerEvents, o: WorkerOptions = {}) {
    const control = new MessageChannel();
    this.#control = control.port1;
    this.#w = new Worker(THREAD_URL, {
      stdout: false,
      stderr: false,
      ...(o.execArgv ? { execArgv: o.execArgv } : {}),
      resourceLimits: { maxOldGenerationSizeMb: o.maxMemoryMb ?? Math.floor(getHeapStatistics().heap_size_limit / 1024 / 1024) },
      workerData: { control: control.port2, sending: this.#sending, ...(o.data ? { data: o.data } : {}) },
      transferList: [control.port2],
    });
    if (o.ref === false) this.#w.unref();
    this.#listen(events);
  }

  #listen(events: WorkerEvents): void {
    this.#w.on('message', (m: FromWorker) => {
      if (this.#closed) return;
      switch (m.type) {
        case 'ready':
          this.#ready = true;
          {
            events.onReady(
              m.dataUrl !== undefined || m.dataError !== undefined
                ? { ...(m.dataUrl !== undefined ? { url: m.dataUrl } : {}), ...(m.dataError !== undefined ? { error: m.dataError } : {}) }
                : undefined,
            );
            return;
          }
        case 'data-drop': {
          events.onDataDrop?.(m.why);
          return;
        }
        case 'stream': {
          events.onStream(m.msgId, m.name, m.text);
          return;
        }
        case 'done': {
          events.onDone(m);
          return;
        }
        case 'shared': {
          if (events.onShared) events.onShared(m);
          else this.sharedReply({ type: 'shared-reply', id: m.id, error: NO_CONTROLLER });
          return;
        }
        case 'channel': {
          events.onChannel?.(m);
          return;
        }
      }
    });
    let failure: (Error & { code?: string }) | undefined;
    // a failure is reported through the exit; an unheard 'error' would end this process
    this.#w.on('error', (e) => {
      failure = e;
    });
    this.#w.on('exit', (code) => {
      this.#control.close();
      if (this.#closed) return;
      this.#closed = true;
      if (this.#interrupted) events.onEnd({ kind: 'interrupted' });
      else if (failure?.code === 'ERR_WORKER_OUT_OF_MEMORY') events.onEnd({ kind: 'oom' });
      else if (failure) events.onEnd({ kind: 'crash', message: failure.message });
      else events.onEnd({ kind: 'exit', code });
    });
  }

  /** The thread is up and takes tasks. */
  get ready(): boolean {
    return this.#ready && !this.#closed;
  }

  /** Hand a task over; its payload frames are moved, not cloned. */
  post(
    msgId: string,
    content: ApplyContent,
    payload: readonly Buffer[],
    data: { in?: { frames: number; bytes: number }; outTo?: string; channel?: TaskToWorker['channel'] } = {},
  ): void {
    const frames = payload.map(own);
    const m: ToWorker = {
      type: 'task',
      msgId,
      content,
      frames,
      ...(data.in ? { dataIn: data.in } : {}),
      ...(data.outTo !== undefined ? { dataOutTo: data.outTo } : {}),
      ...(data.channel ? { channel: data.channel } : {}),
    };
    this.#w.postMessage(m, transferable(frames));
  }

  /** Answer a shared-object call of the thread's code. */
  sharedReply(m: SharedToWorker): void {
    if (!this.#closed) this.#w.postMessage(m);
  }

  /** Hand over a message for a channel task (its frames moved, as a task's are). */
  postChannel(m: ChannelMessage): void {
    if (m.op !== 'data') {
      this.#w.postMessage(m);
      return;
    }
    // made by the engine from ZeroMQ's frames (channel-post.ts): its buffers are its own
    this.#w.postMessage(m, [m.batch.joint.buffer as ArrayBuffer, ...m.batch.large.map((f) => f.buffer as ArrayBuffer)]);
  }

  /** Skip a task handed over earlier (it ends with `error` when its turn comes). */
  cancel(msgId: string, error: TaskError): void {
    // read by the thread synchronously before it starts each task: a message event could come too late
    this.#control.postMessage({ type: 'cancel', msgId, error } satisfies CancelToWorker);
  }

  /** End the worker now, whatever it runs; onEnd reports it as interrupted. */
  interrupt(): void {
    this.#interrupted = true;
    void this.#notSending().then(() => this.#w.terminate());
  }

  /** End the worker quietly (no onEnd). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#control.close();
    await this.#notSending();
    await this.#w.terminate();
  }

  /** Resolves once the thread is not sending from its own memory (see #sending). */
  async #notSending(): Promise<void> {
    while (Atomics.load(this.#sending, 0) !== 0) await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A frame for the worker, in a buffer of its own. A slice of a packed message
 * would clone its whole underlying buffer; a large frame received from ZeroMQ
 * is external memory that cannot be transferred, and posting it would copy it
 * twice (structured clone on each side): one copy here, then a transfer.
 */
function own(f: Buffer): Buffer {
  if (f.byteLength >= LARGE_FRAME) {
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
    const whole = f.byteLength >= LARGE_FRAME ? wholeBuffer(f) : undefined;
    if (whole && !seen.has(whole)) {
      seen.add(whole);
      out.push(whole);
    }
  }
  return out;
}
