/**
 * The execution worker: runs user code in a persistent namespace (this
 * thread's global scope). Pushed values and globals from `execute` live here;
 * functions compiled here resolve free names against it. Output written during
 * a task is streamed to the main thread as it happens.
 */
import { Console } from 'node:console';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { inspect } from 'node:util';
import vm from 'node:vm';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { SerializationError } from '../errors/protocol.js';
// the modules themselves, not protocol/index.js: this thread starts without loading the protocol's schemas (zod)
import { compileCandidates } from '../protocol/functions.js';
import { deserialize, deserializeWithHead, serialize } from '../protocol/serialize.js';
import { WorkerChannels } from './channel.js';
import { LARGE_FRAME, wholeBuffer } from './frames.js';
import type { DataInbox, InboxOptions } from './data-inbox.js';
import type { CancelToWorker, FromWorker, TaskError, TaskToWorker, ToWorker } from './messages.js';
import { SharedGlobal } from './shared-global.js';
import { stripTypes } from './typescript.js';

if (!parentPort) throw new Error('executor/thread.js must run in a worker thread');
const port = parentPort;
const post = (m: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
const channels = new WorkerChannels(post, (id, bytes, cancelled) => takeData(id, bytes, cancelled));

const cwd = process.cwd();
/** Compiled code is named as a file in the engine's working directory, so import() resolves from there. */
const REMOTE_FILE = join(cwd, '[remote]');
const EXECUTE_FILE = join(cwd, '[execute]');
const dynamicImport = vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER;

const g = globalThis as Record<string, unknown>;
g.require = createRequire(join(cwd, 'noop.js'));
/** the controller's shared objects, for remote code (`await tscluster.queue('jobs').get()`) */
const shared = new SharedGlobal((m) => post(m));
g.tscluster = shared.objects;

// ------------------------------------------------------------------ output capture

let current: string | null = null;
function emit(name: 'stdout' | 'stderr', chunk: unknown): void {
  const text =
    typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);
  if (text.length > 0) post({ type: 'stream', msgId: current, name, text });
}
type WriteCb = (err?: Error | null) => void;
function captureWrite(name: 'stdout' | 'stderr') {
  return (chunk: unknown, enc?: BufferEncoding | WriteCb, cb?: WriteCb): boolean => {
    emit(name, chunk);
    const done = typeof enc === 'function' ? enc : cb;
    if (done) queueMicrotask(() => done(null));
    return true;
  };
}

function installCapture(): void {
  process.stdout.write = captureWrite('stdout');
  process.stderr.write = captureWrite('stderr');
  g.console = new Console({ stdout: process.stdout, stderr: process.stderr });
  // a stray error in a timer after a task returned must not end the namespace
  process.on('uncaughtException', (e) => emit('stderr', `Uncaught ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
  process.on('unhandledRejection', (e) => emit('stderr', `Unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`));
}

// ------------------------------------------------------------------ compiling shipped functions

const cache = new Map<string, (...a: unknown[]) => unknown>();

function compile(src: string): (...a: unknown[]) => unknown {
  const hit = cache.get(src);
  if (hit) return hit;
  let lastErr: unknown;
  for (const c of compileCandidates(src)) {
    let script: vm.Script;
    try {
      script = new vm.Script(c.code, { filename: REMOTE_FILE, importModuleDynamically: dynamicImport });
    } catch (e) {
      lastErr = e;
      continue;
    }
    let fn: unknown = script.runInThisContext();
    if (c.method) {
      const d = Object.values(Object.getOwnPropertyDescriptors(fn as object))[0];
      // a shipped getter (`get name() {...}`) is called as a plain function, like every shipped function
      // eslint-disable-next-line @typescript-eslint/unbound-method
      const getter: unknown = d?.get;
      fn = (d?.value as unknown) ?? getter;
    }
    if (typeof fn !== 'function') throw new TypeError(`shipped source is not a function: ${src.slice(0, 80)}`);
    if (cache.size > 1000) cache.clear();
    cache.set(src, fn as (...a: unknown[]) => unknown);
    return fn as (...a: unknown[]) => unknown;
  }
  throw lastErr instanceof Error ? lastErr : new SyntaxError('cannot compile the shipped function');
}

// ------------------------------------------------------------------ TypeScript

/**
 * Compile code as JavaScript; TypeScript (or code that only parses as
 * TypeScript) is stripped first, lines kept. Code that is neither reports the
 * TypeScript parser's error: it names the real place (the JavaScript parser
 * stops at the first type annotation).
 */
async function compileScript(code: string, filename: string, typescript: boolean): Promise<vm.Script> {
  const opts = { filename, importModuleDynamically: dynamicImport };
  if (!typescript) {
    try {
      return new vm.Script(code, opts);
    } catch (e) {
      if (!(e instanceof SyntaxError)) throw e;
    }
  }
  return new vm.Script(await stripTypes(code, filename), opts);
}

// ------------------------------------------------------------------ tasks

const IDENT_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

function lookup(name: string): unknown {
  if (!IDENT_PATH.test(name)) throw new SyntaxError(`cannot pull '${name}': not a name or a dotted path of names`);
  return vm.runInThisContext(name, { filename: EXECUTE_FILE });
}

function toBuffers(frames: Uint8Array[]): Buffer[] {
  return frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength));
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

async function execute(t: TaskToWorker): Promise<unknown> {
  const c = t.content;
  switch (c.kind) {
    case 'apply': {
      const { head, value: args } = deserializeWithHead(toBuffers(t.frames));
      const fn = compile(head ?? '');
      if (!Array.isArray(args)) throw new TypeError('apply arguments must be an array');
      // a channel's function gets its Channel first; the task (and the worker's next one) waits until it returns
      if (t.channel) {
        const ch = channels.open(t.msgId, t.channel);
        try {
          return await fn(ch, ...(args as unknown[]));
        } finally {
          // values sent in the function's last tick leave before its reply does
          ch.flush();
        }
      }
      return await fn(...(args as unknown[]));
    }
    case 'map': {
      const { head, value: items } = deserializeWithHead(toBuffers(t.frames));
      const fn = compile(head ?? '');
      if (!Array.isArray(items)) throw new TypeError('map items must be an array');
      const out = new Array<unknown>(items.length);
      for (let i = 0; i < items.length; i++) {
        // a map over several sequences ships each item as its arguments
        const r = c.spread ? fn(...(items[i] as unknown[])) : fn(items[i]);
        out[i] = isThenable(r) ? await r : r;
      }
      return out;
    }
    case 'execute': {
      const script = await compileScript(c.code, c.filename ?? EXECUTE_FILE, c.typescript ?? false);
      const r: unknown = script.runInThisContext();
      if (isThenable(r)) await r;
      return undefined;
    }
    case 'push': {
      const rec = deserialize(toBuffers(t.frames));
      if (rec === null || typeof rec !== 'object') throw new TypeError('push takes an object of names to values');
      for (const [k, v] of Object.entries(rec)) g[k] = v;
      return undefined;
    }
    case 'pull':
      return c.names.map(lookup);
    case 'clear':
      return undefined;
  }
}

/** Frames of this worker's internals are noise in a remote traceback. */
const INTERNAL = new URL('.', import.meta.url).href;
function cleanStack(stack: string): string[] {
  return stack.split('\n').filter((l) => !l.includes(INTERNAL) && !l.includes('node:internal/') && !l.includes('(node:vm'));
}

/** A free name in a shipped function is not a bug of the engine: functions travel without their closure. */
function closureHint(e: Error): string {
  const m = e instanceof ReferenceError ? /^(\S+) is not defined$/.exec(e.message) : null;
  if (!m) return '';
  const name = m[1]!;
  return ` (a function runs on the engine without its closure: pass ${name} as an argument, or push it first: dv.push({ ${name} }))`;
}

function describeError(e: unknown): TaskError {
  if (e instanceof SerializationError) {
    return { ename: e.name, evalue: e.message, traceback: [], detail: { typeName: e.typeName, path: e.path } };
  }
  if (e instanceof Error) {
    return { ename: e.name || 'Error', evalue: e.message + closureHint(e), traceback: cleanStack(e.stack ?? `${e.name}: ${e.message}`) };
  }
  let shown: string;
  try {
    shown = inspect(e, { depth: 3, breakLength: Infinity, maxStringLength: 2000 });
  } catch {
    shown = Object.prototype.toString.call(e);
  }
  return { ename: 'ThrownValue', evalue: `the task threw a non-Error value: ${shown}`, traceback: [] };
}

/** tasks cancelled before they started, with the error they end with */
const cancelled = new Map<string, TaskError>();
/** cancellations from the engine, drained synchronously before each task starts */
const control = (workerData as { control?: MessagePort } | null)?.control;
/** the data inbox's settings, when the engine gives this thread one */
const inboxOptions = (workerData as { data?: InboxOptions } | null)?.data;
/** set while a result is sent from this thread's memory (see ExecutionWorker) */
const sending = (workerData as { sending?: Int32Array } | null)?.sending;
let inbox: DataInbox | undefined;

/** The frames of data_put `id` (a task's payload, a channel's large batch), once they are at the data inbox. */
function takeData(id: string, bytes: number, cancelled: () => TaskError | undefined): Promise<Buffer[] | TaskError> {
  if (!inbox)
    return Promise.resolve({ ename: 'DataLinkError', evalue: `data_put ${id} was sent to a data endpoint this engine does not have`, traceback: [] });
  return inbox.take(id, bytes, cancelled);
}

/** The payload of a task: in its message, or (dataIn) taken from the data inbox once it has arrived. */
async function payloadOf(t: TaskToWorker): Promise<TaskError | undefined> {
  if (!t.dataIn) return undefined;
  const got = await takeData(t.msgId, t.dataIn.bytes, () => {
    drainControl();
    return cancelled.get(t.msgId);
  });
  if (!Array.isArray(got)) return got;
  t.frames = got;
  return undefined;
}

function drainControl(): void {
  if (!control) return;
  for (let m = receiveMessageOnPort(control); m; m = receiveMessageOnPort(control)) {
    const c = m.message as CancelToWorker;
    cancelled.set(c.msgId, c.error);
  }
}

/** results this large go straight to the client's data link, when it has one here */
const DIRECT_RESULT_BYTES = 1024 * 1024;

/** Send a large result to the client's data link; false when it goes with the reply instead. */
async function sendDirect(t: TaskToWorker, frames: Buffer[]): Promise<boolean> {
  if (!inbox || t.dataOutTo === undefined) return false;
  const bytes = frames.reduce((n, f) => n + f.byteLength, 0);
  if (bytes < DIRECT_RESULT_BYTES) return false;
  // ZeroMQ reads this thread's memory while it sends: the owner waits before it ends this thread
  if (sending) Atomics.store(sending, 0, 1);
  try {
    return await inbox.sendResult(t.dataOutTo, t.msgId, frames, bytes);
  } finally {
    if (sending) Atomics.store(sending, 0, 0);
  }
}

let chain: Promise<void> = Promise.resolve();
port.on('message', (m: ToWorker) => {
  if (m.type === 'cancel') {
    cancelled.set(m.msgId, m.error);
    return;
  }
  if (m.type === 'shared-reply') {
    // answered at once, not in the task chain: the task that waits for it is running
    shared.answer(m);
    return;
  }
  if (m.type === 'channel') {
    channels.onMessage(m);
    return;
  }
  const t = m;
  if (t.channel) channels.expect(t.msgId);
  chain = chain.then(() => runTask(t)).finally(() => channels.finish(t.msgId));
});

async function runTask(t: TaskToWorker): Promise<void> {
  const started = new Date().toISOString();
  drainControl();
  const skip = cancelled.get(t.msgId);
  if (skip) {
    cancelled.delete(t.msgId);
    post({ type: 'done', msgId: t.msgId, ok: false, error: skip, started, completed: started });
    return;
  }
  const failed = await payloadOf(t);
  if (failed) {
    cancelled.delete(t.msgId);
    post({ type: 'done', msgId: t.msgId, ok: false, error: failed, started, completed: new Date().toISOString() });
    return;
  }
  current = t.msgId;
  let msg: FromWorker;
  const transfer: ArrayBuffer[] = [];
  try {
    const value = await execute(t);
    const result = serialize(value, 'result');
    const sent = await sendDirect(t, result);
    if (sent) {
      post({
        type: 'done',
        msgId: t.msgId,
        ok: true,
        frames: [],
        dataOut: { frames: result.length },
        started,
        completed: new Date().toISOString(),
      });
      return;
    }
    const frames = result.map((f, i) => {
      // out-of-band frames alias the namespace: one copy of each, then a transfer (a clone would copy twice)
      const own = i === 0 || f.byteLength < LARGE_FRAME ? f : Buffer.from(f);
      const whole = wholeBuffer(own);
      if (whole) transfer.push(whole);
      return own;
    });
    msg = { type: 'done', msgId: t.msgId, ok: true, frames, started, completed: new Date().toISOString() };
  } catch (e) {
    msg = { type: 'done', msgId: t.msgId, ok: false, error: describeError(e), started, completed: new Date().toISOString() };
  }
  post(msg, transfer);
}

// compile once before capturing output, so the one-time notice about the import() loader goes to the engine log
new vm.Script('0', { filename: REMOTE_FILE, importModuleDynamically: dynamicImport });
setImmediate(() => {
  installCapture();
  if (!inboxOptions) {
    post({ type: 'ready' });
    return;
  }
  // loaded only here: the local executor's threads have no inbox and need no ZeroMQ
  import('./data-inbox.js')
    .then(({ DataInbox: Inbox }) => Inbox.open(inboxOptions, (why) => post({ type: 'data-drop', why })))
    .then(
      (opened) => {
        inbox = opened;
        post({ type: 'ready', dataUrl: opened.url });
      },
      (e: unknown) => post({ type: 'ready', dataError: e instanceof Error ? e.message : String(e) }),
    );
});
