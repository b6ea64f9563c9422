/**
 * `tscluster nbrun`: run Jupyter notebooks cell by cell through a Jupyter
 * server (@jupyterlab/services over REST and a WebSocket) and save them with
 * their outputs, like `jupyter nbconvert --execute`, for any kernel (the
 * notebooks of this project use tslab, a TypeScript kernel).
 *
 * With no `url` it starts a temporary local server (`jupyter notebook`, on
 * 127.0.0.1, a random free port and a random token), and ends it, and every
 * process under it, when done, on error and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { KernelAPI, KernelManager, KernelMessage, KernelSpecAPI, ServerConnection, SessionAPI } from '@jupyterlab/services';
import type { Kernel } from '@jupyterlab/services';
import { pidAlive } from '../util/proc.js';
import { sleep } from './processes.js';

export interface NbrunOptions {
  /** a running Jupyter server (e.g. http://127.0.0.1:8888/); without it, a temporary local server is started */
  url?: string;
  /** the server's token (default: from the url's ?token=, else $JUPYTER_TOKEN) */
  token?: string;
  /** write the executed notebooks into this directory (default: in place) */
  out?: string;
  /** seconds one cell may run (default 600; 0 = no limit) */
  timeoutS?: number;
  /** kernel name for every notebook (default: each notebook's metadata.kernelspec.name) */
  kernel?: string;
  /** progress lines (default: stdout) */
  log?: (line: string) => void;
  /** error reports (default: stderr) */
  errorLog?: (text: string) => void;
}

/** The exit code of a run: 0 all notebooks ran, 1 a cell or the run failed, 130 interrupted. */
export type NbrunExit = 0 | 1 | 130;

// ------------------------------------------------------------------ nbformat 4

type MultilineString = string | string[];
type MimeBundle = Record<string, unknown>;

interface StreamOutput { output_type: 'stream'; name: string; text: MultilineString }
interface DataOutput { output_type: 'display_data' | 'execute_result'; data: MimeBundle; metadata: Record<string, unknown>; execution_count?: number | null }
interface ErrorOutput { output_type: 'error'; ename: string; evalue: string; traceback: string[] }
type Output = StreamOutput | DataOutput | ErrorOutput;

interface Cell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  source: MultilineString;
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
}

interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: { kernelspec?: { name?: string; display_name?: string; language?: string }; language_info?: unknown; [k: string]: unknown };
  cells: Cell[];
}

const text = (s: MultilineString): string => (Array.isArray(s) ? s.join('') : s);

/** Jupyter stores strings as lists of lines, each keeping its newline. */
function lines(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || mime.endsWith('+json');
}

function splitBundle(data: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, v] of Object.entries(data)) out[mime] = typeof v === 'string' && !isJsonMime(mime) ? lines(v) : v;
  return out;
}

/** The notebook as Jupyter writes it: keys sorted, indent 1, multi-line strings as lists of lines. */
function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((c) => {
    const cell: Cell = { ...c, source: lines(text(c.source)) };
    if (c.outputs) {
      cell.outputs = c.outputs.map((o) => {
        if (o.output_type === 'stream') return { ...o, text: lines(text(o.text)) };
        if (o.output_type === 'error') return o;
        return { ...o, data: splitBundle(o.data) };
      });
    }
    return cell;
  });
  return `${JSON.stringify(sortKeys({ ...nb, cells }), null, 1)}\n`;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

function readNotebook(path: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(readFileSync(path, 'utf8')) as Notebook;
  } catch (e) {
    throw new Error(`${path}: cannot read the notebook: ${(e as Error).message}`, { cause: e });
  }
  if (nb === null || typeof nb !== 'object' || nb.nbformat !== 4 || !Array.isArray(nb.cells)) {
    throw new Error(`${path}: not a Jupyter notebook in format 4 (nbformat 4 with a cells array)`);
  }
  nb.metadata ??= {};
  return nb;
}

function writeAtomic(path: string, content: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, content);
  renameSync(tmp, path);
}

// ------------------------------------------------------------------ processes


/** A process identified by pid and start time, so a reused pid is never mistaken for it. */
interface Proc { pid: number; start: string; cmd: string }

function procStat(pid: number): { ppid: number; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}

function procCmd(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Every process under `root` (children, their children...), from /proc; empty where there is no /proc. */
function descendants(root: number): Proc[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  const children = new Map<number, { pid: number; start: string }[]>();
  for (const d of entries) {
    const pid = Number(d);
    const s = procStat(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push({ pid, start: s.start });
    children.set(s.ppid, list);
  }
  const out: Proc[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push({ ...c, cmd: procCmd(c.pid) });
      queue.push(c.pid);
    }
  }
  return out;
}

/** The same process still runs (same pid and start time) and has not exited. */
function stillThere(p: Proc): boolean {
  const s = procStat(p.pid);
  return s !== undefined && s.start === p.start && pidAlive(p.pid);
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

/** Resolves true when the child has exited, false when `ms` passed first. */
function waitChild(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

async function waitProcsGone(procs: Proc[], ms: number): Promise<Proc[]> {
  const deadline = Date.now() + ms;
  let left = procs.filter(stillThere);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter(stillThere);
  }
  return left;
}

/** An executable on PATH, or undefined. */
function which(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `node_modules/.bin` of each directory from `dir` up, so a kernel installed by `npm i tslab` (kernel command `tslab`) starts. */
function binDirs(dir: string): string[] {
  const out: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    const bin = join(d, 'node_modules', '.bin');
    if (existsSync(bin)) out.push(bin);
    if (dirname(d) === d) return out;
  }
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

function tail(path: string, n = 25): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

// ------------------------------------------------------------------ the local server

/** The install hint when `jupyter` is missing. */
export const JUPYTER_INSTALL_HINT = 'install it with `apt-get install -y jupyter-notebook` (Debian/Ubuntu) or `pip install notebook`';

interface LocalServer {
  url: string;
  token: string;
  child: ChildProcess;
  pid: number;
  log: string;
  dir: string;
}

/** Servers this process started; ended at exit whatever happens. */
const servers = new Set<LocalServer>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    // last resort (an uncaught error, process.exit): the server shuts its kernels down on SIGTERM
    for (const s of servers) {
      kill(s.pid, 'SIGTERM');
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
}

async function startLocalServer(root: string, env: NodeJS.ProcessEnv, log: (l: string) => void, signal: AbortSignal, timeoutMs = 120_000): Promise<LocalServer> {
  const jupyter = which('jupyter', env.PATH);
  if (!jupyter) throw new Error(`'jupyter' was not found on PATH: ${JUPYTER_INSTALL_HINT}, or pass --url and --token of a running server`);
  installExitHook();
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'tscluster-nbrun-'));
    const token = randomBytes(24).toString('hex');
    // the token travels in a 0600 file, not on the command line where any local user could read it
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    const logPath = join(dir, 'server.log');
    const port = await freePort();
    const args = [
      'notebook', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0',
      "--NotebookApp.password=", '--NotebookApp.base_url=/', `--notebook-dir=${root}`,
    ];
    if (process.getuid?.() === 0) args.push('--allow-root');
    const fd = openSync(logPath, 'a', 0o600);
    let child: ChildProcess;
    try {
      const serverEnv: NodeJS.ProcessEnv = { ...env, JUPYTER_TOKEN_FILE: tokenFile };
      delete serverEnv.JUPYTER_TOKEN;
      // its own process group: a Ctrl-C in the terminal reaches nbrun, which ends the server in order
      child = spawn(jupyter, args, { cwd: root, env: serverEnv, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start ${jupyter}`);
    const server: LocalServer = { url: `http://127.0.0.1:${port}/`, token, child, pid, log: logPath, dir };
    servers.add(server);
    child.on('error', () => undefined);
    log(`started a Jupyter server (pid ${pid}) at ${server.url}, notebook dir ${root}`);
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        if (signal.aborted) throw new Interrupted();
        if (child.exitCode !== null || child.signalCode !== null) {
          const logText = tail(logPath);
          if (attempt < 3 && /already in use|Address already in use/i.test(logText)) break;
          throw new Error(`the Jupyter server exited during start-up (${child.exitCode ?? child.signalCode}). Its log:\n${logText}`);
        }
        try {
          const r = await fetch(`${server.url}api/status`, { headers: { Authorization: `token ${token}` }, signal: AbortSignal.timeout(2000) });
          if (r.ok) return server;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`the Jupyter server did not answer within ${timeoutMs / 1000} s. Its log:\n${tail(logPath)}`);
        await sleep(100);
      }
    } catch (e) {
      await stopLocalServer(server, log);
      throw e;
    }
    // the port was taken between choosing and binding it: try another
    await stopLocalServer(server, log);
  }
}

/**
 * End a server this process started: SIGTERM (it shuts its kernels down),
 * then SIGKILL whatever is left of it and of every process that ran under it
 * (kernels, clusters started in a kernel), checked by pid and start time.
 */
async function stopLocalServer(s: LocalServer, log: (l: string) => void, tracked: Proc[] = []): Promise<void> {
  const under = [...tracked, ...descendants(s.pid)];
  kill(s.pid, 'SIGTERM');
  if (!(await waitChild(s.child, 10_000))) {
    log(`the Jupyter server (pid ${s.pid}) did not stop within 10 s of SIGTERM: killing it`);
    kill(-s.pid, 'SIGKILL');
    kill(s.pid, 'SIGKILL');
    await waitChild(s.child, 5000);
  }
  let left = await waitProcsGone(under, 10_000);
  for (const p of left) {
    log(`ending a leftover process of the Jupyter server: pid ${p.pid} (${p.cmd})`);
    kill(p.pid, 'SIGKILL');
  }
  left = await waitProcsGone(left, 5000);
  for (const p of left) log(`pid ${p.pid} survived SIGKILL (${p.cmd})`);
  servers.delete(s);
  rmSync(s.dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------ running one notebook

class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** Why a cell failed: an error output (ename, evalue, traceback) or a timeout / dead kernel. */
export interface CellFailure {
  /** index in the notebook's cells */
  index: number;
  /** 1-based among the code cells, and how many code cells there are */
  codeIndex: number;
  codeCells: number;
  id: string | undefined;
  firstLine: string;
  ename: string;
  evalue: string;
  traceback: string[];
}

interface NotebookRun {
  cells: number;
  seconds: number;
  failure?: CellFailure;
}

interface Ctx {
  settings: ServerConnection.ISettings;
  kernels: KernelManager;
  signal: AbortSignal;
  timeoutMs: number;
  log: (l: string) => void;
  /** the notebook's path as the server sees it (its kernel starts in that directory) */
  serverPath: (file: string) => string;
  /** a local server's pid: the processes under it are noted before each kernel shuts down, to be checked gone at the end */
  serverPid?: number;
  tracked: Proc[];
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g; // eslint-disable-line no-control-regex

/**
 * Error output from a failed execute_reply when the kernel sent no `error`
 * message (tslab writes a thrown error to stderr and replies status error):
 * ename and evalue from the reply if it has them, else from the stderr text.
 */
function errorFromReply(content: Record<string, unknown>, stderr: string): ErrorOutput {
  if (typeof content.ename === 'string') {
    return {
      output_type: 'error',
      ename: content.ename,
      evalue: typeof content.evalue === 'string' ? content.evalue : '',
      traceback: Array.isArray(content.traceback) ? content.traceback.map(String) : [],
    };
  }
  const tb = stderr.replace(ANSI, '').trimEnd().split('\n');
  let ename = 'Error';
  let evalue = tb.find((l) => l.trim() !== '') ?? 'the cell failed (the kernel replied status error)';
  const matches = tb.map((l) => /^([A-Za-z_$][\w$]*)(?: \[[^\]]*\])?: (.*)$/.exec(l)).filter((m) => m !== null);
  const named = matches.find((m) => /(Error|Exception|Timeout|Aborted|Dependency|Running)$/.test(m[1]!)) ?? matches[0];
  if (named) [, ename = 'Error', evalue = ''] = named;
  else if (/^\d+:\d+ - /.test(evalue)) ename = 'CompileError';
  return { output_type: 'error', ename, evalue, traceback: tb };
}

function firstLineOf(source: string): string {
  const l = source.split('\n').find((x) => x.trim() !== '') ?? '';
  return l.length > 80 ? `${l.slice(0, 77)}...` : l.trim();
}

/** Run one code cell; resolves with its outputs, execution count and status. */
async function executeCell(
  kernel: Kernel.IKernelConnection,
  code: string,
  ctx: Ctx,
): Promise<{ outputs: Output[]; count: number | null; error?: ErrorOutput; timing: Record<string, string> }> {
  const outputs: Output[] = [];
  const displays = new Map<string, DataOutput[]>();
  let clearPending = false;
  let stderr = '';
  let count: number | null = null;
  // when nbrun received each message (as nbclient records them)
  const timing: Record<string, string> = {};
  const push = (o: Output): void => {
    if (clearPending) {
      outputs.length = 0;
      clearPending = false;
    }
    const last = outputs[outputs.length - 1];
    if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) last.text = text(last.text) + text(o.text);
    else outputs.push(o);
  };
  const future = kernel.requestExecute({ code, silent: false, store_history: true, allow_stdin: false, stop_on_error: true });
  future.onIOPub = (msg: KernelMessage.IIOPubMessage): void => {
    if (KernelMessage.isStatusMsg(msg)) {
      timing[`iopub.status.${msg.content.execution_state}`] ??= new Date().toISOString();
    } else if (KernelMessage.isExecuteInputMsg(msg)) {
      timing['iopub.execute_input'] = new Date().toISOString();
      count = msg.content.execution_count;
    } else if (KernelMessage.isStreamMsg(msg)) {
      if (msg.content.name === 'stderr') stderr += msg.content.text;
      push({ output_type: 'stream', name: msg.content.name, text: msg.content.text });
    } else if (KernelMessage.isExecuteResultMsg(msg) || KernelMessage.isDisplayDataMsg(msg)) {
      const o: DataOutput = { output_type: msg.header.msg_type, data: { ...msg.content.data }, metadata: { ...msg.content.metadata } };
      if (KernelMessage.isExecuteResultMsg(msg)) o.execution_count = msg.content.execution_count;
      push(o);
      const id = (msg.content.transient as { display_id?: string } | undefined)?.display_id;
      if (id) displays.set(id, [...(displays.get(id) ?? []), o]);
    } else if (KernelMessage.isUpdateDisplayDataMsg(msg)) {
      const id = (msg.content.transient as { display_id?: string } | undefined)?.display_id;
      for (const o of (id && displays.get(id)) || []) {
        o.data = { ...msg.content.data };
        o.metadata = { ...msg.content.metadata };
      }
    } else if (KernelMessage.isErrorMsg(msg)) {
      push({ output_type: 'error', ename: msg.content.ename, evalue: msg.content.evalue, traceback: [...msg.content.traceback] });
    } else if (KernelMessage.isClearOutputMsg(msg)) {
      if (msg.content.wait) clearPending = true;
      else outputs.length = 0;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  let onStatus: ((_: unknown, s: KernelMessage.Status) => void) | undefined;
  const failure = new Promise<never>((_, reject) => {
    if (ctx.timeoutMs > 0) timer = setTimeout(() => reject(new CellTimeout(ctx.timeoutMs)), ctx.timeoutMs);
    onAbort = () => reject(new Interrupted());
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    onStatus = (_, s) => {
      if (s === 'dead' || s === 'restarting' || s === 'autorestarting') reject(new KernelDied(`the kernel died while the cell ran (status ${s})`));
    };
    kernel.statusChanged.connect(onStatus);
  });
  try {
    // the connection may end the request itself (a kernel gone before its status said so)
    const done = future.done.catch((e: unknown) => {
      throw new KernelDied(`the connection to the kernel ended during the cell (${e instanceof Error ? e.message : String(e)})`);
    });
    const reply = await Promise.race([done, failure]);
    timing['shell.execute_reply'] = new Date().toISOString();
    count ??= reply.content.status === 'abort' ? null : (reply.content as { execution_count?: number | null }).execution_count ?? null;
    let error = outputs.find((o): o is ErrorOutput => o.output_type === 'error');
    if (reply.content.status === 'error' && !error) {
      error = errorFromReply(reply.content as unknown as Record<string, unknown>, stderr);
      push(error);
    } else if (reply.content.status === 'abort' && !error) {
      error = { output_type: 'error', ename: 'Aborted', evalue: 'the kernel aborted the execution', traceback: [] };
    }
    return { outputs, count, timing, ...(error ? { error } : {}) };
  } catch (e) {
    if (e instanceof CellTimeout) {
      await kernel.interrupt().catch(() => undefined);
      const error: ErrorOutput = { output_type: 'error', ename: 'CellTimeout', evalue: e.message, traceback: [] };
      push(error);
      return { outputs, count, timing, error };
    }
    if (e instanceof KernelDied) {
      const error: ErrorOutput = { output_type: 'error', ename: 'KernelDied', evalue: e.message, traceback: [] };
      push(error);
      return { outputs, count, timing, error };
    }
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) ctx.signal.removeEventListener('abort', onAbort);
    if (onStatus) kernel.statusChanged.disconnect(onStatus);
    future.dispose();
  }
}

class CellTimeout extends Error {
  constructor(ms: number) {
    super(`the cell did not finish within ${ms / 1000} s (--timeout); the kernel was interrupted`);
  }
}

class KernelDied extends Error {}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string, signal: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${what} did not happen within ${ms / 1000} s`)), ms);
        onAbort = () => rej(new Interrupted());
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * A REST call through @jupyterlab/services, which prints the server's
 * traceback of a failed request with console.error: keep it out of the
 * output, and end the error's message with its last line (the Python error).
 */
async function request<T>(call: () => Promise<T>): Promise<T> {
  const printError = console.error;
  const printed: string[] = [];
  console.error = (...args: unknown[]) => void printed.push(args.map(String).join(' '));
  try {
    return await call();
  } catch (e) {
    const cause = printed.join('\n').trimEnd().split('\n').pop()?.trim();
    const message = e instanceof Error ? e.message : String(e);
    throw new Error(cause && cause !== message ? `${message}: ${cause}` : message, { cause: e });
  } finally {
    console.error = printError;
  }
}

/** Note the processes under a local server, to check them gone when it stops. */
function track(ctx: Ctx): void {
  if (ctx.serverPid === undefined) return;
  const known = new Set(ctx.tracked.map((p) => `${p.pid}:${p.start}`));
  for (const p of descendants(ctx.serverPid)) if (!known.has(`${p.pid}:${p.start}`)) ctx.tracked.push(p);
}

/**
 * Shut the session down, which shuts its kernel down; a server may fail that
 * while it restarts a kernel that died: try again, then the kernel alone.
 */
async function shutdown(sessionId: string, kernelId: string, ctx: Ctx, file: string): Promise<void> {
  const errors: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await sleep(1000);
    try {
      await request(() => SessionAPI.shutdownSession(sessionId, ctx.settings));
      return;
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  try {
    await request(() => KernelAPI.shutdownKernel(kernelId, ctx.settings));
    return;
  } catch (e) {
    errors.push((e as Error).message);
  }
  ctx.log(`${file}: could not shut the kernel down: ${errors.join('; ')}`);
}

async function runNotebook(file: string, outPath: string, kernelOverride: string | undefined, ctx: Ctx): Promise<NotebookRun> {
  const nb = readNotebook(file);
  const kernelName = kernelOverride ?? nb.metadata.kernelspec?.name;
  if (!kernelName) throw new Error(`${file}: the notebook names no kernel (metadata.kernelspec.name); pass --kernel NAME`);
  const specs = await request(() => KernelSpecAPI.getSpecs(ctx.settings));
  if (!specs.kernelspecs[kernelName]) {
    const have = Object.keys(specs.kernelspecs).join(', ') || 'none';
    const hint = kernelName === 'tslab' ? ': install it with `npx tslab install` (see the README, "Use from Jupyter")' : '';
    throw new Error(`${file}: the server has no kernel '${kernelName}' (it has: ${have})${hint}`);
  }
  const t0 = Date.now();
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code');
  for (const c of codeCells) {
    c.outputs = [];
    c.execution_count = null;
  }
  const model = await request(() =>
    SessionAPI.startSession({ path: ctx.serverPath(file), type: 'notebook', name: basename(file), kernel: { name: kernelName } }, ctx.settings),
  ).catch((e: unknown) => {
    const hint = kernelName === 'tslab' ? " (is 'tslab' on the server's PATH? see the README, \"Use from Jupyter\")" : '';
    throw new Error(`${file}: the server could not start the kernel '${kernelName}'${hint}: ${(e as Error).message}`, { cause: e });
  });
  const kernelModel = model.kernel;
  if (!kernelModel) throw new Error(`${file}: the server started a session without a kernel`);
  const kernel = ctx.kernels.connectTo({ model: kernelModel, handleComms: false });
  let failure: CellFailure | undefined;
  let n = 0;
  try {
    const info = await withTimeout(kernel.info, 120_000, `the kernel '${kernelName}' answering`, ctx.signal);
    nb.metadata.language_info = info.language_info;
    ctx.log(`${file}: kernel ${kernelName} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${codeCells.length} code cells`);
    for (let i = 0; i < nb.cells.length; i++) {
      const cell = nb.cells[i]!;
      if (cell.cell_type !== 'code') continue;
      const source = text(cell.source);
      n++;
      const firstLine = firstLineOf(source);
      if (source.trim() === '') continue;
      const tc = Date.now();
      const r = await executeCell(kernel, source, ctx);
      // what the kernel started (a cluster), noted while it is still under the server
      track(ctx);
      cell.outputs = r.outputs;
      cell.execution_count = r.count;
      cell.metadata = { ...cell.metadata, execution: r.timing };
      const took = ((Date.now() - tc) / 1000).toFixed(2);
      ctx.log(`  [${n}/${codeCells.length}] ${r.error ? 'FAILED' : 'ok'} ${took} s  ${firstLine}`);
      if (r.error) {
        failure = { index: i, codeIndex: n, codeCells: codeCells.length, id: cell.id, firstLine, ename: r.error.ename, evalue: r.error.evalue, traceback: r.error.traceback };
        break;
      }
    }
  } finally {
    // what runs under the kernel (a cluster a failed notebook did not stop) is checked gone when the server stops
    track(ctx);
    kernel.dispose();
    await shutdown(model.id, kernelModel.id, ctx, file);
    writeAtomic(outPath, serializeNotebook(nb));
  }
  const seconds = (Date.now() - t0) / 1000;
  return { cells: codeCells.length, seconds, ...(failure ? { failure } : {}) };
}

// ------------------------------------------------------------------ the command

function parseUrl(url: string): { baseUrl: string; token: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--url: not a URL: '${url}' (e.g. http://127.0.0.1:8888/)`);
  }
  const token = u.searchParams.get('token') ?? undefined;
  let path = u.pathname.replace(/\/(tree|lab|notebooks)(\/.*)?$/, '/');
  if (!path.endsWith('/')) path += '/';
  return { baseUrl: `${u.protocol}//${u.host}${path}`, token };
}

/** The deepest directory that contains every one of `dirs`. */
function commonDir(dirs: string[]): string {
  let common = dirs[0]!;
  for (const d of dirs.slice(1)) {
    while (common !== dirname(common) && d !== common && !d.startsWith(common.endsWith(sep) ? common : common + sep)) common = dirname(common);
  }
  return common;
}

function toServerPath(file: string, root: string): string {
  const rel = relative(root, file);
  if (rel.startsWith('..') || resolve(root, rel) !== file) return basename(file);
  return rel.split(sep).join('/');
}

/**
 * Run notebooks through a Jupyter server, writing each with its outputs.
 * Stops at the first cell that fails, naming the notebook and the cell.
 */
export async function nbrun(paths: string[], o: NbrunOptions = {}): Promise<NbrunExit> {
  const log = o.log ?? ((l: string) => console.log(l));
  const errorLog = o.errorLog ?? ((t: string) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`));
  const files = paths.map((p) => resolve(p));
  for (const f of files) if (!existsSync(f)) throw new Error(`no such notebook: ${f}`);
  let outDir: string | undefined;
  if (o.out !== undefined) {
    outDir = resolve(o.out);
    mkdirSync(outDir, { recursive: true });
    const names = files.map((f) => basename(f));
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new Error(`two notebooks are named ${dup}: with --out, notebook names must differ`);
  }
  const timeoutMs = (o.timeoutS ?? 600) * 1000;

  // Ctrl-C: stop at the current cell, shut the kernel down, end the server; a second one ends the server at once
  const interrupt = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) {
      for (const s of servers) kill(s.pid, 'SIGTERM');
      process.exit(130);
    }
    errorLog(`\nnbrun: ${sig}: stopping (the kernel and the server are shut down; again to skip)`);
    interrupt.abort();
  };
  const sigs = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of sigs) process.on(s, onSignal);

  // @jupyterlab/services logs each WebSocket it opens with console.debug, and a dead kernel's
  // connection with console.warn (nbrun reports the dead kernel itself)
  const debug = console.debug;
  const warn = console.warn;
  console.debug = () => undefined;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('Connection lost, reconnecting')) return;
    warn(...args);
  };
  // ...and when a kernel restarts (it died) it reconnects in a promise nobody awaits, which rejects
  // once nbrun closes that connection: that one is expected; anything else stays fatal
  const onUnhandled = (reason: unknown): void => {
    if (reason instanceof Error && reason.message === 'Kernel connection disconnected') return;
    throw reason;
  };
  process.on('unhandledRejection', onUnhandled);

  let server: LocalServer | undefined;
  let kernels: KernelManager | undefined;
  const tracked: Proc[] = [];
  try {
    let baseUrl: string;
    let token: string;
    let serverPath: (f: string) => string;
    if (o.url !== undefined) {
      const u = parseUrl(o.url);
      baseUrl = u.baseUrl;
      token = o.token ?? u.token ?? process.env.JUPYTER_TOKEN ?? '';
      // the server's root is taken to be the current directory (run nbrun from it)
      serverPath = (f) => toServerPath(f, process.cwd());
      const r = await fetch(`${baseUrl}api/status`, { headers: token ? { Authorization: `token ${token}` } : {}, signal: AbortSignal.timeout(10_000) }).catch((e: unknown) => {
        throw new Error(`cannot reach the Jupyter server at ${baseUrl}: ${(e as Error).message}`);
      });
      if (r.status === 403 || r.status === 401) throw new Error(`the Jupyter server at ${baseUrl} refused the token (HTTP ${r.status}): pass --token, or a --url with ?token=`);
      if (!r.ok) throw new Error(`the Jupyter server at ${baseUrl} answered HTTP ${r.status} to /api/status`);
    } else {
      const root = commonDir(files.map((f) => dirname(f)));
      const path = [...new Set([...files.flatMap((f) => binDirs(dirname(f))), ...binDirs(process.cwd())])].join(delimiter);
      const env = { ...process.env, PATH: [path, process.env.PATH ?? ''].filter(Boolean).join(delimiter) };
      server = await startLocalServer(root, env, log, interrupt.signal);
      baseUrl = server.url;
      token = server.token;
      serverPath = (f) => toServerPath(f, root);
    }
    const settings = ServerConnection.makeSettings({ baseUrl, wsUrl: baseUrl.replace(/^http/, 'ws'), token, appendToken: true, WebSocket: jsonProtocolWebSocket() });
    kernels = new KernelManager({ serverSettings: settings, standby: 'never' });
    const ctx: Ctx = { settings, kernels, signal: interrupt.signal, timeoutMs, log, serverPath, tracked, ...(server ? { serverPid: server.pid } : {}) };
    const t0 = Date.now();
    for (const [i, file] of files.entries()) {
      const outPath = outDir ? join(outDir, basename(file)) : file;
      const r = await runNotebook(file, outPath, o.kernel, ctx);
      if (r.failure) {
        const f = r.failure;
        errorLog(
          [
            `nbrun: ${file}: cell index ${f.index} (code cell ${f.codeIndex} of ${f.codeCells}${f.id ? `, id ${f.id}` : ''}) failed: ${f.firstLine}`,
            `${f.ename}: ${f.evalue}`,
            ...f.traceback.map((l) => (process.stderr.isTTY ? l : l.replace(ANSI, ''))),
            `the notebook with the outputs up to this cell: ${outPath}`,
            ...(i + 1 < files.length ? [`not run: ${files.slice(i + 1).join(', ')}`] : []),
          ].join('\n'),
        );
        return 1;
      }
      log(`${file}: ${r.cells} cells in ${r.seconds.toFixed(1)} s -> ${outPath}`);
    }
    if (files.length > 1) log(`${files.length} notebooks in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    if (e instanceof Interrupted || interrupt.signal.aborted) {
      errorLog('nbrun: interrupted');
      return 130;
    }
    throw e;
  } finally {
    kernels?.dispose();
    if (server) await stopLocalServer(server, log, tracked);
    console.debug = debug;
    console.warn = warn;
    for (const s of sigs) process.removeListener(s, onSignal);
    // a late rejection of a connection closed above may still come: keep ignoring it for a moment
    setTimeout(() => process.removeListener('unhandledRejection', onUnhandled), 1000).unref();
  }
}

/**
 * The WebSocket class of `ws` (Node 20 has no global WebSocket), opened
 * without subprotocols: `ws` fails a handshake in which the server picks none
 * (as notebook 6 does), which @jupyterlab/services would only notice by
 * reconnecting. Without subprotocols every server speaks the JSON protocol.
 */
function jsonProtocolWebSocket(): ServerConnection.ISettings['WebSocket'] {
  // `ws` is a dependency of @jupyterlab/services: resolve it from there
  const req = createRequire(createRequire(import.meta.url).resolve('@jupyterlab/services'));
  const WS = req('ws') as new (url: string, protocols?: string | string[]) => object;
  class JsonProtocolWebSocket extends WS {
    constructor(url: string) {
      super(url);
    }
  }
  return JsonProtocolWebSocket as unknown as ServerConnection.ISettings['WebSocket'];
}
