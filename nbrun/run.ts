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
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { KernelManager } from '@jupyterlab/services';
import type { ProcessIdentity } from '../util/proc.js';
import { ANSI } from './cell.js';
import { Interrupted } from './interrupt.js';
import { checkServer, connect, parseUrl, quietServices } from './jupyter.js';
import { serverEnv, startLocalServer, stopLocalServer, terminateServers } from './server.js';
import type { LocalServer } from './server.js';
import { runNotebook } from './session.js';
import type { CellFailure, Ctx } from './session.js';

export { JUPYTER_INSTALL_HINT } from './server.js';
export type { CellFailure } from './session.js';

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

/** The notebooks as absolute paths, checked to exist, and the --out directory (created), checked not to get two of the same name. */
function checkPaths(paths: string[], out: string | undefined): { files: string[]; outDir: string | undefined } {
  const files = paths.map((p) => resolve(p));
  for (const f of files) if (!existsSync(f)) throw new Error(`no such notebook: ${f}`);
  if (out === undefined) return { files, outDir: undefined };
  const outDir = resolve(out);
  mkdirSync(outDir, { recursive: true });
  const names = files.map((f) => basename(f));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`two notebooks are named ${dup}: with --out, notebook names must differ`);
  return { files, outDir };
}

/** Ctrl-C (SIGINT, SIGTERM, SIGHUP) aborts `interrupt`; a second one ends the servers at once and exits 130. Returns the uninstall. */
function onSignals(interrupt: AbortController, errorLog: (t: string) => void): () => void {
  // Ctrl-C: stop at the current cell, shut the kernel down, end the server; a second one ends the server at once
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) {
      terminateServers();
      process.exit(130);
    }
    errorLog(`\nnbrun: ${sig}: stopping (the kernel and the server are shut down; again to skip)`);
    interrupt.abort();
  };
  const sigs = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  for (const s of sigs) process.on(s, onSignal);
  return () => {
    for (const s of sigs) process.removeListener(s, onSignal);
  };
}

interface Target {
  baseUrl: string;
  token: string;
  serverPath: (f: string) => string;
  server?: LocalServer;
}

/** The server to run on: the one at `o.url` (checked), or a temporary local one serving the notebooks' common directory. */
async function openServer(files: string[], o: NbrunOptions, log: (l: string) => void, signal: AbortSignal): Promise<Target> {
  if (o.url !== undefined) {
    const { baseUrl, token: urlToken } = parseUrl(o.url);
    const token = o.token ?? urlToken ?? process.env.JUPYTER_TOKEN ?? '';
    await checkServer(baseUrl, token);
    // the server's root is taken to be the current directory (run nbrun from it)
    return { baseUrl, token, serverPath: (f) => toServerPath(f, process.cwd()) };
  }
  const root = commonDir(files.map((f) => dirname(f)));
  const server = await startLocalServer(root, serverEnv(files), log, signal);
  return { baseUrl: server.url, token: server.token, serverPath: (f) => toServerPath(f, root), server };
}

/** The report of a failed cell, on stderr. */
function failureReport(file: string, f: CellFailure, outPath: string, notRun: string[]): string {
  return [
    `nbrun: ${file}: cell index ${f.index} (code cell ${f.codeIndex} of ${f.codeCells}${f.id ? `, id ${f.id}` : ''}) failed: ${f.firstLine}`,
    `${f.ename}: ${f.evalue}`,
    ...f.traceback.map((l) => (process.stderr.isTTY ? l : l.replace(ANSI, ''))),
    `the notebook with the outputs up to this cell: ${outPath}`,
    ...(notRun.length > 0 ? [`not run: ${notRun.join(', ')}`] : []),
  ].join('\n');
}

/** Run the notebooks one after the other; stops at the first cell that fails. */
async function runAll(files: string[], outDir: string | undefined, o: NbrunOptions, ctx: Ctx, errorLog: (t: string) => void): Promise<NbrunExit> {
  const t0 = Date.now();
  for (const [i, file] of files.entries()) {
    const outPath = outDir ? join(outDir, basename(file)) : file;
    const r = await runNotebook(file, outPath, o.kernel, ctx);
    if (r.failure) {
      errorLog(failureReport(file, r.failure, outPath, files.slice(i + 1)));
      return 1;
    }
    ctx.log(`${file}: ${r.cells} cells in ${r.seconds.toFixed(1)} s -> ${outPath}`);
  }
  if (files.length > 1) ctx.log(`${files.length} notebooks in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

/**
 * Run notebooks through a Jupyter server, writing each with its outputs.
 * Stops at the first cell that fails, naming the notebook and the cell.
 */
export async function nbrun(paths: string[], o: NbrunOptions = {}): Promise<NbrunExit> {
  const log = o.log ?? ((l: string) => console.log(l));
  const errorLog = o.errorLog ?? ((t: string) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`));
  const { files, outDir } = checkPaths(paths, o.out);
  const timeoutMs = (o.timeoutS ?? 600) * 1000;
  const interrupt = new AbortController();
  const removeSignals = onSignals(interrupt, errorLog);
  const restoreServices = quietServices();
  let server: LocalServer | undefined;
  let kernels: KernelManager | undefined;
  const tracked: ProcessIdentity[] = [];
  try {
    const target = await openServer(files, o, log, interrupt.signal);
    server = target.server;
    const connection = connect(target.baseUrl, target.token);
    kernels = connection.kernels;
    const ctx: Ctx = {
      settings: connection.settings,
      kernels,
      signal: interrupt.signal,
      timeoutMs,
      log,
      serverPath: target.serverPath,
      tracked,
      ...(server ? { serverPid: server.pid } : {}),
    };
    return await runAll(files, outDir, o, ctx, errorLog);
  } catch (e) {
    if (e instanceof Interrupted || interrupt.signal.aborted) {
      errorLog('nbrun: interrupted');
      return 130;
    }
    throw e;
  } finally {
    kernels?.dispose();
    if (server) await stopLocalServer(server, log, tracked);
    restoreServices();
    removeSignals();
  }
}
