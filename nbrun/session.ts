/**
 * Running one notebook: a session with a fresh kernel on the server, its code
 * cells in order until one fails, the kernel shut down, and the notebook
 * written with the outputs it got.
 */
import { basename } from 'node:path';
import { KernelAPI, KernelSpecAPI, SessionAPI } from '@jupyterlab/services';
import type { Kernel, KernelManager, ServerConnection, Session } from '@jupyterlab/services';
import { descendants } from '../util/proc.js';
import type { ProcessIdentity } from '../util/proc.js';
import { sleep } from '../util/sleep.js';
import { executeCell } from './cell.js';
import { withTimeout } from './interrupt.js';
import { request } from './jupyter.js';
import { readNotebook, text, writeNotebook } from './notebook.js';
import type { Notebook } from './notebook.js';

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

export interface NotebookRun {
  cells: number;
  seconds: number;
  failure?: CellFailure;
}

export interface Ctx {
  settings: ServerConnection.ISettings;
  kernels: KernelManager;
  signal: AbortSignal;
  timeoutMs: number;
  log: (l: string) => void;
  /** the notebook's path as the server sees it (its kernel starts in that directory) */
  serverPath: (file: string) => string;
  /** a local server's pid: the processes under it are noted before each kernel shuts down, to be checked gone at the end */
  serverPid?: number;
  tracked: ProcessIdentity[];
}

function firstLineOf(source: string): string {
  const l = source.split('\n').find((x) => x.trim() !== '') ?? '';
  return l.length > 80 ? `${l.slice(0, 77)}...` : l.trim();
}

/** Note the processes under a local server, to check them gone when it stops. */
function track(ctx: Ctx): void {
  if (ctx.serverPid === undefined) return;
  const known = new Set(ctx.tracked.map((p) => `${p.pid}:${p.start}`));
  for (const p of descendants(ctx.serverPid)) if (!known.has(`${p.pid}:${p.start}`)) ctx.tracked.push(p);
}

/** The kernel to run the notebook with, checked to be one the server has. */
async function kernelFor(file: string, nb: Notebook, kernelOverride: string | undefined, ctx: Ctx): Promise<string> {
  const kernelName = kernelOverride ?? nb.metadata.kernelspec?.name;
  if (!kernelName) throw new Error(`${file}: the notebook names no kernel (metadata.kernelspec.name); pass --kernel NAME`);
  const specs = await request(() => KernelSpecAPI.getSpecs(ctx.settings));
  if (!specs.kernelspecs[kernelName]) {
    const have = Object.keys(specs.kernelspecs).join(', ') || 'none';
    const hint = kernelName === 'tslab' ? ': install it with `npx tslab install` (see the README, "Use from Jupyter")' : '';
    throw new Error(`${file}: the server has no kernel '${kernelName}' (it has: ${have})${hint}`);
  }
  return kernelName;
}

/** A session for the notebook, with its kernel started. */
async function startSession(file: string, kernelName: string, ctx: Ctx): Promise<{ model: Session.IModel; kernelModel: Kernel.IModel }> {
  const model = await request(() =>
    SessionAPI.startSession({ path: ctx.serverPath(file), type: 'notebook', name: basename(file), kernel: { name: kernelName } }, ctx.settings),
  ).catch((e: unknown) => {
    const hint = kernelName === 'tslab' ? " (is 'tslab' on the server's PATH? see the README, \"Use from Jupyter\")" : '';
    throw new Error(`${file}: the server could not start the kernel '${kernelName}'${hint}: ${(e as Error).message}`, { cause: e });
  });
  const kernelModel = model.kernel;
  if (!kernelModel) throw new Error(`${file}: the server started a session without a kernel`);
  return { model, kernelModel };
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

/** Run the notebook's code cells in order, each saved with its outputs; stops at the first that fails. */
async function runCells(nb: Notebook, kernel: Kernel.IKernelConnection, ctx: Ctx): Promise<CellFailure | undefined> {
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code').length;
  let n = 0;
  for (const [i, cell] of nb.cells.entries()) {
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
    ctx.log(`  [${n}/${codeCells}] ${r.error ? 'FAILED' : 'ok'} ${took} s  ${firstLine}`);
    if (r.error)
      return {
        index: i,
        codeIndex: n,
        codeCells,
        id: cell.id,
        firstLine,
        ename: r.error.ename,
        evalue: r.error.evalue,
        traceback: r.error.traceback,
      };
  }
  return undefined;
}

/** Run one notebook in a fresh kernel and write it, with its outputs, to `outPath`. */
export async function runNotebook(file: string, outPath: string, kernelOverride: string | undefined, ctx: Ctx): Promise<NotebookRun> {
  const nb = readNotebook(file);
  const kernelName = await kernelFor(file, nb, kernelOverride, ctx);
  const t0 = Date.now();
  const codeCells = nb.cells.filter((c) => c.cell_type === 'code');
  for (const c of codeCells) {
    c.outputs = [];
    c.execution_count = null;
  }
  const { model, kernelModel } = await startSession(file, kernelName, ctx);
  const kernel = ctx.kernels.connectTo({ model: kernelModel, handleComms: false });
  let failure: CellFailure | undefined;
  try {
    const info = await withTimeout(kernel.info, 120_000, `the kernel '${kernelName}' answering`, ctx.signal);
    nb.metadata.language_info = info.language_info;
    ctx.log(`${file}: kernel ${kernelName} ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${codeCells.length} code cells`);
    failure = await runCells(nb, kernel, ctx);
  } finally {
    // what runs under the kernel (a cluster a failed notebook did not stop) is checked gone when the server stops
    track(ctx);
    kernel.dispose();
    await shutdown(model.id, kernelModel.id, ctx, file);
    writeNotebook(outPath, nb);
  }
  const seconds = (Date.now() - t0) / 1000;
  return { cells: codeCells.length, seconds, ...(failure ? { failure } : {}) };
}
